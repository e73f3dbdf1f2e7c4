"""Hostile and broken inputs through the command line: handled or not, and what each costs.

    python benchmarks/hostile_inputs.py [--write]

Every case builds its input in a temporary folder (generated, nothing from the
repository is changed), runs ``python main.py ...`` in a child process and
records: the exit code, whether a traceback was printed, the one-line message,
the child's peak memory (ru_maxrss of the child and its workers) and its time.
"Handled" means: no traceback, a non-zero exit code with one ``error:`` line,
or success with the bad file listed as skipped. The baseline is an ordinary
``predict`` of one good clip, in the same run: the ratio column says how much
more memory a hostile case costs than normal use.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import pathlib
import platform
import resource
import struct
import subprocess
import sys
import tempfile
import time
import zipfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._results import write_section  # noqa: E402
from tests.core.datagen import class_signal, write_wav  # noqa: E402
from tests.helpers import write_npz_members  # noqa: E402


def wav_bytes(samples, *, sr, tag=1, bits=16, declared_frames=None):
    data = samples.tobytes()
    frame = bits // 8
    size = (declared_frames if declared_frames is not None else len(data) // frame) * frame
    fmt = struct.pack("<HHIIHH", tag, 1, sr, sr * frame, frame, bits)
    return (b"RIFF" + struct.pack("<I", 36 + size) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
            + b"data" + struct.pack("<I", size) + data)


def run(args, env):
    """Run main.py in a child; returns (code, stderr, peak MB, seconds)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    # A wrapper child so that ru_maxrss covers this case only (RUSAGE_CHILDREN keeps the maximum).
    wrapper = ("import resource, subprocess, sys, json\n"
               "p = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=600)\n"
               "print(json.dumps({'code': p.returncode, 'stderr': p.stderr, "
               "'rss': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))\n")
    out = subprocess.run([sys.executable, "-c", wrapper, sys.executable, "main.py", *map(str, args)], cwd=ROOT,
                         capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t0
    del before
    res = json.loads(out.stdout)
    return res["code"], res["stderr"], res["rss"] / 1024, seconds


def make_cases(tmp, env=None):
    """(name, command arguments, 'error' or 'skip') per case; inputs written under ``tmp``; ``env``: the
    cases' environment (their own data and cache folders), also used to train the good model."""
    good = tmp / "good"
    good.mkdir()
    for i in range(24):
        write_wav(good / f"{i % 2}_s{i % 3}_{i}.wav", class_signal(cls=i % 2, sr=8000, speaker=i % 3, seed=i), sr=8000)
    model = tmp / "good.slm"
    subprocess.run([sys.executable, "main.py", "train", "--data", good, "--hidden", "16", "--epochs", "3",
                    "--out", model, "--no-cache"], cwd=ROOT, check=True, capture_output=True, env=env)
    clip = sorted(good.glob("*.wav"))[0]
    cases = [("baseline: predict one good clip", ["predict", model, clip], "ok")]

    def bad_set(name, filename, content):
        folder = tmp / name
        folder.mkdir()
        for f in list(good.glob("*.wav"))[:8]:
            (folder / f.name).write_bytes(f.read_bytes())
        (folder / filename).write_bytes(content)
        return folder

    y30 = (np.full(4000, 1e30, np.float32) * np.sin(np.arange(4000, dtype=np.float32)))
    cases.append(("float WAV with samples around 1e30", ["features", "--data",
                  bad_set("huge_samples", "1_x_0.wav", wav_bytes(y30, sr=8000, tag=3, bits=32)), "--no-cache"], "skip"))
    noise = np.random.default_rng(0).normal(0, 3000, 20000).astype("<i2")
    one_hz = tmp / "one_hz.wav"
    one_hz.write_bytes(wav_bytes(noise, sr=1))
    cases.append(("WAV whose header says 1 Hz, predicted", ["predict", model, one_hz], "error"))
    big = tmp / "big.wav"  # a header declaring 3 GB; sparse on disk
    head = wav_bytes(np.zeros(0, "<i2"), sr=16000, declared_frames=1_500_000_000)
    with open(big, "wb") as fh:
        fh.write(head)
        fh.write((np.sin(np.arange(16000) / 5) * 8000).astype("<i2").tobytes())
        fh.truncate(len(head) + 3_000_000_000)
    cases.append(("3 GB WAV, predicted (a digits model reads 600 s at most)", ["predict", model, big], "ok"))
    cut = tmp / "cut.wav"
    cut.write_bytes(wav_bytes((np.sin(np.arange(136) / 3) * 8000).astype("<i2"), sr=8000, declared_frames=8000))
    cases.append(("WAV cut off after 17 ms of an announced 1 s", ["predict", model, cut], "error"))
    fmt = tmp / "fmt.wav"
    fmt.write_bytes(b"RIFF" + struct.pack("<I", 20) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + b"\x01\x00")
    cases.append(("WAV with a cut-off fmt chunk", ["predict", model, fmt], "error"))
    folder_wav = tmp / "x.wav"
    folder_wav.mkdir()
    cases.append(("a folder named x.wav, predicted", ["predict", model, folder_wav], "error"))
    pipe = tmp / "pipe.wav"
    os.mkfifo(pipe)
    cases.append(("a named pipe, predicted", ["predict", model, pipe], "error"))
    long_set = bad_set("long", "1_long_0.wav", b"")
    write_wav(long_set / "1_long_0.wav", class_signal(cls=1, sr=8000, seconds=600), sr=8000)
    cases.append(("a 10-minute clip in a padded mfcc-full set", ["features", "--data", long_set, "--set", "frames=pad",
                                                                 "--no-cache"], "ok"))

    def crafted(name, change_meta=None, arrays=None, compression=zipfile.ZIP_STORED):
        with np.load(model, allow_pickle=False) as npz:
            payload = {k: npz[k] for k in npz.files}
        if change_meta:
            meta = json.loads(bytes(payload["meta"]).decode())
            change_meta(meta)
            payload["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
        payload.update(arrays or {})
        return write_npz_members(tmp / name, payload, compression=compression)

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (4_000_000_000,)})
    cases += [
        ("model whose array header claims 4e9 floats",
         ["predict", crafted("claims.slm", arrays={"model/coef_0": header.getvalue() + bytes(1024)}), clip], "error"),
        ("model with a deflate bomb (64 MB of zeros)",
         ["predict", crafted("bomb.slm", arrays={"model/coef_0": np.zeros((4000, 4000), np.float32)},
                             compression=zipfile.ZIP_DEFLATED), clip], "error"),
        ("model whose meta is a 0-d integer",
         ["predict", crafted("meta0d.slm", arrays={"meta": np.array(10**9)}), clip], "error"),
        ("model with feature_config.n_frames = 1e9",
         ["predict", crafted("frames.slm", lambda m: m["feature_config"].update(n_frames=10**9)), clip], "error"),
        ("model with format_version as text",
         ["predict", crafted("version.slm", lambda m: m.update(format_version="1")), clip], "error"),
        ("model without labels", ["predict", crafted("labels.slm", lambda m: m.pop("labels")), clip], "error"),
        ("model of an unknown type", ["predict", crafted("type.slm", lambda m: m.update(model_type="torch")), clip],
         "error"),
        ("model whose layers do not chain",
         ["predict", crafted("chain.slm", arrays={"model/coef_0": np.zeros((5, 16), np.float32)}), clip], "error"),
    ]
    raw = io.BytesIO()
    np.lib.format.write_array_header_1_0(raw, {"descr": "|O", "fortran_order": False, "shape": (1,)})
    import pickle

    cases.append(("model carrying a pickle", ["predict", crafted("pickle.slm", arrays={
        "model/coef_0": raw.getvalue() + pickle.dumps([print])}), clip], "error"))
    two = tmp / "two"
    two.mkdir()
    for i in range(3):
        write_wav(two / f"{0 if i < 2 else 1}_s{i}_{i}.wav", class_signal(cls=i // 2, sr=8000, seed=i), sr=8000)
    out = tmp / "never.slm"
    cases += [
        ("training split left with one class", ["train", "--data", two, "--out", out, "--no-cache",
                                                 "--test-size", "0.4"], "error"),
        ("--hidden 2000000", ["train", "--data", good, "--hidden", "2000000", "--out", out], "error"),
        ("--seed -1 --split speaker", ["train", "--data", good, "--seed", "-1", "--split", "speaker", "--out", out],
         "error"),
        ("--jobs 1000", ["features", "--data", good, "--jobs", "1000"], "error"),
        ('--data ""', ["features", "--data", ""], "error"),
        ("--data a file", ["features", "--data", clip], "error"),
        ("--out in a missing folder", ["train", "--data", good, "--out", tmp / "missing" / "m.slm"], "error"),
    ]
    # Round two (issue 17): each surface keeps its cases in benchmarks/hostile_cases/<surface>.py,
    # a module with make_cases(tmp, good, clip, model) -> [(name, args, expect), ...]: ``tmp`` is the
    # module's own empty folder, ``good`` 24 two-class clips, ``clip`` one of them, ``model`` a digits
    # model trained on them.
    for module in _round_two_modules():
        folder = tmp / module.__name__.rsplit(".", 1)[-1]
        folder.mkdir()
        cases += module.make_cases(folder, good, clip, model)
    return cases


def _round_two_modules():
    import importlib
    import pkgutil

    from benchmarks import hostile_cases

    return [importlib.import_module(f"benchmarks.hostile_cases.{info.name}")
            for info in sorted(pkgutil.iter_modules(hostile_cases.__path__), key=lambda i: i.name)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="record the table in benchmarks/RESULTS.md")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = pathlib.Path(tmpdir)
        env = dict(os.environ, SPEECHLAB_CACHE_DIR=str(tmp / "cache"), SPEECHLAB_DATA_DIR=str(tmp / "data"))
        rows = []
        for name, command, expect in make_cases(tmp, env):
            code, stderr, mb, seconds = run(command, env)
            errors = [line for line in stderr.splitlines() if line.startswith("error:")]
            traceback = "Traceback" in stderr
            if expect == "error":
                handled = not traceback and code != 0 and len(errors) >= 1
            elif expect == "skip":
                handled = not traceback and code == 0
            else:
                handled = not traceback
            message = (errors[0][7:] if errors else (stderr.strip().splitlines() or [""])[-1])[:110]
            rows.append((name, handled, code, mb, seconds, message))
            print(f"{'ok ' if handled else 'BAD'} {name}: exit {code}, {mb:.0f} MB, {seconds:.1f} s  {message}",
                  flush=True)
    baseline = rows[0][3]
    worst = max(rows[1:], key=lambda r: r[3])
    n_ok = sum(r[1] for r in rows[1:])
    print(f"\n{n_ok}/{len(rows) - 1} hostile cases handled; worst peak memory {worst[3]:.0f} MB ({worst[0]}), "
          f"{worst[3] / baseline:.1f}× the baseline predict ({baseline:.0f} MB)")
    if args.write:
        lines = ["## Hostile inputs", "",
                 f"`python benchmarks/hostile_inputs.py --write` — {time.strftime('%Y-%m-%d')}, "
                 f"{os.cpu_count()} cores, Python {platform.python_version()}, load average "
                 f"{os.getloadavg()[0]:.2f}.", "",
                 "Each case is a generated input run through `python main.py …` in a child process; peak memory is "
                 "the child's (and its workers') maximum resident set. Baseline: `predict` of one good clip.", "",
                 "| case | handled | exit | peak MB | × baseline | s | what the user reads |", "|---|---|---|---|---|---|---|"]
        for name, ok, code, mb, seconds, message in rows:
            lines.append(f"| {name} | {'yes' if ok else '**no**'} | {code} | {mb:.0f} | {mb / baseline:.2f} | "
                         f"{seconds:.1f} | {message.replace('|', '/')} |")
        lines += ["", f"**{n_ok} of {len(rows) - 1}** hostile cases handled; worst peak memory {worst[3]:.0f} MB "
                      f"({worst[0]}), {worst[3] / baseline:.2f}× the baseline. Before issue 8 the 1 Hz WAV took "
                      "8.2 GB, the deflate bomb 8.5 GB, and 24 of 63 crafted model files ended in a traceback."]
        write_section("## Hostile inputs", "\n".join(lines))


if __name__ == "__main__":
    main()
