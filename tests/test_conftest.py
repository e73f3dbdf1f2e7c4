"""The test setup itself: real data missing is a failure in CI, a skip elsewhere."""
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.helpers import process_alive


@pytest.mark.parametrize(("ci", "outcome"), [("1", "1 error"), ("", "1 skipped")])
def test_missing_fsdd_fails_in_ci_and_skips_elsewhere(tmp_path, ci, outcome):
    (tmp_path / "test_needs_data.py").write_text("def test_needs_data(fsdd_dir):\n    pass\n")
    env = {**os.environ, "CI": ci, "SPEECHLAB_FSDD_DIR": str(tmp_path / "no-such-folder"),
           "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest",
         "--rootdir", str(tmp_path), str(tmp_path / "test_needs_data.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert outcome in proc.stdout, proc.stdout + proc.stderr
    if ci:
        assert proc.returncode != 0 and "FSDD recordings not found" in proc.stdout


def _inner_session(tmp_path, test_source, **env):
    (tmp_path / "test_inner.py").write_text(test_source)
    env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest",
         "--rootdir", str(tmp_path), str(tmp_path / "test_inner.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )


def test_a_process_a_test_leaves_behind_is_ended_and_named(tmp_path):
    """An orphan (its own session, parent gone) would hold CI's output pipe open after the run."""
    pid_file = tmp_path / "orphan.pid"
    proc = _inner_session(tmp_path, f"""
import subprocess, sys


def test_leaves_an_orphan():
    # a child that starts a worker and dies, as a killed sweep did: the worker's parent is gone
    starter = ("import subprocess, sys; "
               "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(3600)  # ORPHAN'], "
               "start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
               f"open({str(pid_file)!r}, 'w').write(str(p.pid))")
    subprocess.run([sys.executable, "-c", starter], check=True)
""")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    pid = int(pid_file.read_text())
    assert not process_alive(pid)
    assert "tests left processes running (ended now)" in proc.stderr and "ORPHAN" in proc.stderr


def test_a_run_that_cannot_exit_prints_its_stacks_and_ends_with_the_tests_status(tmp_path):
    proc = _inner_session(tmp_path, """
import threading

never = threading.Event()


def wait_for_ever():
    never.wait()


def test_leaves_a_thread_running():
    threading.Thread(target=wait_for_ever, name="stuck", daemon=False).start()
""", SPEECHLAB_TEST_EXIT_WATCHDOG_S="2")
    assert proc.returncode == 0, proc.stdout + proc.stderr  # the tests passed: so does the run
    assert "still running 2.0 s after the tests finished" in proc.stderr
    assert "wait_for_ever" in proc.stderr  # the stack that kept it alive
