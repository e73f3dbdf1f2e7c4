"""After Add speaker the Speakers tab keeps its list of speakers in the same order with the same ticks (the new
voice joins in its sorted place) and counts speakers in plain words (issue 16: the list reordered, "1 speakers").

A real enrolment on the demo voices: takes saved, features extracted, the model retrained in the worker.
"""
from PySide6.QtCore import Qt

from core.datasets import sort_labels
from core.demo import demo_dataset

HANG_MS = 300_000


def test_enrolment_keeps_the_speakers_order_and_ticks(make_speakers_tab, qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("SPEECHLAB_DATA_DIR", str(tmp_path / "data"))  # the demo voices' enrolled takes go here
    tab = make_speakers_tab()
    qtbot.mouseClick(tab.dataset_panel.demo_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: tab.dataset_panel.dataset is not None and not tab.busy, timeout=HANG_MS)
    panel = tab.model_panel

    def listed():
        return [panel.unknown_list.item(i).text() for i in range(panel.unknown_list.count())]

    before = listed()
    assert before == sort_labels(before) and len(before) >= 3
    panel.set_unknown([before[1]])
    takes = sorted(demo_dataset("speakers").glob(f"*_{before[0]}_*"))[:5]
    assert tab.enrol("aaron", [], takes)
    qtbot.waitUntil(lambda: not tab.busy, timeout=HANG_MS)

    status = tab.progress_panel.status_text()
    assert status.startswith("Added speaker 'aaron'"), status
    assert listed() == sort_labels(before + ["aaron"])  # the others keep their order; the new one in its place
    assert panel.unknown_speakers() == [before[1]]  # the voice left out stays left out
    known = len(before)  # every listed voice but the one left out, and aaron
    assert f"retrained on {known} speakers" in status
    assert f"{len(before) + 1} speakers" in tab.dataset_panel.summary.text()
