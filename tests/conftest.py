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

FSDD = (ROOT.parent / "shared" / "data" / "fsdd" / "recordings").resolve()


@pytest.fixture(scope="session")
def fsdd_dir():
    """The 2,000 real FSDD recordings, used in place (never copied)."""
    if not FSDD.is_dir() or not any(FSDD.glob("*.wav")):
        pytest.skip(f"FSDD recordings not found at {FSDD}; they live in ../shared/data/fsdd/recordings")
    return FSDD


# The virtual microphone (PulseAudio null sink) fixtures live in their own module.
pytest_plugins = ["tests.virtual_mic"]
