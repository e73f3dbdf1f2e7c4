"""The Explore tab of the Digits tab, driven as a user drives it: the demo data's classes, the map,
a click on a point, a lasso, Stop in the middle of a map. Every wait is on a condition."""
import numpy as np
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from tests.gui.test_digits_tab import scan

HANG_MS = 300_000


def open_explorer(tab, qtbot):
    tab.lower_tabs.setCurrentWidget(tab.explorer)
    qtbot.waitUntil(tab.explorer.isVisible)
    return tab.explorer


def compute_map(explorer, qtbot):
    qtbot.mouseClick(explorer.compute_button, Qt.LeftButton)
    assert explorer.map_runner.busy
    qtbot.waitUntil(lambda: not explorer.busy, timeout=HANG_MS)
    assert explorer.map is not None, explorer.status.text()
    qtbot.waitUntil(lambda: not explorer.drawing)  # the points go in a few thousand at a time
    return explorer.map


def most_isolated_point(explorer):
    """The map point farthest (in pixels) from every other one: a click there can mean only it."""
    pts = np.array([[explorer.point_scene_pos(j).x(), explorer.point_scene_pos(j).y()]
                    for j in range(len(explorer.map.paths))], dtype=float)
    d = np.sum((pts[:, None, :] - pts[None, :, :]) ** 2, axis=-1)
    np.fill_diagonal(d, np.inf)
    return int(np.argmax(d.min(axis=1)))


def drag(widget, points):
    """A left-button drag through ``points`` (widget coordinates), with real mouse events."""
    def send(kind, pos, buttons):
        p = QPointF(pos)
        event = QMouseEvent(kind, p, widget.mapToGlobal(p), Qt.LeftButton if kind != QEvent.MouseMove else
                            Qt.NoButton, buttons, Qt.NoModifier)
        QApplication.sendEvent(widget, event)

    send(QEvent.MouseButtonPress, points[0], Qt.LeftButton)
    for p in points[1:]:
        send(QEvent.MouseMove, p, Qt.LeftButton)
    send(QEvent.MouseButtonRelease, points[-1], Qt.NoButton)


def test_explore_tab_shows_the_demo_classes_maps_every_clip_and_a_click_selects_one(make_digits_tab, qtbot):
    tab = make_digits_tab()
    ds = scan(tab, qtbot)
    explorer = open_explorer(tab, qtbot)
    assert tab.lower_tabs.tabText(tab.lower_tabs.indexOf(explorer)) == "Explore"
    assert explorer.class_rows() == list(ds.class_counts().items())
    qtbot.waitUntil(lambda: explorer.stats is not None, timeout=HANG_MS)  # durations and levels read
    table = explorer.class_table
    assert all(float(table.item(r, 3).text()) > 0 and -80 < float(table.item(r, 5).text()) < 0
               for r in range(table.rowCount()))
    # the first class is selected and its clips are listed
    assert explorer.listed_paths() == [it.path for it in ds.items if it.label == ds.labels[0]]

    fm = compute_map(explorer, qtbot)
    assert explorer.point_count() == len(ds.items) == len(fm.paths)
    assert "PCA of mfcc-full features: 300 clips" in explorer.status.text()

    explorer.autoplay.setChecked(False)  # the click is tested, not the loudspeaker
    j = most_isolated_point(explorer)
    qtbot.mouseClick(explorer.plot.viewport(), Qt.LeftButton, pos=explorer.point_scene_pos(j))
    qtbot.waitUntil(lambda: explorer.current_path == fm.paths[j])
    assert fm.paths[j] in explorer.path_label.text()
    # the clip's class is selected and the clip is the list's current row
    assert explorer.listed_paths() == [it.path for it in ds.items if it.label == fm.labels[j]]
    rows = explorer.clip_view.selectionModel().selectedRows()
    assert [explorer.clip_model.rows[r.row()]["path"] for r in rows] == [fm.paths[j]]
    qtbot.waitUntil(lambda: explorer._loaded is not None and explorer._loaded[0] == fm.paths[j])
    assert explorer.audio.spectrogram_image.image is not None and explorer.play_button.isEnabled()

    # colour by speaker: the same points, other colours
    explorer.colour_combo.setCurrentIndex(explorer.colour_combo.findData("speaker"))
    qtbot.waitUntil(lambda: not explorer.drawing)
    assert explorer.point_count() == len(ds.items)
    assert all(f"&nbsp;{name}" in explorer.legend.text() for name in ds.speakers)

    # a rectangle dragged around the isolated point lists that clip, and only the clips inside
    explorer.drag_combo.setCurrentIndex(explorer.drag_combo.findData("rectangle"))
    centre = explorer.point_scene_pos(j)
    corners = [centre + d for d in (QPointF(-5, -5).toPoint(), QPointF(0, 0).toPoint(), QPointF(5, 5).toPoint())]
    drag(explorer.plot.viewport(), corners)
    qtbot.waitUntil(lambda: explorer.list_combo.currentData() == "selection")
    assert fm.paths[j] in explorer.listed_paths()
    assert len(explorer.listed_paths()) == len(explorer.selection) >= 1


def test_stop_during_the_map_leaves_the_tab_usable(make_digits_tab, qtbot, fsdd_dir):
    tab = make_digits_tab()
    ds = scan(tab, qtbot, fsdd_dir)
    explorer = open_explorer(tab, qtbot)
    explorer.method_combo.setCurrentIndex(explorer.method_combo.findData("tsne"))  # minutes for 2,000 clips
    qtbot.mouseClick(explorer.compute_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: explorer.phase == "projection", timeout=HANG_MS)
    assert explorer.stop_button.isEnabled()
    qtbot.mouseClick(explorer.stop_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not explorer.map_runner.busy, timeout=HANG_MS)
    assert "stopped" in explorer.status.text().lower()
    assert explorer.map is None and explorer.compute_button.isEnabled() and not tab.busy
    # the tab goes on: the PCA map of the same data, then a scan of other data clears it
    explorer.method_combo.setCurrentIndex(explorer.method_combo.findData("pca"))
    fm = compute_map(explorer, qtbot)
    assert explorer.point_count() == len(ds.items) == len(fm.paths)
    scan(tab, qtbot)
    assert explorer.map is None and explorer.point_count() == 0
    assert sum(n for _, n in explorer.class_rows()) == len(tab.dataset_panel.dataset.items)


def test_the_explorer_takes_room_from_the_curves_only_on_a_short_window(qtbot):
    """At 1280×800 the Explore tab has room already: opening it leaves the curves above as they are (growing
    repainted them in the same turn, the largest part of the opening's stall). At 1024×700 it is cramped and
    takes room from the curves, once."""
    from gui.main_window import MainWindow

    for (width, height), grows in (((1280, 800), False), ((1024, 700), True)):
        window = MainWindow()
        qtbot.addWidget(window)
        window.show()
        window.resize(width, height)
        tab = window.digits
        qtbot.waitUntil(lambda: window.size().height() == height and tab.plot.height() > 0, timeout=HANG_MS)
        QApplication.processEvents()  # the resize's layout requests
        before = tab.plot.height()
        explorer = open_explorer(tab, qtbot)
        QApplication.processEvents()
        if grows:
            qtbot.waitUntil(lambda: explorer.height() >= explorer.ROOMY_HEIGHT, timeout=10_000)
            assert tab.plot.height() < before
        else:
            assert explorer.height() >= explorer.ROOMY_HEIGHT - 40, explorer.height()  # the class table, map, clip
            assert tab.plot.height() == before
        window.close()
