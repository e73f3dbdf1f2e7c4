"""Error analysis: click a confusion-matrix cell in the Digits tab → the test clips behind it,
each with its waveform, spectrogram and the model's probabilities (real training, real files)."""
import pytest
from PySide6.QtCore import Qt

HANG_MS = 180_000


@pytest.fixture(autouse=True)
def private_history(tmp_path, monkeypatch):
    monkeypatch.setenv("SPEECHLAB_DATA_DIR", str(tmp_path / "data"))


def test_clicking_a_cell_lists_its_clips_with_audio_and_probabilities(make_digits_tab, qtbot):
    tab = make_digits_tab()
    # a deliberately weak model (two epochs), so some cells off the diagonal hold mistakes
    tab.model_panel.set_params({"hidden_layer_sizes": (8,), "activation": "relu", "epochs": 2,
                                "early_stopping": False})
    qtbot.mouseClick(tab.progress_panel.train_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not tab.busy and tab.last_result is not None, timeout=HANG_MS)
    files = tab.last_result.metrics["test_files"]
    matrix = tab.results.confusion_view()
    labels = matrix.labels()
    counts = matrix.matrix()
    wrong = [(r, c) for r in range(len(labels)) for c in range(len(labels)) if r != c and counts[r, c]]
    row, col = wrong[0] if wrong else (0, 0)

    tab.lower_tabs.setCurrentWidget(tab.results)
    qtbot.mouseClick(matrix._canvas, Qt.LeftButton, pos=matrix._canvas.mapFrom(matrix, matrix.cell_center(row, col).toPoint()))
    dialog = tab.clips_dialog
    expected = [f["path"] for f in files if f["label"] == labels[row] and f["predicted"] == labels[col]]
    assert len(expected) == counts[row, col] > 0
    assert [c["path"] for c in dialog.clips] == expected
    assert f"True {labels[row]} → predicted {labels[col]}" in dialog.header.text()

    qtbot.waitUntil(lambda: len(dialog.loaded) == len(expected), timeout=HANG_MS)
    dialog.list.setCurrentRow(0)
    rows = dialog.probability_rows()
    assert len(rows) == len(labels)
    top_label = rows[0][0].replace(" (true)", "")
    assert top_label == labels[col]  # the model's top class is the predicted one
    assert sum(float(p.rstrip(" %")) for _, p in rows) == pytest.approx(100, abs=0.6)
    assert any(label.endswith("(true)") for label, _ in rows)
    xs, ys = dialog.audio.waveform_curve.getData()
    assert len(ys) > 1000  # the clip's samples are drawn
    assert dialog.play_button.isEnabled() and dialog.folder_button.isEnabled()
    dialog.close()


def test_a_model_loaded_from_a_file_says_it_keeps_no_clips(make_digits_tab, qtbot, tmp_path, load_model):
    tab = make_digits_tab()
    tab.model_panel.set_params({"hidden_layer_sizes": (8,), "activation": "relu", "epochs": 2})
    qtbot.mouseClick(tab.progress_panel.train_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not tab.busy and tab.last_result is not None, timeout=HANG_MS)
    path = tmp_path / "m.slm"
    assert tab.save_model(path) and load_model(tab, path)
    assert tab.show_cell_clips(0, 0) is None
    assert "keep no test clips" in tab.progress_panel.status_text()
