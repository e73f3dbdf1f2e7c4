"""Shared test setup: headless Qt, the real FSDD recordings, seeded randomness."""
import os
import pathlib
import sys

# Qt must be told before it is imported anywhere.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Keep each test run's feature cache and settings away from the user's.
_TMP_HOME = pathlib.Path(os.environ.get("PYTEST_SPEECHLAB_HOME", "/tmp/speechlab-test-home"))
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


# The virtual microphone (PulseAudio null sink) fixtures live in their own module.
pytest_plugins = ["tests.virtual_mic"]
