"""Background work for the GUI: a QObject moved to a QThread that only emits signals.

The worker runs one plain function from ``core`` with two callbacks,
``report(kind, value)`` and ``should_stop()``; every widget change happens in
GUI-thread slots connected to its signals (queued connections).
"""
from __future__ import annotations

import threading
import time
import traceback

from PySide6.QtCore import QObject, QThread, Signal, Slot

from core.errors import Cancelled, SpeechLabError


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
    event = Signal(str, object)  # any other report: (kind, value)
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
            self.event.emit(kind, value)

    @Slot()
    def run(self):
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


class WorkerRunner(QObject):
    """Owns at most one running Worker and its QThread."""

    busy_changed = Signal(bool)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.worker = None
        self.thread = None

    @property
    def busy(self):
        return self.thread is not None

    def start(self, fn, *, connect=None):
        """Start ``fn`` in a new thread; ``connect(worker)`` wires its signals first."""
        if self.busy:
            raise RuntimeError("a background task is already running")
        self.worker = Worker(fn)
        self.thread = QThread()
        self.worker.moveToThread(self.thread)
        if connect:
            connect(self.worker)
        self.thread.started.connect(self.worker.run)
        self.worker.done.connect(self._on_done)
        self.thread.start()
        self.busy_changed.emit(True)
        return self.worker

    def stop(self):
        if self.worker is not None:
            self.worker.stop()

    def shutdown(self, timeout_ms=10000):
        """Stop the work and wait for its thread (used when the window closes)."""
        if self.thread is None:
            return True
        self.worker.stop()
        self.thread.quit()
        ok = self.thread.wait(timeout_ms)
        self._cleanup()
        return ok

    @Slot()
    def _on_done(self):
        if self.thread is not None:
            self.thread.quit()
            self.thread.wait(5000)
        self._cleanup()
        self.busy_changed.emit(False)

    def _cleanup(self):
        if self.worker is not None:
            self.worker.deleteLater()
        if self.thread is not None:
            self.thread.deleteLater()
        self.worker = None
        self.thread = None


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
        self._pending = 0
        self._thread = QThread()
        self._worker = _QueueWorker()
        self._worker.moveToThread(self._thread)
        self._submitted.connect(self._worker.run_job)  # queued: the worker lives on the thread
        self._worker.done.connect(self._on_done)
        self._worker.failed.connect(self._on_failed)
        self._thread.start()

    @property
    def pending(self) -> int:
        """Jobs submitted whose result has not been delivered yet."""
        return self._pending

    def submit(self, fn, request=None):
        """Run ``fn()`` after the jobs already queued; its result comes back with ``request``."""
        if not self._thread.isRunning():
            raise RuntimeError("the job queue was shut down")
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
        if not self._thread.isRunning():
            return True
        self._thread.quit()  # the event loop ends after the jobs already queued
        ok = self._thread.wait(timeout_ms)
        self._worker.deleteLater()
        return ok
