"""Feature extraction speed: the seed's librosa loop against SpeechLab's extractor.

    python benchmarks/extract.py [--repeat N] [--data DIR] [--jobs N] [--no-write]

On the 2,000 FSDD recordings (8 kHz, resampled to 16 kHz) it times

1. the seed's loop, one file after another: ``librosa.load(sr=16000)``,
   ``librosa.feature.mfcc`` (12 MFCCs, 25 ms / 10 ms, 24 mels) and both
   ``librosa.feature.delta`` calls; librosa is warmed up on one file first so
   its import and first-call costs are not charged to it;
2. ``core.extraction.extract`` with ``mfcc-full`` and an empty cache (cold),
   in one process too, which shows the speed-up per core whether or not the
   other cores are free;
3. the same call again (warm: every file from the cache).

It prints files/s and the ratios to the seed, checks that both compute the
same numbers, and writes the "## Feature extraction" section of
benchmarks/RESULTS.md (other sections are left as they are).
"""
from __future__ import annotations

import argparse
import datetime
import os
import pathlib
import platform
import statistics
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from core.cache import FeatureCache  # noqa: E402
from core.extraction import default_jobs, extract  # noqa: E402
from core.features import FeatureConfig  # noqa: E402

FSDD = ROOT.parent / "shared" / "data" / "fsdd" / "recordings"
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
SECTION = "## Feature extraction"
TARGET_COLD, TARGET_WARM = 10.0, 100.0
CONFIG = FeatureConfig(name="mfcc-full", sr=16000)  # 12 MFCCs, 25 ms window (400), 10 ms hop (160), 24 mels


def seed_features(path):
    """The seed's per-file code, verbatim in effect: (36, frames)."""
    import librosa

    y, _ = librosa.load(path, sr=16000)
    m = librosa.feature.mfcc(y=y, sr=16000, n_mfcc=12, n_fft=400, hop_length=160, n_mels=24)
    return np.vstack([m, librosa.feature.delta(m), librosa.feature.delta(m, order=2)])


def time_seed(paths):
    t0 = time.perf_counter()
    for p in paths:
        seed_features(p)
    return time.perf_counter() - t0


def time_project(paths, cache, n_jobs):
    t0 = time.perf_counter()
    ex = extract(paths, CONFIG, cache=cache, n_jobs=n_jobs)
    return time.perf_counter() - t0, ex


def max_relative_difference(paths, raws):
    """Largest |ours - seed| / max|seed| over the given files (both are float32 pipelines)."""
    worst = 0.0
    for p, ours in zip(paths, raws):
        ref = seed_features(p)
        worst = max(worst, float(np.abs(ours - ref).max() / np.abs(ref).max()))
    return worst


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {platform.system()}"


def write_section(text):
    """Replace (or add) this benchmark's section of RESULTS.md, keeping every other section."""
    from _results import write_section as write

    write(SECTION, text)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=pathlib.Path, default=FSDD, help="folder of .wav files (default: FSDD)")
    ap.add_argument("--repeat", type=int, default=1, help="run everything N times; the best time counts")
    ap.add_argument("--jobs", type=int, default=None, help="worker processes for SpeechLab (default: all cores)")
    ap.add_argument("--no-write", action="store_true", help="do not update benchmarks/RESULTS.md")
    args = ap.parse_args(argv)

    paths = sorted(str(p) for p in args.data.glob("*.wav")) if args.data.is_dir() else []
    if not paths:
        print(f"SKIPPED: no .wav files in {args.data} (the FSDD recordings live in ../shared/data/fsdd/recordings)")
        return 0
    load_before = os.getloadavg()
    print(f"{len(paths)} files from {args.data}")
    print(f"machine: {machine()}")
    print(f"load average before (1, 5, 15 min): {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}")

    seed_features(paths[0])  # librosa's import and first-call costs are not the loop's
    times = {"seed": [], "cold1": [], "cold": [], "warm": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeat):
            times["seed"].append(time_seed(paths))
            times["cold1"].append(time_project(paths, FeatureCache(pathlib.Path(tmp) / f"one-{r}.sqlite"), 1)[0])
            cache = FeatureCache(pathlib.Path(tmp) / f"features-{r}.sqlite")  # fresh and empty
            cold, ex = time_project(paths, cache, args.jobs)
            warm, ex_warm = time_project(paths, cache, args.jobs)
            if ex_warm.cache_hits != len(paths):
                raise SystemExit(f"warm run read only {ex_warm.cache_hits}/{len(paths)} files from the cache")
            times["cold"].append(cold)
            times["warm"].append(warm)
            print(f"repeat {r + 1}/{args.repeat}: seed {times['seed'][-1]:.2f} s, "
                  f"cold (1 process) {times['cold1'][-1]:.2f} s, cold {cold:.2f} s, "
                  f"warm {warm:.3f} s, load {os.getloadavg()[0]:.2f}", flush=True)
    load_after = os.getloadavg()
    check = max_relative_difference(paths[:50], ex.raws[:50])

    best = {k: min(v) for k, v in times.items()}
    rate = {k: len(paths) / v for k, v in best.items()}
    ratio = {k: best["seed"] / best[k] for k in ("cold1", "cold", "warm")}
    # Seed and SpeechLab ran back to back in each repeat, under the same load.
    per_repeat = ", ".join(f"{s / c:.1f}×" for s, c in zip(times["seed"], times["cold"]))
    rows = [
        ("seed loop (librosa, one file after another)", "seed"),
        ("SpeechLab cold, 1 process", "cold1"),
        (f"SpeechLab cold (empty cache, {args.jobs or default_jobs()} processes)", "cold"),
        ("SpeechLab warm (every file from the cache)", "warm"),
    ]
    print()
    for label, k in rows:
        med = statistics.median(times[k])
        extra = "" if k == "seed" else f"  = {ratio[k]:.1f}x the seed"
        print(f"{label:52s} {best[k]:8.3f} s (median {med:.3f})  {rate[k]:9.0f} files/s{extra}")
    print(f"cold/seed in each repeat: {per_repeat}")
    print(f"same numbers as the seed's loop: max relative difference {check:.1e} over 50 files")
    met = {k: ratio[k] >= target for k, target in (("cold", TARGET_COLD), ("warm", TARGET_WARM))}
    print(f"targets (2-core machine): cold >= {TARGET_COLD:.0f}x: {'met' if met['cold'] else 'NOT met'}, "
          f"warm >= {TARGET_WARM:.0f}x: {'met' if met['warm'] else 'NOT met'}")
    print(f"load average after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")

    busy = load_before[0] >= 0.5 * (os.cpu_count() or 1)
    table = "\n".join(
        f"| {label} | {best[k]:.3f} | {statistics.median(times[k]):.3f} | {rate[k]:,.0f} | "
        f"{'1.0×' if k == 'seed' else f'{ratio[k]:.1f}×'} |" for label, k in rows
    )
    text = f"""{SECTION}

`python benchmarks/extract.py --repeat {args.repeat}` on the {len(paths):,} FSDD recordings (8 kHz, loaded
at 16 kHz): 12 MFCCs (25 ms window, 10 ms hop, 24 mel bands) with Δ and ΔΔ, the seed's Q2 "full"
features. The seed's loop is `librosa.load` + `librosa.feature.mfcc` + two `librosa.feature.delta`
calls per file, one file after another, librosa warmed up first. SpeechLab is
`core.extraction.extract(paths, FeatureConfig(name="mfcc-full", sr=16000), cache=FeatureCache(...))`
with a fresh cache file (cold), then the same call again (warm). Best of {args.repeat} run(s).

- Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC
- Machine: {machine()}
- Load average (1/5/15 min) before: {load_before[0]:.2f} / {load_before[1]:.2f} / {load_before[2]:.2f};
  after: {load_after[0]:.2f} / {load_after[1]:.2f} / {load_after[2]:.2f}

| run | best s | median s | files/s | vs seed |
|---|---|---|---|---|
{table}

Targets on a 2-core machine: cold ≥ {TARGET_COLD:.0f}× the seed — **{'met' if met['cold'] else 'not met'}**
({ratio['cold']:.1f}×; {per_repeat} in the single repeats); warm ≥ {TARGET_WARM:.0f}× —
**{'met' if met['warm'] else 'not met'}** ({ratio['warm']:.1f}×).
Both compute the same numbers: largest difference to the seed's loop {check:.1e} of the
feature range over 50 files.
"""
    if busy:
        text += (f"\nThe load average was {load_before[0]:.2f} on {os.cpu_count()} cores before the run: other "
                 "sessions were using the CPU, so every number above (the seed's included) is slower than on an "
                 "idle machine.\n")
    if not args.no_write:
        write_section(text)
        print(f"wrote the '{SECTION}' section of {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
