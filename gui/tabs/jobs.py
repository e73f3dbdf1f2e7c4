"""What a tab runs in the background: plain functions ``job(report, should_stop)`` over core, run in
the worker thread, and trainings as ChildJobs, run in their own process.

No Qt here. Every import and every check of the settings happens inside the
job, off the GUI thread; the tab connects the worker's signals to its slots.
"""
from __future__ import annotations

from core.errors import SpeechLabError


def scan_job(folder, layout, label, task_key):
    """Scan a folder (``""``: the task's demo data) and summarise it (header reads only).

    Reports ``scan`` events ``(files checked, files found)``; the job returns ``(dataset, summary, is_demo)``.
    """

    def job(report, should_stop):
        from core.datasets import scan_dataset, summarize
        from core.demo import demo_dataset

        is_demo = not folder
        root = demo_dataset(task_key) if is_demo else folder
        from core.explore import class_table

        ds = scan_dataset(root, layout=layout, label=label, should_stop=should_stop,
                          progress=lambda done, total: report("scan", (done, total)))
        # What the views ask for, worked out here: with 100,000 clips it was ~150 ms on the GUI thread.
        summary = summarize(ds.warm())
        summary["class_rows"] = class_table(ds.items)
        return ds, summary, is_demo

    return job


def train_job(request, *, dataset=None, memory_limit=None):
    """Train a core.request.TrainRequest in its own process (core.child.train: the same
    core.request.train_and_record the CLI and sweeps use).

    Reports ``progress`` (extraction), ``epoch``, ``phase`` (each phase of the training), and for
    leave-one-speaker-out ``rotation`` (index, total, speaker) and ``result`` (each rotation's
    TrainResult). Returns the TrainResult (or the rotations' result), recorded in the run history
    (``run_id`` set; history trouble is a line in ``notes``, never a failure). A crash of the model
    (a native abort, out of memory) ends only the child; its best epoch so far, saved now and then,
    is then reported as ``salvaged`` (a ModelBundle).
    """
    from gui.workers import ChildJob

    return ChildJob("core.child:train", request.to_dict(), dataset, memory_limit=memory_limit, checkpoints=True)


def evaluate_job(bundle, ds):
    """Test ``bundle`` on every usable clip of ``ds``; returns ``(metrics, skipped)``."""

    def job(report, should_stop):
        from core.training import evaluate_bundle

        return evaluate_bundle(bundle, ds, on_progress=lambda p: report("progress", p), should_stop=should_stop)

    return job


def load_model_job(path, task_key):
    """Read and check a model file for the tab ``task_key`` (core.bundle.load_bundle: every field is
    checked before anything is built; no code from the file runs). Returns ``(path, bundle)``."""

    def job(report, should_stop):
        from core.bundle import load_bundle

        bundle = load_bundle(path)
        if bundle.task != task_key:
            raise SpeechLabError(f"{path} is a {bundle.task} model; open it in the {bundle.task.title()} tab")
        return path, bundle

    return job


def history_run_job(history, run_id):
    """A recorded run and its kept model: returns ``(run dict, ModelBundle)``."""

    def job(report, should_stop):
        run = history.get(run_id)
        if run is None:
            raise SpeechLabError(f"Run {run_id} is no longer in the history")
        return run, history.load_model(run_id)

    return job
