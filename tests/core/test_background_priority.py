"""Processes that compute for the window run below its priority: when every core is busy (a CPU hog, a
sweep's runs, a training), the GUI thread gets one first (issue "training in its own process")."""
import concurrent.futures as cf
import multiprocessing as mp
import os

import pytest

from core import extraction, sweep
from core.child import BACKGROUND_NICE, background_priority

pytestmark = pytest.mark.skipif(not hasattr(os, "getpriority"), reason="no process priorities here")


def _pool_priority(initializer):
    with cf.ProcessPoolExecutor(1, mp_context=mp.get_context("spawn"), initializer=initializer,
                                initargs=(os.getpid(),)) as pool:
        return pool.submit(os.getpriority, os.PRIO_PROCESS, 0).result(timeout=120)


@pytest.mark.parametrize("initializer", [extraction._worker_init, sweep._worker_init],
                         ids=["extraction pool", "sweep runs"])
def test_pool_workers_run_below_the_window(initializer):
    assert os.getpriority(os.PRIO_PROCESS, 0) < BACKGROUND_NICE  # the test process: the window's level
    assert _pool_priority(initializer) == BACKGROUND_NICE


def _lowered_then(level):
    os.setpriority(os.PRIO_PROCESS, 0, level)
    background_priority()
    return os.getpriority(os.PRIO_PROCESS, 0)


def test_a_process_already_lower_is_never_raised():
    """An extraction pool started by a map at nice 10 (the data explorer's) stays at 10, not 5."""
    for level in (10, BACKGROUND_NICE + 1):  # a fresh process each: only root may lower a niceness again
        with cf.ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
            assert pool.submit(_lowered_then, level).result(timeout=120) == level
