"""The command-line face of SpeechLab (``python main.py <command>``).

Results go to stdout (one JSON object with ``--json``); progress and
messages go to stderr. Bad arguments or data: one line on stderr and a
non-zero exit code.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from .errors import SpeechLabError


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit code 2
        sys.stderr.write(f"error: {message}\n")
        raise SystemExit(2)


def _progress_printer(quiet=False):
    last = [0.0, -1]

    def show(p):
        now = time.monotonic()
        if quiet or p.done == last[1] or (now - last[0] < 0.5 and p.done < p.total):
            return
        last[0], last[1] = now, p.done
        eta = "" if p.eta_seconds == float("inf") else f", ETA {p.eta_seconds:.0f} s"
        sys.stderr.write(f"features: {p.done}/{p.total} files ({p.files_per_second:.0f} files/s{eta})\n")

    return show


def _add_data_args(p, *, task=True):
    if task:
        p.add_argument("--task", choices=["digits", "genres", "speakers"], default="digits")
    p.add_argument("--data", help="dataset folder (default: the task's built-in demo data)")
    p.add_argument("--label", choices=["digit", "speaker"], help="label of {digit}_{speaker}_{index} files")
    p.add_argument("--layout", choices=["auto", "filename", "folders"], default="auto")
    p.add_argument("--features", help="feature name (mfcc-full, mfcc-mean, mfcc-stats, spectral, logmel-128)")
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the feature cache")


def _resolve_data(args, spec):
    from .datasets import scan_dataset

    data = args.data
    if data is None:
        from .demo import demo_dataset

        data = demo_dataset(spec.key)
        sys.stderr.write(f"using the built-in demo data: {data}\n")
    return scan_dataset(data, layout=args.layout, label=args.label or spec.label)


def cmd_features(args):
    from .features import build_features
    from .tasks import get_task

    spec = get_task(args.task)
    ds = _resolve_data(args, spec)
    config = spec.feature_config(args.features)
    t0 = time.perf_counter()
    fs = build_features(ds, config, progress=_progress_printer(), n_jobs=args.jobs, cache=not args.no_cache)
    seconds = time.perf_counter() - t0
    n_files = len(ds.items) + len(ds.skipped)
    if len(fs.items) == 0:
        raise SpeechLabError(f"none of the {n_files} files in {ds.root} could be used "
                             f"(first: {fs.skipped[0].path}: {fs.skipped[0].reason})" if fs.skipped
                             else f"no usable files in {ds.root}")
    classes = {}
    for lab in fs.labels.tolist():
        classes[lab] = classes.get(lab, 0) + 1
    out = {
        "n_files": n_files,
        "n_used": len(fs.items),
        "n_skipped": len(fs.skipped),
        "skipped": [s.as_dict() for s in fs.skipped],
        "classes": {k: classes[k] for k in sorted(classes, key=lambda s: (not s.isdigit(), int(s) if s.isdigit() else 0, s))},
        "shape": list(fs.X.shape),
        "feature_config": fs.config.to_dict(),
        "seconds": round(seconds, 4),
        "files_per_second": round(len(ds.items) / max(seconds, 1e-9), 1),
        "cache_hits": fs.cache_hits,
    }
    if args.json:
        print(json.dumps(out))
    else:
        print(f"{out['n_used']} files used, {out['n_skipped']} skipped, features {out['shape']}, "
              f"{out['seconds']:.2f} s ({out['files_per_second']:.0f} files/s, {out['cache_hits']} from cache)")
        for s in out["skipped"]:
            print(f"  skipped {s['path']}: {s['reason']}")
    return 0


def cmd_cache(args):
    from .cache import FeatureCache

    cache = FeatureCache.default()
    if args.clear:
        cache.clear()
    info = {"path": str(cache.path), "bytes": cache.size_bytes(), "entries": cache.entry_count()}
    print(json.dumps(info) if args.json else f"{info['path']}: {info['bytes'] / 1e6:.1f} MB, {info['entries']} entries")
    return 0


def build_parser():
    parser = _Parser(prog="python main.py", description="SpeechLab: train and compare audio classifiers.")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    p = sub.add_parser("features", help="extract (and cache) features of a dataset")
    _add_data_args(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_features)
    p = sub.add_parser("cache", help="show (or --clear) the feature cache")
    p.add_argument("--clear", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_cache)
    _register_model_commands(sub)
    return parser


def _register_model_commands(sub):
    """Model commands (train, evaluate, predict, listen, devices) live in cli_models."""
    try:
        from . import cli_models
    except ImportError:  # not built yet in this checkout
        return
    cli_models.register(sub, _add_data_args)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return args.func(args)
    except SpeechLabError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
