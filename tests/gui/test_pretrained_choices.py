"""The pretrained-encoder choices in the tabs: they bring their features, and without their weights
the app still starts with the choices greyed out and the reason in their tooltip."""
import pytest

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
            (genres.model_panel.choice, "encoder-logreg", genres.features_panel.name_combo, "music-embedding")):
        for item in (_item(combo, key), _item(feature_combo, feature)):
            assert not item.isEnabled()
            assert "Not available" in item.toolTip() and ".npz" in item.toolTip()
        assert _item(combo, combo.currentData()).isEnabled() and combo.currentData() != key  # a usable default
    assert genres.model_panel.key == "cnn" and genres.features_panel.config().name == "logmel-128"
