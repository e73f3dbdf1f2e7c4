"""The sweep dialog from the Digits tab's All runs view: a two-by-two grid runs in processes,
records four runs, fills its table and plot; the report's Q2 table lists the report's numbers."""
import pytest
from PySide6.QtCore import Qt

HANG_MS = 300_000


@pytest.fixture(autouse=True)
def private_history(tmp_path, monkeypatch):
    monkeypatch.setenv("SPEECHLAB_DATA_DIR", str(tmp_path / "data"))


def test_a_two_by_two_sweep_from_the_gui_records_four_runs(make_digits_tab, qtbot):
    tab = make_digits_tab()
    tab.features_panel.set_config(tab.spec.feature_config("mfcc-mean"))
    tab.model_panel.set_params({"hidden_layer_sizes": (16,), "activation": "relu", "epochs": 3,
                                "early_stopping": False})
    qtbot.mouseClick(tab.history_view.sweep_button, Qt.LeftButton)
    dialog = tab.sweep
    qtbot.addWidget(dialog)
    dialog.set_grid([("hidden", "8;16,8"), ("activation", "relu;tanh")])
    qtbot.mouseClick(dialog.start_button, Qt.LeftButton)
    assert dialog.stop_button.isEnabled()
    qtbot.waitUntil(lambda: not dialog.runner.busy, timeout=HANG_MS)
    rows = dialog.table_rows()
    assert [r[:2] for r in rows] == [["8", "relu"], ["8", "tanh"], ["16,8", "relu"], ["16,8", "tanh"]]
    assert all(r[2].endswith("%") for r in rows) and dialog.overall.value() == 4
    assert sorted(tab.history_view.row_ids()) == sorted(int(r[3]) for r in rows)  # All runs shows them
    run = tab.history_view.history.get(int(rows[2][3]))
    assert run["model"]["params"]["hidden_layer_sizes"] == [16, 8] and run["feature_config"]["name"] == "mfcc-mean"
    assert run["model"]["params"]["epochs"] == 3  # the tab's other settings
    xs, ys = dialog.lines["activation=relu"].getData()
    assert list(xs) == [0, 1] and len(ys) == 2


def test_the_reports_q2_table_is_one_click_with_its_numbers(make_digits_tab, qtbot):
    tab = make_digits_tab()
    dialog = tab.sweep_dialog()
    qtbot.addWidget(dialog)
    dialog.report_combo.setCurrentIndex(1)
    specs = dialog.build_specs()
    assert len(specs) == 11 and specs[-1].reference == pytest.approx(0.6088)
    assert specs[6].title == "Full MFCC, 1 layer, ReLU" and specs[6].reference == pytest.approx(0.9612)


def test_a_closed_sweep_dialog_is_deleted_when_the_next_one_opens(make_digits_tab, qtbot):
    """A long session opens many sweeps: only the dialog in use stays alive under the tab."""
    from PySide6.QtCore import QCoreApplication, QEvent

    from gui.dialogs.sweep import SweepDialog

    tab = make_digits_tab()
    first = tab.sweep_dialog()
    first.close()
    gone = []
    first.destroyed.connect(lambda *_: gone.append(True))
    second = tab.sweep_dialog()
    qtbot.addWidget(second)
    QCoreApplication.sendPostedEvents(None, QEvent.DeferredDelete)
    qtbot.waitUntil(lambda: bool(gone), timeout=HANG_MS)
    assert tab.findChildren(SweepDialog) == [second]
    third_while_open = tab.sweep_dialog()  # the second is still open: it is kept
    qtbot.addWidget(third_while_open)
    assert set(tab.findChildren(SweepDialog)) == {second, third_while_open}


def test_each_run_shows_in_the_table_and_plot_as_it_ends(make_digits_tab, qtbot):
    """The runs' answers arrive one by one (as the sweep's worker reports them; fed here directly, no
    processes): each end fills its row and adds its point to its curve, the others still waiting."""
    tab = make_digits_tab()
    dialog = tab.sweep_dialog()
    qtbot.addWidget(dialog)
    dialog.set_grid([("hidden", "8;16,8"), ("activation", "relu;tanh")])
    dialog.specs, dialog.answers, dialog.running = dialog.build_specs(), {}, {}
    dialog._fill_table()
    assert [r[3] for r in dialog.table_rows()] == ["waiting"] * 4
    relu, tanh = dialog.lines["activation=relu"], dialog.lines["activation=tanh"]
    for index, accuracy in ((2, 0.75), (0, 0.5), (3, 0.9)):
        dialog._on_event("run_done", {"index": index, "accuracy": accuracy, "run_id": 10 + index, "seconds": 1.5})
    rows = dialog.table_rows()
    assert [r[2] for r in rows] == ["50.0 %", "—", "75.0 %", "90.0 %"]
    assert [r[3] for r in rows] == ["10", "waiting", "12", "13"] and dialog.overall.value() == 3
    assert dialog.lines["activation=relu"] is relu  # the same curves, new points
    assert list(relu.getData()[0]) == [0, 1] and list(relu.getData()[1]) == [50.0, 75.0]
    assert list(tanh.getData()[0]) == [1] and list(tanh.getData()[1]) == [90.0]
    # the accuracy axis spans the points (50-90 %), not 0-100, so close runs are told apart
    low, high = dialog.plot.getViewBox().viewRange()[1]
    assert 40 <= low <= 50 and 90 < high <= 95
    right = dialog.table.item(0, 2).textAlignment() & Qt.AlignRight
    assert right and dialog.table.item(3, 3).textAlignment() & Qt.AlignRight  # "13" came in place of "waiting"
    dialog._on_event("run_done", {"index": 1, "accuracy": None, "error": "out of memory", "seconds": 2.0})
    assert dialog.table_rows()[1][2:4] == ["—", "out of memory"]
    assert not dialog.table.item(1, 3).textAlignment() & Qt.AlignRight  # words read from the left
    assert list(tanh.getData()[1]) == [90.0]


def test_the_dialog_fits_a_small_screen(make_digits_tab, qtbot):
    """On a 1024 × 700 laptop the dialog opened 1060 px wide, wider than the screen."""
    tab = make_digits_tab()
    dialog = tab.sweep_dialog()
    qtbot.addWidget(dialog)
    room = (tab.screen() or dialog.screen()).availableGeometry()
    assert dialog.width() <= max(room.width() - 24, dialog.minimumSizeHint().width())
    assert dialog.height() <= max(room.height() - 48, dialog.minimumSizeHint().height())
