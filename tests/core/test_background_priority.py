"""A training process runs below the window's priority: when every core is busy, the GUI thread gets
one first (issue "training in its own process"); a process already lower stays lower."""
import concurrent.futures as cf
import multiprocessing as mp
import os

import pytest

from core.child import BACKGROUND_NICE, background_priority

pytestmark = pytest.mark.skipif(not hasattr(os, "getpriority"), reason="no process priorities here")


def _lowered_then(level):
    if level is not None:
        os.setpriority(os.PRIO_PROCESS, 0, level)
    background_priority()
    return os.getpriority(os.PRIO_PROCESS, 0)


@pytest.mark.parametrize("start, expected", [(None, BACKGROUND_NICE), (10, 10), (BACKGROUND_NICE + 1, BACKGROUND_NICE + 1)],
                         ids=["the window's level", "a map's nice 10", "just below"])
def test_a_training_process_goes_below_the_window_and_never_back_up(start, expected):
    assert os.getpriority(os.PRIO_PROCESS, 0) < BACKGROUND_NICE  # the test process: the window's level
    with cf.ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:  # a fresh process each
        assert pool.submit(_lowered_then, start).result(timeout=120) == expected
