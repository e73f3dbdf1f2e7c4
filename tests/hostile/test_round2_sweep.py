"""Hostile input, round two (issue 17): the sweep command.

A terminal's Ctrl-C reaches the whole process group, the sweep's workers included; a ``kill -9``
of the sweep must not leave its workers training; every grid value is checked before any work,
with the rules of the single flags. Real processes, real WAV files; every wait polls a condition.
"""
import json
import os
import pathlib
import subprocess
import sys

import pytest

from tests.core.datagen import class_signal, write_wav

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    root = tmp_path_factory.mktemp("small")
    for i in range(40):
        write_wav(root / f"{i % 2}_s{i % 4}_{i}.wav", class_signal(cls=i % 2, sr=8000, speaker=i % 4, seed=i), sr=8000)
    return root


@pytest.fixture
def env(tmp_path):
    """A private history, and a private temporary folder where the sweep keeps its stop file."""
    e = os.environ.copy()
    e["SPEECHLAB_DATA_DIR"] = str(tmp_path / "home")
    (tmp_path / "tmp").mkdir()
    e["TMPDIR"] = str(tmp_path / "tmp")
    return e


def cli(env, *args, timeout=300):
    return subprocess.run([sys.executable, "main.py", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env)  # the timeout only guards against a hang


# ------------------------------------------------------------------ grid values


@pytest.mark.parametrize("grid, fragments", [
    ("lr=abc", ["lr=abc", "number"]),
    ("lr=-1", ["lr=-1", "out of range"]),
    ("seed=-1", ["seed=-1", "between 0 and 4294967295"]),
    ("seed=1.5", ["seed=1.5", "whole number"]),
    ("seed=abc", ["seed=abc", "whole number"]),
    ("test_size=2", ["test_size=2", "between 0 and 1"]),
    ("test_size=abc", ["test_size=abc", "number"]),
    ("epochs=abc", ["epochs=abc", "whole number"]),
    ("epochs=0", ["epochs=0", "out of range"]),
    ("batch_size=2.5", ["batch_size=2.5", "whole number"]),
    ("l2=x", ["l2=x", "number"]),
    ("early_stopping=maybe", ["early_stopping=maybe", "true/false"]),
    ("standardize=2", ["standardize=2", "true/false"]),
    ("activation=foo", ["activation=foo", "relu"]),
    ("split=loso", ["split=loso", "random, speaker"]),
    ("n_mfcc=abc", ["n_mfcc=abc", "integer"]),
    ("C=1", ["C=1", "no setting C"]),
    ("hidden=64;-5", ["hidden=-5", "at least 1"]),
])
def test_every_grid_value_is_checked_before_any_work(small, env, grid, fragments):
    proc = cli(env, "sweep", "--data", small, "--grid", "init=he;xavier", "--grid", grid, "--epochs", "2", "--no-cache")
    assert proc.returncode != 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr  # refused before any extraction
    for f in fragments:
        assert f in lines[0], lines[0]


def test_good_grid_values_of_every_kind_are_accepted(small, env):
    proc = cli(env, "sweep", "--data", small, "--grid", "lr=0.01;1e-3", "--grid", "seed=4294967295",
               "--grid", "test_size=0.25", "--epochs", "1", "--no-cache", "--json")
    assert proc.returncode == 0, proc.stderr
    runs = json.loads(proc.stdout)["runs"]
    assert [r["values"] for r in runs] == [{"lr": "0.01", "seed": "4294967295", "test_size": "0.25"},
                                           {"lr": "0.001", "seed": "4294967295", "test_size": "0.25"}]
    assert all(r["run_id"] for r in runs)
