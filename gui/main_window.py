"""The main window: one tab per task, a status bar, menus for models and the cache.

``MainWindow()`` builds every tab at once (scripts, tests). The app builds it
with ``deferred=True``: the window paints at once with its menus, tab bar and
a line per tab saying it is opening, before NumPy or pyqtgraph is imported,
and :meth:`MainWindow.build_tabs_later` then builds the tabs one per turn of
the event loop (the tab in view first), so the window repaints and answers
between them; ``ready`` is emitted when the last one is in.
"""
from __future__ import annotations

from PySide6.QtCore import QByteArray, QTimer, Signal
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QLabel, QMainWindow, QMessageBox, QScrollArea, QTabWidget

from gui import settings as app_settings
from gui.tabs import TAB_CLASSES, tab_class


#: The size the layout is designed for; smaller screens get all their room, larger ones most of it.
DESIGN_SIZE = (1280, 800)


class PlaceholderTab(QLabel):
    """What a tab shows until it is built."""

    def __init__(self, text):
        super().__init__(text)
        self.setWordWrap(True)
        # Centred through the style sheet: the window's first paint never touches ``Qt``, whose 119 enums
        # PySide6 creates on first use (22 ms, the largest part of the app's start-up over a bare window).
        self.setStyleSheet("color: palette(mid); font-size: 14pt; qproperty-alignment: AlignCenter;")

    def shutdown(self):
        pass


class _TabFrame(QScrollArea):
    """A task tab that scrolls when the screen is smaller than the tab can shrink to,
    so no tab's panels make the window larger than the screen. Until the tab is
    built it holds a placeholder (``tab`` is None)."""

    def __init__(self, key, placeholder):
        super().__init__()
        self.key = key
        self.tab = None
        self.setWidget(placeholder)
        self.setWidgetResizable(True)
        self.setFrameShape(QScrollArea.NoFrame)

    def set_tab(self, tab):
        self.tab = tab
        self.setWidget(tab)  # the placeholder is deleted

    def shutdown(self):
        if self.tab is not None:
            self.tab.shutdown()


class MainWindow(QMainWindow):
    #: every tab is built (emitted by :meth:`build_tabs_later` after the last one; at once otherwise)
    ready = Signal()

    def __init__(self, *, deferred=False):
        super().__init__()
        self.setWindowTitle("SpeechLab")
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self._task_tabs = {}  # task key -> TaskTab, in TAB_CLASSES order once all are built
        self._frames = {}  # task key -> _TabFrame
        for key, (title, _) in TAB_CLASSES.items():
            self._frames[key] = _TabFrame(key, PlaceholderTab(f"Opening {title}…"))
            self.tabs.addTab(self._frames[key], title)
        self.setCentralWidget(self.tabs)
        self._build_menus()
        self.fit_to_screen(app_settings.settings().value(app_settings.WINDOW_GEOMETRY))
        self.tabs.setCurrentIndex(int(app_settings.settings().value(app_settings.WINDOW_TAB,
                                                                     app_settings.WINDOW_TAB_DEFAULT) or 0))
        self._building = False
        if deferred:
            self.statusBar().showMessage("Starting…")
        else:
            while self._build_next_tab():
                pass

    def is_ready(self):
        """True once every tab is built."""
        return len(self._task_tabs) == len(self._frames)

    def build_tabs_later(self, prepare=None):
        """Build the tabs not built yet, one per turn of the event loop, the one in view first;
        ``prepare()`` runs first, in its own turn (say, importing and configuring pyqtgraph).
        ``ready`` is emitted after the last one. Idempotent."""
        if self._building or self.is_ready():
            return
        self._building = True

        def step():
            if getattr(self, "_shut_down", False):
                return
            if self._build_next_tab():
                QTimer.singleShot(0, self, step)
            else:
                self._building = False
                self.ready.emit()

        def first():
            if prepare is not None and not getattr(self, "_shut_down", False):
                prepare()
            QTimer.singleShot(0, self, step)

        QTimer.singleShot(0, self, first)

    def _build_next_tab(self):
        """Build one tab (the one in view if it is not built yet); False when none was left."""
        pending = [k for k in self._frames if k not in self._task_tabs]
        if not pending:
            return False
        current = getattr(self.tabs.currentWidget(), "key", None)
        key = current if current in pending else pending[0]
        if not self._task_tabs:
            from core.model_host import use_host

            use_host(True)  # Keras models predict in the model host: TensorFlow never loads in the GUI process
        tab = tab_class(key)()
        self._frames[key].set_tab(tab)
        tab.status_message.connect(self._show_status)
        tab.fit_height(self.height())
        self._task_tabs[key] = tab
        if self.is_ready():
            self._task_tabs = {k: self._task_tabs[k] for k in self._frames}  # the tabs' order
            self.statusBar().showMessage("Ready. Choose a dataset folder or press Train to use the demo data.")
        return True

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
        self.tabs.setCurrentWidget(self._frames[key])

    def _show_status(self, text):
        """A tab's message in the status bar; one too long for the window ends in "…" (the bar cut it off
        mid-word: "kept the weights of epoch 4" for epoch 41 on a 1024-pixel window), whole in the tooltip."""
        from PySide6.QtCore import Qt  # not before the first paint (its enums cost ~20 ms to make)

        bar = self.statusBar()
        room = bar.width() - 2 * bar.style().pixelMetric(bar.style().PixelMetric.PM_LayoutHorizontalSpacing) - 12
        shown = bar.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight, room) if room > 0 else text
        bar.setToolTip(text if shown != text else "")
        bar.showMessage(shown, 8000)

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
        from gui.dialogs.compute import add_menu  # Tools → Compute…: this machine or a Dask scheduler

        add_menu(self, tools)
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
