"""The dataset line says what is there in plain words: no "label: Digit" for music, no "1 speakers"."""
from gui.panels import _plural


def test_genres_offer_no_label_choice_and_the_other_tabs_do(make_tab):
    genres, digits = make_tab("genres"), make_tab("digits")
    assert not genres.dataset_panel.label_combo.isVisible() and not genres.dataset_panel.label_label.isVisible()
    assert digits.dataset_panel.label_combo.isVisible()


def test_counts_are_singular_for_one():
    assert f"1 {_plural(1, 'speaker')}, 2 {_plural(2, 'speaker')}" == "1 speaker, 2 speakers"
    assert _plural(1, "class", "classes") == "class" and _plural(10, "class", "classes") == "classes"
