"""Shared test setup: headless Qt, a private home per test session, the real FSDD recordings,
garbage collection on the GUI thread only, and a stack dump instead of a silent hang."""
import faulthandler
import gc
import os
import pathlib
import shutil
import sys
import tempfile

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


def pytest_sessionfinish(session, exitstatus):
    if _OWN_HOME:
        shutil.rmtree(_TMP_HOME, ignore_errors=True)


@pytest.fixture(autouse=True)
def _collect_garbage_on_the_main_thread():
    """Collect between tests, on the main thread: once a GUI test has run, automatic collection
    is off for the session (gui.workers.ensure_gui_gc) and only the GUI thread collects."""
    yield
    gc.collect()


# The virtual microphone (PulseAudio null sink) fixtures live in their own module.
pytest_plugins = ["tests.virtual_mic"]
