"""The Explore view: look at the loaded dataset before (and after) training on it.

Left: the classes (clips, speakers, total and mean duration, mean RMS level) and a clip list (the
selected class's clips, the clips lassoed on the map, or the outliers) with Play. Middle: a 2-D map of
the features the features panel describes (PCA, or t-SNE), every clip a point coloured by class or by
speaker; outliers (clips far from their class) are ringed; clicking a point selects and plays that clip;
with "Drag: lasso" or "rectangle" a drag lists the clips it encloses. Right: the selected clip's
waveform and spectrogram.

All the computing is in :mod:`core.explore`, run in two WorkerRunners (the clips' durations and levels,
read when the view is first shown for a dataset; the map, on Compute map, with progress and Stop); audio
is decoded on a JobQueue. The GUI thread only draws.
"""
from __future__ import annotations

import functools
import html
import os

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPointF, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QComboBox, QHBoxLayout, QHeaderView, QLabel, QProgressBar, QPushButton,
    QSizePolicy, QSplitter, QStackedWidget, QTableView, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget,
)

from core.errors import NoAudioDevice
from core.explore import MAP_LIMIT, METHODS, OUTLIER_Z, class_table, points_in_polygon
from gui.widgets.audio_view import AudioView
from gui.workers import JobQueue, WorkerRunner

#: Okabe–Ito first (colour-blind safe), then more distinct hues; beyond these, colours repeat
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000",
           "#999999", "#882255", "#44AA99", "#117733", "#332288", "#AA4499", "#DDCC77", "#88CCEE",
           "#661100", "#6699CC", "#AA4466", "#4477AA"]
OUTLIER_COLOUR = "#D55E00"
OTHER_COLOUR = "#BBBBBB"  # a clip without a speaker, when colouring by speaker
DRAW_CHUNK = 2000  # map points added per turn of the event loop
LEGEND_MAX = 20  # more categories than this: no legend, colours repeat


# ------------------------------------------------------------------ jobs (plain data in and out)


def stats_job(paths):
    """Durations and levels of ``paths`` (core.explore.clip_stats), in a worker thread at the GUI's own
    priority: a thread at a lower one that holds Python's lock while the machine is busy keeps the window
    waiting until it is scheduled again (stalls of 250 ms seen at nice 10 with a load of 8 on 2 cores)."""

    def job(report, should_stop):
        from core.explore import clip_stats

        return clip_stats(paths, progress=functools.partial(report, "progress"), should_stop=should_stop)

    return job


#: seconds the map's process may take to answer Stop before it is ended: it has nothing to keep, and t-SNE
#: (one scikit-learn call of minutes on 2,000 clips) never looks at Stop
MAP_STOP_GRACE = 2.0


def map_job(ds, config, method, limit=MAP_LIMIT):
    """The 2-D map of ``ds`` in ``config``'s features, computed in a process of its own
    (core.explore.map_in_child): the window never waits for the extraction or the linear algebra."""
    from gui.workers import ChildJob

    items = ds.items
    return ChildJob("core.explore:map_in_child", str(ds.root), "\0".join(it.path for it in items),
                    "\0".join(it.label for it in items), "\0".join(it.speaker or "" for it in items),
                    config, method, limit, what="map", stop_grace=MAP_STOP_GRACE)


def _load_clip(path):
    from gui.widgets.recorder import load_for_display

    return load_for_display(path)


# ------------------------------------------------------------------ clip list


_DISPLAY, _TOOLTIP, _FOREGROUND, _ALIGN = (int(r.value) for r in (
    Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.ForegroundRole,
    Qt.ItemDataRole.TextAlignmentRole))
_RIGHT = Qt.AlignRight | Qt.AlignVCenter


class ClipListModel(QAbstractTableModel):
    """The clips listed on the left: any number of rows at no cost (Qt asks only for the visible ones;
    their texts are made once, when first asked for)."""

    HEADERS = ("Clip", "Class", "Speaker", "s", "dBFS", "z")

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows = []  # dicts: path, label, speaker, seconds, level, z
        self._texts = []
        self._outlier_colour = QColor(OUTLIER_COLOUR)

    def set_rows(self, rows):
        self.beginResetModel()
        self.rows = list(rows)
        self._texts = [None] * len(self.rows)
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()):  # noqa: N802 (Qt override)
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()):  # noqa: N802
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section, orientation, role=Qt.DisplayRole):  # noqa: N802
        if int(role) == _DISPLAY and orientation == Qt.Horizontal:
            return self.HEADERS[section]
        return None

    def _row_texts(self, r):
        texts = self._texts[r]
        if texts is None:
            row = self.rows[r]
            seconds, level, z = row.get("seconds"), row.get("level"), row.get("z")
            texts = self._texts[r] = (os.path.basename(row["path"]), row["label"], row.get("speaker") or "",
                                      "" if seconds is None else f"{seconds:.2f}",
                                      "" if level is None else f"{level:.1f}", "" if z is None else f"{z:.1f}")
        return texts

    def data(self, index, role=_DISPLAY):
        role = int(role)
        r = index.row()
        if role == _DISPLAY:
            return self._row_texts(r)[index.column()]
        if role == _ALIGN:
            return _RIGHT if index.column() >= 3 else None
        if role == _FOREGROUND:
            z = self.rows[r].get("z")
            return self._outlier_colour if z is not None and z > OUTLIER_Z else None
        if role == _TOOLTIP:
            row = self.rows[r]
            return row["path"] + ("" if row.get("z") is None else
                                  f"\ndistance to its class median: robust z {row['z']:.1f}")
        return None


# ------------------------------------------------------------------ the map


class MapViewBox(pg.ViewBox):
    """A ViewBox whose left drag pans (``mode = "pan"``), or draws a lasso or a rectangle.

    Signals: ``outline_changed(object)`` the outline so far, ``outline_finished(object)`` the
    finished outline, both (m, 2) arrays in data coordinates.
    """

    outline_changed = Signal(object)
    outline_finished = Signal(object)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.mode = "pan"
        self._outline = []

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802 (pyqtgraph override)
        if self.mode == "pan" or ev.button() != Qt.LeftButton:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        here = self.mapSceneToView(ev.scenePos())
        if self.mode == "rectangle":
            start = self.mapSceneToView(ev.buttonDownScenePos())
            self._outline = [(start.x(), start.y()), (here.x(), start.y()), (here.x(), here.y()),
                             (start.x(), here.y())]
        else:
            if ev.isStart():
                start = self.mapSceneToView(ev.buttonDownScenePos())
                self._outline = [(start.x(), start.y())]
            self._outline.append((here.x(), here.y()))
        outline = np.array(self._outline, dtype=float)
        if ev.isFinish():
            self.outline_finished.emit(outline)
        else:
            self.outline_changed.emit(outline)


class DataExplorer(QWidget):
    """The Explore lower tab of a task tab.

    ``config_provider()`` returns the features panel's FeatureConfig (called on the GUI thread when a
    map is computed). The tab calls :meth:`set_dataset` after a scan and :meth:`features_changed` when
    the features panel changes.

    Signals
    -------
    status_message(str) : a line for the tab's log
    """

    status_message = Signal(str)

    def __init__(self, parent=None, *, config_provider=None):
        super().__init__(parent)
        self.config_provider = config_provider
        self.dataset = None
        self.stats = None  # list of ClipStats, one per dataset item, once read
        self.map = None  # core.explore.FeatureMap
        self.phase = None  # what the map job is doing: "features", "outliers", "projection"
        self.current_path = None
        self.selection = []  # map indices of the last lasso
        self._stats_stale = False
        self._grown = False
        self._syncing = False  # the list follows a click on the map: not a user's choice of row
        self._play_when_loaded = None
        self._loaded = None  # (path, y, sr) of the clip shown
        self._item_of_path = None
        self._map_of_path = {}
        self._categories = []
        self._draw_pending = []  # (scatter item, positions) still to add
        self._draw_timer = QTimer(self)
        self._draw_timer.setInterval(0)
        self._draw_timer.setSingleShot(True)
        self._draw_timer.timeout.connect(self._draw_step)
        self.stats_runner = WorkerRunner(self)
        self.map_runner = WorkerRunner(self)
        self.jobs = JobQueue(self)
        self.jobs.done.connect(self._on_clip_loaded)
        self.jobs.failed.connect(self._on_clip_failed)
        self._build()

    # ------------------------------------------------------------ layout

    def _build(self):
        self.compute_button = QPushButton("Compute map")
        self.compute_button.setToolTip("Place every clip on a 2-D map of the features the Features panel describes\n"
                                       f"(at most {MAP_LIMIT:,} clips: a random sample of a bigger dataset)")
        self.compute_button.clicked.connect(self.compute_map)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)
        self.method_combo = QComboBox()
        for key, name in METHODS.items():
            self.method_combo.addItem(name, key)
        self.method_combo.setToolTip("PCA: fast, distances mean something. t-SNE (scikit-learn): neighbourhoods,\n"
                                     "slower (a minute or more for thousands of clips)")
        self.colour_combo = QComboBox()
        self.colour_combo.addItem("by class", "label")
        self.colour_combo.addItem("by speaker", "speaker")
        self.colour_combo.setToolTip("Colour the points by class or by speaker")
        self.colour_combo.currentIndexChanged.connect(self._recolour)
        self.drag_combo = QComboBox()
        self.drag_combo.addItem("move", "pan")
        self.drag_combo.addItem("lasso", "lasso")
        self.drag_combo.addItem("rectangle", "rectangle")
        self.drag_combo.setToolTip("What a drag on the map does: move it, or list the clips in a lasso or rectangle\n"
                                   "(the wheel zooms; right-drag always zooms)")
        self.drag_combo.currentIndexChanged.connect(self._on_drag_mode)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(120)
        self.progress.setTextVisible(True)
        self.progress.hide()
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.compute_button)
        top.addWidget(self.stop_button)
        top.addWidget(self.method_combo)
        top.addWidget(QLabel("Colour"))
        top.addWidget(self.colour_combo)
        top.addWidget(QLabel("Drag"))
        top.addWidget(self.drag_combo)
        top.addWidget(self.progress)
        top.addStretch(1)

        self.class_table = QTableWidget(0, 6)
        self.class_table.setHorizontalHeaderLabels(["Class", "Clips", "Spk", "Total s", "Mean s", "dBFS"])
        for c, tip in enumerate(["The class (its colour on the map)", "Clips", "Speakers", "Total duration (seconds)",
                                 "Mean duration (seconds)", "Mean RMS level of the clips (dB below full scale)"]):
            self.class_table.horizontalHeaderItem(c).setToolTip(tip)
        self.class_table.verticalHeader().setVisible(False)
        self.class_table.verticalHeader().setDefaultSectionSize(20)
        self.class_table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.class_table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.class_table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.class_table.horizontalHeader().setStretchLastSection(True)
        self.class_table.setToolTip("Per class: clips, speakers, total and mean duration, mean RMS level of the clips")
        self.class_table.itemSelectionChanged.connect(self._on_class_selected)

        self.list_combo = QComboBox()
        self.list_combo.addItem("Clips of the class", "class")
        self.list_combo.addItem("Selected on the map", "selection")
        self.list_combo.addItem("Outliers", "outliers")
        self.list_combo.setToolTip("Which clips the list shows: the class selected above, the clips lassoed on the\n"
                                   f"map, or the outliers (distance to their class median, robust z > {OUTLIER_Z:g})")
        self.list_combo.currentIndexChanged.connect(self._refresh_clip_list)
        self.list_count = QLabel()
        self.clip_model = ClipListModel(self)
        self.clip_view = QTableView()
        self.clip_view.setModel(self.clip_model)
        self.clip_view.verticalHeader().setVisible(False)
        self.clip_view.verticalHeader().setDefaultSectionSize(20)
        self.clip_view.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.clip_view.setSelectionMode(QAbstractItemView.SingleSelection)
        self.clip_view.horizontalHeader().setStretchLastSection(True)
        self.clip_view.selectionModel().currentRowChanged.connect(self._on_clip_row)
        self.clip_view.doubleClicked.connect(self.play_current)
        self.play_button = QPushButton("▶ Play")
        self.play_button.setEnabled(False)
        self.play_button.clicked.connect(self.play_current)
        self.autoplay = QCheckBox("Play on click")
        self.autoplay.setChecked(True)
        self.autoplay.setToolTip("Play a clip when its point on the map is clicked")
        list_row = QHBoxLayout()
        list_row.setContentsMargins(0, 0, 0, 0)
        list_row.addWidget(self.list_combo, 1)
        list_row.addWidget(self.list_count)
        play_row = QHBoxLayout()
        play_row.setContentsMargins(0, 0, 0, 0)
        play_row.addWidget(self.play_button)
        play_row.addWidget(self.autoplay)
        play_row.addStretch(1)
        clips = QWidget()
        clips_lay = QVBoxLayout(clips)
        clips_lay.setContentsMargins(0, 0, 0, 0)
        clips_lay.setSpacing(2)
        clips_lay.addLayout(list_row)
        clips_lay.addWidget(self.clip_view, 1)
        clips_lay.addLayout(play_row)
        tables = QSplitter(Qt.Vertical)
        tables.addWidget(self.class_table)
        tables.addWidget(clips)
        tables.setSizes([150, 200])
        tables.setChildrenCollapsible(False)

        background = self.palette().color(QPalette.ColorRole.Base)
        foreground = self.palette().color(QPalette.ColorRole.Text)
        self.view_box = MapViewBox()
        self.view_box.outline_changed.connect(self._on_outline_changed)
        self.view_box.outline_finished.connect(self._on_outline_finished)
        self.plot = pg.PlotWidget(viewBox=self.view_box, background=background)
        self.plot.setMenuEnabled(False)
        self.plot.setMinimumSize(200, 150)
        for axis in ("left", "bottom"):
            self.plot.getAxis(axis).setTextPen(foreground)
            self.plot.getAxis(axis).setPen(foreground)
            # a projection's coordinates mean nothing to read off: its axes keep their names ("PCA 1"), not
            # tick values, whose text was most of the map's first paint (benchmarks/explorer.py)
            self.plot.getAxis(axis).setStyle(showValues=False)
        self.rings = pg.ScatterPlotItem(size=13, pen=pg.mkPen(OUTLIER_COLOUR, width=1.6), brush=None)
        self.rings.setZValue(-1)
        # one item per colour: a single brush each is drawn and updated vectorised (a brush per point cost
        # pyqtgraph ~12 us a point on the GUI thread: 160 ms for 13,000 clips)
        self.scatters = [pg.ScatterPlotItem(size=6, pen=None, brush=pg.mkBrush(c)) for c in PALETTE + [OTHER_COLOUR]]
        self.marker = pg.ScatterPlotItem(size=16, pen=pg.mkPen(foreground, width=2.5), brush=None)
        self.marker.setZValue(2)
        self.outline = pg.PlotCurveItem(pen=pg.mkPen(foreground, width=1, style=Qt.DashLine))
        self.outline.setZValue(3)
        for item in (self.rings, *self.scatters, self.marker, self.outline):
            self.plot.addItem(item)
        for item in (self.rings, *self.scatters, self.marker):
            item.sigClicked.connect(self._on_points_clicked)
        self.legend = QLabel()  # under the map, never over its points
        self.legend.setWordWrap(True)
        self.legend.setTextFormat(Qt.RichText)
        self.legend.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        map_col = QWidget()
        map_lay = QVBoxLayout(map_col)
        map_lay.setContentsMargins(0, 0, 0, 0)
        map_lay.setSpacing(0)
        map_lay.addWidget(self.plot, 1)
        map_lay.addWidget(self.legend)
        self.map_hint = pg.TextItem("Compute map: every clip as a point", color=foreground, anchor=(0.5, 0.5))
        self.plot.addItem(self.map_hint)

        self.path_label = QLabel("Click a point or a clip")
        self.path_label.setWordWrap(True)
        self.path_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.path_label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.audio = AudioView()
        # until a clip is chosen, a line of text stands where its waveform and spectrogram will be: two empty
        # plots say nothing, and their first paint (~25 ms) would come on top of the map's when the view opens
        self.audio_hint = QLabel("The chosen clip's waveform and spectrogram appear here.")
        self.audio_hint.setWordWrap(True)
        self.audio_hint.setAlignment(Qt.AlignCenter)
        self.audio_hint.setEnabled(False)  # greyed, as a hint
        self.audio_stack = QStackedWidget()
        self.audio_stack.addWidget(self.audio_hint)
        self.audio_stack.addWidget(self.audio)
        audio_col = QWidget()
        audio_lay = QVBoxLayout(audio_col)
        audio_lay.setContentsMargins(0, 0, 0, 0)
        audio_lay.setSpacing(2)
        audio_lay.addWidget(self.path_label)
        audio_lay.addWidget(self.audio_stack, 1)

        split = QSplitter(Qt.Horizontal)
        split.addWidget(tables)
        split.addWidget(map_col)
        split.addWidget(audio_col)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 1)
        split.setStretchFactor(2, 0)
        split.setSizes([300, 480, 220])
        split.setChildrenCollapsible(False)
        self.split = split

        self.status = QLabel("Load a dataset to explore it.")
        self.status.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.setSpacing(3)
        lay.addLayout(top)
        lay.addWidget(split, 1)
        lay.addWidget(self.status)
        for runner in (self.stats_runner, self.map_runner):
            runner.busy_changed.connect(self._update_buttons)
        self.stats_runner.busy_changed.connect(self._on_stats_busy)
        self._update_buttons()

    # ------------------------------------------------------------ the tab's hooks

    def set_dataset(self, ds, *, rows=None):
        """A dataset was loaded: show its classes; durations and levels are read when the view is shown.
        ``rows``: its :func:`core.explore.class_table` (counts only) when the scan worked it out already."""
        self.stats_runner.stop()
        self.map_runner.stop()
        self.dataset = ds
        self.stats = None
        self._item_of_path = None  # path -> item index, made when a map point is first looked up
        self._clear_map()
        self._fill_class_table(rows)
        self._set_status(f"{len(ds.items):,} clips in {len(ds.labels)} classes"
                         + (f" by {len(ds.speakers)} speakers" if ds.has_speakers else "")
                         + ". Compute map to see them in the feature space.")
        speaker_index = self.colour_combo.findData("speaker")
        self.colour_combo.model().item(speaker_index).setEnabled(ds.has_speakers)
        if not ds.has_speakers and self.colour_combo.currentData() == "speaker":
            self.colour_combo.setCurrentIndex(self.colour_combo.findData("label"))
        self._stats_stale = True
        if self.isVisible():
            self._read_stats()
        if self.class_table.rowCount():
            self.class_table.selectRow(0)

    def features_changed(self):
        """The features panel changed: the map shows other features now."""
        if self.map is not None:
            self._set_status("The features changed: Compute map again to see them (the map shows "
                             f"{self.map.feature_name}).")

    def showEvent(self, event):  # noqa: N802 (Qt override)
        super().showEvent(event)
        if not self._grown:
            self._grown = True
            self._grow_into_splitter()  # before the first paint: growing later paints everything twice
        if self._stats_stale and self.dataset is not None:
            self._read_stats()

    #: on first showing, a view lower than this (px) asks the vertical splitter it sits in for more room
    ROOMY_HEIGHT = 330
    #: ... up to this height
    WANTED_HEIGHT = 470

    def _grow_into_splitter(self):
        """The tables, the map and the waveform need more room than a lower tab gets on a short screen (the
        curves above are for training): the first time the view is shown lower than ``ROOMY_HEIGHT``, take
        up to 70 % of the enclosing vertical splitter, once; the user's own dragging is kept after that.
        Where the view has room already (1280×800 and up) nothing moves: growing repaints the curves above
        in the same turn, 60–90 ms of the GUI thread against ~30 ms for the opening itself
        (``benchmarks/explorer.py --open-only``)."""
        child, parent = self, self.parentWidget()
        while parent is not None and not (isinstance(parent, QSplitter) and parent.orientation() == Qt.Vertical):
            child, parent = parent, parent.parentWidget()
        if parent is None:
            return
        sizes = parent.sizes()
        index = parent.indexOf(child)
        total = sum(sizes)
        if index < 0 or total <= 0 or sizes[index] >= self.ROOMY_HEIGHT:
            return
        wanted = min(int(0.7 * total), self.WANTED_HEIGHT)
        if wanted <= sizes[index]:
            return
        others = total - sizes[index]
        new = [wanted if i == index else max(1, round(s * (total - wanted) / others)) for i, s in enumerate(sizes)]
        parent.setSizes(new)

    @property
    def busy(self):
        return self.stats_runner.busy or self.map_runner.busy

    def shutdown(self):
        self.stats_runner.shutdown()
        self.map_runner.shutdown()
        self.jobs.shutdown()

    # ------------------------------------------------------------ per class

    def _read_stats(self):
        if self.stats_runner.busy:
            return  # the stopped job ends soon; the next show reads again
        self._stats_stale = False

        def connect(w):
            w.progress.connect(self._on_progress)
            w.finished.connect(self._on_stats)
            w.failed.connect(self._on_failed)

        self._stats_for = self.dataset
        self.stats_runner.start(stats_job(self.dataset.paths()), connect=connect)

    @Slot(bool)
    def _on_stats_busy(self, busy):
        if not busy and self._stats_stale and self.dataset is not None and self.isVisible():
            self._read_stats()  # a dataset came while the previous one's clips were still being read

    @Slot(object)
    def _on_stats(self, stats):
        if self._stats_for is not self.dataset:
            return  # read for a dataset no longer shown
        self.stats = stats
        self._fill_class_table()
        self._refresh_clip_list()
        self.progress.hide()

    def _fill_class_table(self, rows=None):
        selected = self._selected_class()
        rows = rows if rows is not None and self.stats is None else class_table(self.dataset.items, self.stats)
        table = self.class_table
        table.setUpdatesEnabled(False)  # one layout for the whole table, not one per cell
        table.blockSignals(True)
        table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            values = [row.label, str(row.count), str(row.speakers or "–"),
                      "" if row.total_seconds is None else f"{row.total_seconds:.1f}",
                      "" if row.mean_seconds is None else f"{row.mean_seconds:.2f}",
                      "" if row.level_dbfs is None else f"{row.level_dbfs:.1f}"]
            for c, value in enumerate(values):
                item = QTableWidgetItem(value)
                if c:
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                if row.unreadable:
                    item.setToolTip(f"{row.unreadable} clip(s) of this class could not be read")
                table.setItem(r, c, item)
        table.blockSignals(False)
        self._update_swatches()
        table.resizeColumnsToContents()
        table.setUpdatesEnabled(True)
        if selected is not None:
            for r, row in enumerate(rows):
                if row.label == selected:
                    table.selectRow(r)

    def class_rows(self):
        """The class table as plain values (label, clips): what the user reads."""
        t = self.class_table
        return [(t.item(r, 0).text(), int(t.item(r, 1).text())) for r in range(t.rowCount())]

    def _selected_class(self):
        rows = self.class_table.selectionModel().selectedRows() if self.class_table.selectionModel() else []
        return self.class_table.item(rows[0].row(), 0).text() if rows else None

    @Slot()
    def _on_class_selected(self):
        if self.list_combo.currentData() != "class":
            self.list_combo.setCurrentIndex(self.list_combo.findData("class"))  # refreshes the list
        else:
            self._refresh_clip_list()

    # ------------------------------------------------------------ the clip list

    def _clip_row(self, item_index=None, map_index=None):
        if item_index is None:
            item_index = self._item_index(self.map.paths[map_index])
        it = self.dataset.items[item_index]
        st = self.stats[item_index] if self.stats is not None else None
        if map_index is None and self.map is not None:
            map_index = self._map_of_path.get(it.path)
        return {"path": it.path, "label": it.label, "speaker": it.speaker,
                "seconds": st.duration if st is not None else None, "level": st.level_dbfs if st is not None else None,
                "z": float(self.map.scores[map_index]) if map_index is not None else None}

    def _refresh_clip_list(self, *_):
        if self.dataset is None:
            self.clip_model.set_rows([])
            return
        kind = self.list_combo.currentData()
        if kind == "class":
            label = self._selected_class()
            rows = [self._clip_row(i) for i, it in enumerate(self.dataset.items) if it.label == label]
            words = f"{len(rows):,} clip{'s' if len(rows) != 1 else ''}"
        elif self.map is None:
            rows, words = [], "compute the map first"
        elif kind == "selection":
            rows = [self._clip_row(map_index=int(j)) for j in self.selection]
            words = f"{len(rows):,} selected"
        else:
            order = np.flatnonzero(self.map.outliers)
            order = order[np.argsort(-self.map.scores[order])]
            rows = [self._clip_row(map_index=int(j)) for j in order]
            words = f"{len(rows):,} outlier{'s' if len(rows) != 1 else ''}"
        self.clip_model.set_rows(rows)
        self._size_clip_columns()
        self.list_count.setText(words)
        self._select_current_in_list()

    def _size_clip_columns(self):
        """Column widths from the longest texts (resizing to contents asks Qt for every cell's size: 0.5 s
        for a class of 1,300 clips)."""
        fm = self.clip_view.fontMetrics()
        rows = self.clip_model.rows[:5000]
        pad = 14
        longest = lambda texts, floor: max([floor, *texts], key=len)  # noqa: E731
        names = longest([os.path.basename(r["path"]) for r in rows], "Clip")
        classes = longest([r["label"] for r in rows], "Class")
        speakers = longest([r.get("speaker") or "" for r in rows], "Speaker")
        for c, text in enumerate((names, classes, speakers, "00.00", "-00.0", "00.0")):
            self.clip_view.setColumnWidth(c, min(320, fm.horizontalAdvance(text) + pad))

    def listed_paths(self):
        return [r["path"] for r in self.clip_model.rows]

    def _select_current_in_list(self):
        for r, row in enumerate(self.clip_model.rows):
            if row["path"] == self.current_path:
                self._syncing = True
                try:
                    self.clip_view.selectRow(r)
                finally:
                    self._syncing = False
                self.clip_view.scrollTo(self.clip_model.index(r, 0))
                return

    @Slot(QModelIndex, QModelIndex)
    def _on_clip_row(self, current, previous):
        if current.isValid() and not self._syncing:
            self.select_clip(self.clip_model.rows[current.row()]["path"], play=False)

    # ------------------------------------------------------------ one clip

    def select_clip(self, path, *, play=False):
        """Show ``path`` (waveform, spectrogram, where it is on the map); play it when ``play``."""
        self.current_path = path
        item = self._item_index(path)
        label = self.dataset.items[item].label if item is not None else "?"
        text = f"<b>{label}</b> · {path}"
        j = self._map_of_path.get(path)
        if j is not None:
            z = float(self.map.scores[j])
            text += f" · outlier z {z:.1f}" + (" (far from its class)" if self.map.outliers[j] else "")
            self.marker.setData(pos=self.map.points[j : j + 1])
        else:
            self.marker.setData([], [])
        self.path_label.setText(text)
        self.path_label.setToolTip(path)
        self._play_when_loaded = path if play else None
        if self._loaded is not None and self._loaded[0] == path:
            if play:
                self.play_current()
        else:
            self.jobs.submit(functools.partial(_load_clip, path), path)
        self._update_buttons()

    @Slot(object, object)
    def _on_clip_loaded(self, path, loaded):
        if path != self.current_path:
            return  # a later click asked for another clip
        y, sr = loaded["audio"]
        self._loaded = (path, y, sr)
        self.audio.show_view(loaded["view"])
        self.audio_stack.setCurrentWidget(self.audio)
        self._update_buttons()
        if self._play_when_loaded == path:
            self._play_when_loaded = None
            self.play_current()

    @Slot(object, str)
    def _on_clip_failed(self, path, message):
        if path == self.current_path:
            self._set_status(message, error=True)

    def play_current(self, *_):
        if self._loaded is None or self._loaded[0] != self.current_path:
            if self.current_path is not None:
                self._play_when_loaded = self.current_path
            return
        from core.recorder import play_audio

        _, y, sr = self._loaded
        try:
            play_audio(y, sr=sr)
        except NoAudioDevice as exc:
            self._set_status(str(exc), error=True)

    # ------------------------------------------------------------ the map

    def compute_map(self):
        """Compute the 2-D map of the dataset in the worker (the features panel's settings)."""
        if self.dataset is None:
            self._set_status("Load a dataset first.", error=True)
            return False
        if self.map_runner.busy:
            return False
        config = self.config_provider() if self.config_provider is not None else None
        if config is None:
            self._set_status("No feature settings to map.", error=True)
            return False
        method = self.method_combo.currentData()

        def connect(w):
            w.progress.connect(self._on_progress)
            w.reported.connect(self._on_event)
            w.finished.connect(self._on_map)
            w.failed.connect(self._on_failed)
            w.cancelled.connect(self._on_cancelled)

        self._map_for = self.dataset
        self.phase = "starting"
        self.map_runner.start(map_job(self.dataset, config, method), connect=connect)
        n = len(self.dataset.items)
        sample = f" (a random sample of {MAP_LIMIT:,})" if n > MAP_LIMIT else ""
        self._set_status(f"Computing the {METHODS[method]} map of {min(n, MAP_LIMIT):,} clips{sample} "
                         f"in {config.name} features…")
        return True

    def stop(self):
        if self.map_runner.busy:
            self.map_runner.stop()
            self._set_status("Stopping…")
        self.stats_runner.stop()

    @Slot(str, object)
    def _on_event(self, kind, value):
        if kind == "phase":
            value = value.get("name") if isinstance(value, dict) else value
            self.phase = value
            words = {"features": "extracting features", "outliers": "finding outliers",
                     "projection": "projecting to 2-D" + (" (t-SNE: can take minutes)"
                                                          if self.method_combo.currentData() == "tsne" else "")}
            self._set_status(f"Map: {words.get(value, value)}…")

    @Slot(object)
    def _on_progress(self, p):
        self.progress.setMaximum(max(1, p.total))
        self.progress.setValue(p.done)
        self.progress.setFormat(f"{p.done:,}/{p.total:,}")
        self.progress.setVisible(p.done < p.total)

    @Slot(object)
    def _on_map(self, fm):
        self.phase = None
        self.progress.hide()
        if self._map_for is not self.dataset:
            return
        self.map = fm
        self._map_of_path = {p: j for j, p in enumerate(fm.paths)}
        self.selection = []
        self.map_hint.hide()
        self.outline.setData([], [])
        self.rings.setData(pos=fm.points[fm.outliers])
        self._recolour()
        self.plot.getPlotItem().setLabels(bottom=f"{METHODS[fm.method]} 1", left=f"{METHODS[fm.method]} 2")
        lo, hi = fm.points.min(axis=0), fm.points.max(axis=0)
        self.view_box.setRange(xRange=(float(lo[0]), float(hi[0])), yRange=(float(lo[1]), float(hi[1])), padding=0.05)
        self._set_status(fm.describe() + f" ({fm.seconds:.1f} s)")
        for note in fm.notes:
            self.status_message.emit(note)
        self._refresh_clip_list()
        if self.current_path is not None:
            self.select_clip(self.current_path)

    @Slot()
    def _on_cancelled(self):
        self.phase = None
        self.progress.hide()
        self._set_status("Map stopped; the previous map (if any) is kept.")

    @Slot(str)
    def _on_failed(self, message):
        self.phase = None
        self.progress.hide()
        self._set_status(message, error=True)

    def _item_index(self, path):
        """The dataset's item index of ``path`` (None if not in it); the lookup table is made on first use."""
        if self.dataset is None:
            return None
        if self._item_of_path is None:
            self._item_of_path = {it.path: i for i, it in enumerate(self.dataset.items)}
        return self._item_of_path.get(path)

    def _clear_map(self):
        self.map = None
        self._map_of_path = {}
        self.selection = []
        self.current_path = None
        self._loaded = None
        self._draw_pending = []
        for item in (*self.scatters, self.rings, self.marker):
            item.setData([], [])
        self.outline.setData([], [])
        self.legend.clear()
        self.map_hint.show()
        self.path_label.setText("Click a point or a clip")

    def _recolour(self, *_):
        """Colour the points by class or by speaker (no recomputation)."""
        self._update_swatches()
        fm = self.map
        if fm is None:
            return
        kind = self.colour_combo.currentData()
        names = self.dataset.labels if kind == "label" else self.dataset.speakers
        code_of = {name: i % len(PALETTE) for i, name in enumerate(names)}
        values = np.asarray(fm.labels if kind == "label" else [s or "" for s in fm.speakers])
        present, inverse = np.unique(values, return_inverse=True)
        codes = np.array([code_of.get(v, len(PALETTE)) for v in present], dtype=np.int32)[inverse]
        # Added a few thousand points per turn of the event loop: pyqtgraph spends ~8 us a point on the GUI
        # thread taking them in (0.1 s for 13,000 at once on a busy machine).
        self._draw_pending = []
        for k, item in enumerate(self.scatters):
            item.hide()  # shown together once every point is in: one repaint, not one per chunk
            item.clear()
            pos = fm.points[codes == k]
            self._draw_pending += [(item, pos[i : i + DRAW_CHUNK]) for i in range(0, len(pos), DRAW_CHUNK)]
        self._draw_timer.start()
        values = set(present)
        shown = [n for n in names if n in values]
        what = "classes" if kind == "label" else "speakers"
        if len(shown) <= LEGEND_MAX:
            self.legend.setText(" &nbsp; ".join(f'<span style="color:{PALETTE[code_of[n]]}">&#9679;</span>&nbsp;'
                                                f"{html.escape(n)}" for n in shown))
        else:
            self.legend.setText(f"{len(shown)} {what}: colours repeat (click a point to see its clip)")
        self.legend.setToolTip(f"Colour = {'class' if kind == 'label' else 'speaker'}; "
                               "rings = outliers (far from their class)")

    def _update_swatches(self):
        """The class table's colour squares: the map's colours when it colours by class."""
        if self.dataset is None:
            return
        by_class = self.colour_combo.currentData() == "label"
        for r in range(self.class_table.rowCount()):
            item = self.class_table.item(r, 0)
            item.setData(Qt.DecorationRole, QColor(PALETTE[r % len(PALETTE)]) if by_class else None)

    def _draw_step(self):
        budget = DRAW_CHUNK
        while self._draw_pending and budget > 0:
            item, pos = self._draw_pending.pop(0)
            item.addPoints(pos=pos, brush=item.opts["brush"], pen=None, size=6)
            budget -= len(pos)
        if self._draw_pending:
            self._draw_timer.start()
        else:
            self._draw_timer.stop()
            for item in self.scatters:
                item.show()

    @property
    def drawing(self):
        """True while the map's points are still being added (a few thousand per turn of the event loop)."""
        return bool(self._draw_pending)

    def point_count(self):
        """Points drawn on the map (all of the map's once :attr:`drawing` is False)."""
        return 0 if self.map is None else sum(len(item.data) for item in self.scatters)

    def _on_points_clicked(self, item, points, ev=None):
        if self.map is None or not len(points):
            return
        # Points overlap: of those under the cursor (of any of the three items), the clip nearest the click
        # in pixels is the one meant.
        here = ev.pos() if ev is not None else points[0].pos()
        pw, ph = self.view_box.viewPixelSize()
        d = ((self.map.points[:, 0] - here.x()) / (pw or 1)) ** 2 + ((self.map.points[:, 1] - here.y()) / (ph or 1)) ** 2
        self.select_map_point(int(np.argmin(d)), play=self.autoplay.isChecked())

    def select_map_point(self, j, *, play=False):
        """Select map point ``j``: its class in the table, the clip in the list, shown (and played)."""
        path = self.map.paths[j]
        label = self.map.labels[j]
        self.current_path = path
        if self.list_combo.currentData() == "class" and self._selected_class() != label:
            for r in range(self.class_table.rowCount()):
                if self.class_table.item(r, 0).text() == label:
                    self.class_table.selectRow(r)  # refreshes the list, which selects the current clip
        else:
            self._select_current_in_list()
        self.select_clip(path, play=play)

    def point_scene_pos(self, j):
        """Where map point ``j`` is drawn, in the plot widget's coordinates (for tests and tools)."""
        x, y = self.map.points[j]
        scene = self.view_box.mapViewToScene(QPointF(float(x), float(y)))
        return self.plot.mapFromScene(scene)

    @Slot(int)
    def _on_drag_mode(self, _):
        self.view_box.mode = self.drag_combo.currentData()

    @Slot(object)
    def _on_outline_changed(self, outline):
        closed = np.vstack([outline, outline[:1]])
        self.outline.setData(closed[:, 0], closed[:, 1])

    @Slot(object)
    def _on_outline_finished(self, outline):
        self._on_outline_changed(outline)
        self.select_outline(outline)

    def select_outline(self, outline):
        """List the mapped clips inside ``outline`` ((m, 2) data coordinates): "Selected on the map"."""
        if self.map is None:
            return []
        self.selection = list(np.flatnonzero(points_in_polygon(self.map.points, outline)))
        index = self.list_combo.findData("selection")
        if self.list_combo.currentIndex() != index:
            self.list_combo.setCurrentIndex(index)
        else:
            self._refresh_clip_list()
        return self.selection

    # ------------------------------------------------------------ misc

    def _update_buttons(self, *_):
        mapping = self.map_runner.busy
        self.compute_button.setEnabled(not mapping and self.dataset is not None)
        self.stop_button.setEnabled(mapping or self.stats_runner.busy)
        self.method_combo.setEnabled(not mapping)
        self.play_button.setEnabled(self.current_path is not None)
        if not self.busy:
            self.progress.hide()

    def _set_status(self, text, *, error=False):
        self.status.setText(text)
        self.status.setToolTip(text)
        self.status.setStyleSheet("color: #B00020;" if error else "")
        self.status_message.emit(text)
