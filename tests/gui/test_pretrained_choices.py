"""The pretrained-encoder choices in the tabs: they bring their features, and without their weights
the app still starts with the choices greyed out and the reason in their tooltip."""
import pytest
from PySide6.QtCore import Qt

from core import encoders


def _item(combo, data):
    return combo.model().item(combo.findData(data))


def test_choosing_the_voice_encoder_brings_its_features(make_speakers_tab):
    tab = make_speakers_tab()
    panel = tab.model_panel
    panel.model_combo.setCurrentIndex(panel.model_combo.findData("voice-cosine"))
    assert tab.features_panel.config().name == "voice-embedding"
    assert "GE2E" in tab.features_panel.summary_text()
    page = panel.pages.page("voice-cosine")  # its own page: cosine to centroids has nothing to iterate or validate
    assert page.isVisibleTo(panel) and page.field("max_iter") is None and page.field("validation_fraction") is None
    request = tab.train_request()
    assert (request.model, request.features) == ("voice-cosine", "voice-embedding")
    panel.model_combo.setCurrentIndex(panel.model_combo.findData("logreg"))
    assert panel.pages.page("logreg").field("max_iter").isVisibleTo(panel) and not page.isVisibleTo(panel)


def test_the_voice_encoder_beside_mfcc_brings_both_and_its_note_shows_whole_under_its_fields(qtbot):
    """On a 1024×700 window the Speakers settings column is crowded: the model's note (five lines) once lost
    its first and last lines to the rows around it, and on a roomy page it floated far below the fields."""
    from gui.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    window.resize(1024, 700)
    window.show_task("speakers")
    qtbot.waitUntil(lambda: window.size().height() == 700 and window.task_tab("speakers").model_panel.width() > 0,
                    timeout=60_000)
    tab = window.task_tab("speakers")
    panel = tab.model_panel
    panel.model_combo.setCurrentIndex(panel.model_combo.findData("voice-mfcc-logreg"))
    assert tab.features_panel.config().name == "voice-mfcc"
    assert "GE2E" in tab.features_panel.summary_text() and "20 MFCCs" in tab.features_panel.summary_text()
    request = tab.train_request()
    assert (request.model, request.features) == ("voice-mfcc-logreg", "voice-mfcc")
    page = panel.pages.page("voice-mfcc-logreg")
    note = page.note
    fields = [page.field(name) for name in ("C", "solver", "max_iter", "validation_fraction", "standardize")]
    assert None not in fields

    def whole_and_close():
        words = note.fontMetrics().boundingRect(0, 0, note.contentsRect().width(), 10_000, Qt.TextWordWrap,
                                                note.text())
        gap = note.geometry().top() - max(f.geometry().bottom() for f in fields)
        return note.isVisible() and note.contentsRect().height() >= words.height() and 0 <= gap <= 24

    qtbot.waitUntil(whole_and_close, timeout=30_000)  # a layout settles in a few events
    assert note.fontMetrics().boundingRect(0, 0, note.contentsRect().width(), 10_000, Qt.TextWordWrap,
                                           note.text()).height() > 3 * note.fontMetrics().height()  # wrapped


def test_choosing_the_music_encoder_brings_its_features(make_genres_tab):
    tab = make_genres_tab()
    tab.model_panel.choice.setCurrentIndex(tab.model_panel.choice.findData("encoder-logreg"))
    assert tab.features_panel.config().name == "music-embedding"
    page = tab.model_panel.pages.page("encoder-logreg")
    assert page.isVisibleTo(tab.model_panel) and "musicnn" in page.note.text()


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    monkeypatch.setattr(encoders, "WEIGHTS_DIR", tmp_path)  # a machine where set-up did not finish
    encoders.load_weights.cache_clear()
    yield
    encoders.load_weights.cache_clear()


def test_without_weights_the_choices_are_greyed_out_with_the_reason(no_weights, make_speakers_tab,
                                                                   make_genres_tab):
    speakers, genres = make_speakers_tab(), make_genres_tab()
    for combo, key, feature_combo, feature in (
            (speakers.model_panel.model_combo, "voice-cosine", speakers.features_panel.name_combo, "voice-embedding"),
            (speakers.model_panel.model_combo, "voice-mfcc-logreg", speakers.features_panel.name_combo, "voice-mfcc"),
            (genres.model_panel.choice, "encoder-logreg", genres.features_panel.name_combo, "music-embedding")):
        for item in (_item(combo, key), _item(feature_combo, feature)):
            assert not item.isEnabled()
            assert "Not available" in item.toolTip() and ".npz" in item.toolTip()
        assert _item(combo, combo.currentData()).isEnabled() and combo.currentData() != key  # a usable default
    assert genres.model_panel.key == "cnn" and genres.features_panel.config().name == "logmel-128"
