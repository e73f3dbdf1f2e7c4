"""A spare training process started ahead (gui.workers.SpareProcesses, issue 18): how much sooner does a
training start and end when its process is already there, imports done?

The GUI's own training path is driven without a window: ``gui.tabs.jobs.train_job(request)`` run by
``gui.workers.ChildWorker`` (what the tabs' Train does), ``--trainings`` times in a row for each kind of
training, first with spares off (every training spawns a fresh interpreter that imports NumPy, SciPy,
scikit-learn, librosa and, for a Keras model, TensorFlow), then with spares on (after each training a spare
is started that imports what that training needed, and the next training takes it). Between trainings the
benchmark waits until no spare is still importing (its CPU time stands still for a second; the same wait
with spares off), as a user looks at the results before training again. Printed per kind: Train -> first
report from the process (the phase "extracting features") and Train -> result, median of the trainings after
the first (the first one has no spare in either mode), and the ratio fresh / spare.

    .venv/bin/python benchmarks/spare_process.py [--trainings 4] [--no-write]
"""
import argparse
import os
import pathlib
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._results import publish  # noqa: E402

HEADING = "## A spare training process started ahead (issue 18)"
KINDS = {
    "Digits MLP, demo data, 10 epochs": dict(task="digits", model_params={"epochs": 10}),
    "Digits CNN (Keras), demo data, 2 epochs": dict(task="digits", model="cnn", model_params={"epochs": 2}),
}


def cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def wait_spare_settled(limit=60.0):
    """Until the waiting spare (if any) has used no CPU for a second (its imports done)."""
    from gui.workers import SpareProcesses

    end = time.monotonic() + limit
    last = None
    while time.monotonic() < end:
        pid = SpareProcesses.pid()
        now = cpu_seconds(pid) if pid else None
        if now is not None and now == last:
            return
        if pid is None and last is None:
            time.sleep(1.0)  # no spare: the same pause as a settled one's last check
            return
        last = now
        time.sleep(1.0)


def one_training(request):
    from gui.tabs.jobs import train_job
    from gui.workers import ChildWorker

    times = {}
    t0 = time.perf_counter()
    worker = ChildWorker(train_job(request))
    worker.epoch.connect(lambda stats: times.setdefault("first", time.perf_counter() - t0))
    worker.finished.connect(lambda result: times.setdefault("done", time.perf_counter() - t0))
    worker.failed.connect(lambda message: sys.exit(f"training failed: {message}"))
    worker._run()  # in this thread, as the tab's QThread runs it
    return times["first"], times["done"], worker.used_spare


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trainings", type=int, default=4)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    os.environ.pop("SPEECHLAB_SPARE_PROCESS", None)
    from PySide6.QtCore import QCoreApplication

    from core.request import TrainRequest
    from gui.workers import SpareProcesses

    app = QCoreApplication.instance() or QCoreApplication([])  # noqa: F841 - signals need an application
    rows = []
    load_before = os.getloadavg()[0]
    for title, fields in KINDS.items():
        request = TrainRequest(**fields)
        res = {}
        for mode in ("fresh", "spare"):
            SpareProcesses.shutdown()
            SpareProcesses.enabled = mode == "spare"
            runs = []
            for i in range(args.trainings):
                wait_spare_settled()
                first, done, used = one_training(request)
                runs.append((first, done, used))
                print(f"{title}, {mode} #{i + 1}: first curve report {first:.2f} s, result {done:.2f} s"
                      f"{' (spare)' if used else ''}", flush=True)
            res[mode] = runs
        wait_spare_settled()  # the spare waiting after the last training: what it costs to keep
        from core.child import resident_bytes

        pid = SpareProcesses.pid()
        idle = (resident_bytes(pid) / 2**20, cpu_seconds(pid)) if pid else (float("nan"), float("nan"))
        SpareProcesses.shutdown()
        later = {m: r[1:] for m, r in res.items()}
        med = {m: (statistics.median(x[0] for x in r), statistics.median(x[1] for x in r)) for m, r in later.items()}
        used = sum(x[2] for x in later["spare"])
        rows.append(f"| {title} | {med['fresh'][0]:.2f} s | {med['spare'][0]:.2f} s | "
                    f"**{med['fresh'][0] / med['spare'][0]:.1f}×** | {med['fresh'][1]:.2f} s | {med['spare'][1]:.2f} s | "
                    f"**{med['fresh'][1] / med['spare'][1]:.2f}×** | {used}/{len(later['spare'])} | "
                    f"{res['fresh'][0][1]:.2f} / {res['spare'][0][1]:.2f} s | {idle[0]:.0f} MB, {idle[1]:.1f} s |")
    stamp = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    lines = [HEADING, "",
             f"`python benchmarks/spare_process.py --trainings {args.trainings}` ({stamp} UTC, {os.cpu_count()} cores, "
             f"load average {load_before:.2f} at the start, {os.getloadavg()[0]:.2f} at the end). The tabs' training "
             "path (`gui.tabs.jobs.train_job` run by `gui.workers.ChildWorker`) without a window, trainings in a row; "
             "baseline: spares off (`SPEECHLAB_SPARE_PROCESS=0`, every training spawns a fresh process, as before). "
             "Medians of the trainings after the first of each mode (the first has no spare in either).", "",
             "| training | Train → first curve report, fresh | with a spare | ratio | Train → result, fresh | with a spare "
             "| ratio | trainings that took a spare | first training, fresh / spare mode | the waiting spare: memory (RSS), "
             "CPU to get ready |",
             "|---|---|---|---|---|---|---|---|---|---|",
             *rows, "",
             "What a spare saves is the interpreter's start and the imports (NumPy, SciPy, scikit-learn, librosa; "
             "TensorFlow and Keras for a Keras model) of every training after the first. The first training of a "
             "session gets a spare too when it comes more than a few seconds after its data was loaded (a spare is "
             "started 5 s after a scan; choosing a Keras model starts one that imports TensorFlow, 1 s after the "
             "choice); this benchmark's first training of each mode starts at once, before any spare. A spare's "
             "start competes for the cores with what the user does next (the CPU column); the GUI thread only "
             "spawns it, from a plain thread. The last column is also what keeping one costs while it waits."]
    publish(lines, write=not args.no_write)


if __name__ == "__main__":
    main()
