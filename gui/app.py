"""Start the desktop app."""
from __future__ import annotations

import sys


def _preload():
    import threading

    def work():
        import core.models.mlp  # noqa: F401  (scikit-learn base classes)
        import core.training  # noqa: F401
        from core.features import _mel_basis

        _mel_basis(16000, 400, 32)  # librosa's filter code

    threading.Thread(target=work, name="speechlab-preload", daemon=True).start()


def run(argv=()):
    from PySide6.QtWidgets import QApplication

    import pyqtgraph as pg

    from gui.main_window import MainWindow

    pg.setConfigOptions(antialias=True, background="w", foreground="k")
    app = QApplication.instance() or QApplication([sys.argv[0], *argv])
    app.setApplicationName("SpeechLab")
    app.setOrganizationName("SpeechLab")
    window = MainWindow()
    app.aboutToQuit.connect(window.shutdown)  # also when the app quits without closing the window
    window.show()
    # Show the last dataset (or the demo data) right away; the scan runs in a worker.
    from PySide6.QtCore import QTimer

    QTimer.singleShot(0, window.digits.scan)
    # Load the heavy modules while the user looks at the window, not when Train is pressed.
    QTimer.singleShot(500, _preload)
    return app.exec()
