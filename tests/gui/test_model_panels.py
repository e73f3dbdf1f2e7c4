"""Model settings pages: one per model a task offers, built from the settings its model type declares
where the tab has no page of its own, so adding a model type needs no GUI code (issue 16).

A toy model type is added at test time exactly as the README says (its module, its registry line, a
ModelChoice) and every tab offers it, shows its page, trains it through the training request in the
training process, and Re-run from All runs puts its settings back. Real widgets, real trainings on the
demo data; every wait is on a condition (its timeout only guards against a hang).
"""
import pytest
from PySide6.QtCore import Qt

from core.demo import demo_dataset
from core.history import RunHistory
from core.models import model_settings, model_type_of
from core.request import resolve, train_and_record
from core.tasks import TASKS
from gui.tabs import jobs
from gui.widgets.model_form import FloatBox, ModelForm, shown_settings
from tests.core.test_request import PAIRS, fast_request
from tests.gui import toy_model
from tests.gui.test_request_panels import _comparable, _other_model

HANG_MS = 300_000  # trainings in a child process on a loaded 2-core machine


@pytest.fixture(autouse=True)
def private_history(tmp_path, monkeypatch):
    monkeypatch.setenv("SPEECHLAB_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture
def toy(monkeypatch):
    """The toy model type, registered in this process and in every training process the tabs start."""
    undo = toy_model.register()
    real = jobs.train_job

    def train_job(request, **kw):
        job = real(request, **kw)
        job.target = f"{toy_model.MODULE}:train_in_child"  # core.child:train, after registering the toy there
        return job

    monkeypatch.setattr(jobs, "train_job", train_job)
    yield toy_model
    undo()


def combo_of(tab):
    panel = tab.model_panel
    return getattr(panel, "model_combo", None) or panel.choice


def choose(tab, key):
    combo = combo_of(tab)
    combo.setCurrentIndex(combo.findData(key))
    combo.activated.emit(combo.currentIndex())  # what a user's choice in the list emits


def toy_fields(page):
    return page.field("epochs"), page.field("step"), page.field("init"), page.field("standardize")


def set_toy(page, epochs, step, init, standardize):
    e, s, i, b = toy_fields(page)
    e.setValue(epochs)
    s.lineEdit().setText(str(step))  # typed, as a user types it
    s.interpretText()
    i.setCurrentIndex(i.findData(init))
    b.setChecked(standardize)


def toy_values(page):
    e, s, i, b = toy_fields(page)
    return e.value(), s.value(), i.currentData(), b.isChecked()


@pytest.mark.parametrize("task", list(TASKS))
def test_a_model_type_added_at_test_time_is_offered_trained_and_re_run_in_every_tab(toy, make_tab, qtbot, task):
    tab = make_tab(task)
    combo = combo_of(tab)
    assert combo.findData("toy") >= 0 and combo.itemText(combo.findData("toy")).startswith("Toy softmax")

    choose(tab, "toy")
    page = tab.model_panel.pages.page("toy")
    assert isinstance(page, ModelForm) and page.isVisible()
    assert [p.isVisible() for k, p in tab.model_panel.pages._pages.items() if k != "toy"] == \
        [False] * (len(TASKS[task].models) - 1)  # one model's settings at a time
    assert [s.label for s in shown_settings(TASKS[task].model_choice("toy"))] == \
        ["Epochs", "Step size", "Start from", "Standardise"]
    assert toy_values(page) == (20, 0.5, "zeros", True)  # the ModelChoice's defaults
    assert "its class declares" in page.note.text() and page.note.isVisible()
    assert tab.features_panel.config().name == toy_model.FEATURES[task]  # the toy brings its features
    set_toy(page, 6, "2e-1", "small", False)
    assert tab.model_panel.describe() == ("Toy softmax regression (a test's model type): Epochs 6, Step size 0.2, "
                                          "Start from small, Standardise off")

    qtbot.mouseClick(tab.dataset_panel.demo_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: tab.dataset_panel.dataset is not None and not tab.busy, timeout=HANG_MS)
    qtbot.mouseClick(tab.progress_panel.train_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not tab.busy, timeout=HANG_MS)
    result = tab.last_result
    assert result is not None and result.run_id is not None, tab.progress_panel.status_text()
    assert model_type_of(tab.bundle.model) == "toy"
    assert result.request.model == "toy" and result.request.features == toy_model.FEATURES[task]
    assert {k: result.request.model_params[k] for k in ("epochs", "step", "init", "standardize")} == \
        {"epochs": 6, "step": 0.2, "init": "small", "standardize": False}
    assert len(result.history) == 6 and tab.plot.point_count() == 6  # every epoch reported, live
    assert tab.describe_model(tab.bundle.model).startswith("Toy softmax regression")

    # The user changes the settings and picks another model; Re-run brings the toy's settings back.
    set_toy(page, 3, 1.0, "zeros", True)
    choose(tab, TASKS[task].models[0].key)
    view = tab.history_view
    view.refresh()
    qtbot.waitUntil(lambda: result.run_id in view.row_ids(), timeout=HANG_MS)
    view.select_ids([result.run_id])
    qtbot.mouseClick(view.rerun_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: view.row_ids()[:1] == [result.run_id + 1] and not tab.busy, timeout=HANG_MS)
    assert tab.model_panel.pages.currentWidget() is page and page.isVisible()
    assert toy_values(page) == (6, 0.2, "small", False)
    again = view.history.get(result.run_id + 1)
    assert again["model"]["params"]["epochs"] == 6 and model_type_of(tab.bundle.model) == "toy"
    assert again["metrics"]["accuracy"] == pytest.approx(result.metrics["accuracy"])  # same request, same seed
    assert _comparable(tab.train_request()) == _comparable(result.request)


@pytest.mark.parametrize(("task", "model"), [(t, m) for t, m in PAIRS])
def test_re_run_sets_the_page_of_that_model_and_trains_the_recorded_request(make_tab, qtbot, task, model):
    """Bring back and Load model are tested pair by pair in test_request_panels.py; Re-run here."""
    result = train_and_record(fast_request(task, model, data=str(demo_dataset(task)), seed=7),
                              history=RunHistory.default(), n_jobs=1)
    tab = make_tab(task)
    qtbot.waitUntil(lambda: not tab.busy, timeout=HANG_MS)
    other = _other_model(task, model)
    if other is not None:  # the panels first show another model, as after a user's change
        tab.show_request_model(resolve(fast_request(task, other, seed=3)))
    tab.rerun(result.run_id)
    qtbot.waitUntil(lambda: tab.last_result is not None and not tab.busy, timeout=HANG_MS)
    assert tab.last_result.run_id == result.run_id + 1, tab.progress_panel.status_text()
    assert _comparable(tab.train_request()) == _comparable(result.request)  # the page of *that* model
    assert _comparable(tab.last_result.request) == _comparable(result.request)


def test_every_model_without_a_page_of_its_own_gets_one_from_its_settings(make_tab):
    import inspect

    from core.models import model_class

    dedicated = {("digits", "mlp"), ("digits", "cnn"), ("genres", "cnn")}
    for task in TASKS:
        tab = make_tab(task)
        pages = tab.model_panel.pages
        for m in TASKS[task].models:
            page = pages.page(m.key)
            assert isinstance(page, ModelForm) == ((task, m.key) not in dedicated), (task, m.key)
            if not isinstance(page, ModelForm):
                continue
            settings = shown_settings(m)
            assert settings and all(page.field(s.name) is not None for s in settings)
            params = page.params()
            assert {k: params[k] for k in m.params} == m.params  # the task's defaults, exactly
            accepted = inspect.signature(model_class(m.type).__init__).parameters
            for s in settings:  # a setting the task leaves alone shows the class's own default (SGD's eta0)
                assert params[s.name] == m.params.get(s.name, accepted[s.name].default), (task, m.key, s.name)
            changed = {**params, "validation_fraction": 0.25} if "validation_fraction" in params else params
            page.set_params(changed)
            assert page.params() == changed
            assert page.describe().startswith(m.title)


def test_model_types_declare_settings_that_their_classes_take():
    import inspect

    from core.models import MODEL_TYPES, model_class

    for kind in MODEL_TYPES:
        cls = model_class(kind)
        declared = getattr(cls, "settings", ())
        assert model_settings(kind) == tuple(declared)  # one home: what the class declares is what the page shows
        accepted = inspect.signature(cls.__init__).parameters
        assert all(s.name in accepted for s in declared), kind


def test_a_field_that_cannot_be_read_is_named_in_one_line(make_speakers_tab, qtbot):
    tab = make_speakers_tab()
    choose(tab, "mlp")
    tab.model_panel.pages.page("mlp").field("hidden_layer_sizes").setText("64,x")
    qtbot.mouseClick(tab.dataset_panel.demo_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: tab.dataset_panel.dataset is not None and not tab.busy, timeout=HANG_MS)
    qtbot.mouseClick(tab.progress_panel.train_button, Qt.LeftButton)
    assert not tab.busy
    assert tab.progress_panel.status_text() == "Hidden layers: sizes such as 128 or 256,128, not '64,x'"
    tab.model_panel.pages.page("mlp").field("hidden_layer_sizes").setText("64, 99999")
    qtbot.mouseClick(tab.progress_panel.train_button, Qt.LeftButton)
    assert tab.progress_panel.status_text() == "Hidden layers: each size must be between 1 and 8192, not 99999"


def test_a_float_field_takes_scientific_numbers_and_steps_through_decades(qtbot):
    from core.models.choices import Setting

    box = FloatBox(Setting("C", "float", "C", minimum=1e-6, maximum=1e4, log=True))
    qtbot.addWidget(box)
    box.lineEdit().setText("1e-4")
    box.interpretText()
    assert box.value() == 1e-4 and box.text() == "0.0001"
    box.setValue(1.0)
    seen = []
    for _ in range(4):
        box.stepBy(1)
        seen.append(box.value())
    assert seen == [2.0, 5.0, 10.0, 20.0]
    box.stepBy(-5)
    assert box.value() == pytest.approx(0.5)
    box.setValue(1e4)
    box.stepBy(1)
    assert box.value() == 1e4  # never past the maximum
