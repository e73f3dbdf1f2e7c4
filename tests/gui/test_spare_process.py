"""A spare training process started ahead (gui.workers.SpareProcesses): the next training takes it, gives
the same result as a fresh process, sees the settings of now, and dies, stops and ends like any child.

The test session turns spares off (tests/conftest.py); each test here turns them on and ends its spare."""
import os
import signal

import pytest

from tests.gui.test_digits_tab import HANG_MS, SMALL, press_train, scan


@pytest.fixture
def spares(monkeypatch):
    from gui.workers import SpareProcesses

    SpareProcesses.shutdown()
    monkeypatch.setattr(SpareProcesses, "enabled", True)
    yield SpareProcesses
    SpareProcesses.enabled = False  # first: a spare being started now is ended, not kept (monkeypatch restores it)
    SpareProcesses.shutdown()


def _run(job):
    """Run a ChildJob as a tab's thread does (here, in the test's thread); (worker, what it answered)."""
    from gui.workers import ChildWorker

    worker = ChildWorker(job)
    out = {}
    worker.finished.connect(lambda result: out.setdefault("finished", result))
    worker.failed.connect(lambda message: out.setdefault("failed", message))
    worker.cancelled.connect(lambda: out.setdefault("cancelled", True))
    worker._run()
    return worker, out


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_the_next_training_takes_the_spare_and_trains_the_same_model(make_digits_tab, qtbot, spares):
    tab = make_digits_tab()
    scan(tab, qtbot)  # the demo digits
    tab.model_panel.set_params({**SMALL, "epochs": 3})
    press_train(tab, qtbot)
    first_worker = tab.runner.worker
    qtbot.waitUntil(lambda: not tab.busy, timeout=HANG_MS)
    first = tab.last_result
    # when a training ends, a spare is started for the next one (in the training's thread, after its answer;
    # loading the data also started one a few seconds later: the next training takes whichever waits)
    qtbot.waitUntil(lambda: spares.pid() is not None, timeout=HANG_MS)

    press_train(tab, qtbot)
    second_worker = tab.runner.worker
    qtbot.waitUntil(lambda: not tab.busy, timeout=HANG_MS)
    second = tab.last_result
    assert second_worker.used_spare and second_worker.pid not in (first_worker.pid, os.getpid())
    assert second is not first and second.run_id != first.run_id  # a run of its own in the history
    # the same request, in a process started ahead: the same training
    assert [h["loss"] for h in second.history] == [h["loss"] for h in first.history]
    assert second.metrics["accuracy"] == first.metrics["accuracy"]
    qtbot.waitUntil(lambda: spares.pid() not in (None, second_worker.pid), timeout=HANG_MS)  # a new one after it


def test_a_job_in_a_spare_sees_the_settings_of_now_not_those_it_started_with(qtbot, spares, monkeypatch, tmp_path):
    from gui.workers import ChildJob

    monkeypatch.setenv("SPEECHLAB_CLUSTER", "tcp://old:8786")
    spares.prepare()
    spare_pid = spares.pid()
    monkeypatch.setenv("SPEECHLAB_CLUSTER", "tcp://new:8786")  # e.g. Preferences → Compute changed meanwhile
    monkeypatch.chdir(tmp_path)
    worker, out = _run(ChildJob("tests.gui.child_targets:environment", "SPEECHLAB_CLUSTER"))
    assert worker.used_spare and out["finished"] == ("tcp://new:8786", str(tmp_path), spare_pid)


def test_a_spare_that_died_while_waiting_is_replaced_by_a_fresh_process(qtbot, spares):
    from gui.workers import ChildJob

    spares.prepare()
    pid = spares.pid()
    os.kill(pid, signal.SIGKILL)  # the kernel's OOM killer, or the user, ended it while it waited
    qtbot.waitUntil(lambda: not _alive(pid), timeout=HANG_MS)
    worker, out = _run(ChildJob("tests.gui.child_targets:environment", "HOME"))
    assert not worker.used_spare and out["finished"][2] not in (pid, os.getpid())


def test_stop_and_death_of_a_job_in_a_spare_are_handled_as_in_a_fresh_process(qtbot, spares):
    import threading

    from gui.workers import ChildJob, ChildWorker

    spares.prepare()
    worker = ChildWorker(ChildJob("tests.gui.child_targets:until_stopped"))
    phases, out = [], {}
    worker.reported.connect(lambda kind, value: phases.append(value.get("name")) if kind == "phase" else None)
    worker.finished.connect(lambda result: out.setdefault("finished", result))
    runner = threading.Thread(target=worker._run)
    runner.start()
    qtbot.waitUntil(lambda: phases == ["waiting for Stop"], timeout=HANG_MS)
    assert worker.used_spare
    worker.stop()  # Stop reaches the job through the spare's own event
    qtbot.waitUntil(lambda: out == {"finished": "stopped"}, timeout=HANG_MS)  # signals queued to this thread
    runner.join(HANG_MS / 1000)

    qtbot.waitUntil(lambda: spares.pid() is not None, timeout=HANG_MS)  # the next one's spare
    worker, failed = ChildWorker(ChildJob("tests.gui.child_targets:until_stopped")), []
    phases.clear()
    worker.reported.connect(lambda kind, value: phases.append(value.get("name")) if kind == "phase" else None)
    worker.failed.connect(failed.append)
    runner = threading.Thread(target=worker._run)
    runner.start()
    qtbot.waitUntil(lambda: phases == ["waiting for Stop"], timeout=HANG_MS)
    assert worker.used_spare
    os.kill(worker.pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: len(failed) > 0, timeout=HANG_MS)
    runner.join(HANG_MS / 1000)
    assert len(failed) == 1 and "died (signal SIGKILL) during waiting for Stop" in failed[0], failed


def test_quitting_the_app_ends_the_spare(qtbot, spares):
    from gui.workers import shutdown_all

    spares.prepare(["scipy"])
    pid = spares.pid()
    assert _alive(pid)
    shutdown_all()
    assert spares.pid() is None
    qtbot.waitUntil(lambda: not _alive(pid), timeout=HANG_MS)


def test_loading_a_dataset_starts_a_spare_for_the_first_training(make_digits_tab, qtbot, spares):
    from gui import workers

    tab = make_digits_tab()
    scan(tab, qtbot)  # the demo digits: a training is likely next
    qtbot.waitUntil(lambda: spares.pid() is not None, timeout=HANG_MS)  # after a few seconds, never at once
    spare_pid = spares.pid()
    tab.model_panel.set_params({**SMALL, "epochs": 2})
    press_train(tab, qtbot)
    worker = tab.runner.worker
    qtbot.waitUntil(lambda: not tab.busy, timeout=HANG_MS)
    assert worker.used_spare and worker.pid == spare_pid and tab.last_result is not None
    assert set(workers.FIRST_SPARE_MODULES) <= set(worker.spare_preload)


def test_choosing_a_keras_model_starts_a_spare_that_has_imported_tensorflow(make_digits_tab, qtbot, spares):
    tab = make_digits_tab()
    scan(tab, qtbot)
    qtbot.waitUntil(lambda: spares.pid() is not None, timeout=HANG_MS)  # the one after loading the data
    first = spares.pid()
    tab.model_panel.choose("cnn")  # the Digits CNN (Keras): its first training would import TensorFlow
    qtbot.waitUntil(lambda: spares.pid() not in (None, first), timeout=HANG_MS)
    assert "tensorflow" in spares._spare.preload
    with_tf = spares.pid()
    spares.prepare(("tensorflow", "scipy"))  # asked again (the choice changed back and forth): it is kept
    assert spares.pid() == with_tf
