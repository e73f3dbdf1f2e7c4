"""The test setup itself: real data missing is a failure in CI, a skip elsewhere."""
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT


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
