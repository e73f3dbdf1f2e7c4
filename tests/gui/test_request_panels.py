"""Bring back, Re-run and Load model show the panel of the run's own model type, in every tab,
and the panels then describe exactly the request that trained it."""
import pytest

from core.demo import demo_dataset
from core.history import RunHistory
from core.request import resolve, train_and_record
from tests.core.test_request import PAIRS, fast_request

SAME = ("task", "features", "feature_settings", "model", "model_params", "split", "test_size", "seed", "augment",
        "open_set")


def _comparable(request):
    r = resolve(request).to_dict()
    r["model_params"].pop("report_every", None)  # the Digits panel's display setting, not the model's
    return {k: r[k] for k in SAME}


def _other_model(task_key, model):
    from core.tasks import get_task

    return next((m.key for m in get_task(task_key).models if m.key != model), None)


@pytest.mark.parametrize(("task", "model"), PAIRS)
def test_bring_back_and_load_model_set_the_panel_of_that_model(make_tab, qtbot, tmp_path, task, model,
                                                                load_model):
    data = str(demo_dataset(task))
    result = train_and_record(fast_request(task, model, data=data, seed=7), history=RunHistory.default(), n_jobs=1)
    tab = make_tab(task)
    qtbot.waitUntil(lambda: not tab.busy, timeout=60000)
    other = _other_model(task, model)
    if other is not None:  # the panels first show another model, as after a user's change
        tab.show_request_model(resolve(fast_request(task, other, seed=3)))
    tab.bring_back_run(result.run_id)
    qtbot.waitUntil(lambda: not tab.busy, timeout=60000)
    assert _comparable(tab.train_request()) == _comparable(result.request)

    path = tmp_path / "m.slm"
    assert tab.save_model(path)
    if other is not None:
        tab.show_request_model(resolve(fast_request(task, other, seed=3)))
    assert load_model(tab, path)
    assert _comparable(tab.train_request()) == _comparable(result.request)
