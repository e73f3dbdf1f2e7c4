"""Background threads never outlive their owners, never freeze the window, never hold a widget.

The deadlock these guard against (issue "never freeze"): Python's cyclic garbage
collector ran in a training thread, freed a QObject there, and Qt's deletion
waited for the GIL while the GUI thread waited for Qt's mutex.
"""
import gc
import os
import subprocess
import sys
import textwrap

import pytest
from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QLabel

from tests.conftest import ROOT


class _Results(QObject):
    """A GUI-thread receiver: a worker's signal connected to its slot is delivered on the GUI thread."""

    def __init__(self):
        super().__init__()
        self.values = []

    @Slot(object)
    def add(self, value):
        self.values.append(value)


def _run_script(tmp_path, body):
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(body))
    # the parent's platform (offscreen unless a display was chosen, e.g. xcb under Xvfb with QT_FATAL_WARNINGS=1)
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen"), "PYTHONPATH": str(ROOT),
           "SPEECHLAB_SETTINGS": str(tmp_path / "settings.ini")}
    # 240 s guards against a hang (the bug this file tests); it is not a performance limit.
    return subprocess.run([sys.executable, "-X", "faulthandler", str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=240)


def test_automatic_garbage_collection_is_off_once_a_background_runner_exists(qapp):
    from gui.workers import WorkerRunner

    WorkerRunner().shutdown()
    assert not gc.isenabled(), "a worker thread could run the collector and free a QObject there"


def test_a_job_that_captures_a_widget_is_refused_with_a_message_naming_it(qapp, qtbot):
    from gui.workers import JobQueue, WorkerRunner

    label = QLabel("a widget")
    qtbot.addWidget(label)
    runner = WorkerRunner()
    queue = JobQueue()
    try:
        with pytest.raises(TypeError, match="QLabel"):
            runner.start(lambda report, should_stop: label.text())
        with pytest.raises(TypeError, match="QLabel"):
            queue.submit(lambda: label.text())

        def nested(report, should_stop):  # the widget hides one closure deeper
            return helper()

        def helper():
            return label.text()

        with pytest.raises(TypeError, match="QLabel"):
            runner.start(nested)
        assert not runner.busy
        text = label.text()  # plain data is fine
        got = _Results()
        runner.start(lambda report, should_stop: text.upper(), connect=lambda w: w.finished.connect(got.add))
        qtbot.waitUntil(lambda: bool(got.values), timeout=10000)
        assert got.values == ["A WIDGET"]
    finally:
        runner.shutdown()
        queue.shutdown()


def test_a_finished_workers_thread_is_released_only_once_it_has_ended(qapp, qtbot):
    from gui.workers import WorkerRunner

    runner = WorkerRunner()
    try:
        for i in range(20):  # start/finish cycles back to back, as a busy tab does
            worker = runner.start(lambda report, should_stop, i=i: i * 2)
            with qtbot.waitSignal(runner.busy_changed, timeout=10000, check_params_cb=lambda busy: not busy):
                pass
        qtbot.waitUntil(lambda: not runner._ending, timeout=10000)
        assert worker is not None
    finally:
        assert runner.shutdown()


def test_a_finished_job_and_what_it_captured_are_freed(qapp, qtbot):
    """A worker that stayed alive kept its job and the job's model: the soak's ~9 MB per round (a trained model
    captured by every "Evaluate on dataset" job)."""
    import weakref

    from gui.workers import Worker, WorkerRunner

    class Model:  # stands for a trained model the job captured
        pass

    runner = WorkerRunner()
    captured = []
    try:
        for _ in range(3):
            model = Model()
            captured.append(weakref.ref(model))
            runner.start(lambda report, should_stop, model=model: id(model))
            del model
            with qtbot.waitSignal(runner.busy_changed, timeout=10000, check_params_cb=lambda busy: not busy):
                pass
        qtbot.waitUntil(lambda: not runner._ending, timeout=10000)
        gc.collect()
        assert [ref() for ref in captured] == [None, None, None]
        assert not [o for o in gc.get_objects() if type(o) is Worker]  # type(): never dereferences a weak proxy
    finally:
        assert runner.shutdown()


def test_no_signal_hides_a_qt_method_of_its_class():
    """A Signal named like a Qt virtual (a worker's ``event`` did) replaces it for every QEvent Qt delivers."""
    import importlib
    import inspect
    import pkgutil

    from PySide6.QtCore import Signal

    import gui

    hiding = []
    for info in pkgutil.walk_packages(gui.__path__, "gui."):
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__ or not issubclass(cls, QObject):
                continue
            qt = [b for b in cls.__mro__ if b.__module__.startswith("PySide6")]
            hiding += [f"{cls.__qualname__}.{name} hides {b.__name__}.{name}" for name, value in vars(cls).items()
                       if isinstance(value, Signal) for b in qt
                       if name in vars(b) and not isinstance(vars(b)[name], Signal)]
    assert hiding == []


def test_a_window_built_in_a_script_and_never_closed_exits_cleanly(tmp_path):
    """Embedding the window in a script or notebook: exiting without closing it must not abort
    ("QThread: Destroyed while thread is still running")."""
    proc = _run_script(tmp_path, """
        from PySide6.QtWidgets import QApplication
        app = QApplication([])
        from gui.main_window import MainWindow
        w = MainWindow()
        w.show()
        app.processEvents()
        print("built")
    """)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "built" in proc.stdout
    assert "Destroyed while thread" not in proc.stderr


def test_closing_the_window_with_a_dialog_open_stops_the_dialogs_thread(tmp_path):
    """The deterministic abort at exit: Test my voice open (its own job queue), the window closed,
    the interpreter exits."""
    proc = _run_script(tmp_path, """
        import numpy as np
        from PySide6.QtWidgets import QApplication
        app = QApplication([])
        from gui.main_window import MainWindow
        from gui.dialogs.voice_test import VoiceTestDialog
        w = MainWindow()
        w.show()
        dialog = VoiceTestDialog(w.digits, predict=lambda y, sr: {"label": "1"}, labels=list("0123456789"))
        dialog.show()
        app.processEvents()
        w.close()
        app.processEvents()
        print("closed")
    """)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "closed" in proc.stdout
    assert "Destroyed while thread" not in proc.stderr and "Fatal Python error" not in proc.stderr


def test_the_gui_collector_frees_cycles_and_limits_full_collections(qapp):
    """Cycles are freed by the GUI-thread timer's check; a full collection (the slow one on a large
    heap) waits until it costs at most 1 % of the time since the last one."""
    import time
    import weakref

    from gui.workers import GuiGarbageCollector, ensure_gui_gc

    ensure_gui_gc()

    class Node:
        pass

    a, b = Node(), Node()
    a.other, b.other = b, a  # a cycle: only the collector frees it
    alive = weakref.ref(a)
    del a, b
    keep = [Node() for _ in range(2000)]  # past the young generation's threshold
    collector = GuiGarbageCollector(interval_ms=60000)
    try:
        collector.check()
        assert alive() is None
        del keep

        class CountingGC:  # the real thresholds and counts, the collections only recorded
            def __init__(self):
                self.calls = []

            def get_count(self):
                return (10**6, 10**6, 10**6)

            def collect(self, generation):
                self.calls.append(generation)

        fake = collector._gc = CountingGC()
        collector._full_seconds, collector._last_full = 2.0, time.monotonic()  # a full one just took 2 s
        collector.check()
        assert fake.calls == [1]  # not another full collection within 200 s
        collector._last_full -= 201
        collector.check()
        assert fake.calls == [1, 2]
    finally:
        collector.timer.stop()


def test_the_app_collector_freezes_the_heap_after_a_wave_of_imports(qapp):
    """The app's collector (freeze_imports) moves what start-up and a wave of imports left alive into the
    permanent generation: later full collections on the GUI thread walk a fraction of the objects (in the
    app 225,364 objects and 90 ms per full collection once scikit-learn, SciPy and librosa were loaded), and
    a cycle made afterwards is still freed. The test session's own collector leaves freezing off."""
    import gc
    import sys
    import weakref

    from gui.workers import GuiGarbageCollector, ensure_gui_gc

    assert not ensure_gui_gc().freeze_imports  # the test session: every cycle is collected as it used to be
    collector = GuiGarbageCollector(interval_ms=60000, freeze_imports=True)
    try:
        collector._modules_frozen = len(sys.modules) - collector.FREEZE_AFTER_MODULES  # a wave just came
        tracked = len(gc.get_objects())
        collector.check()
        assert collector.freezes == 1 and gc.get_freeze_count() > tracked // 2
        assert len(gc.get_objects()) < tracked // 10  # what a full collection walks now
        collector.check()
        assert collector.freezes == 1  # no new modules: no new freeze

        class Node:
            pass

        a, b = Node(), Node()
        a.other, b.other = b, a
        alive = weakref.ref(a)
        del a, b
        keep = [Node() for _ in range(2000)]  # past the young generation's threshold
        collector.check()
        assert alive() is None
        del keep
    finally:
        collector.timer.stop()
        gc.unfreeze()  # the rest of the session collects everything again


def test_the_app_collector_never_walks_a_wave_of_imports(qapp):
    """While modules are being imported (the preload thread, a first scan), collecting would walk the
    ~100,000 young objects they make for nothing: the app's collector puts collections off while the
    wave is small and freezes it once it is big (20,000 young objects, 50 modules, or the middle generation
    due for a collection)."""
    import sys

    from gui.workers import GuiGarbageCollector

    class CountingGC:  # the young generation's size set by the test; collections only recorded
        def __init__(self):
            self.calls, self.freezes, self.young, self.middle = [], 0, 5000, 5

        def get_count(self):
            return (self.young, self.middle, 0)

        def collect(self, generation=2):
            self.calls.append(generation)

        def freeze(self):
            self.freezes += 1

    collector = GuiGarbageCollector(interval_ms=60000, freeze_imports=True)
    try:
        fake = collector._gc = CountingGC()
        collector._modules_frozen = len(sys.modules) - 3  # 3 modules came since the last freeze
        for _ in range(3):  # a module more at every check: a wave in progress
            collector._modules_seen -= 1
            collector.check()
        assert fake.calls == [] and fake.freezes == 0
        collector.check()  # settled, small: an ordinary young collection
        assert fake.calls == [0] and fake.freezes == 0
        collector._modules_seen -= 1  # the wave goes on and has made many objects: frozen, not walked
        fake.young = GuiGarbageCollector.FREEZE_AFTER_YOUNG + 1
        collector.check()
        assert fake.calls == [0] and fake.freezes == 1 and collector._modules_frozen == len(sys.modules)
        collector.check()  # nothing new since the freeze: collections as usual
        assert fake.calls == [0, 0] and fake.freezes == 1
        fake.young, fake.middle = 5000, 11  # the middle generation is due, and a module came since the freeze:
        collector._modules_frozen -= 1      # what the young collections moved there is the wave's
        collector.check()
        assert fake.calls == [0, 0] and fake.freezes == 2
        fake.middle = 11  # no module since: the middle generation is collected
        collector.check()
        assert fake.calls == [0, 0, 1] and fake.freezes == 2
    finally:
        collector.timer.stop()
