"""CLI commands that train and use models: train, evaluate, predict, listen, devices."""
from __future__ import annotations

import json
import sys
import time

from .errors import SpeechLabError

ACTIVATION_CHOICES = ["relu", "bipolar-sigmoid", "tanh", "logistic", "leaky-relu", "identity"]


def _hidden(text):
    try:
        sizes = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise SpeechLabError(f"--hidden must be comma-separated layer sizes such as 256,128, not '{text}'") from None
    if any(s < 1 for s in sizes):
        raise SpeechLabError(f"--hidden sizes must be at least 1: '{text}'")
    return sizes


def _epoch_printer(as_json):
    def show(stats):
        if stats.get("batch") is not None:
            return
        val = "" if stats.get("val_loss") is None else (
            f", val loss {stats['val_loss']:.4f}, val acc {stats['val_accuracy']:.3f}")
        sys.stderr.write(f"epoch {stats['epoch']}/{stats['epochs']}: loss {stats['loss']:.4f}, "
                         f"acc {stats['accuracy']:.3f}{val}\n")

    return show


def build_model(spec, args):
    """The model for a task from the task's defaults and the command-line overrides."""
    if spec.key != "digits":
        raise SpeechLabError(f"Training for the {spec.title} task is not available yet; use --task digits")
    from .models.mlp import MLPClassifier

    params = dict(spec.model)
    overrides = {
        "hidden_layer_sizes": _hidden(args.hidden) if args.hidden is not None else None,
        "activation": args.activation,
        "epochs": args.epochs,
        "learning_rate": args.lr,
        "batch_size": args.batch_size,
        "optimizer": args.optimizer,
        "output": args.output,
        "init": args.init,
        "l2": args.l2,
        "patience": args.patience,
    }
    params.update({k: v for k, v in overrides.items() if v is not None})
    if args.no_standardize:
        params["standardize"] = False
    if args.no_early_stopping:
        params["early_stopping"] = False
    params["random_state"] = args.seed
    try:
        model = MLPClassifier(**params)
        model._layer_plan()  # validate now: a bad setting is reported before extraction
    except ValueError as exc:
        raise SpeechLabError(str(exc)) from exc
    return model


def _metrics_json(metrics):
    return {
        "accuracy": metrics["accuracy"],
        "train_accuracy": metrics["train_accuracy"],
        "balanced_accuracy": metrics["balanced_accuracy"],
        "macro_f1": metrics["macro_f1"],
        "per_class": {lab: v["accuracy"] for lab, v in metrics["per_class"].items()},
        "confusion": metrics["confusion"],
        "labels": metrics["labels"],
    }


def _history_json(history):
    keys = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy")
    return [{k: h.get(k) for k in keys} for h in history]


def cmd_train(args):
    from .bundle import save_bundle
    from .cli import _progress_printer, _resolve_data
    from .tasks import get_task
    from .training import SplitConfig, train_model

    spec = get_task(args.task)
    model = build_model(spec, args)
    if not 0 < args.test_size < 1:
        raise SpeechLabError(f"--test-size must be between 0 and 1, not {args.test_size}")
    ds = _resolve_data(args, spec)
    config = spec.feature_config(args.features)
    if args.split == "loso":
        return _train_loso(args, spec, ds, config)
    split = SplitConfig(kind=args.split, test_size=args.test_size, random_state=42 if args.seed is None else args.seed)
    result = train_model(ds, task=spec.key, feature_config=config, model=model, split=split,
                         on_epoch=_epoch_printer(args.json), on_progress=_progress_printer(),
                         n_jobs=args.jobs, cache=not args.no_cache)
    path = save_bundle(result.bundle, args.out)
    out = {
        **_metrics_json(result.metrics),
        "n_train": result.n_train,
        "n_test": result.n_test,
        "skipped": [s.as_dict() for s in result.skipped],
        "history": _history_json(result.history),
        "seconds": round(result.seconds, 3),
        "stop_reason": result.stop_reason,
        "model": str(path),
        "feature_config": result.bundle.feature_config.to_dict(),
    }
    if result.stop_reason:
        sys.stderr.write(f"note: {result.stop_reason}\n")
    if args.json:
        print(json.dumps(out))
    else:
        print(f"test accuracy {out['accuracy']:.4f} (train {out['train_accuracy']:.4f}) on "
              f"{out['n_test']} test clips; model saved to {path}")
    return 0


def _train_loso(args, spec, ds, config):
    """--split loso: one training per held-out speaker, pooled metrics, and a
    final model trained on every speaker (the one saved)."""
    import time

    from .bundle import save_bundle
    from .cli import _progress_printer
    from .training import leave_one_speaker_out

    t0 = time.perf_counter()

    def announce(i, n, speaker):
        sys.stderr.write(f"rotation {i + 1}/{n}: testing on {speaker}\n" if speaker
                         else "final model on every speaker\n")

    rot = leave_one_speaker_out(ds, task=spec.key, feature_config=config, make_model=lambda: build_model(spec, args),
                                on_rotation=announce, on_epoch=_epoch_printer(args.json),
                                on_progress=_progress_printer(), n_jobs=args.jobs, cache=not args.no_cache,
                                fit_final=True)
    path = save_bundle(rot.final, args.out)
    out = {
        **_metrics_json(rot.metrics),
        "rotations": [{"speaker": s, "accuracy": r.metrics["accuracy"], "n_test": r.n_test}
                      for s, r in zip(rot.speakers, rot.results)],
        "mean_accuracy": sum(rot.per_speaker.values()) / len(rot.per_speaker),
        "n_train": rot.final.training["n_train"],
        "n_test": sum(r.n_test for r in rot.results),
        "skipped": [s.as_dict() for s in rot.results[0].skipped],
        "history": _history_json(rot.final.history),
        "seconds": round(time.perf_counter() - t0, 3),
        "model": str(path),
        "feature_config": rot.final.feature_config.to_dict(),
    }
    if args.json:
        print(json.dumps(out))
    else:
        each = ", ".join(f"{r['speaker']} {r['accuracy']:.3f}" for r in out["rotations"])
        print(f"leave one speaker out: mean {out['mean_accuracy']:.4f} ({each}), pooled {out['accuracy']:.4f}; "
              f"model trained on every speaker saved to {path}")
    return 0


def cmd_evaluate(args):
    from .bundle import load_bundle
    from .cli import _progress_printer
    from .datasets import scan_dataset
    from .training import evaluate_bundle

    bundle = load_bundle(args.model)
    label = args.label or bundle.training.get("label_kind")
    ds = scan_dataset(args.data, layout=args.layout, label=label if label in ("digit", "speaker") else "digit")
    metrics, skipped = evaluate_bundle(bundle, ds, on_progress=_progress_printer(), n_jobs=args.jobs,
                                       cache=not args.no_cache)
    out = {**_metrics_json(metrics), "n_test": sum(sum(r) for r in metrics["confusion"]),
           "unknown_labels": metrics["unknown_labels"], "skipped": [s.as_dict() for s in skipped]}
    if args.json:
        print(json.dumps(out))
    else:
        print(f"accuracy {out['accuracy']:.4f} on {out['n_test']} clips ({len(skipped)} skipped)")
        print(metrics["report"])
    return 0


def cmd_predict(args):
    from .bundle import load_bundle
    from .errors import AudioFileError

    bundle = load_bundle(args.model)
    results, failed = [], 0
    for path in args.files:
        try:
            results.append(bundle.predict_file(path))
        except AudioFileError as exc:
            failed += 1
            sys.stderr.write(f"error: {exc}\n")
    if args.json:
        print(json.dumps(results))
    else:
        for r in results:
            p = r["probabilities"][r["label"]]
            print(f"{r['path']}: {r['label']} ({p:.0%})")
    return 0 if results and not failed else 1


def cmd_devices(args):
    from .recorder import list_input_devices

    devices = list_input_devices()
    if args.json:
        print(json.dumps([d.__dict__ for d in devices]))
    elif not devices:
        print("no audio input devices found")
    else:
        for d in devices:
            mark = "*" if d.is_default else " "
            print(f"{mark} {d.index:3d}  {d.name}  ({d.max_input_channels} ch, {d.default_samplerate:.0f} Hz, {d.hostapi})")
    return 0


def cmd_listen(args):
    from .bundle import load_bundle
    from .recorder import Recorder, UtteranceDetector

    bundle = load_bundle(args.model)
    rec = Recorder(args.device)
    detector = UtteranceDetector(rec.samplerate)
    sys.stderr.write(f"listening on '{rec.device.name}' at {rec.samplerate} Hz"
                     + (f" for {args.seconds:g} s" if args.seconds else " (Ctrl-C to stop)") + "\n")

    def emit(utterances):
        for u in utterances:
            try:
                pred = bundle.predict_signal(u.audio, rec.samplerate)
            except SpeechLabError as exc:
                sys.stderr.write(f"skipped an utterance at {u.start:.2f} s: {exc}\n")
                continue
            line = {"start": round(u.start, 3), "end": round(u.end, 3), **pred}
            if args.json:
                print(json.dumps(line), flush=True)
            else:
                print(f"{u.start:7.2f}–{u.end:7.2f} s: {pred['label']} "
                      f"({pred['probabilities'][pred['label']]:.0%})", flush=True)

    t_end = time.monotonic() + args.seconds if args.seconds else None
    try:
        with rec:
            while t_end is None or time.monotonic() < t_end:
                block = rec.read()
                if block.size:
                    emit(detector.feed(block))
                else:
                    time.sleep(0.02)
    except KeyboardInterrupt:
        pass
    emit(detector.flush())
    if rec.overflows:
        sys.stderr.write(f"note: {rec.overflows} input overflow(s): some audio was lost\n")
    return 0


def register(sub, add_data_args):
    p = sub.add_parser("train", help="train a model and save it")
    add_data_args(p)
    p.add_argument("--hidden", help="hidden layer sizes, e.g. 256,128 (empty string: no hidden layer)")
    p.add_argument("--activation", choices=ACTIVATION_CHOICES)
    p.add_argument("--epochs", type=int)
    p.add_argument("--lr", type=float, help="learning rate")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--optimizer", choices=["adam", "momentum", "sgd"])
    p.add_argument("--output", choices=["softmax", "mse", "mse-seed"],
                   help="softmax + cross-entropy; MSE with the activation on the output (exact gradient); "
                        "or mse-seed, the seed's own update rule")
    p.add_argument("--init", choices=["auto", "he", "xavier", "randn"])
    p.add_argument("--l2", type=float)
    p.add_argument("--patience", type=int)
    p.add_argument("--no-standardize", action="store_true")
    p.add_argument("--no-early-stopping", action="store_true")
    p.add_argument("--split", choices=["random", "speaker", "loso"], default="random",
                   help="random (stratified), speaker (speaker-independent), or loso: leave one speaker out, "
                        "each speaker once, then the saved model is trained on every speaker")
    p.add_argument("--test-size", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=None, help="random seed (split default 42)")
    p.add_argument("--out", required=True, help="where to save the model (.slm)")
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

    p = sub.add_parser("predict", help="predict audio files with a saved model")
    p.add_argument("model")
    p.add_argument("files", nargs="+")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("listen", help="predict utterances from the microphone")
    p.add_argument("model")
    p.add_argument("--device", help="input device name (default: the system default)")
    p.add_argument("--seconds", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_listen)

    p = sub.add_parser("devices", help="list audio input devices")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_devices)
