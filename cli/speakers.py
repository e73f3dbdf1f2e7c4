"""Speakers on the command line: the open-set options of ``train``, its JSON, and ``enrol``."""
from __future__ import annotations

import json

from core.errors import SpeechLabError


def add_train_args(p):
    """``train``'s speakers options."""
    from core.openset import METHODS, TARGET_FRR

    g = p.add_argument_group("speakers (open set)")
    g.add_argument("--unknown", default="", metavar="NAME,...",
                   help="speakers to leave out of training and test as voices never heard (false-accept rate)")
    g.add_argument("--open-set-method", choices=list(METHODS), default=None,
                   help="how a clip is scored for 'unknown' (default: combined)")
    g.add_argument("--target-frr", type=float, default=None,
                   help=f"share of known speakers' calibration clips the automatic threshold may reject "
                        f"(default {TARGET_FRR}; digits: 0.01)")
    g.add_argument("--open-set", action="store_true",
                   help="digits: also answer 'unknown' for sounds that are not one of the classes (a whistle, "
                        "another word), with a threshold from the training data (always on for speakers)")


def open_set_json(os_metrics):
    """The ``open_set`` object of ``train --json``."""
    return {
        "method": os_metrics["method"],
        "threshold": os_metrics["threshold"],
        "false_reject_rate": os_metrics["false_reject_rate"],
        "false_accept_rate": os_metrics["false_accept_rate"],
        "eer": os_metrics["eer"],
        "n_unknown": os_metrics["n_unknown"],
        "methods": {m: {k: v[k] for k in ("threshold", "false_reject_rate", "false_accept_rate", "eer")}
                    for m, v in os_metrics["methods"].items()},
    }


def _pct(v):
    return "n/a" if v is None else f"{v:.1%}"


def open_set_text(os_json):
    far = ("no voices never heard in the data" if os_json["false_accept_rate"] is None
           else f"false accepts {_pct(os_json['false_accept_rate'])} of {os_json['n_unknown']} never-heard clips, "
                f"EER {_pct(os_json['eer'])}")
    return (f"open set ({os_json['method']}): threshold {os_json['threshold']:.4g} from the training data; "
            f"false rejects {_pct(os_json['false_reject_rate'])} of known test clips; {far}")


def evaluate_json(metrics):
    """The open-set keys ``evaluate --json`` adds for a speakers model."""
    keys = ("known_accuracy", "false_reject_rate", "false_accept_rate", "unknown_rate", "closed_set_accuracy",
            "threshold", "method")
    return {k: metrics.get(k) for k in keys if k in metrics}


def cmd_enrol(args):
    from core.bundle import load_bundle, save_bundle
    from core.datasets import LABEL_KINDS, scan_dataset
    from core.enrolment import enrol

    from .common import epoch_printer, history_json, metrics_json, progress_printer

    bundle = load_bundle(args.model)
    if bundle.open_set is None and bundle.task != "speakers":
        raise SpeechLabError(f"{args.model} is a {bundle.task} model; enrol needs a speakers model")
    data = args.data or bundle.training.get("dataset")
    if not data:
        raise SpeechLabError(f"{args.model} does not say which folder it was trained on; give --data DIR")
    label = bundle.training.get("label_kind")
    try:
        ds = scan_dataset(data, layout=args.layout, label=label if label in LABEL_KINDS else "speaker")
    except SpeechLabError as exc:
        raise SpeechLabError(f"{exc} (the training folder; give --data DIR to use another)") from None
    result = enrol(bundle, name=args.name, files=args.files, ds=ds, on_epoch=epoch_printer(),
                   on_progress=progress_printer(), n_jobs=args.jobs, cache=not args.no_cache)
    path = save_bundle(result.bundle, args.out)
    name = args.name.strip()
    out = {
        **metrics_json(result.metrics),
        "speaker": name,
        "n_files": len(args.files),
        "labels": result.bundle.labels,
        "n_train": result.n_train,
        "n_test": result.n_test,
        "skipped": [s.as_dict() for s in result.skipped],
        "history": history_json(result.history),
        "model": str(path),
        "open_set": open_set_json(result.metrics["open_set"]),
    }
    if args.json:
        print(json.dumps(out))
    else:
        acc = out["per_class"].get(name)
        print(f"enrolled '{name}' from {len(args.files)} file(s): {len(out['labels'])} speakers, test accuracy "
              f"{out['accuracy']:.4f}" + (f" ({name}: {acc:.0%})" if acc is not None else "")
              + f"; model saved to {path}")
        print(open_set_text(out["open_set"]))
    return 0


def register(sub):
    p = sub.add_parser("enrol", help="add a speaker to a speakers model from audio files and train it again")
    p.add_argument("model", help="the speakers model (.slm)")
    p.add_argument("files", nargs="+", help="the new speaker's recordings")
    p.add_argument("--name", required=True, help="the new speaker's name")
    p.add_argument("--out", required=True, help="where to save the retrained model (.slm)")
    p.add_argument("--data", help="train on this folder (default: the folder the model was trained on)")
    p.add_argument("--layout", choices=["auto", "filename", "folders"], default="auto")
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores)")
    p.add_argument("--no-cache", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_enrol)


def predict_text(r):
    """One line of ``predict`` output; speakers models may answer "unknown"."""
    p = r.get("probabilities", {}).get(r["label"])
    text = f"{r['path']}: {r['label']}" + (f" ({p:.0%})" if p is not None else "")
    if "score" in r:
        closest = f", closest: {r['known_label']}" if r["label"] != r.get("known_label") else ""
        text += f"  [score {r['score']:.3g}, threshold {r['threshold']:.3g}{closest}]"
    return text
