"""What a tab runs in the worker thread: plain functions ``job(report, should_stop)`` over core.

No Qt here. Every import and every check of the settings happens inside the
job, off the GUI thread; the tab connects the worker's signals to its slots.
"""
from __future__ import annotations

from core.errors import SpeechLabError



def model_builder(make_model, settings):
    """A no-argument function that builds a fresh model in the worker; bad settings become one message."""
    def build():
        try:
            return make_model(settings)
        except ValueError as exc:
            raise SpeechLabError(f"Model settings: {exc}") from exc

    return build

def scan_job(folder, layout, label, task_key):
    """Scan a folder (``""``: the task's demo data) and summarise it (header reads only).

    The job returns ``(dataset, summary, is_demo)``.
    """

    def job(report, should_stop):
        from core.datasets import scan_dataset, summarize
        from core.demo import demo_dataset

        is_demo = not folder
        root = demo_dataset(task_key) if is_demo else folder
        ds = scan_dataset(root, layout=layout, label=label, should_stop=should_stop)
        return ds, summarize(ds), is_demo

    return job


def train_job(ds, *, task, make_model, settings, feature_config, kind, test_size, seed, extra=None, describe=None):
    """Train one model (or one per speaker for ``kind="loso"``).

    Reports ``progress`` (extraction), ``epoch``, and for leave-one-speaker-out
    ``rotation`` (index, total, speaker) and ``result`` (each rotation's
    TrainResult). The job returns a TrainResult, or the rotations' result,
    recorded in the run history (``run_id`` set; ``describe(model)`` names the
    model there; history trouble is a line in ``notes``, never a failure).
    """
    extra = dict(extra or {})

    build = model_builder(make_model, settings)

    def job(report, should_stop):
        from core.training import SplitConfig, leave_one_speaker_out, train_model

        build()  # a bad setting is reported before any extraction
        common = dict(task=task, feature_config=feature_config, on_epoch=lambda s: report("epoch", s),
                      should_stop=should_stop, on_progress=lambda p: report("progress", p))
        if kind == "loso":
            rot = leave_one_speaker_out(
                ds, make_model=build, on_rotation=lambda i, n, spk: report("rotation", (i, n, spk)),
                on_result=lambda r: report("result", r), fit_final=True, augment=extra.get("augment"), **common)
            if rot.final is not None:
                rot.run_id = record_run(rot, ds, describe, rotations=True)
            return rot
        split = SplitConfig(kind=kind, test_size=test_size, random_state=seed)
        result = train_model(ds, model=build(), split=split, **common, **extra)
        result.run_id = record_run(result, ds, describe)
        return result

    return job


def record_run(result, ds, describe=None, *, rotations=False):
    """Keep a finished training in the run history (in the worker: it saves the model file)."""
    from core.history import RunHistory

    history = RunHistory.default()
    bundle = result.final if rotations else result.bundle
    try:
        text = describe(bundle.model) if describe is not None else None
    except Exception:  # noqa: BLE001 - a description is not worth losing the run over
        text = None
    if rotations:
        run_id = history.record_rotations(result, dataset=ds, source="gui", model_text=text)
    else:
        run_id = history.record_result(result, dataset=ds, source="gui", model_text=text)
        result.notes.extend(history.notes)
    return run_id


def evaluate_job(bundle, ds):
    """Test ``bundle`` on every usable clip of ``ds``; returns ``(metrics, skipped)``."""

    def job(report, should_stop):
        from core.training import evaluate_bundle

        return evaluate_bundle(bundle, ds, on_progress=lambda p: report("progress", p), should_stop=should_stop)

    return job


def history_run_job(history, run_id):
    """A recorded run and its kept model: returns ``(run dict, ModelBundle)``."""

    def job(report, should_stop):
        run = history.get(run_id)
        if run is None:
            raise SpeechLabError(f"Run {run_id} is no longer in the history")
        return run, history.load_model(run_id)

    return job
