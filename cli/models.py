"""Model commands: train, evaluate, predict."""
from __future__ import annotations

import inspect
import json
import sys

from core.errors import SpeechLabError
from core.models.choices import ACTIVATIONS, INITS, OPTIMIZERS, OUTPUTS
from core.tasks import TASKS

from .common import (
    StopOnFirstInterrupt, add_data_args, check_output, data_folders, epoch_printer, folds_count, history_json,
    metrics_json, printable, progress_printer, seed_value,
)

DEFAULT_SEED = 42
ALL_MODEL_KEYS = sorted({m.key for spec in TASKS.values() for m in spec.models})


def _hidden(text):
    try:
        sizes = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise SpeechLabError(f"--hidden must be comma-separated layer sizes such as 256,128, not '{text}'") from None
    if any(s < 1 for s in sizes):
        raise SpeechLabError(f"--hidden sizes must be at least 1: '{text}'")
    return sizes


# command-line flag -> model keyword argument; a flag the chosen model does not take is an error
_MODEL_FLAGS = {
    "hidden": ("hidden_layer_sizes", _hidden),
    "activation": ("activation", None),
    "epochs": ("epochs", None),
    "lr": ("learning_rate", None),
    "batch_size": ("batch_size", None),
    "optimizer": ("optimizer", None),
    "output": ("output", None),
    "init": ("init", None),
    "l2": ("l2", None),
    "patience": ("patience", None),
}


def request_from_args(spec, args):
    """The TrainRequest of ``train``'s flags (core.request fills in the task's defaults)."""
    from core.models import model_class
    from core.request import TrainRequest

    from .common import parse_settings

    choice = spec.model_choice(getattr(args, "model", None))
    accepted = inspect.signature(model_class(choice.type).__init__).parameters
    params = {}
    for flag, (name, convert) in _MODEL_FLAGS.items():
        value = getattr(args, flag, None)
        if value is None:
            continue
        if name not in accepted:
            raise SpeechLabError(f"--{flag.replace('_', '-')} does not apply to the {choice.key} model")
        params[name] = convert(value) if convert else value
    for flag, name in (("no_standardize", "standardize"), ("no_early_stopping", "early_stopping")):
        if getattr(args, flag, False):
            if name not in accepted:
                raise SpeechLabError(f"--{flag.replace('_', '-')} does not apply to the {choice.key} model")
            params[name] = False
    if not 0 < args.test_size < 1:
        raise SpeechLabError(f"--test-size must be between 0 and 1, not {args.test_size}")
    split, folds = args.split, getattr(args, "folds", None)
    if folds is not None and split not in (None, "kfold"):
        raise SpeechLabError(f"--folds applies to --split kfold, not --split {split}")
    if folds is not None:
        split = "kfold"
    settings = parse_settings(getattr(args, "settings", []))
    window = getattr(args, "window_seconds", None)
    if window is not None:
        settings.setdefault("window_seconds", float(window) if window > 0 else None)
    return TrainRequest(task=spec.key, data=data_folders(args.data), label=args.label, layout=args.layout,
                        features=getattr(args, "features", None), feature_settings=settings, model=choice.key,
                        model_params=params, split=split, folds=folds, test_size=args.test_size,
                        seed=DEFAULT_SEED if args.seed is None else args.seed,
                        augment=False if getattr(args, "no_augment", False) else None,
                        open_set=_open_set_from_args(spec, args),
                        take_templates=not getattr(args, "no_take_templates", False))


def _open_set_from_args(spec, args):
    """None (the task's default), False (off) or the fields changed by the flags."""
    unknown = tuple(s.strip() for s in (getattr(args, "unknown", "") or "").split(",") if s.strip())
    if unknown and spec.key != "speakers":
        raise SpeechLabError(f"--unknown applies to the speakers task, not {spec.key}")
    if getattr(args, "open_set", False) and spec.key == "genres":
        raise SpeechLabError(f"--open-set is not available for the {spec.key} task")
    if getattr(args, "no_open_set", False):
        if spec.key == "speakers":
            raise SpeechLabError("--no-open-set: the speakers task always answers 'unknown' for voices never heard")
        return False
    changes = {"method": getattr(args, "open_set_method", None), "target_frr": getattr(args, "target_frr", None)}
    changes = {k: v for k, v in changes.items() if v is not None}
    if unknown:
        changes["unknown_labels"] = list(unknown)
    if spec.key == "genres":
        return False
    return changes or None


def cmd_train(args):
    from core.bundle import save_bundle
    from core.request import train_and_record
    from core.tasks import get_task

    from .common import check_folder, cluster_from_args

    spec = get_task(args.task)
    request = request_from_args(spec, args)
    check_output(args.out)
    if args.data is None:
        from core.demo import demo_dataset

        sys.stderr.write(f"using the built-in demo data: {demo_dataset(spec.key)}\n")
    else:
        for folder in (args.data if isinstance(args.data, list) else [args.data]):
            check_folder(folder, "--data")

    def on_event(kind, value):
        if kind == "fold":
            sys.stderr.write(f"fold {value['index'] + 1}/{value['total']}: testing on {value['test']}\n"
                             if value["test"] is not None else "final model on all the data\n")
        elif kind == "rotation":
            i, n, speaker = value
            sys.stderr.write(f"rotation {i + 1}/{n}: testing on {speaker}\n" if speaker
                             else "final model on every speaker\n")
        elif (kind == "phase" and value["name"].rsplit(": ", 1)[-1] not in ("training", "reading the dataset")
              and not value.get("epoch")):
            sys.stderr.write(f"{value['name']}…\n")

    with cluster_from_args(args), StopOnFirstInterrupt() as interrupts:  # --cluster: extraction on Dask
        result = train_and_record(request, on_epoch=epoch_printer(), on_progress=progress_printer(),
                                  on_event=on_event, should_stop=interrupts.should_stop, n_jobs=args.jobs,
                                  cache=not args.no_cache, source="cli")
    if hasattr(result, "per_speaker"):
        return _loso_output(args, result)
    if hasattr(result, "kfold"):
        return _kfold_output(args, result)
    path = save_bundle(result.bundle, args.out)
    run_id = result.run_id
    for note in result.notes:
        sys.stderr.write(f"note: {note}\n")
    out = {
        "run_id": run_id,
        **metrics_json(result.metrics),
        "n_train": result.n_train,
        "n_test": result.n_test,
        "skipped": [s.as_dict() for s in result.skipped],
        "history": history_json(result.history),
        "seconds": round(result.seconds, 3),
        "stop_reason": result.stop_reason,
        "model": str(path),
        "feature_config": result.bundle.feature_config.to_dict(),
        "request": result.request.to_dict(),
    }
    if result.bundle.open_set:
        from .speakers import open_set_json

        out["open_set"] = open_set_json(result.metrics["open_set"])
    if result.stop_reason:
        sys.stderr.write(f"note: {result.stop_reason}\n")
    if args.json:
        print(json.dumps(out))
    else:
        print(f"test accuracy {out['accuracy']:.4f} (train {out['train_accuracy']:.4f}) on "
              f"{out['n_test']} test clips; model saved to {path}"
              + (f"; recorded as run {run_id}" if run_id else ""))
        if "open_set" in out:
            from .speakers import open_set_text

            print(open_set_text(out["open_set"]))
    return 0


def _loso_output(args, rot):
    """--split loso: one training per held-out speaker, pooled metrics, and a
    final model trained on every speaker (the one saved)."""
    from core.bundle import save_bundle

    if rot.final is None:
        raise SpeechLabError("Stopped before the model on every speaker was trained; nothing saved")
    path = save_bundle(rot.final, args.out)
    out = {
        "run_id": rot.run_id,
        **metrics_json(rot.metrics),
        "rotations": [{"speaker": s, "accuracy": r.metrics["accuracy"], "n_test": r.n_test}
                      for s, r in zip(rot.speakers, rot.results)],
        "mean_accuracy": sum(rot.per_speaker.values()) / len(rot.per_speaker),
        "n_train": rot.final.training["n_train"],
        "n_test": sum(r.n_test for r in rot.results),
        "skipped": [s.as_dict() for s in rot.results[0].skipped],
        "history": history_json(rot.final.history),
        "seconds": round(rot.seconds, 3),
        "model": str(path),
        "feature_config": rot.final.feature_config.to_dict(),
        "request": rot.request.to_dict(),
    }
    if args.json:
        print(json.dumps(out))
    else:
        each = ", ".join(f"{r['speaker']} {r['accuracy']:.3f}" for r in out["rotations"])
        print(f"leave one speaker out: mean {out['mean_accuracy']:.4f} ({each}), pooled {out['accuracy']:.4f}; "
              f"model trained on every speaker saved to {path}")
    return 0


def _kfold_output(args, res):
    """--split kfold: one training per fold, the folds' mean ± std and 95 % interval, and the model
    trained on all the data afterwards (the one saved; the last finished fold's when stopped)."""
    from core.bundle import save_bundle
    from core.kfold import describe

    path = save_bundle(res.bundle, args.out)
    for note in res.notes:
        sys.stderr.write(f"note: {note}\n")
    kf = res.kfold
    out = {
        "run_id": res.run_id,
        **metrics_json(res.metrics),  # accuracy: the mean over folds; the rest pooled over every fold's test clips
        "pooled_accuracy": res.metrics["pooled_accuracy"],
        "folds": kf["folds"],
        "mean_accuracy": kf["mean_accuracy"],
        "std_accuracy": kf["std_accuracy"],
        "ci95": kf["ci95"],
        "k": kf["k"],
        "grouping": kf["grouping"],
        "completed": kf["completed"],
        "final_model": res.final,
        "n_train": res.n_train,
        "n_test": res.n_test,
        "skipped": [s.as_dict() for s in res.skipped],
        "history": history_json(res.history),
        "seconds": round(res.seconds, 3),
        "stop_reason": res.stop_reason,
        "model": str(path),
        "feature_config": res.bundle.feature_config.to_dict(),
        "request": res.request.to_dict(),
    }
    if res.bundle.open_set:
        from .speakers import open_set_json

        out["open_set"] = open_set_json(res.bundle.metrics["open_set"])
    if res.stop_reason:
        sys.stderr.write(f"note: {res.stop_reason}\n")
    if args.json:
        print(json.dumps(out))
    else:
        each = ", ".join(f"{f['fold']}: {f['accuracy']:.3f} ({f['n_test']})" for f in kf["folds"])
        kept = "model trained on all the data" if res.final else "model of the last finished fold"
        print(f"{describe(kf)}; folds {each}; {kept} saved to {path}"
              + (f"; recorded as run {res.run_id}" if res.run_id else ""))
    return 0


def cmd_evaluate(args):
    from core.bundle import load_bundle
    from core.datasets import LABEL_KINDS, scan_dataset
    from core.training import evaluate_bundle

    bundle = load_bundle(args.model)
    label = args.label or bundle.training.get("label_kind")
    ds = scan_dataset(args.data, layout=args.layout, label=label if label in LABEL_KINDS else "digit")
    metrics, skipped = evaluate_bundle(bundle, ds, on_progress=progress_printer(), n_jobs=args.jobs,
                                       cache=not args.no_cache)
    out = {**metrics_json(metrics), "n_test": metrics["n_clips"],
           "unknown_labels": metrics["unknown_labels"], "skipped": [s.as_dict() for s in skipped]}
    if bundle.open_set:  # speakers: clips of voices the model does not know are truth "unknown"
        from .speakers import evaluate_json

        out.update(evaluate_json(metrics))
        out.update({k: metrics[k] for k in ("answered_accuracy", "n_answered", "n_unknown_answers")})
        out["unknown_rate"] = metrics["unknown_rate"]
        out["accuracy_meaning"] = {
            "accuracy": 'every clip; an "unknown" answer to a clip of a known class counts as wrong',
            "answered_accuracy": 'the clips answered with a label (n_answered); "unknown" answers left out',
            "unknown_rate": 'share of all clips answered "unknown" (n_unknown_answers)'}
    if args.json:
        print(json.dumps(out))
    else:
        print(f"accuracy {out['accuracy']:.4f} on {out['n_test']} clips ({len(skipped)} skipped)")
        if bundle.open_set:
            answered = out["answered_accuracy"]
            print(f"unknown_rate {out['unknown_rate']:.4f} ({out['n_unknown_answers']} clips answered \"unknown\"); "
                  f"answered_accuracy " + ("—" if answered is None else f"{answered:.4f}")
                  + f" on the {out['n_answered']} clips answered (accuracy above counts \"unknown\" as wrong)")
        print(metrics["report"])
    return 0


def cmd_predict(args):
    from core.bundle import load_bundle
    from core.tasks import get_task

    bundle = load_bundle(args.model)
    clip_seconds = get_task(bundle.task).record_seconds if bundle.task in TASKS else None
    results, failed = [], 0
    for path in args.files:
        try:
            result = bundle.predict_file(path, clip_seconds=clip_seconds)
            result.pop("evidence", None)  # the rows behind the score (for decisions over words), not an answer
            results.append(result)
        except SpeechLabError as exc:
            failed += 1
            sys.stderr.write(f"error: {printable(exc)}\n")
    if args.json:
        print(json.dumps(results))
    else:
        for r in results:
            from .speakers import predict_text

            # a speakers model may answer "unknown", with its score and threshold; file names (and a
            # model's labels) are printed escaped: an ESC sequence or a newline in a name stays visible
            print(printable(predict_text(r)))
    return 0 if results and not failed else 1


def register(sub):
    p = sub.add_parser("train", help="train a model and save it")
    add_data_args(p, several=True)
    p.add_argument("--model", choices=ALL_MODEL_KEYS, help="model (default: the task's best)")
    p.add_argument("--hidden", help="MLP hidden layer sizes, e.g. 256,128 (empty string: no hidden layer)")
    p.add_argument("--activation", choices=list(ACTIVATIONS))
    p.add_argument("--epochs", type=int)
    p.add_argument("--lr", type=float, help="learning rate")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--optimizer", choices=list(OPTIMIZERS))
    p.add_argument("--output", choices=list(OUTPUTS),
                   help="softmax + cross-entropy; MSE with the activation on the output (exact gradient); "
                        "or the report's own update rule")
    p.add_argument("--init", choices=list(INITS))
    p.add_argument("--l2", type=float)
    p.add_argument("--patience", type=int)
    p.add_argument("--no-standardize", action="store_true")
    p.add_argument("--no-early-stopping", action="store_true")
    p.add_argument("--no-open-set", action="store_true",
                   help="digits: never answer 'unknown' (on by default, as in the Digits tab)")
    p.add_argument("--no-augment", action="store_true",
                   help="train on the clips only (digits adds two perturbed copies of every training clip by default)")
    p.add_argument("--no-take-templates", action="store_true",
                   help="with a second --data folder of your takes: do not also match clips against the takes "
                        "themselves (an MLP does by default; see the README's Your voice)")
    p.add_argument("--split", choices=["random", "speaker", "loso", "kfold"], default=None,
                   help="random (stratified), speaker (speaker-independent), loso: leave one speaker out, "
                        "each speaker once, then the saved model is trained on every speaker; or kfold: K folds "
                        "grouped by speaker (digits, when speakers are known) or by track (genres), stratified "
                        "otherwise, mean ± std over folds, then the saved model is trained on all the data. "
                        "Default: random; genres: kfold under 200 tracks")
    p.add_argument("--folds", type=folds_count, default=None, help="k of --split kfold (default 5; implies it)")
    p.add_argument("--test-size", type=float, default=0.2)
    p.add_argument("--seed", type=seed_value, default=None, help="random seed (split default 42)")
    p.add_argument("--out", required=True, help="where to save the model (.slm)")
    from .speakers import add_train_args

    add_train_args(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="evaluate a saved model on a dataset folder")
    p.add_argument("model")
    p.add_argument("--data", required=True)
    p.add_argument("--label", choices=["digit", "speaker"])
    p.add_argument("--layout", choices=["auto", "filename", "folders"], default="auto")
    p.add_argument("--jobs", type=int, default=None)
    p.add_argument("--no-cache", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="predict audio files with a saved model (long files window by window)")
    p.add_argument("model")
    p.add_argument("files", nargs="+")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_predict)
