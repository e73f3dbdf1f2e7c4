"""What every command shares: the one-line-error parser, progress on stderr,
dataset arguments, ``--set KEY=VALUE`` feature settings, JSON helpers."""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time

from core.datasets import LABEL_KINDS, LAYOUTS
from core.errors import SpeechLabError
from core.features import FEATURE_NAMES, FeatureConfig
from core.tasks import TASKS


MAX_JOBS = 64


def jobs_count(text):
    """argparse type for --jobs: 1..MAX_JOBS."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not '{text}'") from None
    if not 1 <= n <= MAX_JOBS:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_JOBS}, not {n}")
    return n


def _whole_number(text, minimum):
    """argparse: ``text`` as a whole number of at least ``minimum``, or a one-line error."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not '{text}'") from None
    if n < minimum:
        raise argparse.ArgumentTypeError(f"must be at least {minimum}, not {n}")
    return n


def positive_count(text):
    """argparse type for counts such as --limit: a whole number of at least 1."""
    return _whole_number(text, 1)


def printable(text):
    """``text`` safe to print on a terminal, on one line: control characters (ESC, newline, BEL, …),
    bidirectional overrides and undecodable bytes are shown escaped as Python writes them (``\\x1b``,
    ``\\n``); every other character, accented letters and CJK included, is kept as it is."""
    return "".join(_escape(ch) for ch in str(text))


def _escape(ch):
    import unicodedata

    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (os.fsdecode's surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    if unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") or 0x202A <= code <= 0x202E or 0x2066 <= code <= 0x2069:
        return repr(ch)[1:-1] if code < 0x10000 and unicodedata.category(ch) == "Cc" else f"\\u{code:04x}"
    return ch


def seed_value(text):
    """argparse type for --seed: 0 .. 2**32-1 (what NumPy's generators accept)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not '{text}'") from None
    if not 0 <= n < 2**32:
        raise argparse.ArgumentTypeError(f"must be between 0 and {2**32 - 1}, not {n}")
    return n


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit code 2
        sys.stderr.write(f"error: {message}\n")
        raise SystemExit(2)


def progress_printer(quiet=False):
    """A ``progress(Progress)`` callback writing at most two lines a second to stderr."""
    last = [0.0, -1]

    def show(p):
        now = time.monotonic()
        if quiet or p.done == last[1] or (now - last[0] < 0.5 and p.done < p.total):
            return
        last[0], last[1] = now, p.done
        eta = "" if p.eta_seconds == float("inf") else f", ETA {p.eta_seconds:.0f} s"
        workers = getattr(p, "workers", ())
        where = f"; on {len(workers)} Dask workers: " + ", ".join(str(n) for _, n in workers) if workers else ""
        sys.stderr.write(f"features: {p.done}/{p.total} files ({p.files_per_second:.0f} files/s{eta}{where})\n")

    return show


class StopOnFirstInterrupt:
    """The first Ctrl-C asks the work to stop like the GUI's Stop (an extraction is
    cancelled, a training keeps and saves its best model so far); a second one aborts.

    A flag rather than an exception: a KeyboardInterrupt raised inside a library
    can be swallowed by it, a flag polled between files and batches cannot.
    """

    def __init__(self, what="the best model so far will be saved"):
        self.count = 0
        self.what = what

    def __enter__(self):
        import signal
        import threading

        self._old = None
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc):
        import signal

        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
        return False

    def _handler(self, signum, frame):
        self.count += 1
        if self.count > 1:
            raise KeyboardInterrupt
        sys.stderr.write(f"stopping: {self.what} (Ctrl-C again to abort)\n")

    def should_stop(self):
        return self.count > 0


def add_data_args(p, *, task=True, several=False):
    if task:
        p.add_argument("--task", choices=list(TASKS), default="digits")
    if several:  # train --data DIR --data MORE_DIR: folders of the same task, merged
        p.add_argument("--data", action="append",
                       help="dataset folder (default: the task's built-in demo data); repeat it to train on several "
                            "folders of the same task at once (layouts may differ)")
    else:
        p.add_argument("--data", help="dataset folder (default: the task's built-in demo data)")
    p.add_argument("--label", choices=list(LABEL_KINDS), help="label of {digit}_{speaker}_{index} files")
    p.add_argument("--layout", choices=list(LAYOUTS), default="auto")
    p.add_argument("--features", choices=list(FEATURE_NAMES), help="feature set (default: the task's)")
    p.add_argument("--window-seconds", type=float, default=None,
                   help="cut clips into windows this long (0: one example per whole clip); same as --set window_seconds=")
    add_set_arg(p)
    p.add_argument("--jobs", type=jobs_count, default=None, help=f"worker processes, 1-{MAX_JOBS} (default: all cores)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the feature cache")
    add_cluster_arg(p)


def cluster_address(text):
    """argparse type for --cluster: a Dask scheduler address, checked before any work."""
    from core.cluster import check_address

    try:
        return check_address(text, "address")
    except SpeechLabError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_cluster_arg(p):
    p.add_argument("--cluster", metavar="ADDRESS", default=None, type=cluster_address,
                   help="a Dask scheduler (tcp://HOST:8786): feature extraction (and a sweep's runs) go there; "
                        "results come back into the local cache and run history (pip install -e .[cluster])")


def cluster_from_args(args):
    """The block runs with ``--cluster``'s scheduler connected (one line if it is not there), or
    unchanged without it: Dask is then never imported."""
    from core.cluster import use

    return use(getattr(args, "cluster", None), "--cluster")


def folds_count(text):
    """``--folds K``: a whole number, at least 2 (more than the data's groups is refused by core, naming folds)."""
    return _whole_number(text, 2)


def add_set_arg(p):
    names = ", ".join(f.name for f in dataclasses.fields(FeatureConfig) if f.name != "name")
    p.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                   help=f"a feature setting, repeatable (e.g. --set n_mfcc=20 --set trim_db=none); keys: {names}")


def _parse_value(key, text, annotation):
    kinds = str(annotation)
    low = text.strip().lower()
    if low in ("none", "null", "off"):
        if "None" in kinds:
            return None
        raise SpeechLabError(f"--set {key}={text}: '{key}' cannot be none")
    try:
        if kinds.startswith("int"):
            return int(text)
        if kinds.startswith("float"):
            return float(text)
    except ValueError:
        what = "an integer" if kinds.startswith("int") else "a number"
        raise SpeechLabError(f"--set {key}={text}: '{key}' must be {what}" + (" or none" if "None" in kinds else "")) from None
    return text


def parse_settings(pairs):
    """``["n_mfcc=20", "trim_db=none"]`` -> {"n_mfcc": 20, "trim_db": None}, checked against FeatureConfig."""
    fields = {f.name: f.type for f in dataclasses.fields(FeatureConfig)}
    out = {}
    for pair in pairs or []:
        key, eq, value = pair.partition("=")
        key = key.strip()
        if not eq or not key:
            raise SpeechLabError(f"--set needs KEY=VALUE, not '{pair}'")
        if key == "name":
            raise SpeechLabError("--set name=…: choose the feature set with --features")
        if key not in fields:
            raise SpeechLabError(f"--set {pair}: unknown feature setting '{key}'; known: "
                                 f"{', '.join(k for k in fields if k != 'name')}")
        out[key] = _parse_value(key, value, fields[key])
    return out


def feature_config(spec, args):
    """The task's default config for ``--features`` with ``--set`` applied (validated by FeatureConfig)."""
    config = spec.feature_config(getattr(args, "features", None))
    settings = parse_settings(getattr(args, "settings", []))
    window = getattr(args, "window_seconds", None)
    if window is not None:
        settings.setdefault("window_seconds", float(window) if window > 0 else None)
    return dataclasses.replace(config, **settings) if settings else config


def resolve_data(args, spec):
    from core.datasets import scan_dataset

    data = args.data
    if data is None:
        from core.demo import demo_dataset

        data = demo_dataset(spec.key)
        sys.stderr.write(f"using the built-in demo data: {data}\n")
    check_folder(data, "--data")
    ds = scan_dataset(data, layout=args.layout, label=args.label or spec.label_kind)
    if args.label and ds.layout != "filename":
        sys.stderr.write(f"note: --label {args.label} applies to {{digit}}_{{speaker}}_{{index}} file names only; "
                         f"{data} has one folder per class, so the folder names are the labels\n")
    return ds


def data_folders(data):
    """``--data`` given once (a str, as always) or repeated (a list): the request's ``data``."""
    if isinstance(data, list):
        return data[0] if len(data) == 1 else data
    return data


def check_folder(path, flag):
    """A one-line error for an empty, missing or non-folder dataset argument."""
    import os

    if path is None or not str(path).strip():
        raise SpeechLabError(f"{flag} is empty: give a dataset folder")
    if os.path.isfile(path):
        raise SpeechLabError(f"{flag} {path} is a file; give the folder that holds the dataset")
    if not os.path.isdir(path):
        raise SpeechLabError(f"{flag} {path}: folder not found")


def check_output(path, flag="--out", *, example="model.slm"):
    """Before any work: the file can be written there (so a long training is not lost at the end).
    ``example``: the kind of file name to suggest (a model, a report)."""
    import os

    if not path or not str(path).strip():
        raise SpeechLabError(f"{flag} is empty: give a file name such as {example}")
    if os.path.isdir(path):
        raise SpeechLabError(f"{flag} {path} is a folder; give a file name such as {os.path.join(path, example)}")
    parent = os.path.dirname(os.path.abspath(os.path.realpath(path))) or "."
    if not os.path.isdir(parent):
        raise SpeechLabError(f"{flag} {path}: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise SpeechLabError(f"{flag} {path}: the folder {parent} is not writable")


def metrics_json(metrics):
    """The metrics every command reports, as plain JSON values."""
    out = {
        "accuracy": metrics["accuracy"],
        "train_accuracy": metrics.get("train_accuracy"),
        "balanced_accuracy": metrics["balanced_accuracy"],
        "macro_f1": metrics["macro_f1"],
        "per_class": {lab: v["accuracy"] for lab, v in metrics["per_class"].items()},
        "confusion": metrics["confusion"],
        "labels": metrics["labels"],
    }
    if "window_accuracy" in metrics:
        out["window_accuracy"] = metrics["window_accuracy"]
    return out


def history_json(history):
    keys = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy")
    return [{k: h.get(k) for k in keys} for h in history]


def epoch_printer():
    """Print each finished epoch to stderr (train, enrol)."""

    from core.models import EpochTimer

    timer = EpochTimer()

    def show(stats):
        if stats.get("batch") is not None:
            return
        val = "" if stats.get("val_loss") is None else (
            f", val loss {stats['val_loss']:.4f}, val acc {stats['val_accuracy']:.3f}")
        sys.stderr.write(f"epoch {stats['epoch']}/{stats['epochs']}: loss {stats['loss']:.4f}, "
                         f"acc {stats['accuracy']:.3f}{val} ({timer.lap(stats):.2f} s)\n")

    return show
