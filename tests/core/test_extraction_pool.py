"""The extraction pool always winds up: a stopped or finished extraction leaves no thread that would keep
the interpreter from exiting (a finished test run once hung in concurrent.futures' exit handler, joining
a pool manager that waited for the rest of a result a killed worker never sent)."""
import concurrent.futures as cf
import os
import struct

from core import extraction


def _square(x):
    return x * x


def test_a_half_sent_result_does_not_keep_the_pool_manager_alive():
    pool = cf.ProcessPoolExecutor(max_workers=1, mp_context=extraction._pool_context())
    assert pool.submit(_square, 7).result(timeout=120) == 49  # workers and the manager thread are running
    manager = pool._executor_manager_thread
    # What a worker killed in the middle of sending a result leaves in the pipe: a header announcing
    # 1,000 bytes, and only ten of them. The manager starts reading it and waits for the rest.
    os.write(pool._result_queue._writer.fileno(), struct.pack("!i", 1000) + b"x" * 10)
    extraction._terminate(pool)
    assert not manager.is_alive()
