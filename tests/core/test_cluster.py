"""Extraction and sweeps on a real Dask cluster: a ``LocalCluster`` of two worker processes, started once for
this module. The cluster gives the numbers local work gives; a worker killed in the middle of a run loses
nothing and records nothing twice; a wrong address or a scheduler that goes away is one line."""
import contextlib
import os
import signal
import threading

import numpy as np
import pytest

from core import cluster
from core.cache import FeatureCache
from core.datasets import scan_dataset
from core.demo import demo_dataset
from core.errors import Cancelled
from core.extraction import extract
from core.history import RunHistory
from core.tasks import get_task


def _in_ci():
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def need_dask():
    """Dask is the ``cluster`` extra; scripts/setup.sh --test installs it, so CI fails (never skips) without it."""
    try:
        import distributed
    except ImportError:
        message = "Dask is not installed: pip install -e .[cluster] (scripts/setup.sh --test installs it)"
        if _in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return distributed


@contextlib.contextmanager
def local_cluster():
    """A real LocalCluster of two worker processes (one thread each); this process's connections to it and the
    cluster are closed at the end. The test modules' fixtures start theirs with it."""
    distributed = need_dask()
    lc = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0")
    try:
        yield lc
    finally:
        cluster.close()
        lc.close()


@pytest.fixture(scope="module")
def dask_cluster():
    with local_cluster() as lc:
        yield lc


@pytest.fixture(scope="module")
def demo_digits():
    ds = scan_dataset(demo_dataset("digits"))
    return ds.subset(range(0, len(ds.items), 6))  # 50 clips: every class, a few seconds of work


def _sweep_specs(**params):
    from core import sweep as sw

    base = sw.RunSpec(task="digits", data=None, model="mlp", augment=False, open_set=False, seed=3,
                      model_params={"epochs": 3, **params})
    return sw.expand_grid(base, [("hidden", [(8,), (16,)]), ("activation", ["relu", "tanh"])])


def test_extraction_on_the_cluster_gives_the_features_of_local_extraction(dask_cluster, demo_digits, tmp_path):
    config = get_task("digits").feature_config(None)
    paths = demo_digits.paths()
    local_cache, remote_cache = FeatureCache(tmp_path / "local.sqlite"), FeatureCache(tmp_path / "remote.sqlite")
    seen = []
    remote = extract(paths, config, cache=remote_cache, cluster=dask_cluster.scheduler_address, progress=seen.append)
    local = extract(paths, config, cache=local_cache, cluster=False)
    assert remote.skipped == local.skipped
    for a, b in zip(remote.raws, local.raws):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(a, b)
    # The same rows under the same keys in this machine's cache.
    key = config.cache_key()
    from_remote, from_local = remote_cache.get_many(key, paths), local_cache.get_many(key, paths)
    assert set(from_remote) == set(from_local) == set(paths)
    for p in paths:
        np.testing.assert_array_equal(from_remote[p][1], from_local[p][1])
    # Progress as for local work, with the files each worker did.
    last = seen[-1]
    assert last.done == last.total == len(paths)
    assert sum(n for _, n in last.workers) == len(paths)
    # Warm: everything from the cache, nothing sent anywhere.
    again = extract(paths, config, cache=remote_cache, cluster=dask_cluster.scheduler_address)
    assert again.cache_hits == len(paths)


def test_stop_cancels_the_clusters_extraction(dask_cluster, demo_digits, tmp_path):
    config = get_task("digits").feature_config(None)
    calls = [0]

    def should_stop():  # the first poll after the tasks were handed over
        calls[0] += 1
        return calls[0] > 1

    with pytest.raises(Cancelled):
        extract(demo_digits.paths(), config, cache=FeatureCache(tmp_path / "c.sqlite"),
                cluster=dask_cluster.scheduler_address, should_stop=should_stop)
    client = cluster.connect(dask_cluster.scheduler_address)
    from tests.helpers import wait_until

    wait_until(lambda: not any(client.processing().values()), timeout=120, message="the cluster's tasks cancelled")


def test_a_sweep_on_the_cluster_gives_the_local_accuracies(dask_cluster, tmp_path):
    from core import sweep as sw

    specs = _sweep_specs()
    epochs = []
    on_cluster = sw.run_sweep(specs, cluster=dask_cluster.scheduler_address, history_folder=tmp_path / "remote",
                              on_epoch=lambda i, stats: epochs.append(i))
    here = sw.run_sweep(specs, cluster=False, history_folder=tmp_path / "local", max_workers=2)
    assert [r.get("error") for r in on_cluster["results"]] == [None] * 4
    assert [r["accuracy"] for r in on_cluster["results"]] == [r["accuracy"] for r in here["results"]]
    assert set(epochs) == {0, 1, 2, 3}  # epochs reach this machine as for local work
    history = RunHistory(tmp_path / "remote")
    runs = history.runs(sweep=on_cluster["id"])
    assert sorted(r["id"] for r in runs) == sorted(r["run_id"] for r in on_cluster["results"])
    for r in on_cluster["results"]:  # each with its model file, readable by the checked loader
        assert history.load_model(r["run_id"]) is not None


def test_a_worker_killed_during_a_sweep_loses_no_run_and_records_none_twice(dask_cluster, tmp_path):
    from core import sweep as sw

    specs = _sweep_specs(epochs=150, batch_size=4, early_stopping=False)[:2]
    client = cluster.connect(dask_cluster.scheduler_address)
    killed = []

    def on_epoch(index, stats):
        if killed:
            return
        busy = {w: keys for w, keys in client.processing().items() if keys}
        if not busy:
            return
        worker = sorted(busy)[0]
        pid = client.run(os.getpid, workers=[worker])[worker]
        os.kill(pid, signal.SIGKILL)
        killed.append((worker, pid))

    out = sw.run_sweep(specs, cluster=dask_cluster.scheduler_address, history_folder=tmp_path / "h", on_epoch=on_epoch)
    assert killed, "no worker was busy when the epochs came"
    assert [r.get("error") for r in out["results"]] == [None, None]
    runs = RunHistory(tmp_path / "h").runs(sweep=out["id"])
    indices = sorted(RunHistory(tmp_path / "h").get(r["id"])["sweep"]["index"] for r in runs)
    assert indices == [0, 1]  # each run once
    client.wait_for_workers(2, timeout=300)  # the nanny restarts the worker for the tests after this one


def test_a_wrong_address_is_one_line(tmp_path):
    need_dask()
    import socket

    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    errors = []

    def attempt():
        try:
            cluster.connect(f"tcp://127.0.0.1:{port}")
        except cluster.ClusterError as exc:
            errors.append(str(exc))

    t = threading.Thread(target=attempt, daemon=True)
    t.start()
    t.join(timeout=300)  # a guard against a hang, not a timing assertion (the connection gives up after 10 s)
    assert not t.is_alive()
    assert len(errors) == 1 and "\n" not in errors[0]
    assert errors[0].startswith(f"--cluster tcp://127.0.0.1:{port}: no Dask scheduler answers there")


@pytest.mark.parametrize("text", ["", "localhost", "tcp://host:99999", "http://host:8786", "a b:1"])
def test_a_malformed_address_names_the_field(text):
    with pytest.raises(cluster.ClusterError, match="^--cluster"):
        cluster.check_address(text)


def test_a_scheduler_that_goes_away_is_one_line(demo_digits, tmp_path):
    distributed = need_dask()
    lonely = distributed.LocalCluster(n_workers=0, processes=False, protocol="tcp", dashboard_address=":0")  # tasks never run
    address = lonely.scheduler_address
    calls = []

    def should_stop():  # asked once before the tasks are handed over; then they wait there, and it goes away
        calls.append(True)
        if len(calls) == 2:
            lonely.close()
        return False

    try:
        with pytest.raises(cluster.ClusterError) as info:
            extract(demo_digits.paths(), get_task("digits").feature_config(None),
                    cache=FeatureCache(tmp_path / "c.sqlite"), cluster=address, should_stop=should_stop)
        message = str(info.value)
        assert "\n" not in message and message.startswith(f"--cluster {address}: the Dask scheduler went away")
    finally:
        cluster.close()
        lonely.close()


def test_the_cluster_setting_is_off_on_a_worker_thread():
    cluster.set_default("tcp://10.0.0.5:8786")
    try:
        assert cluster.configured() == "tcp://10.0.0.5:8786"
        with cluster.off():
            assert cluster.configured() is None
    finally:
        cluster.set_default(None)
    assert cluster.configured() is None


def test_stop_during_a_sweep_on_the_cluster_keeps_what_finished_and_records_it_once(dask_cluster, tmp_path):
    from core import sweep as sw

    specs = _sweep_specs(epochs=60, early_stopping=False)
    answers = []
    out = sw.run_sweep(specs, cluster=dask_cluster.scheduler_address, history_folder=tmp_path / "h",
                       on_result=answers.append, should_stop=lambda: bool(answers))
    assert out["stopped"]
    recorded = [r for r in out["results"] if r and r.get("run_id")]
    assert recorded  # the first answer at least
    for r in out["results"]:  # every other run: dropped by the cluster, or stopped before it started
        assert r is None or r.get("run_id") or r.get("stopped")
    runs = RunHistory(tmp_path / "h").runs(sweep=out["id"])
    assert sorted(r["id"] for r in runs) == sorted(r["run_id"] for r in recorded)
