"""Small jobs for tests of child processes (gui.workers.ChildWorker, SpareProcesses): importable in a child,
light to import, plain data in and out."""


def environment(name, *, report, should_stop):
    """What the child sees: the variable ``name``, its folder and its process id."""
    import os

    return os.environ.get(name), os.getcwd(), os.getpid()


def until_stopped(*, report, should_stop):
    """Reports a phase, then waits for Stop (polled, as a training's mini-batches poll it)."""
    import time

    report("phase", {"name": "waiting for Stop"})
    while not should_stop():
        time.sleep(0.01)
    return "stopped"


def deaf_to_stop(*, report, should_stop):
    """Reports a phase, then works without ever looking at Stop (as t-SNE's one long scikit-learn call)."""
    import time

    report("phase", {"name": "one long call"})
    time.sleep(600)
    return "never"
