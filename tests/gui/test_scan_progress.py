"""A dataset scan shows how many files it has checked, and Stop ends it keeping the dataset already loaded
(a folder of 100,000 files takes seconds to check: the user sees it move and can give up)."""
from PySide6.QtCore import Qt

from tests.core import datagen
from tests.gui.test_digits_tab import HANG_MS, scan, status_text


def test_the_bar_counts_the_files_of_a_scan(make_tab, qtbot, tmp_path):
    tab = make_tab("digits")
    data = datagen.digits_nested(tmp_path / "digits")
    shown = []
    tab.progress_panel.bar.valueChanged.connect(lambda _: shown.append(tab.progress_panel.bar.format()))
    ds = scan(tab, qtbot, data)
    assert f"Scanning files {len(ds.items):,}/{len(ds.items):,}" in shown
    assert tab.progress_panel.bar.format() == f"Loaded {len(ds.items):,} clips"  # not the scan's last count


def many_clips(folder, n):
    """``n`` copies of one real 0.3 s WAV in AudioMNIST names (a scan checks every header: ~1 s of work)."""
    import io
    import wave

    import numpy as np

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
        w.writeframes((np.sin(np.arange(2400) * 0.2) * 8000).astype("<i2").tobytes())
    for s in range(10):
        (folder / f"{s:02d}").mkdir(parents=True)
    for i in range(n):
        (folder / f"{i % 10:02d}" / f"{i % 10}_{i % 10:02d}_{i}.wav").write_bytes(buf.getvalue())
    return folder


def test_stop_ends_a_scan_and_keeps_the_dataset_loaded(make_tab, qtbot, tmp_path):
    tab = make_tab("digits")
    demo = scan(tab, qtbot)  # the demo data
    bar = tab.progress_panel.bar
    tab.dataset_panel.folder_edit.setText(str(many_clips(tmp_path / "many", 20_000)))
    qtbot.keyClick(tab.dataset_panel.folder_edit, Qt.Key_Return)
    qtbot.waitUntil(lambda: bar.format().startswith("Scanning files") and bar.value() > 0, timeout=HANG_MS)
    assert tab.dataset_panel.summary.text() == "Scanning…"
    qtbot.mouseClick(tab.progress_panel.stop_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not tab.busy, timeout=HANG_MS)
    assert tab.dataset_panel.dataset is demo
    assert "demo data" in tab.dataset_panel.summary.text()  # the loaded dataset's description is back
    assert bar.format() == "Scan stopped"
    assert status_text(tab).startswith("Scan stopped; still using")
