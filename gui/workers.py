"""Background work for the GUI: a QObject moved to a QThread that only emits signals.

The worker runs one plain function from ``core`` with two callbacks,
``report(kind, value)`` and ``should_stop()``; every widget change happens in
GUI-thread slots connected to its signals (queued connections).

Three rules keep the window from deadlocking (see the README's developer section):

* **Garbage collection runs only on the GUI thread.** Python's cyclic collector
  runs in whichever thread happens to allocate; if it frees a QObject caught in
  a reference cycle inside a worker thread, Qt's deletion takes a Qt mutex and
  waits for the GIL while the GUI thread holds the GIL and waits for that mutex:
  a frozen window. :func:`ensure_gui_gc` turns automatic collection off and
  collects on a GUI-thread timer instead (:class:`GuiGarbageCollector`);
  every ``WorkerRunner`` and ``JobQueue`` calls it before a thread can exist.
* **A job takes and returns plain data, never a QObject.** ``start``/``submit``
  refuse a function that captures one (:func:`check_plain_job`).
* **Every thread stops when its owner goes away and when the app quits**
  (:func:`shutdown_all`, run from ``aboutToQuit``, ``MainWindow.shutdown`` and
  at interpreter exit), so a window built in a script or notebook exits cleanly.
"""
from __future__ import annotations

import atexit
import functools
import os
import sys
import threading
import time
import traceback
import weakref

from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal, Slot

from core.errors import Cancelled, SpeechLabError

_gc_guard = None
_live = weakref.WeakSet()  # every WorkerRunner and JobQueue not yet shut down


def ensure_gui_gc(*, freeze_imports=False):
    """Collect garbage only on the GUI thread, from now on (idempotent; call on the GUI thread).

    Returns the :class:`GuiGarbageCollector` (automatic collection off, ``gc.collect()``
    on a one-second GUI-thread timer when the usual thresholds are exceeded). The app passes
    ``freeze_imports=True`` (see the class); the first call decides.
    """
    global _gc_guard
    if _gc_guard is None:
        if QCoreApplication.instance() is None:
            raise RuntimeError("ensure_gui_gc needs a QApplication")
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("ensure_gui_gc must be called on the GUI thread")
        _gc_guard = GuiGarbageCollector(freeze_imports=freeze_imports)
    return _gc_guard


class GuiGarbageCollector:
    """Python's collection rules, run from a GUI-thread timer (automatic collection off).

    pyqtgraph's ``GarbageCollector`` (the same idea) forces a full collection after every
    ten young ones whatever the heap's size; with a large heap that froze the window for
    5-9 s per round in the soak benchmark. Here a full collection waits until it would
    cost at most 1 % of the time since the last one (its own duration × 100). The timer runs every 100 ms
    (1 s before): a young collection walks what was made since the last one, and a second's worth made by a
    busy background thread took 50-100 ms of the GUI thread under load.

    With ``freeze_imports`` (the app), every wave of imports (``FREEZE_AFTER_MODULES`` new modules: start-up,
    then scikit-learn, SciPy and librosa on first use) is followed by ``gc.freeze()`` (no collection first):
    what is alive then (modules, classes, functions, the window) moves to the permanent generation, which
    later collections do not walk. Measured in the GUI process (benchmarks/gc_freeze.py): a full collection
    walked 123,554 objects in 39-47 ms after start-up and 225,388 in 112-132 ms once scikit-learn, SciPy and
    librosa were loaded, each a stall of the window; 13.5 ms after the freeze with a 100,000-clip dataset made. Frozen objects are still freed when their last reference goes; only a cycle among
    objects tracked at a freeze outlives it (a few freezes per session). The test session leaves it off,
    so its leak tests see every cycle collected.
    """

    #: new modules since the last freeze that make the next check freeze the heap
    FREEZE_AFTER_MODULES = 50
    #: ... or fewer new modules with this many young objects (the start of a wave, or a small one, that made
    #: many objects: a young collection over the ~100,000 of the preload's imports held the window 61-94 ms)
    FREEZE_AFTER_YOUNG = 20_000

    def __init__(self, interval_ms=100, *, freeze_imports=False):
        import gc

        from PySide6.QtCore import QTimer

        self._gc = gc
        self.threshold = gc.get_threshold()
        gc.disable()
        self._full_seconds = 0.0
        self._last_full = time.monotonic()
        self.freeze_imports = freeze_imports
        self._modules_frozen = 0  # len(sys.modules) at the last freeze
        self._modules_seen = len(sys.modules)  # ... at the last check
        self.freezes = 0
        self.timer = QTimer()
        self.timer.timeout.connect(self.check)
        self.timer.start(interval_ms)

    def freeze(self):
        """Everything tracked now into the permanent generation, without a collection first.

        A collection first (young or full) held the window 75-120 ms after each wave of imports (the
        young generation then holds the ~100,000 objects the imports made) and found almost nothing
        to free: measured after start-up and after the preload's wave, 525 and 86 unreachable
        objects, and a full collection after that 0. Freezing those few is the price; it is the
        order CPython's documentation gives for ``gc.freeze`` (no collection before it)."""
        gc = self._gc
        gc.freeze()
        self._modules_frozen = len(sys.modules)
        self.freezes += 1
        self._full_seconds, self._last_full = 0.0, time.monotonic()

    def check(self):
        gc = self._gc
        young, middle, old = gc.get_count()
        if self.freeze_imports:
            modules = len(sys.modules)
            growing, self._modules_seen = modules != self._modules_seen, modules
            new = modules - self._modules_frozen
            if new >= self.FREEZE_AFTER_MODULES or (new > 0 and (young > self.FREEZE_AFTER_YOUNG
                                                                 or middle > self.threshold[1])):
                # What a wave of imports made lives on: frozen at once, never walked. A collection of the
                # middle generation after imports walked what the young ones had moved there: 74 ms of the
                # GUI thread (a 428 ms stall under a CPU hog) at the start of a sweep.
                self.freeze()
                return
            if growing:
                return  # a wave of imports in progress, small so far: its objects go to the next freeze
        if young <= self.threshold[0]:
            return
        if middle <= self.threshold[1]:
            gc.collect(0)
            return
        now = time.monotonic()
        if old > self.threshold[2] and now - self._last_full >= 100 * self._full_seconds:
            t0 = time.perf_counter()
            gc.collect(2)
            self._full_seconds = time.perf_counter() - t0
            self._last_full = time.monotonic()
        else:
            gc.collect(1)


def _captured(fn, depth=0):
    """The objects a callable holds on to: bound ``self``, closure cells, defaults, partial arguments."""
    if depth > 3:
        return
    if isinstance(fn, functools.partial):
        yield from (fn.func, *fn.args, *fn.keywords.values())
        yield from _captured(fn.func, depth + 1)
        return
    owner = getattr(fn, "__self__", None)
    if owner is not None:
        yield owner
        fn = getattr(fn, "__func__", fn)
    for cell in getattr(fn, "__closure__", None) or ():
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        yield value
        if callable(value) and hasattr(value, "__code__"):
            yield from _captured(value, depth + 1)
    yield from getattr(fn, "__defaults__", None) or ()


def check_plain_job(fn):
    """Refuse a background job that captures a QObject (a widget, a signal's owner, a timer).

    A QObject held by a job can be freed in the worker thread, which deadlocks
    Qt (see the module text). Pass plain values (settings dicts, paths, arrays)
    and connect the results to GUI-thread slots instead.
    """
    for obj in _captured(fn):
        if isinstance(obj, QObject):
            name = getattr(fn, "__qualname__", repr(fn))
            raise TypeError(f"a background job must take and return plain data: {name} holds a "
                            f"{type(obj).__name__} (a QObject)")


def shutdown_all(timeout_ms=10000):
    """Stop every background thread still running (app quit, main window closed, interpreter exit),
    and end the spare training process."""
    ok = True
    for owner in list(_live):
        try:
            ok = owner.shutdown(timeout_ms) and ok
        except RuntimeError:  # its C++ side is already gone, and with it the thread
            pass
    SpareProcesses.shutdown()
    return ok


atexit.register(shutdown_all)


class Worker(QObject):
    """Runs ``fn(report=..., should_stop=...)`` once in its own thread.

    Signals
    -------
    progress(object) : extraction progress (core.extraction.Progress), throttled to 10/s
    epoch(object) : a training report dict (intra-epoch reports throttled to 10/s)
    event(str, object) : any other report, e.g. ("rotation", ...) in leave-one-speaker-out
    finished(object) : the function's return value
    failed(str) : a message for the user
    cancelled() : the user stopped it before there was a result
    done() : always last, whatever happened
    """

    progress = Signal(object)
    epoch = Signal(object)
    # any other report: (kind, value). Not "event": that name would shadow QObject.event(), which Qt calls for
    # every QEvent the worker gets (each call leaked a reference: finished workers and their jobs stayed alive)
    reported = Signal(str, object)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    done = Signal()

    def __init__(self, fn):
        super().__init__()
        self._fn = fn
        self._stop = threading.Event()
        self._last_batch_report = 0.0

    def stop(self):
        """Ask the work to stop (checked between mini-batches and extraction chunks)."""
        self._stop.set()

    def should_stop(self):
        return self._stop.is_set()

    def report(self, kind, value):
        if kind == "progress":
            self.progress.emit(value)
        elif kind == "epoch":
            if value.get("batch") is not None:
                now = time.monotonic()
                if now - self._last_batch_report < 0.1:
                    return
                self._last_batch_report = now
            self.epoch.emit(dict(value))
        else:
            self.reported.emit(kind, value)

    @Slot()
    def run(self):
        self._run()  # subclasses override _run, not this slot: PySide6 would call an overriding slot on the GUI thread

    def _run(self):
        try:
            result = self._fn(report=self.report, should_stop=self.should_stop)
        except Cancelled:
            self.cancelled.emit()
        except SpeechLabError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # show the user, keep the app alive
            traceback.print_exc()
            self.failed.emit(f"Unexpected error: {exc.__class__.__name__}: {exc}")
        else:
            self.finished.emit(result)
        finally:
            self.done.emit()


#: closing the window asks a training process to stop (it keeps its best model and records the run)
#: and ends it for sure after this long
CHILD_STOP_GRACE_MS = 10000


class ChildJob:
    """A job to run in its own process: ``target`` is ``"module:function"`` of a top-level function
    ``fn(*args, report, should_stop)`` (see core.child), ``args`` plain, picklable values.

    ``memory_limit`` (bytes, None: no limit): the child is ended with an "out of memory" message
    when its resident memory passes it, before one absurd model can swap the machine to death.

    ``checkpoints``: the job takes a folder as its last positional argument, where it saves its best
    model so far (core.checkpoint, reported as ``("checkpoint", info)``); if the child dies, that
    model is loaded and given to the tab as ``("salvaged", bundle)`` before the failure message.
    """

    def __init__(self, target, *args, memory_limit=None, checkpoints=False, what="training", stop_grace=None):
        self.target = target
        self.args = args
        self.memory_limit = memory_limit
        self.checkpoints = checkpoints
        self.what = what  # what the process does, in messages: "the training process died …"
        # seconds a stopped child may take to answer before it is ended (None: ChildWorker.STOP_GRACE); a job
        # with nothing to keep (a map) is ended soon, one that returns its best model (training) gets longer
        self.stop_grace = stop_grace


class _Spare:
    """One spare child process (core.child.spare_main): its pipes, its Stop event, what it imports."""

    def __init__(self, preload):
        import multiprocessing as mp

        from core import child

        ctx = mp.get_context("spawn")
        self.receive, send = ctx.Pipe(duplex=False)
        jobs_receive, self.jobs = ctx.Pipe(duplex=False)
        self.stop_event = ctx.Event()
        self.preload = tuple(preload)
        self.proc = ctx.Process(target=child.spare_main, args=(jobs_receive, send, self.stop_event, self.preload),
                                name="speechlab-training", daemon=True)
        self.proc.start()
        send.close()
        jobs_receive.close()

    def give(self, target, args):
        """Hand the job over (in this process's environment and folder now); False if the spare is gone."""
        if not self.proc.is_alive():
            return False
        try:
            self.jobs.send((target, args, dict(os.environ), os.getcwd()))
        except (OSError, ValueError):  # it died between the check and the send
            return False
        finally:
            self.jobs.close()
        return True

    def end(self):
        """No job for it: it ends on its own, or is killed if it does not within half a second (one still
        importing TensorFlow holds nothing of the user's; quitting must not wait for it)."""
        try:
            self.jobs.send(None)
        except (OSError, ValueError):
            pass
        for conn in (self.jobs, self.receive):
            conn.close()
        self.proc.join(0.5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(2)


class SpareProcesses:
    """At most one spare child process, started ahead so that the next training (or any
    :class:`ChildJob`) starts at once instead of paying for a fresh interpreter and its imports
    (spawn and import ~1 s for the NumPy MLP; TensorFlow 3-6 s more on two cores, each time).

    A spare is started when a child job ends, importing what that job needed (it reports the heavy
    modules it loaded); it waits idle (no CPU) until a job takes it. A job that finds none starts a
    fresh process as before. Off (``enabled`` False) when ``SPEECHLAB_SPARE_PROCESS=0``: the test
    session's default, so that each test's trainings start as a first training does (and no test
    leaves a process behind); tests of the spare turn it on.
    """

    enabled = os.environ.get("SPEECHLAB_SPARE_PROCESS", "1").strip() != "0"
    _lock = threading.Lock()
    _spare = None

    @classmethod
    def take(cls):
        """The waiting spare (then no longer waiting), or None."""
        with cls._lock:
            spare, cls._spare = cls._spare, None
        if spare is not None and not spare.proc.is_alive():
            spare.end()
            return None
        return spare

    @classmethod
    def prepare(cls, modules=()):
        """Start a spare importing ``modules`` too (beside every training's own imports), unless one is
        waiting that already does."""
        from core.child import ALWAYS_PRELOAD

        if not cls.enabled:
            return
        preload = tuple(dict.fromkeys((*ALWAYS_PRELOAD, *modules)))
        with cls._lock:
            old = cls._spare
            if old is not None and old.proc.is_alive() and set(preload) <= set(old.preload):
                return
        try:  # the old one stays takeable until the new one is there
            spare = _Spare(preload)
        except Exception:  # noqa: BLE001 - only a head start; the next job starts its own process
            traceback.print_exc()
            return
        with cls._lock:
            if cls.enabled:
                spare, cls._spare = cls._spare, spare  # now the one to end: the one replaced (None if taken)
        if spare is not None:
            spare.end()

    @classmethod
    def shutdown(cls):
        """End the waiting spare (app quit; turning spares off)."""
        with cls._lock:
            spare, cls._spare = cls._spare, None
        if spare is not None:
            spare.end()

    @classmethod
    def pid(cls):
        with cls._lock:
            return None if cls._spare is None else cls._spare.proc.pid


#: what a spare started before any training imports beside core.child.ALWAYS_PRELOAD (TensorFlow only once a
#: job needed it: 3-6 s of CPU and hundreds of MB for a user who may never train a CNN)
FIRST_SPARE_MODULES = ("scipy", "sklearn", "librosa", "soundfile", "soxr")


def prepare_spare_later(modules=FIRST_SPARE_MODULES, delay_ms=5000):
    """GUI thread: start a spare process (SpareProcesses) in ``delay_ms`` (not while the window is still
    being built), from a plain thread: spawning one takes tens of milliseconds. A dataset was loaded:
    a training is likely next."""
    if not SpareProcesses.enabled:
        return
    from PySide6.QtCore import QTimer

    QTimer.singleShot(delay_ms, functools.partial(_prepare_in_thread, tuple(modules)))


def _prepare_in_thread(modules):
    threading.Thread(target=SpareProcesses.prepare, args=(modules,), name="speechlab-spare", daemon=True).start()


class ChildWorker(Worker):
    """Runs a :class:`ChildJob` in a child process; this thread relays its reports and forwards Stop.

    A first Stop asks the job to stop (it keeps its best model); a second Stop, or shutdown, ends
    the child for sure. If the child dies (killed, a native crash, out of memory), ``failed`` says so
    in one line with the exit signal and the last phase, and the app goes on.
    """

    #: seconds a stopped child may take to finish before it is ended for sure
    STOP_GRACE = 30.0

    def __init__(self, job):
        super().__init__(None)
        self._job = job
        self._kill = threading.Event()
        self.pid = None
        self.used_spare = False  # the job ran in a spare process started ahead (SpareProcesses)
        self.spare_preload = ()  # what that spare had imported ahead
        self.last_phase = "starting"

    def stop(self):
        if self._stop.is_set():
            self._kill.set()  # a second Stop ends the child
        self._stop.set()

    def kill(self):
        self._stop.set()
        self._kill.set()

    def _run(self):
        import multiprocessing as mp
        import signal

        from core import child

        outcome = None
        args = self._job.args
        checkpoint_dir = None
        if self._job.checkpoints:
            import tempfile

            checkpoint_dir = tempfile.mkdtemp(prefix="speechlab-checkpoint-")
            args = (*args, checkpoint_dir)
        spare = SpareProcesses.take()
        if spare is not None and spare.give(self._job.target, args):
            proc, receive, stop_event, send = spare.proc, spare.receive, spare.stop_event, None
            self.used_spare, self.spare_preload = True, spare.preload
        else:
            if spare is not None:
                spare.end()
            ctx = mp.get_context("spawn")
            receive, send = ctx.Pipe(duplex=False)
            stop_event = ctx.Event()
            proc = ctx.Process(target=child.child_main, args=(self._job.target, args, send, stop_event),
                               name="speechlab-training", daemon=True)
        modules = None
        oom = False
        self._checkpoint = None
        grace = self.STOP_GRACE if self._job.stop_grace is None else self._job.stop_grace
        ended_after_stop = False  # ended by this thread because it did not answer Stop within ``grace``
        try:
            if send is not None:
                proc.start()
                send.close()
            self.pid = proc.pid
            stop_sent = None
            limit = self._job.memory_limit
            while outcome is None:
                if self._stop.is_set() and stop_sent is None:
                    stop_event.set()
                    stop_sent = time.monotonic()
                if self._kill.is_set() or (stop_sent is not None and time.monotonic() - stop_sent > grace):
                    ended_after_stop = not self._kill.is_set()
                    proc.kill()
                    break
                if limit:
                    rss = child.resident_bytes(proc.pid)
                    if rss is not None and rss > limit:
                        oom = True
                        proc.kill()
                        break
                if receive.poll(0.05):
                    try:
                        msg = child.loads(receive.recv_bytes())
                    except (EOFError, OSError):
                        break  # the child is gone
                    if msg[0] == "report":
                        _, kind, value = msg
                        if kind == "_modules":  # for the next spare, not for the tab
                            modules = value
                            continue
                        if kind == "phase":
                            self.last_phase = value.get("name", self.last_phase)
                        elif kind == "epoch" and self.last_phase != "training":
                            self.last_phase = "training"
                        elif kind == "checkpoint":
                            self._checkpoint = value
                        self.report(kind, value)
                    else:
                        outcome = msg
                elif not proc.is_alive() and not receive.poll(0):
                    break
            if outcome is None:  # the child ended without an answer: its exit code says how
                proc.join(10)
                if proc.is_alive():
                    proc.kill()
                    proc.join(5)
        except Exception as exc:  # noqa: BLE001 - the child could not be started or read
            traceback.print_exc()
            outcome = ("failed", f"The {self._job.what} process failed: {exc.__class__.__name__}: {exc}")
            if proc.pid is not None and proc.is_alive():
                proc.kill()
        finally:
            receive.close()
        try:
            kept = self._salvage() if outcome is None else ""
        finally:
            if checkpoint_dir is not None:
                import shutil

                shutil.rmtree(checkpoint_dir, ignore_errors=True)
        try:
            if outcome is None:
                code = proc.exitcode
                before = "; the model from before this training is kept" if self._job.what == "training" else ""
                if oom:
                    limit_gb = self._job.memory_limit / 2**30
                    message = (f"Out of memory: the {self._job.what} passed its memory limit of {limit_gb:.1f} GB "
                               f"during {self.last_phase} and was ended; the app is fine (change the limit in "
                               "Tools → Training memory limit)")
                elif self._kill.is_set():
                    message = f"{self._job.what.capitalize()} ended at once (a second Stop)" + (
                        kept or before)
                elif ended_after_stop:  # the user's Stop, answered by ending it: not a crash
                    message = (f"Stopped: the {self._job.what} process did not stop within {grace:g} s "
                               f"(during {self.last_phase}) and was ended" + (kept or before))
                else:
                    how = (f"signal {signal.Signals(-code).name}" if code is not None and code < 0
                           else f"exit code {code}")
                    message = f"The {self._job.what} process died ({how}) during {self.last_phase}; the app is fine" + (
                        kept or (" and keeps the model it had before this training" if before else ""))
                if ended_after_stop and not kept and self._job.what != "training":
                    self.cancelled.emit()  # stopped as asked; nothing was to be kept
                else:
                    self.failed.emit(message)
            elif outcome[0] == "finished":
                self.finished.emit(outcome[1])
            elif outcome[0] == "failed":
                self.failed.emit(outcome[1])
            else:
                self.cancelled.emit()
        finally:
            self.done.emit()  # the answer goes out first; a child that answered is joined below
        if proc.pid is not None and proc.exitcode is None:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
                proc.join(5)
        if modules is not None and not self._kill.is_set():  # a job that ran to its answer: the next one's spare
            SpareProcesses.prepare(modules)


    def _salvage(self):
        """The child ended without an answer: load the best model it saved, if any, and hand it to the
        tab (``("salvaged", bundle)``). Returns the words for the failure message ("" when none)."""
        info = self._checkpoint
        if not info:
            return ""
        from core.bundle import load_bundle
        from core.errors import SpeechLabError

        try:
            bundle = load_bundle(info["path"])
        except (SpeechLabError, OSError, KeyError):
            return ""
        self.report("salvaged", bundle)
        epochs = f" of {info['epochs']}" if info.get("epochs") else ""
        acc = info.get("val_accuracy")
        acc = "" if acc is None else f", validation accuracy {acc:.1%}"
        return (f"; its best epoch so far is kept (epoch {info['epoch']}{epochs}{acc}; not evaluated, not in the "
                "run history): save it or train again")


class WorkerRunner(QObject):
    """Owns at most one running Worker and its QThread.

    A finished worker's thread is kept (parented to the runner, the worker
    referenced here) until the thread has really ended (``QThread.finished``);
    only then are they released, on the GUI thread.
    """

    busy_changed = Signal(bool)

    def __init__(self, parent=None):
        super().__init__(parent)
        ensure_gui_gc()
        self.worker = None
        self.thread = None
        self._ending = []  # (worker, thread) whose work is done but whose thread may still be winding down
        _live.add(self)

    @property
    def busy(self):
        return self.thread is not None

    def start(self, fn, *, connect=None):
        """Start ``fn`` in a new thread; ``connect(worker)`` wires its signals first."""
        if self.busy:
            raise RuntimeError("a background task is already running")
        if isinstance(fn, ChildJob):
            self.worker = ChildWorker(fn)
        else:
            check_plain_job(fn)
            self.worker = Worker(fn)
        self.thread = QThread(self)
        self.worker.moveToThread(self.thread)
        if connect:
            connect(self.worker)
        self.thread.started.connect(self.worker.run)
        self.worker.done.connect(self._on_done)
        self.thread.finished.connect(self._release)
        self.thread.start()
        self.busy_changed.emit(True)
        return self.worker

    def stop(self):
        if self.worker is not None:
            self.worker.stop()

    def shutdown(self, timeout_ms=10000):
        """Stop the work and wait for its thread (used when the window closes); True when every thread ended."""
        _live.discard(self)
        if self.worker is not None:
            worker, thread = self.worker, self.thread
            worker.stop()
            self._retire()
            if isinstance(worker, ChildWorker) and not thread.wait(CHILD_STOP_GRACE_MS):
                worker.kill()  # a training process that did not stop in time is ended for sure
        ok = True
        for worker, thread in list(self._ending):
            thread.quit()
            ok = thread.wait(timeout_ms) and ok
        self._release()
        return ok

    @Slot()
    def _on_done(self):
        if self.thread is not None:
            self._retire()
            self.busy_changed.emit(False)

    def _retire(self):
        self.thread.quit()  # its event loop ends once run() has returned
        self._ending.append((self.worker, self.thread))
        self.worker = None
        self.thread = None

    @Slot()
    def _release(self):
        """Drop the threads that have ended (GUI thread): their C++ objects go with the last reference."""
        ending = self.sender()  # the thread that just finished (None when called from shutdown)
        for pair in list(self._ending):
            thread = pair[1]
            # ``finished`` is emitted just before the thread really ends: wait a moment for that one only,
            # never for another still running (a training thread joining its child process)
            if thread.isFinished() or (thread is ending and thread.wait(200)):
                self._ending.remove(pair)
                thread.setParent(None)


class _QueueWorker(QObject):
    """Lives on the queue's thread; runs one job per queued ``submitted`` signal."""

    done = Signal(object, object)  # (request, result)
    failed = Signal(object, str)

    @Slot(object, object)
    def run_job(self, fn, request):
        try:
            result = fn()
        except SpeechLabError as exc:  # already a message for the user
            self.failed.emit(request, str(exc))
        except Exception as exc:  # a predictor can fail in any way; show it, never crash
            self.failed.emit(request, f"{type(exc).__name__}: {exc}")
        else:
            self.done.emit(request, result)


class JobQueue(QObject):
    """Short jobs (a prediction, decoding a file) run one after another on one QThread.

    Unlike :class:`WorkerRunner` (one long, stoppable task), jobs queue up and
    run in the order submitted — a model need not be thread-safe. Connect
    ``done(request, result)`` and ``failed(request, message)`` to bound
    methods of GUI objects: they are delivered on the GUI thread.
    """

    done = Signal(object, object)
    failed = Signal(object, str)
    _submitted = Signal(object, object)

    def __init__(self, parent=None):
        super().__init__(parent)
        ensure_gui_gc()
        self._pending = 0
        self._thread = QThread()  # no parent: a parent destroyed before shutdown() would destroy a running thread
        self._worker = _QueueWorker()
        self._worker.moveToThread(self._thread)
        self._submitted.connect(self._worker.run_job)  # queued: the worker lives on the thread
        self._worker.done.connect(self._on_done)
        self._worker.failed.connect(self._on_failed)
        self._thread.start()
        _live.add(self)

    @property
    def pending(self) -> int:
        """Jobs submitted whose result has not been delivered yet."""
        return self._pending

    def submit(self, fn, request=None):
        """Run ``fn()`` after the jobs already queued; its result comes back with ``request``."""
        if not self._thread.isRunning():
            raise RuntimeError("the job queue was shut down")
        check_plain_job(fn)
        self._pending += 1
        self._submitted.emit(fn, request)

    @Slot(object, object)
    def _on_done(self, request, result):
        self._pending -= 1
        self.done.emit(request, result)

    @Slot(object, str)
    def _on_failed(self, request, message):
        self._pending -= 1
        self.failed.emit(request, message)

    def shutdown(self, timeout_ms=10000):
        """Finish the queued jobs and stop the thread (their results are no longer delivered)."""
        _live.discard(self)
        if not self._thread.isRunning():
            return True
        self._thread.quit()  # the event loop ends after the jobs already queued
        ok = self._thread.wait(timeout_ms)
        self._worker.deleteLater()
        return ok
