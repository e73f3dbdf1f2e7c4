"""Stop on a child process that never looks at Stop: it is ended after the job's grace, and the user reads that
it stopped (a map has nothing to keep: a plain "stopped"; a training says it was ended), never "died"."""
import threading

import pytest

from tests.gui.test_digits_tab import HANG_MS


@pytest.mark.parametrize("what", ["map", "training"])
def test_a_job_deaf_to_stop_is_ended_after_its_grace_and_reads_as_stopped(qtbot, what):
    from gui.workers import ChildJob, ChildWorker

    worker = ChildWorker(ChildJob("tests.gui.child_targets:deaf_to_stop", what=what, stop_grace=0.5))
    phases, out = [], {}
    worker.reported.connect(lambda kind, value: phases.append(value.get("name")) if kind == "phase" else None)
    worker.failed.connect(lambda message: out.setdefault("failed", message))
    worker.cancelled.connect(lambda: out.setdefault("cancelled", True))
    runner = threading.Thread(target=worker._run)
    runner.start()
    qtbot.waitUntil(lambda: phases == ["one long call"], timeout=HANG_MS)
    worker.stop()
    qtbot.waitUntil(lambda: bool(out), timeout=HANG_MS)  # signals queued to this thread
    runner.join(HANG_MS / 1000)
    assert not runner.is_alive()
    if what == "map":
        assert out == {"cancelled": True}
    else:
        message = out["failed"]
        assert message.startswith("Stopped: the training process did not stop within 0.5 s (during one long call)")
        assert "died" not in message and message.endswith("the model from before this training is kept")
