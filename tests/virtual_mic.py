"""A virtual microphone for tests: a private PulseAudio with a null sink.

Whatever is played into the null sink ``vsink`` is what its monitor source
``vsink.monitor`` (the default input) hears; PortAudio reaches it through
ALSA's ``pulse`` device (package libasound2-plugins). No part of the audio
path is mocked. See docs/ENVIRONMENT.md, "A virtual microphone".

The daemon gets a fresh ``XDG_RUNTIME_DIR`` so it never touches a desktop
session's PulseAudio, and is stopped by its own pid.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest


def _unavailable(reason):
    """Skip on a developer's machine without the audio tools; in CI (which installs them) it is a failure."""
    if os.environ.get("CI"):
        pytest.fail(f"virtual microphone unavailable in CI: {reason}")
    pytest.skip(reason)


SINK = "vsink"
#: The PortAudio (ALSA host API) device that talks to PulseAudio.
PORTAUDIO_DEVICE = "pulse"


class VirtualMic:
    """Handle yielded by the ``virtual_mic`` fixture.

    Attributes
    ----------
    device : str
        Input device name to give ``Recorder`` / ``RecorderWidget``.
    sink : str
        PulseAudio sink that feeds the microphone.
    """

    def __init__(self, runtime_dir: Path):
        self.device = PORTAUDIO_DEVICE
        self.sink = SINK
        self._dir = runtime_dir
        self._players: list[subprocess.Popen] = []
        self._count = 0

    def _as_file(self, source, sr) -> Path:
        if isinstance(source, (str, os.PathLike)):
            return Path(source)
        if sr is None:
            raise ValueError("play(array) needs sr")
        import soundfile

        self._count += 1
        path = self._dir / f"play_{self._count}.wav"
        soundfile.write(path, np.asarray(source, dtype=np.float32), int(sr), subtype="PCM_16")
        return path

    def play(self, source, sr=None, *, wait=True):
        """Play a file path or a mono float array into the microphone.

        Parameters
        ----------
        source : path or np.ndarray, shape (n,)
        sr : int, required for arrays
        wait : bool
            True blocks until the sound has been played out; False returns the
            running ``subprocess.Popen`` at once (call ``.wait()`` on it).
        """
        cmd = ["paplay", f"--device={self.sink}", str(self._as_file(source, sr))]
        if wait:
            subprocess.run(cmd, check=True, timeout=30)
            return None
        # poll() reaps the players that have finished: the session's microphone otherwise kept every one of
        # them as a zombie process until the end of the test run (dozens in a full suite)
        self._players = [p for p in self._players if p.poll() is None]
        player = subprocess.Popen(cmd)
        self._players.append(player)
        return player

    def unplug(self):
        """Cut every open recording stream, as unplugging the microphone does.

        The daemon kills its source outputs; PortAudio sees the device fail.
        """
        out = _pactl("list", "short", "source-outputs").stdout
        for line in out.splitlines():
            subprocess.run(["pacmd", "kill-source-output", line.split()[0]], check=True, timeout=10)

    def silence_device(self, on=True):
        """Suspend the sink whose monitor is the microphone: open streams stay open but get no audio, as
        with a device that hangs or is held by another program (PortAudio never ends the stream)."""
        result = _pactl("suspend-sink", self.sink, "1" if on else "0")
        if result.returncode != 0:
            raise RuntimeError(f"pactl suspend-sink {self.sink}: {result.stderr.strip()}")

    def close(self):
        for player in self._players:
            if player.poll() is None:
                player.kill()
            player.wait()


def _reinit_portaudio():
    """Make an already-imported sounddevice re-scan devices (it scans at import)."""
    sd = sys.modules.get("sounddevice")
    if sd is not None:
        sd._terminate()
        sd._initialize()


def _warm_up(sd):
    """Open one stream and wait for its first block.

    The first capture after the keep-alive starts only gets data once the
    null sink's idle 2 s block has run out; absorbing that here keeps the
    tests' timing honest.
    """
    got = threading.Event()
    with sd.InputStream(device=PORTAUDIO_DEVICE, channels=1, callback=lambda *a: got.set()):
        if not got.wait(5):
            _unavailable("the virtual microphone delivered no audio within 5 s")


def _pactl(*args):
    return subprocess.run(["pactl", *args], capture_output=True, text=True, timeout=10)


@pytest.fixture(scope="session")
def virtual_mic():
    """Start a private PulseAudio whose null sink is the default microphone."""
    for tool in ("pulseaudio", "paplay", "pactl", "pacat", "pacmd"):
        if shutil.which(tool) is None:
            _unavailable(f"virtual microphone needs '{tool}' (apt-get install pulseaudio pulseaudio-utils)")
    try:
        import sounddevice  # noqa: F401  (PortAudio must exist at all)
    except OSError as exc:
        _unavailable(f"virtual microphone needs PortAudio (apt-get install libportaudio2): {exc}")

    runtime = Path(tempfile.mkdtemp(prefix="speechlab-pulse-"))
    runtime.chmod(0o700)
    saved = {k: os.environ.get(k) for k in ("XDG_RUNTIME_DIR", "PULSE_SERVER")}
    os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    os.environ["PULSE_SERVER"] = f"unix:{runtime}/pulse/native"
    log = open(runtime / "pulseaudio.log", "w")
    daemon = subprocess.Popen(
        [
            "pulseaudio", "--daemonize=no", "-n", "--exit-idle-time=-1", "--disallow-exit",
            "--load=module-native-protocol-unix",
            "--load=module-cli-protocol-unix",  # for pacmd kill-source-output (unplug)
            f"--load=module-null-sink sink_name={SINK}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    keepalive = None
    mic = VirtualMic(runtime)

    def restore():
        mic.close()
        for proc in (keepalive, daemon):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        log.close()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        _reinit_portaudio()
        shutil.rmtree(runtime, ignore_errors=True)

    try:
        deadline = time.monotonic() + 10
        while _pactl("info").returncode != 0:
            if daemon.poll() is not None or time.monotonic() > deadline:
                _unavailable(f"PulseAudio did not start: {(runtime / 'pulseaudio.log').read_text()[-500:]}")
            time.sleep(0.05)
        _pactl("set-default-sink", SINK)
        _pactl("set-default-source", f"{SINK}.monitor")
        # The null sink renders in blocks as long as the lowest latency any
        # player asks for — 2 s when idle, so the monitor would deliver audio
        # in 2 s bursts. A silent low-latency player keeps it at ~10 ms.
        keepalive = subprocess.Popen(
            ["pacat", "--playback", "--raw", "--latency-msec=10", f"--device={SINK}", "/dev/zero"]
        )
        while "RUNNING" not in _pactl("list", "short", "sinks").stdout:
            if keepalive.poll() is not None or time.monotonic() > deadline:
                _unavailable("PulseAudio's null sink never started running (pacat keep-alive failed)")
            time.sleep(0.02)
        _reinit_portaudio()
        import sounddevice as sd

        names = [d["name"] for d in sd.query_devices() if d["max_input_channels"] > 0]
        if PORTAUDIO_DEVICE not in names:
            _unavailable(
                f"PortAudio does not list the ALSA '{PORTAUDIO_DEVICE}' device "
                f"(apt-get install libasound2-plugins); inputs: {names}"
            )
        _warm_up(sd)
    except BaseException:  # a skip included: never leave the daemon running
        restore()
        raise
    yield mic
    restore()


@pytest.fixture(scope="session")
def espeak_wav(tmp_path_factory):
    """Return ``make(text, voice="en-us", speed=150, pitch=50) -> Path``: espeak-ng speech as a WAV (22,050 Hz)."""
    if shutil.which("espeak-ng") is None:
        _unavailable("espeak-ng is not installed (apt-get install espeak-ng)")
    folder = tmp_path_factory.mktemp("espeak")
    made: dict[tuple, Path] = {}

    def make(text, *, voice="en-us", speed=150, pitch=50):
        key = (text, voice, speed, pitch)
        if key not in made:
            path = folder / f"{len(made)}_{''.join(c for c in text if c.isalnum())[:20]}.wav"
            subprocess.run(
                ["espeak-ng", "-w", str(path), "-v", voice, "-s", str(speed), "-p", str(pitch), text],
                check=True,
                timeout=30,
            )
            made[key] = path
        return made[key]

    return make
