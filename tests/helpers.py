"""Waiting on conditions (never on the clock) and audio helpers shared by the tests."""
from __future__ import annotations

import subprocess
import time

import numpy as np
import soundfile

from core.audio import resample


def wait_until(condition, *, timeout=10.0, interval=0.01, message="condition"):
    """Poll ``condition()`` until it is true; fail the test after ``timeout`` seconds.

    The timeout only guards against hanging forever: the test goes on the
    moment the condition holds, however fast or slow the machine is.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {message}")
        time.sleep(interval)  # a poll interval, not a guess at how long something takes


def recording_streams() -> int:
    """How many capture streams the test PulseAudio has open (0 before a recorder opens)."""
    out = subprocess.run(["pactl", "list", "short", "source-outputs"], capture_output=True, text=True, timeout=10)
    return len([line for line in out.stdout.splitlines() if line.strip()])


def wait_for_recording(*, timeout=10.0):
    """Return once a program has a capture stream open on the virtual microphone."""
    wait_until(lambda: recording_streams() > 0, timeout=timeout, interval=0.02, message="a capture stream")


def load(path, sr):
    """A file's samples, mono float32 at ``sr``."""
    y, file_sr = soundfile.read(path, dtype="float32")
    return resample(y, sr_from=file_sr, sr_to=sr)


def word(espeak_wav, text, *, sr, speed=150, peak_db=None, voice="en-us"):
    """An espeak-ng word cut to its sound (|y| above 1 % of its peak), optionally scaled to ``peak_db`` dBFS."""
    y = load(espeak_wav(text, voice=voice, speed=speed), sr)
    loud = np.flatnonzero(np.abs(y) > 0.01 * np.abs(y).max())
    y = y[loud[0] : loud[-1] + 1]
    if peak_db is not None:
        y = y * np.float32(10 ** (peak_db / 20) / np.abs(y).max())
    return y


def word_stream(words, *, sr, gap_s=1.5, lead_s=0.5, tail_s=1.0, noise_db=None, seed=0):
    """Silence, word, gap, word, …, silence; returns (y, [(start, end) of each word in seconds])."""
    parts, truth, t = [np.zeros(int(lead_s * sr), np.float32)], [], lead_s
    for i, w in enumerate(words):
        truth.append((t, t + len(w) / sr))
        gap = np.zeros(int((tail_s if i == len(words) - 1 else gap_s) * sr), np.float32)
        parts += [w.astype(np.float32), gap]
        t += (len(w) + len(gap)) / sr
    y = np.concatenate(parts)
    if noise_db is not None:
        y += (10 ** (noise_db / 20) * np.random.default_rng(seed).standard_normal(len(y))).astype(np.float32)
    return y, truth


def write_npz_members(path, payload, *, compression=None):
    """An ``.npz`` written member by member, so a test can craft any member: an array is
    stored as ``.npy``, ``bytes`` go in as they are (a hand-made header, a pickle…)."""
    import io
    import zipfile

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED if compression is None else compression) as zf:
        for name, value in payload.items():
            if isinstance(value, bytes):
                zf.writestr(name + ".npy", value)
            else:
                buf = io.BytesIO()
                np.lib.format.write_array(buf, np.asarray(value), allow_pickle=False)
                zf.writestr(name + ".npy", buf.getvalue())
    return path


def child_pids(pid):
    """The ids of process ``pid``'s children (from /proc)."""
    import pathlib

    found = set()
    for task in pathlib.Path(f"/proc/{pid}/task").glob("*"):
        try:
            found |= {int(c) for c in (task / "children").read_text().split()}
        except OSError:
            pass
    return found


def process_alive(pid):
    """True while process ``pid`` runs (a zombie counts as ended)."""
    import pathlib

    try:
        state = pathlib.Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"
