"""GUI test setup: private settings, task tabs that always stop their threads, answering message boxes."""
import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox


@pytest.fixture(autouse=True, scope="session")
def _gc_on_gui_thread(qapp):
    """Garbage collection on the GUI thread only, as in the app (see gui/workers.py): from the
    first GUI test on, a worker thread never runs the collector and so never frees a QObject."""
    from gui.workers import ensure_gui_gc

    ensure_gui_gc()


@pytest.fixture(autouse=True)
def settings_file(tmp_path, monkeypatch):
    """Each GUI test starts from its own empty settings file; the user's settings are never read or written."""
    path = tmp_path / "speechlab-settings.ini"
    monkeypatch.setenv("SPEECHLAB_SETTINGS", str(path))
    return path


@pytest.fixture
def make_tab(qtbot):
    """``make_tab("digits"|"genres"|"speakers")`` builds a task tab, shown at 1280×800 as a user sees it;
    each is shut down, its threads joined, at teardown."""
    from gui.tabs import tab_class

    tabs = []

    def make(key):
        tab = tab_class(key)()
        qtbot.addWidget(tab)
        tab.resize(1280, 800)
        tab.show()
        tabs.append(tab)
        return tab

    yield make
    for tab in tabs:
        tab.shutdown()


@pytest.fixture
def load_model(qtbot):
    """``load_model(tab, path) -> bool``: the user loads a model file; the tab reads it in the background,
    so this waits for ``model_load_finished`` (and the tab to be idle) and returns whether it was loaded."""
    def load(tab, path):
        with qtbot.waitSignal(tab.model_load_finished, timeout=120000) as blocker:
            assert tab.load_model(path)
        qtbot.waitUntil(lambda: not tab.busy, timeout=60000)
        return blocker.args[0]

    return load


@pytest.fixture
def make_digits_tab(make_tab):
    return lambda: make_tab("digits")


@pytest.fixture
def make_genres_tab(make_tab):
    return lambda: make_tab("genres")


@pytest.fixture
def make_speakers_tab(make_tab):
    return lambda: make_tab("speakers")


@pytest.fixture
def message_boxes():
    """Answer the next modal message box the way a user would.

    ``answer(button_text=None)`` must be called *before* the code that opens
    the box: a timer polls for the box once the modal loop runs, records its
    text in the list ``answer`` returns and clicks the named button (default:
    the box's default or only button).
    """
    def answer(button_text=None):
        seen, tries = [], [0]

        def poll():
            boxes = [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()]
            if not boxes:
                tries[0] += 1
                if tries[0] < 1000:  # a box that never opens fails the caller's assertion, not a later test
                    QTimer.singleShot(20, poll)
                return
            box = boxes[0]
            seen.append(box.text())
            buttons = box.buttons()
            if button_text is None:
                button = box.defaultButton() or buttons[0]
            else:
                button = next(b for b in buttons if b.text() == button_text)
            button.click()

        QTimer.singleShot(0, poll)
        return seen

    return answer
