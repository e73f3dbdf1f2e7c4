"""Data commands: features, cache."""
from __future__ import annotations

import json
import sys
import time

from core.errors import SpeechLabError

from .common import (StopOnFirstInterrupt, add_data_args, cluster_from_args, feature_config, progress_printer,
                     resolve_data)


def cmd_features(args):
    from core.datasets import sort_labels
    from core.extraction import build_features
    from core.tasks import get_task

    spec = get_task(args.task)
    config = feature_config(spec, args)  # bad settings fail before the scan
    ds = resolve_data(args, spec)
    if spec.match_bandwidth and config.max_rate is None:  # as training derives it: `train` then finds them cached
        from core.features import bandwidth_of

        config = bandwidth_of(ds, config)
    t0 = time.perf_counter()
    with cluster_from_args(args), StopOnFirstInterrupt("cancelling the extraction") as interrupts:
        fs = build_features(ds, config, progress=progress_printer(), should_stop=interrupts.should_stop,
                            n_jobs=args.jobs, cache=not args.no_cache,
                            identities=ds.identities)  # taken by the scan a moment ago
    seconds = time.perf_counter() - t0
    for note in fs.notes:
        sys.stderr.write(f"note: {note}\n")
    n_files = len(ds.items) + len(ds.skipped)
    if len(fs.items) == 0:
        raise SpeechLabError(f"none of the {n_files} files in {ds.root} could be used "
                             f"(first: {fs.skipped[0].path}: {fs.skipped[0].reason})" if fs.skipped
                             else f"no usable files in {ds.root}")
    import numpy as np

    names, per_class = np.unique(fs.labels[fs.clip_rows()], return_counts=True)  # not a loop over 100,000 clips
    counts = dict(zip(names.tolist(), per_class.tolist()))
    out = {
        "n_files": n_files,
        "n_used": fs.n_clips,
        "n_skipped": len(fs.skipped),
        "skipped": [s.as_dict() for s in fs.skipped],
        "classes": {k: counts[k] for k in sort_labels(counts)},
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
    from core.cache import FeatureCache

    cache = FeatureCache.default()
    if args.clear:
        cache.clear()
    info = {"path": str(cache.path), "bytes": cache.size_bytes(), "entries": cache.entry_count()}
    for note in cache.notes:
        sys.stderr.write(f"note: {note}\n")
    print(json.dumps(info) if args.json else f"{info['path']}: {info['bytes'] / 1e6:.1f} MB, {info['entries']} entries")
    return 0


def register(sub):
    p = sub.add_parser("features", help="extract (and cache) features of a dataset")
    add_data_args(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_features)
    p = sub.add_parser("cache", help="show (or --clear) the feature cache")
    p.add_argument("--clear", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_cache)
