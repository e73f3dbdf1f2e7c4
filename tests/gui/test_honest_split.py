"""The Digits tab says when a random split shares voices with training, and compares it with voices never heard."""
import pytest
from PySide6.QtCore import Qt

from gui.widgets.honest_split import HonestSplit

HANG_MS = 180_000
SMALL = {"hidden_layer_sizes": (32,), "activation": "relu", "epochs": 8}


def honest_of(tab):
    """The tab's strip (attached by the Digits tab itself, or here for a tab that does not yet)."""
    return getattr(tab, "honest", None) or HonestSplit(tab)


@pytest.fixture
def demo_tab(make_digits_tab, qtbot):
    tab = make_digits_tab()
    qtbot.mouseClick(tab.dataset_panel.demo_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: tab.dataset_panel.dataset is not None and not tab.busy, timeout=HANG_MS)
    tab.model_panel.set_params(SMALL)
    return tab


def test_random_split_says_its_test_voices_are_in_training(demo_tab, qtbot):
    honest = honest_of(demo_tab)
    qtbot.mouseClick(demo_tab.progress_panel.train_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not demo_tab.busy, timeout=HANG_MS)
    assert demo_tab.last_result is not None
    n_speakers = len(demo_tab.dataset_panel.dataset.speakers)
    text = honest.view.caveat.text()
    assert f"{n_speakers} of {n_speakers} test speakers are also in training" in text
    assert "memorised" in text


def test_one_click_shows_both_numbers(demo_tab, qtbot):
    honest = honest_of(demo_tab)
    assert honest.view.isVisible()
    qtbot.mouseClick(honest.view.compare_button, Qt.LeftButton)
    assert demo_tab.busy
    assert not demo_tab.progress_panel.train_button.isEnabled()  # one job at a time
    qtbot.waitUntil(lambda: not demo_tab.busy, timeout=HANG_MS)
    comp = honest.comparison
    assert comp is not None
    ds = demo_tab.dataset_panel.dataset
    # every speaker tested exactly once, never trained on in its own fold
    assert sorted(s for f in comp.folds for s in f) == ds.speakers
    for fold, result in zip(comp.folds, comp.fold_results):
        tested = {it.speaker for it in ds.items if it.path in {f["path"] for f in result.metrics["test_files"]}}
        assert tested == set(fold)
    text = honest.view.numbers.text()
    assert honest.view.numbers.isVisible()
    assert f"{comp.random_accuracy:.1%}" in text and f"{comp.speaker_accuracy:.1%}" in text
    assert comp.random_accuracy > 0.3 and comp.speaker_accuracy > 0.2  # above chance (0.1): the pipeline works
    # each voice on its own, worst first, adding up to the pooled number
    assert sorted(comp.per_speaker) == ds.speakers
    accs = [a for a, _ in comp.per_speaker.values()]
    assert accs == sorted(accs)
    n = sum(c for _, c in comp.per_speaker.values())
    assert abs(sum(a * c for a, c in comp.per_speaker.values()) / n - comp.speaker_accuracy) < 1e-9
    worst, (acc, _) = next(iter(comp.per_speaker.items()))
    assert f"Each voice never heard: {worst} {acc:.0%}" in text
    # kept in All runs: the random split's model, both numbers and every voice never heard
    runs = demo_tab.history_view
    qtbot.waitUntil(lambda: comp.run_id in runs.row_ids(), timeout=HANG_MS)
    run = runs.history.get(comp.run_id)
    assert run["source"] == "compare" and run["compare"]["speaker_accuracy"] == comp.speaker_accuracy
    assert run["compare"]["per_speaker"][worst] == {"accuracy": acc, "clips": comp.per_speaker[worst][1]}
    assert run["metrics"]["accuracy"] == comp.random_accuracy
    summary = next(r for r in runs.history.runs("digits") if r["id"] == comp.run_id)
    assert summary["split"].startswith(f"same vs new voices: new voices {comp.speaker_accuracy:.1%}")
    assert "Voices never heard" in demo_tab.progress_panel.status_text() or "never heard" in demo_tab.log.toPlainText()


def test_stop_during_comparison_leaves_the_tab_usable(demo_tab, qtbot):
    honest = honest_of(demo_tab)
    qtbot.mouseClick(honest.view.compare_button, Qt.LeftButton)
    qtbot.mouseClick(demo_tab.progress_panel.stop_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not demo_tab.busy, timeout=HANG_MS)
    assert demo_tab.progress_panel.train_button.isEnabled()
    assert "Comparison stopped" in demo_tab.log.toPlainText()
    assert honest.comparison is None  # no half comparison is shown as if it were whole


def test_on_a_1024x700_window_the_strip_shows_every_line_of_its_text(qtbot):
    """A short screen: the pages below the curves scroll rather than claim their full height (the "Not a
    digit" page alone once needed ~380 px), so the strip under the curves gets the room its text needs."""
    from gui.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    window.resize(1024, 700)
    qtbot.waitUntil(lambda: window.size().height() == 700 and window.digits.honest.view.width() > 0, timeout=HANG_MS)
    view = window.digits.honest.view
    view.show_random(0.983, shared=list(range(10)), test_speakers=list(range(10)))
    splitter = view.parentWidget()

    def shown_whole():
        need = view.layout().totalHeightForWidth(view.width())
        return splitter.sizes()[splitter.indexOf(view)] >= need

    qtbot.waitUntil(shown_whole, timeout=30_000)  # a layout settles in a few events
    assert "memorised voices" in view.caveat.text()
    lower = window.digits.lower_tabs
    assert lower.minimumSizeHint().height() < 350, [(lower.tabText(i), lower.widget(i).minimumSizeHint().height())
                                                    for i in range(lower.count())]
