"""Start the desktop app.

Only Qt, pyqtgraph and NumPy load before the window first paints, with every
tab showing its remembered settings. Right after that first paint the tabs'
remembered folders are rescanned in their workers and the microphones are
listed; the modules a training needs (scikit-learn, SciPy, librosa) load in a
thread a moment later. ``tests/gui/test_startup.py`` keeps it that way.
"""
from __future__ import annotations

import sys

from PySide6.QtCore import QEvent, QObject, QTimer


def _preload():
    import threading

    def work():
        import core.models.mlp  # noqa: F401  (scikit-learn base classes)
        import core.training  # noqa: F401
        from core.features import _mel_basis

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


def _after_first_paint(window):
    """Rescan each tab's remembered folder in its worker, list the microphones, then preload."""
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


def run(argv=()):
    from PySide6.QtWidgets import QApplication

    import pyqtgraph as pg

    from core.model_host import use_host
    from gui.main_window import MainWindow
    from gui.widgets.recorder import RecorderWidget

    use_host(True)  # Keras models predict in the model host: TensorFlow never loads in the GUI process
    pg.setConfigOptions(antialias=True, background="w", foreground="k")
    app = QApplication.instance() or QApplication([sys.argv[0], *argv])
    app.setApplicationName("SpeechLab")
    app.setOrganizationName("SpeechLab")
    RecorderWidget.list_devices_at_init = False  # listed after the first paint
    try:
        window = MainWindow()  # every tab restores its remembered settings
    finally:
        RecorderWidget.list_devices_at_init = True
    app.aboutToQuit.connect(window.shutdown)  # also when the app quits without closing the window
    _AfterFirstPaint(window, lambda: _after_first_paint(window))
    window.show()
    return app.exec()
