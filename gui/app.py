"""Start the desktop app."""
from __future__ import annotations

import sys


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
    return app.exec()
