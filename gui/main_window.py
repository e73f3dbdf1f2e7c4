"""The main window: one tab per task, a status bar, menus for models and the cache."""
from __future__ import annotations

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QLabel, QMainWindow, QMessageBox, QScrollArea, QTabWidget

from core.model_host import use_host
from core.tasks import TASKS
from gui import settings as app_settings
from gui.tabs import tab_class


#: The size the layout is designed for; smaller screens get all their room, larger ones most of it.
DESIGN_SIZE = (1280, 800)


class PlaceholderTab(QLabel):
    """A task whose tab has not been built yet."""

    def __init__(self, text):
        super().__init__(text)
        self.setAlignment(Qt.AlignCenter)
        self.setWordWrap(True)
        self.setStyleSheet("color: palette(mid); font-size: 14pt;")

    def shutdown(self):
        pass


class _TabFrame(QScrollArea):
    """A task tab that scrolls when the screen is smaller than the tab can shrink to,
    so no tab's panels make the window larger than the screen."""

    def __init__(self, tab):
        super().__init__()
        self.tab = tab
        self.setWidget(tab)
        self.setWidgetResizable(True)
        self.setFrameShape(QScrollArea.NoFrame)

    def shutdown(self):
        self.tab.shutdown()


class MainWindow(QMainWindow):
    def __init__(self):
        super().__init__()
        use_host(True)  # Keras models predict in the model host: TensorFlow never loads in the GUI process
        self.setWindowTitle("SpeechLab")
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self._task_tabs = {}  # task key -> TaskTab
        for spec in TASKS.values():
            cls = tab_class(spec.key)
            if cls is None:
                self.tabs.addTab(PlaceholderTab(f"{spec.description}: not built yet."), spec.title)
                continue
            tab = cls()
            self._task_tabs[spec.key] = tab
            self.tabs.addTab(_TabFrame(tab), spec.title)
            tab.status_message.connect(self._show_status)
        self.setCentralWidget(self.tabs)
        self._build_menus()
        self.fit_to_screen(app_settings.settings().value(app_settings.WINDOW_GEOMETRY))
        self.tabs.setCurrentIndex(int(app_settings.settings().value(app_settings.WINDOW_TAB,
                                                                     app_settings.WINDOW_TAB_DEFAULT) or 0))
        self.statusBar().showMessage("Ready. Choose a dataset folder or press Train to use the demo data.")

    def fit_to_screen(self, geometry=None):
        """Size the window for the screen it opens on: all of a small screen, most of a large one.

        A remembered geometry is used when it still fits that screen (a window
        saved on a big monitor never opens larger than a laptop's screen).
        """
        screen = self.screen() or QGuiApplication.primaryScreen()
        avail = screen.availableGeometry()
        if isinstance(geometry, QByteArray) and self.restoreGeometry(geometry) and avail.contains(self.frameGeometry()):
            self._fit_tabs(self.height())
            return
        if avail.width() <= DESIGN_SIZE[0] or avail.height() <= DESIGN_SIZE[1]:
            width, height = min(avail.width(), DESIGN_SIZE[0]), min(avail.height(), DESIGN_SIZE[1])
        else:  # use the room, leaving a margin of the desktop around the window
            width, height = int(avail.width() * 0.92), int(avail.height() * 0.92)
        # What the frame (title bar, borders) takes comes off the client size.
        frame_w = self.frameGeometry().width() - self.geometry().width()
        frame_h = self.frameGeometry().height() - self.geometry().height()
        self.resize(width - max(0, frame_w), height - max(0, frame_h))
        self.move(avail.x() + (avail.width() - width) // 2, avail.y() + (avail.height() - height) // 2)
        self._fit_tabs(self.height())

    def _fit_tabs(self, height):
        for tab in self.task_tabs():
            tab.fit_height(height)

    @property
    def digits(self):
        return self._task_tabs["digits"]

    def task_tab(self, key):
        return self._task_tabs[key]

    def task_tabs(self):
        return list(self._task_tabs.values())

    def show_task(self, key):
        """Bring a task's tab to the front."""
        for i in range(self.tabs.count()):
            if getattr(self.tabs.widget(i), "tab", None) is self._task_tabs[key]:
                self.tabs.setCurrentIndex(i)
                return

    def _show_status(self, text):
        self.statusBar().showMessage(text, 8000)

    def current_task_tab(self):
        return getattr(self.tabs.currentWidget(), "tab", None)

    def _build_menus(self):
        file_menu = self.menuBar().addMenu("&File")
        act = QAction("&Open dataset folder…", self, shortcut=QKeySequence.Open)
        act.triggered.connect(lambda: self._on_tab(lambda t: t.dataset_panel._browse()))
        file_menu.addAction(act)
        act = QAction("&Load model…", self, shortcut=QKeySequence("Ctrl+L"))
        act.triggered.connect(lambda: self._on_tab(lambda t: t.load_model_dialog()))
        file_menu.addAction(act)
        act = QAction("&Save model…", self, shortcut=QKeySequence.Save)
        act.triggered.connect(lambda: self._on_tab(lambda t: t.save_model_dialog()))
        file_menu.addAction(act)
        file_menu.addSeparator()
        act = QAction("&Quit", self, shortcut=QKeySequence.Quit)
        act.triggered.connect(self.close)
        file_menu.addAction(act)
        tools = self.menuBar().addMenu("&Tools")
        act = QAction("Feature &cache…", self)
        act.triggered.connect(self.show_cache)
        tools.addAction(act)
        act = QAction("Training &memory limit…", self)
        act.triggered.connect(self.ask_memory_limit)
        tools.addAction(act)
        help_menu = self.menuBar().addMenu("&Help")
        act = QAction("&About SpeechLab", self)
        act.triggered.connect(lambda: QMessageBox.about(
            self, "About SpeechLab",
            "<b>SpeechLab</b><br>Train and compare audio classifiers, watch them learn, then talk to them."
            "<br><br>Digits: NumPy MLP on MFCCs. Genres: Keras CNN. Speakers: linear models."))
        help_menu.addAction(act)

    def _on_tab(self, fn):
        tab = self.current_task_tab()
        if tab is not None:
            fn(tab)

    def ask_memory_limit(self):
        """The most memory a training process may use before it is ended with "out of memory"."""
        from PySide6.QtWidgets import QInputDialog

        current = (app_settings.training_memory_limit() or 0) / 2**30
        gb, ok = QInputDialog.getDouble(
            self, "Training memory limit",
            "A training runs in its own process; it is ended with an \"out of memory\" message\n"
            "when it uses more than this (GB, 0 = no limit):", current, 0.0, 4096.0, 1)
        if ok:
            app_settings.settings().setValue(app_settings.TRAINING_MEMORY_GB, gb)
            self.statusBar().showMessage(f"Training memory limit: {gb:.1f} GB" if gb else "No training memory limit",
                                         5000)

    def show_cache(self):
        from core.cache import FeatureCache

        cache = FeatureCache.default()
        size = cache.size_bytes() / 1e6
        box = QMessageBox(self)
        box.setWindowTitle("Feature cache")
        box.setText(f"Cached features: {size:.1f} MB\n{cache.path}\n\n"
                    "Clearing only makes the next extraction slower; nothing else is lost.")
        clear = box.addButton("Clear cache", QMessageBox.DestructiveRole)
        box.addButton(QMessageBox.Close)
        box.exec()
        if box.clickedButton() is clear:
            if any(t.busy for t in self.task_tabs()):
                QMessageBox.information(self, "Feature cache", "Stop the running training first.")
                return
            cache.clear()
            self.statusBar().showMessage("Feature cache cleared", 5000)

    def shutdown(self):
        """Save settings, stop every tab's work and wait for its threads (idempotent)."""
        if getattr(self, "_shut_down", False):
            return
        self._shut_down = True
        s = app_settings.settings()
        s.setValue(app_settings.WINDOW_GEOMETRY, self.saveGeometry())
        s.setValue(app_settings.WINDOW_TAB, self.tabs.currentIndex())
        for i in range(self.tabs.count()):
            self.tabs.widget(i).shutdown()
        from gui.workers import shutdown_all

        shutdown_all()  # and the threads of dialogs still open (Test my voice, clips, sweeps)

    def closeEvent(self, event):
        self.shutdown()
        event.accept()
