"""The best epoch so far, saved while a model trains (kept if the training process dies).

Real trainings of the NumPy MLP on the demo digits and real model files. The rationing test drives
the Checkpointer with a clock the test advances (plain numbers, no sleeping).
"""
import numpy as np

from core.bundle import load_bundle
from core.checkpoint import FILE_NAME, Checkpointer
from core.datasets import scan_dataset
from core.demo import demo_dataset
from core.models.mlp import MLPClassifier
from core.tasks import DIGITS
from core.training import SplitConfig, train_model


def _mlp(**kw):
    return MLPClassifier(**{**DIGITS.model, "hidden_layer_sizes": (16,), "epochs": 6, "random_state": 0,
                            "early_stopping": False, **kw})


def test_the_checkpoint_holds_the_best_epoch_so_far_and_loads_as_a_model(tmp_path):
    ds = scan_dataset(demo_dataset("digits"))
    saves = []
    snapshots = {}
    model = _mlp()
    checkpoint = Checkpointer(tmp_path / "ckpt", on_saved=saves.append, min_interval=0, max_share=1e9)  # every best

    def on_epoch(stats):  # what the model predicts at each epoch's end, to compare with the file
        if stats.get("batch") is None:
            snapshots[stats["epoch"]] = {k: np.array(v) for k, v in model.get_state()[1].items()}

    result = train_model(ds, task="digits", feature_config=DIGITS.feature_config(), model=model,
                         split=SplitConfig(random_state=0), on_epoch=on_epoch, checkpoint=checkpoint)
    assert saves, "no checkpoint was written"
    last = saves[-1]
    assert last["path"] == str(tmp_path / "ckpt" / FILE_NAME) and last["epochs"] == 6
    monitored = [h["loss"] if h["val_loss"] is None else h["val_loss"] for h in result.history]
    assert last["epoch"] == int(np.argmin(monitored)) + 1  # the best epoch (validation loss if any)
    improved = [i + 1 for i, m in enumerate(monitored) if m < min(monitored[:i], default=np.inf)]
    assert [s["epoch"] for s in saves] == improved  # every new best, and only those
    saved = load_bundle(last["path"])
    assert saved.task == "digits" and list(saved.labels) == list(result.bundle.labels)
    assert saved.training["checkpoint"] is True and saved.training["best_epoch"] == last["epoch"]
    assert "not evaluated" in saved.training["stop_reason"]
    # the file holds that epoch's weights, not later ones
    for name, array in saved.model.get_state()[1].items():
        np.testing.assert_array_equal(array, snapshots[last["epoch"]][name])
    clip = ds.items[0].path
    assert saved.predict_file(clip)["label"] in saved.labels


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_saves_are_rationed_by_time_and_by_their_own_cost(tmp_path):
    clock = _Clock()
    saves = []
    model = _mlp()
    ds = scan_dataset(demo_dataset("digits"))
    train_model(ds, task="digits", feature_config=DIGITS.feature_config(), model=model,
                split=SplitConfig(random_state=0))  # a fitted model whose state can be saved

    def make_bundle(stand_in, stats):
        clock.now += 2.0  # this save "takes" 2 s
        from core.bundle import ModelBundle

        return ModelBundle(task="digits", model=stand_in, feature_config=DIGITS.feature_config(),
                           labels=[str(d) for d in range(10)], training={}, metrics={}, history=[])

    checkpoint = Checkpointer(tmp_path, on_saved=saves.append, min_interval=10, max_share=0.1, clock=clock)
    on_epoch = checkpoint.watch(model, make_bundle)
    loss = 10.0
    for epoch in range(1, 60):
        clock.now += 1.0  # an epoch a second, each better than the last
        loss -= 0.1
        on_epoch({"epoch": epoch, "epochs": 60, "loss": loss, "val_loss": loss, "accuracy": 0.5})
        on_epoch({"epoch": epoch, "epochs": 60, "loss": 0.0, "batch": 3})  # batch reports never save
    starts = [s["epoch"] for s in saves]
    assert starts[0] == 10  # not before min_interval
    # a save that took 2 s may take 10 % of the time: 20 s between the end of one and the next
    assert all(b - a >= 20 for a, b in zip(starts, starts[1:])), starts
    assert len(saves) >= 2


def _fitted_mlp():
    """A fitted model whose state can be saved."""
    model = _mlp()
    train_model(scan_dataset(demo_dataset("digits")), task="digits", feature_config=DIGITS.feature_config(),
                model=model, split=SplitConfig(random_state=0))
    return model


def _digits_bundle(stand_in, stats):
    from core.bundle import ModelBundle

    return ModelBundle(task="digits", model=stand_in, feature_config=DIGITS.feature_config(),
                       labels=[str(d) for d in range(10)], training={}, metrics={}, history=[])


def test_an_epoch_that_is_no_better_is_never_saved(tmp_path):
    clock = _Clock()
    saves = []
    model = _fitted_mlp()
    on_epoch = Checkpointer(tmp_path, on_saved=saves.append, min_interval=0, clock=clock).watch(model,
                                                                                              _digits_bundle)
    for epoch, val_loss in enumerate([1.0, 0.5, 0.7, float("nan"), 0.6, 0.4], start=1):
        clock.now += 1
        on_epoch({"epoch": epoch, "epochs": 6, "loss": 1.0, "val_loss": val_loss})
    assert [s["epoch"] for s in saves] == [1, 2, 6]


def test_a_best_epoch_before_the_first_save_is_due_is_written_when_one_is(tmp_path):
    """A model that peaks early and then overfits (per-sample SGD does) still leaves its best epoch on disk:
    the epoch is kept in memory until a save is due, and what is written is that epoch's weights."""
    clock = _Clock()
    saves = []
    model = _fitted_mlp()
    on_epoch = Checkpointer(tmp_path, on_saved=saves.append, min_interval=10, clock=clock).watch(model,
                                                                                               _digits_bundle)
    best_coef = model.coefs_[0].copy()
    for epoch, val_loss in enumerate([1.0, 0.5, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1], start=1):
        clock.now += 1
        if epoch > 3:
            model.coefs_[0] += 1.0  # later, worse epochs change the weights
        on_epoch({"epoch": epoch, "epochs": 12, "loss": 1.0, "val_loss": val_loss})
    assert [s["epoch"] for s in saves] == [3]  # epoch 3, written at epoch 10 when the first save was due
    kept = load_bundle(saves[0]["path"])
    np.testing.assert_array_equal(kept.model.coefs_[0], best_coef)
