"""k-fold cross-validation with a request's settings: the folds of core.kfold trained one by one
(core.training.train_model on features extracted once), their summary, and the model on all the data."""
from __future__ import annotations

import dataclasses
import time

import numpy as np

from .errors import Cancelled
from .kfold import DEFAULT_FOLDS, check_folds, grouping_of, make_folds, run_folds, summary


@dataclasses.dataclass
class KFoldResult:
    """A k-fold run: one TrainResult per finished fold, their summary, and the model kept.

    ``bundle`` is the model trained on all the data (``final`` True), or, when stopped before
    that, the last finished fold's; its metrics are the pooled test metrics of the folds with
    ``accuracy`` = the mean over folds and ``kfold`` = :attr:`kfold`.
    """

    results: list
    kfold: dict  # k, grouping, folds [{fold, n_test, accuracy, test}], mean/std_accuracy, ci95, completed
    metrics: dict
    bundle: object
    final: bool
    seconds: float
    stop_reason: str | None = None
    notes: list = dataclasses.field(default_factory=list)
    run_id: int | None = None
    request: object = None

    # What the faces read from any training's result, here too:
    @property
    def history(self):
        return list(self.bundle.history or [])

    @property
    def n_train(self):
        return int(self.bundle.training.get("n_train") or 0)

    @property
    def n_test(self):
        return sum(int(f["n_test"]) for f in self.kfold["folds"])

    @property
    def skipped(self):
        return self.results[0].skipped if self.results else []

    @property
    def diverged(self):
        return False



def cross_validate(ds, *, task, feature_config, make_model, k=DEFAULT_FOLDS, random_state=42, grouping=None,
                   open_set=None, augment=None, fit_final=True, on_fold=None, on_result=None, on_phase=None,
                   on_epoch=None, should_stop=None, on_progress=None, n_jobs=None, cache=True):
    """k-fold cross-validation of ``make_model()`` on a scanned dataset, then the model on all the data.

    Parameters
    ----------
    make_model : callable() -> a fresh, unfitted model (one per fold, one for the final model)
    k : number of folds; grouping : as :func:`grouping_of` (None: decided from ``ds`` and ``task``)
    open_set, augment : as :func:`core.training.train_model`, applied in every fold and the final model
    on_fold(index, total, test) : before each fold (``test``: what it tests, a short text), and with
        ``index == total`` and test None before the final model
    on_result(TrainResult) : after each fold
    on_phase(name, **info) : phases, each named with its fold ("fold 2/5: training")

    Returns
    -------
    KFoldResult. Stopped mid-way: the folds finished so far (the fold stopped half-trained is left
    out), no final model; core.errors.Cancelled before any fold finished.
    """
    from .extraction import build_features
    from .metrics import evaluate
    from .training import SplitConfig, train_model

    grouping = grouping or grouping_of(ds, task)
    t0 = time.perf_counter()
    known = ds
    if open_set is not None:
        from .openset import split_unknown

        known, _ = split_unknown(ds, open_set)
    check_folds(known.items, k, grouping)  # before a long extraction
    if on_phase is not None:
        on_phase("extracting features")
    fs = build_features(known, feature_config, progress=on_progress, should_stop=should_stop, n_jobs=n_jobs,
                        cache=cache)
    clip_items = [fs.items[i] for i in fs.clip_rows()]
    folds = make_folds(clip_items, k, random_state=random_state, grouping=grouping)

    def tested(fold):
        if grouping == "speaker":
            return sorted({str(clip_items[i].speaker) for i in fold})
        return [str(clip_items[i].path) for i in fold]

    def fold_text(fold):
        names = tested(fold)
        if grouping == "speaker":
            return "speaker" + ("s " if len(names) > 1 else " ") + ", ".join(names)
        return f"{len(names)} {'tracks' if grouping == 'track' else 'clips'}"

    splits = [(SplitConfig(kind="kfold", random_state=random_state, folds=int(k), fold=i, grouping=grouping),
               fold_text(f)) for i, f in enumerate(folds)]
    position = {}

    def phase(name, **info):
        if on_phase is not None:
            on_phase(f"{position['text']}: {name}", **info)

    def train(i, split):
        position["text"] = f"fold {i + 1}/{len(splits)}"
        return train_model(ds, task=task, feature_config=feature_config, model=make_model(), split=split,
                           features=fs, open_set=open_set, augment=augment, on_epoch=on_epoch,
                           should_stop=should_stop, on_progress=on_progress, n_jobs=n_jobs, cache=cache,
                           on_phase=phase if on_phase is not None else None)

    results, stopped = run_folds(splits, train=train, should_stop=should_stop, on_fold=on_fold, on_result=on_result)
    rows = [{"fold": i + 1, "n_test": int(r.n_test), "accuracy": float(r.metrics["accuracy"]), "test": tested(folds[i])}
            for i, r in enumerate(results)]
    mean, std, ci = summary([r["accuracy"] for r in rows])
    info = {"k": int(k), "grouping": grouping, "random_state": int(random_state), "folds": rows,
            "mean_accuracy": mean, "std_accuracy": std, "ci95": list(ci) if ci else None,
            "completed": len(results) == len(splits)}
    labels = results[0].bundle.labels
    truth = [f["label"] for r in results for f in r.metrics["test_files"]]
    pred = [f["predicted"] for r in results for f in r.metrics["test_files"]]
    pooled = evaluate(truth, pred, labels)
    metrics = {**pooled, "pooled_accuracy": pooled["accuracy"], "accuracy": mean,
               "train_accuracy": _mean([r.metrics.get("train_accuracy") for r in results]),
               "test_files": [f for r in results for f in r.metrics["test_files"]], "kfold": info,
               "n_clips": sum(int(r.metrics.get("n_clips") or r.n_test) for r in results),
               "n_windows": sum(int(r.metrics.get("n_windows") or r.n_test) for r in results)}
    if any(r.metrics.get("window_accuracy") is not None for r in results):
        n = [int(r.metrics.get("n_windows") or 0) for r in results]
        metrics["window_accuracy"] = float(np.average([r.metrics["window_accuracy"] for r in results],
                                                      weights=n)) if sum(n) else None
    if results[-1].metrics.get("open_set") is not None:
        metrics["open_set"] = results[-1].metrics["open_set"]
    final_bundle, stop_reason = None, None
    if fit_final and not stopped:
        if on_fold is not None:
            on_fold(len(splits), len(splits), None)
        position["text"] = "final model on all the data"
        try:
            final = train_model(ds, task=task, feature_config=feature_config, model=make_model(),
                                split=SplitConfig(kind="all", random_state=random_state), features=fs,
                                open_set=open_set, augment=augment, on_epoch=on_epoch, should_stop=should_stop,
                                on_progress=on_progress, n_jobs=n_jobs, cache=cache,
                                on_phase=phase if on_phase is not None else None)
        except Cancelled:
            final = None
        if final is not None:
            final_bundle, stop_reason = final.bundle, final.stop_reason
    if final_bundle is None:  # stopped: the last finished fold's model is kept
        final_bundle = results[-1].bundle
        stop_reason = (f"stopped by user after {len(results)} of {len(splits)} folds; the model kept is fold "
                       f"{len(results)}'s")
    saved = {k_: v for k_, v in metrics.items() if k_ != "test_files"}
    if grouping != "speaker":  # a model file keeps the folds' numbers, not every test file's name
        saved["kfold"] = {**info, "folds": [{**f, "test": None} for f in rows]}
    if "open_set" in final_bundle.metrics:
        saved["open_set"] = final_bundle.metrics["open_set"]
    final_bundle.metrics = saved
    final_bundle.training = {**final_bundle.training, "kfold": saved["kfold"], "stop_reason": stop_reason,
                             "split": {"kind": "kfold", "folds": int(k), "grouping": grouping,
                                       "random_state": int(random_state)}}
    notes = list(dict.fromkeys(n for r in results for n in r.notes))
    return KFoldResult(results=results, kfold=info, metrics=metrics, bundle=final_bundle,
                       final=fit_final and not stopped and final_bundle is not results[-1].bundle,
                       seconds=time.perf_counter() - t0, stop_reason=stop_reason, notes=notes)


def _mean(values):
    values = [float(v) for v in values if v is not None]
    return float(np.mean(values)) if values else None

