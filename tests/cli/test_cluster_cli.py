"""``--cluster ADDRESS`` for ``features``, ``train`` and ``sweep`` as a user runs them (real subprocesses)
against a real ``LocalCluster`` of two worker processes; without the flag Dask is never imported."""
import json
import os
import pathlib
import socket
import subprocess
import sys

import pytest

from tests.core.test_cluster import local_cluster, need_dask

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    e = os.environ.copy()
    e["SPEECHLAB_DATA_DIR"] = str(tmp_path_factory.mktemp("cluster-home"))  # a history of its own
    return e


@pytest.fixture(scope="module")
def address():
    with local_cluster() as lc:
        yield lc.scheduler_address


def run_cli(env, *args):
    return subprocess.run([sys.executable, "main.py", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env=env)  # the timeout only guards against a hang


def test_features_on_the_cluster_match_this_machine(env, address):
    remote = run_cli(env, "features", "--features", "mfcc-mean", "--no-cache", "--cluster", address, "--json")
    assert remote.returncode == 0, remote.stderr
    assert "Dask workers" in remote.stderr  # progress says where the files went
    local = run_cli(env, "features", "--features", "mfcc-mean", "--no-cache", "--json")
    a, b = json.loads(remote.stdout), json.loads(local.stdout)
    for key in ("n_files", "n_used", "n_skipped", "classes", "shape", "feature_config"):
        assert a[key] == b[key]


def test_train_extracts_on_the_cluster_and_records_here(env, address, tmp_path):
    proc = run_cli(env, "train", "--features", "mfcc-mean", "--epochs", "2", "--no-augment", "--no-open-set",
                   "--no-cache", "--cluster", address, "--out", tmp_path / "m.slm", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["run_id"] and (tmp_path / "m.slm").is_file()
    assert "Dask workers" in proc.stderr


def test_a_sweep_on_the_cluster_records_each_run_once(env, address):
    proc = run_cli(env, "sweep", "--grid", "hidden=8;16", "--features", "mfcc-mean", "--epochs", "2",
                   "--cluster", address, "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert all(r["error"] is None and r["run_id"] for r in out["runs"])
    listed = json.loads(run_cli(env, "runs", "--json").stdout)["runs"]
    ids = [r["id"] for r in listed]
    assert all(ids.count(r["run_id"]) == 1 for r in out["runs"])
    for r in out["runs"]:
        shown = json.loads(run_cli(env, "runs", "show", r["run_id"], "--json").stdout)
        assert shown["source"] == "sweep" and shown["sweep"]["id"] == out["sweep"]
        assert pathlib.Path(shown["model_path"]).is_file()


def test_a_wrong_address_is_one_line(env):
    need_dask()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = run_cli(env, "features", "--cluster", f"127.0.0.1:{port}", "--json")
    assert proc.returncode == 1 and proc.stdout == ""
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: --cluster tcp://127.0.0.1:{port}: no Dask scheduler answers there")
    bad = run_cli(env, "sweep", "--grid", "hidden=8;16", "--cluster", "localhost")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--cluster" in bad.stderr


def test_without_cluster_dask_is_never_imported(env, tmp_path):
    code = (
        "import sys\n"
        "from cli import main\n"
        "assert main(['features', '--features', 'mfcc-mean', '--no-cache', '--json']) == 0\n"
        "assert main(['sweep', '--grid', 'hidden=8', '--features', 'mfcc-mean', '--epochs', '1', '--json']) == 0\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed'))\n"
        "assert not loaded, loaded\n"
    )
    e = {k: v for k, v in env.items() if k != "SPEECHLAB_CLUSTER"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600, env=e)
    assert proc.returncode == 0, proc.stderr[-2000:]
