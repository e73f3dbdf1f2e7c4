"""Shared test setup: headless Qt, a private home per test session, the real FSDD recordings,
garbage collection on the GUI thread only, and a stack dump instead of a silent hang."""
import faulthandler
import gc
import os
import pathlib
import shutil
import sys
import tempfile
import time

# A crash (segfault, abort) prints every thread's Python stack; a hang is ended by
# pytest-timeout (method "thread", pyproject.toml), which prints every stack too.
faulthandler.enable()

# Qt must be told before it is imported anywhere.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Each test session gets its own cache, data and history folders, removed at the end: two
# test runs at once (two checkouts, CI beside a developer) never share or change each other's state.
_OWN_HOME = "PYTEST_SPEECHLAB_HOME" not in os.environ
_TMP_HOME = pathlib.Path(os.environ.get("PYTEST_SPEECHLAB_HOME") or tempfile.mkdtemp(prefix="speechlab-test-"))
os.environ.setdefault("SPEECHLAB_CACHE_DIR", str(_TMP_HOME / "cache"))
os.environ.setdefault("SPEECHLAB_DATA_DIR", str(_TMP_HOME / "data"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# No spare training process started ahead (gui.workers.SpareProcesses): every test's training starts a fresh
# process, as a user's first training does; tests/gui/test_spare_process.py turns it on and checks it.
os.environ.setdefault("SPEECHLAB_SPARE_PROCESS", "0")
# Every process this session starts inherits this mark (a test session started inside a test gets its own):
# what is still running when the session ends is found by it (pytest_unconfigure).
_SESSION_MARK = f"{os.getpid()}-{os.urandom(6).hex()}"
os.environ["SPEECHLAB_TEST_SESSION"] = _SESSION_MARK

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402

FSDD = pathlib.Path(os.environ.get("SPEECHLAB_FSDD_DIR") or ROOT.parent / "shared" / "data" / "fsdd" / "recordings").resolve()


def _in_ci():
    """True on a CI machine (``CI`` set, as GitHub/GitLab and ``.ci/run`` do), where data must be present."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def fsdd_dir():
    """The 2,000 real FSDD recordings, used in place (never copied).

    Missing: a skip on a developer's machine, a failure in CI — a CI run that
    silently skips every real-data test would pass while testing nothing.
    """
    if not FSDD.is_dir() or not any(FSDD.glob("*.wav")):
        message = f"FSDD recordings not found at {FSDD}; they live in ../shared/data/fsdd/recordings"
        if _in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return FSDD


@pytest.fixture(scope="session")
def shared_data():
    """``shared_data(relative)``: a folder of ../shared/data, used in place; missing fails in CI, skips elsewhere."""
    def get(relative):
        path = (ROOT.parent / "shared" / "data" / relative).resolve()
        if not path.is_dir():
            message = f"{path} not found; it lives in ../shared/data"
            if _in_ci():
                pytest.fail(message, pytrace=False)
            pytest.skip(message)
        return path

    return get


_EXIT_STATUS = [0]


def pytest_sessionfinish(session, exitstatus):
    _EXIT_STATUS[0] = int(exitstatus)


def pytest_unconfigure(config):
    """After every fixture is torn down: end what the tests left running, remove the private home, and make
    sure this process ends.

    Every process a test started carries this session's SPEECHLAB_TEST_SESSION in its environment, even one
    whose parent died (an orphaned pool worker): each still running now is named and ended, so none
    outlives the run holding CI's output pipe open. If the interpreter has not exited two minutes later
    (a thread or an exit handler that never returns), every thread's stack is printed and the process
    exits with the tests' own status: CI gets an answer and the reason, never a silent hang."""
    left = _end_leftover_processes()
    if left:  # straight to the file descriptor: output capture may still hold sys.stderr here
        os.write(2, ("tests left processes running (ended now): " + "; ".join(left) + "\n").encode())
    if _OWN_HOME:
        shutil.rmtree(_TMP_HOME, ignore_errors=True)
    _exit_watchdog(_EXIT_STATUS[0], seconds=float(os.environ.get("SPEECHLAB_TEST_EXIT_WATCHDOG_S", "120")))


def _end_leftover_processes():
    """End every process carrying this session's mark except this process's own children (multiprocessing's
    resource tracker and fork server, the model host: they end with it). Returns the orphans among them
    (processes whose parent is gone): those are leaks a test or the app left."""
    import signal

    marker = f"SPEECHLAB_TEST_SESSION={_SESSION_MARK}".encode()
    me = os.getpid()
    procs = {}
    for entry in pathlib.Path("/proc").glob("[0-9]*"):
        try:
            if marker not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, ValueError, IndexError):
            continue  # gone, or not ours to read
        procs[int(entry.name)] = (ppid, cmd)

    def descends_from_me(pid):
        seen = set()
        while pid in procs and pid not in seen:
            seen.add(pid)
            pid = procs[pid][0]
            if pid == me:
                return True
        return False

    orphans, killed = [], []
    for pid, (ppid, cmd) in procs.items():
        if pid == me or ppid == me or not cmd:  # not a zombie, not a child of this process
            continue
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            continue
        killed.append(pid)
        if not descends_from_me(pid):
            orphans.append(f"{pid} {cmd[:120]}")
    # A killed process is gone only once the scheduler has run it again: on a loaded machine that took long
    # enough for a check right after the session to find it still running. Wait (at most 10 s) until it is.
    from tests.helpers import process_alive

    deadline = time.monotonic() + 10
    while any(process_alive(pid) for pid in killed) and time.monotonic() < deadline:
        time.sleep(0.02)
    return orphans


def _exit_watchdog(status, *, seconds):
    import threading

    def fire():
        sys.stderr.write(f"\nthe test process is still running {seconds} s after the tests finished; "
                         "every thread's stack:\n")
        faulthandler.dump_traceback(all_threads=True)
        sys.stderr.flush()
        os._exit(status)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    faulthandler.dump_traceback_later(seconds + 60, exit=True)  # if even that thread cannot run


@pytest.fixture(autouse=True)
def _collect_garbage_on_the_main_thread():
    """Collect between tests, on the main thread: once a GUI test has run, automatic collection
    is off for the session (gui.workers.ensure_gui_gc) and only the GUI thread collects."""
    yield
    gc.collect()


# The virtual microphone (PulseAudio null sink) fixtures live in their own module.
pytest_plugins = ["tests.virtual_mic"]
