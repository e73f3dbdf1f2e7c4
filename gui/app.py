"""Start the desktop app.

Only Qt loads before the window first paints: its menus, its tab bar and a
line per tab saying it is opening. Right after that first paint NumPy and
pyqtgraph load and the tabs are built, one per turn of the event loop (the
tab in view first), each with its remembered settings. Once all are in, the
tabs' remembered folders are rescanned in their workers and the microphones
are listed; the modules a training needs (scikit-learn, SciPy, librosa) load
in a thread a moment later. ``tests/gui/test_startup.py`` keeps it that way.
"""
from __future__ import annotations

import sys

from PySide6.QtCore import QEvent, QObject, QTimer


def _preload():
    import threading

    def work():
        # core.child, core.honest and core.request: the first Train imported them on the GUI thread (~11 ms);
        # core.crossval and core.models.linear: on the tab's background thread.
        import core.child  # noqa: F401
        import core.crossval  # noqa: F401
        import core.honest  # noqa: F401
        import core.models.linear  # noqa: F401
        import core.models.mlp  # noqa: F401  (scikit-learn base classes)
        import core.request  # noqa: F401
        import core.training  # noqa: F401
        from core.features import _mel_basis

        # What the tab's background thread imports to start its first training process (multiprocessing's
        # spawn machinery): imported there, it held Python's lock while a CPU hog kept that thread off the
        # cores, a 53-56 ms stall of the window as the first training started.
        import multiprocessing.synchronize  # noqa: F401
        try:
            import multiprocessing.popen_spawn_posix  # noqa: F401
        except ImportError:  # Windows: its own spawn
            import multiprocessing.popen_spawn_win32  # noqa: F401

        _mel_basis(16000, 400, 32)  # librosa's filter code

    threading.Thread(target=work, name="speechlab-preload", daemon=True).start()


class _AfterFirstPaint(QObject):
    """Call ``callback()`` once, as soon as ``window``'s first paint is over, or after
    ``fallback_ms`` if the window does not paint by then (say it opened minimised)."""

    def __init__(self, window, callback, *, fallback_ms=2000):
        super().__init__(window)
        self._callback = callback
        window.installEventFilter(self)
        QTimer.singleShot(fallback_ms, self, self._fire)

    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint:
            obj.removeEventFilter(self)
            QTimer.singleShot(0, self, self._fire)  # after this whole paint pass, children included
        return False

    def _fire(self):
        callback, self._callback = self._callback, None  # once; and no reference to the window is kept
        if callback is not None:
            self.parent().removeEventFilter(self)
            callback()


def _when_ready(window):
    """Rescan each tab's remembered folder in its worker, list the microphones, then preload."""
    from gui.widgets.recorder import RecorderWidget

    RecorderWidget.list_devices_at_init = True
    current = window.current_task_tab()
    for tab in sorted(window.task_tabs(), key=lambda t: t is not current):  # the tab in view first
        # Without a remembered folder a tab shows its demo data, except Genres: its demo is
        # generated (19 MB, seconds) only when asked for (Demo or Train).
        if tab.dataset_panel.state()["folder"] or tab.spec.key != "genres":
            tab.scan()
    for tab in window.task_tabs():
        tab.recorder.list_devices()  # the first call loads PortAudio
    # Load the heavy modules while the user looks at the window, not when Train is pressed.
    QTimer.singleShot(500, _preload)


def _prepare_tabs():
    """Before the first tab is built: pyqtgraph's look, and no microphone listing while building
    (it is done once every tab is in, by :func:`_when_ready`)."""
    import pyqtgraph as pg

    from gui.widgets.recorder import RecorderWidget

    pg.setConfigOptions(antialias=True, background="w", foreground="k")
    RecorderWidget.list_devices_at_init = False


def run(argv=()):
    from PySide6.QtWidgets import QApplication

    from core.memory import return_large_blocks
    from gui.main_window import MainWindow

    return_large_blocks()  # a long session's freed arrays go back to the system (core/memory.py says why)

    app = QApplication.instance() or QApplication([sys.argv[0], *argv])
    from gui.workers import ensure_gui_gc

    ensure_gui_gc(freeze_imports=True)  # the GUI thread's collections skip what start-up and imports made
    app.setApplicationName("SpeechLab")
    app.setOrganizationName("SpeechLab")
    window = MainWindow(deferred=True)  # paints before NumPy and pyqtgraph load; the tabs follow
    app.aboutToQuit.connect(window.shutdown)  # also when the app quits without closing the window
    window.ready.connect(lambda: _when_ready(window))
    _AfterFirstPaint(window, lambda: window.build_tabs_later(prepare=_prepare_tabs))
    window.show()
    return app.exec()
