"""Built-in demo data, so every task can be tried on first launch with no download.

Digits / Speakers
    the shipped espeak-ng clips (:mod:`core.demo_digits`); the Speakers task
    uses the same files with the voice as the label.
Genres
    synthetic pieces (:mod:`core.demo_genres`) written into the user data
    folder on first use.

Synthetic data show how the program works; real results need a real dataset
(FSDD or AudioMNIST for digits, GTZAN for genres).

``python -m core.demo build-digits | verify-digits | genres``: rebuild the
digits clips, compare a rebuild with the shipped ones sample by sample, or
make the genres set.
"""
from __future__ import annotations

import argparse
import pathlib
import sys

from . import demo_digits, demo_genres
from .errors import SpeechLabError
from .paths import data_dir

TASKS = ("digits", "speakers", "genres")


def demo_dataset(task):
    """The folder of demo data for ``task`` ("digits", "speakers" or "genres").

    Digits and Speakers share the shipped espeak-ng clips; the genres set is
    generated into the user data folder on first call (a few seconds).

    Raises
    ------
    SpeechLabError
        unknown task, or the shipped digits demo is missing.
    """
    if task in ("digits", "speakers"):
        folder = demo_digits.DEMO_DIGITS_DIR
        if not folder.is_dir() or not any(folder.glob("*.flac")):
            raise SpeechLabError(
                f"The digits demo is missing from {folder}; reinstall SpeechLab or rebuild it "
                "with 'python -m core.demo build-digits' (needs espeak-ng)."
            )
        return folder
    if task == "genres":
        try:
            return demo_genres.ensure_genres_demo(data_dir() / "demo" / "genres_original")
        except OSError as exc:
            raise SpeechLabError(f"Could not write the genres demo under {data_dir()}: {exc.strerror or exc}") from exc
    raise SpeechLabError(f"No demo data for task {task!r}; choose one of {', '.join(TASKS)}.")


def _verify_digits(folder):
    """Print how far a rebuild is from the shipped clips; 0 when every sample is within 1 step."""
    rows = demo_digits.regeneration_report(folder)
    worst = max(rows, key=lambda r: -1 if r[1] is None else r[1])
    missing = [r[0] for r in rows if r[1] is None]
    differ = [r for r in rows if r[1] is not None and r[1] > 1]
    for name, diff, shipped, fresh in differ:
        print(f"{name}: differs by up to {diff} (int16 steps); {shipped} vs {fresh} samples")
    print(f"{len(rows) - len(differ) - len(missing)} of {len(rows)} clips identical (±1) to {folder}; "
          f"{len(differ)} differ, {len(missing)} missing; largest difference {worst[1]}")
    return 0 if not differ and not missing else 1


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m core.demo", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("build-digits", help="speak the digits demo with espeak-ng (FLAC, 8 kHz)")
    p.add_argument("--out", type=pathlib.Path, default=demo_digits.DEMO_DIGITS_DIR)
    p = sub.add_parser("verify-digits", help="rebuild the digits demo in memory and compare it with the shipped clips")
    p.add_argument("--folder", type=pathlib.Path, default=demo_digits.DEMO_DIGITS_DIR)
    p = sub.add_parser("genres", help="generate the synthetic genres demo (GTZAN layout)")
    p.add_argument("--out", type=pathlib.Path, default=None, help="default: the user data folder, made once")
    args = parser.parse_args(argv)
    try:
        if args.command == "build-digits":
            files = demo_digits.build_digits_demo(args.out)
            print(f"{len(files)} clips written to {args.out}")
        elif args.command == "verify-digits":
            return _verify_digits(args.folder)
        elif args.out is None:
            print(demo_dataset("genres"))
        else:
            files = demo_genres.generate_genres_demo(args.out)
            print(f"{len(files)} clips written to {args.out}")
    except SpeechLabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
