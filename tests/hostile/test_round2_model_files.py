"""Issue 17, round two: crafted model files are refused at load, with one line naming the file and the
field, before anything is built or allocated; loading never blocks the window.

3: a Keras layer whose ``units``/``filters``/``kernel_size`` (or ``build_config``) disagree with the stored
weights; 9: open-set fields (NaN/inf thresholds, bad precision, scale, calibration, dimensions);
13: a scaler with NaN mean or zero scale, for every model type; 20: a deeply nested architecture.
Every file is a real, trained model with one field changed; CNN files are loaded in a child process
(under a 4 GB address-space limit, so a regression fails instead of swapping) that reports whether
TensorFlow was imported: a refusal must come before Keras runs.
"""
import base64
import json
import os
import pathlib
import subprocess
import sys
import threading

import numpy as np
import pytest

from core.bundle import ModelBundle, load_bundle, save_bundle
from core.errors import SpeechLabError
from core.features import FeatureConfig
from tests.gui.conftest import (  # noqa: F401 - the GUI tests' fixtures (tabs shut down, private settings)
    _gc_on_gui_thread, load_model, make_digits_tab, make_genres_tab, make_tab, settings_file,
)
from tests.helpers import write_npz_members

ROOT = pathlib.Path(__file__).resolve().parents[2]
TINY_CNN = dict(conv_blocks=({"filters": 4, "kernel": 3, "pool": 2, "batch_norm": True, "dropout": 0.0},),
                head="flatten", dense_units=(8,), dropout=0.0, epochs=1, batch_size=16, early_stopping=False,
                validation_fraction=0.0, freq_mask=0.0, time_mask=0.0, random_state=0)


# ----------------------------------------------------------------------------- real model files


def _open_set_state(model, X, y, labels):
    """A real open-set state of ``model`` (core.openset's own functions), method "combined"."""
    from core.openset import METHODS, choose_threshold, clip_scores, fit_distance

    arrays = fit_distance(X, y, labels)
    proba = model.predict_proba(X)
    groups = np.arange(len(X))
    scores = clip_scores(proba, X, groups, arrays)[3]
    for m in ("distance", "probability"):  # the combined score's reference distributions
        arrays[f"cal_{m}"] = np.sort(scores[m])
    scores = clip_scores(proba, X, groups, arrays)[3]
    return {"method": "combined", "thresholds": {m: choose_threshold(scores[m]) for m in METHODS},
            "target_frr": 0.05, "n_calibration": len(X), "arrays": arrays}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("round2")


@pytest.fixture(scope="module")
def mlp_file(folder):
    """A digits MLP on 12 MFCC means, with a real open-set state."""
    from core.models.mlp import MLPClassifier

    rng = np.random.default_rng(0)
    labels = [str(d) for d in range(3)]
    y = np.array(labels * 20)
    X = rng.normal(size=(60, 12)).astype(np.float32) + y.astype(int)[:, None]
    model = MLPClassifier(hidden_layer_sizes=(8,), epochs=3, early_stopping=False, random_state=0).fit(X, y)
    bundle = ModelBundle(task="digits", model=model, labels=labels,
                         feature_config=FeatureConfig(name="mfcc-mean", n_mfcc=12),
                         open_set=_open_set_state(model, X, y, labels))
    return save_bundle(bundle, folder / "mlp.slm")


@pytest.fixture(scope="module")
def linear_file(folder):
    from core.models.linear import LinearClassifier

    rng = np.random.default_rng(1)
    y = np.array(["ann", "bob", "cy"] * 10)
    X = rng.normal(size=(30, 12)) + (y == "bob")[:, None]
    model = LinearClassifier("logreg", random_state=0).fit(X, y)
    bundle = ModelBundle(task="speakers", model=model, labels=["ann", "bob", "cy"],
                         feature_config=FeatureConfig(name="mfcc-mean", n_mfcc=12))
    return save_bundle(bundle, folder / "linear.slm")


@pytest.fixture(scope="module")
def cnn_file(folder):
    """A tiny Genres CNN on 16×16 log-mel images, really trained (1 epoch) and saved."""
    from core.models.cnn import KerasCNNClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(-40, 10, size=(24, 16, 16)).astype(np.float32)
    y = np.array(["low", "mid", "high"] * 8)
    model = KerasCNNClassifier(**TINY_CNN).fit(X, y)
    cfg = FeatureConfig(name="logmel-128", sr=22050, n_mels=32, n_fft=512, hop_length=256, image_size=16,
                        window_seconds=1.0)
    bundle = ModelBundle(task="genres", model=model, feature_config=cfg, labels=[str(c) for c in model.classes_])
    return save_bundle(bundle, folder / "cnn.slm")


def members(path):
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def crafted(src, dst, change_meta=None, **arrays):
    """A copy of ``src`` with ``change_meta(meta)`` applied (NaN/Infinity written as Python's json does)
    and the arrays ``model/<name>`` replaced."""
    payload = members(src)
    if change_meta is not None:
        meta = json.loads(bytes(payload["meta"]).decode())
        change_meta(meta)
        payload["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    payload.update({f"model/{k}": v for k, v in arrays.items()})
    return write_npz_members(dst, payload)


def assert_refused(path, *fragments):
    with pytest.raises(SpeechLabError) as info:
        load_bundle(path)
    text = str(info.value)
    assert "\n" not in text and str(path) in text, text
    for f in fragments:
        assert f in text, text
    return text


_CHILD = """
import json, resource, sys
soft, hard = resource.getrlimit(resource.RLIMIT_AS)  # at most 4 GB: a regression fails, never swaps
resource.setrlimit(resource.RLIMIT_AS, (min(4 << 30, hard if hard != resource.RLIM_INFINITY else 4 << 30), hard))
from core import model_host
model_host.use_host(sys.argv[2] == "host")
from core.bundle import load_bundle
from core.errors import SpeechLabError
try:
    out = {"loaded": type(load_bundle(sys.argv[1]).model).__name__}
except SpeechLabError as exc:
    out = {"error": str(exc)}
out["tensorflow"] = "tensorflow" in sys.modules or "keras" in sys.modules
print(json.dumps(out))
"""


def load_in_child(path, *, host=False):
    """Load ``path`` in a fresh process: {"loaded": class name} or {"error": message}, and "tensorflow"."""
    p = subprocess.run([sys.executable, "-c", _CHILD, str(path), "host" if host else "local"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


def architecture(edit):
    def change(meta):
        arch = json.loads(meta["model_config"]["architecture"])
        edit(arch)
        meta["model_config"]["architecture"] = json.dumps(arch)
    return change


def layer(arch, class_name, last=False):
    found = [x for x in arch["config"]["layers"] if x["class_name"] == class_name]
    return (found[-1] if last else found[0])


def config_of(class_name, last=False, **change):
    return architecture(lambda a: layer(a, class_name, last)["config"].update(change))


# ----------------------------------------------------------------------------- 3: Keras layer sizes


def test_the_good_cnn_file_passes_every_check_without_tensorflow(cnn_file):
    assert load_in_child(cnn_file, host=True) == {"loaded": "RemoteKerasModel", "tensorflow": False}


@pytest.mark.parametrize("change, fragments", [
    (config_of("Dense", last=True, units=10**7), ["'output' (Dense)", "units=10000000", "(8, 3)"]),
    (config_of("Conv2D", filters=10**6), ["'conv1' (Conv2D)", "filters=1000000"]),
    (config_of("Conv2D", kernel_size=[4096, 4096]), ["'conv1' (Conv2D)", "kernel_size"]),
    (config_of("Dense", units=5000), ["'dense1' (Dense)", "units=5000"]),
    (architecture(lambda a: layer(a, "Dense", last=True)["build_config"].update(input_shape=[None, 10**7])),
     ["'output' (Dense)", "build_config"]),
    (architecture(lambda a: a["config"]["layers"][0]["config"].update(batch_shape=[None, 10**5, 10**5, 1])),
     ["InputLayer", "batch_shape"]),
    (config_of("Conv2D", groups=4), ["'conv1' (Conv2D)", "groups"]),
    (lambda m: m["model_config"].update(input_shape=[10**6, 16]), ["input_shape"]),
])
def test_keras_layer_sizes_are_checked_against_the_stored_weights_before_keras_runs(cnn_file, tmp_path, change,
                                                                                    fragments):
    bad = crafted(cnn_file, tmp_path / "sizes.slm", change)
    assert bad.stat().st_size < 200_000  # a small file that claims a huge network
    out = load_in_child(bad)
    assert "error" in out, out
    assert "\n" not in out["error"] and str(bad) in out["error"]
    for f in fragments:
        assert f in out["error"], out["error"]
    assert out["tensorflow"] is False  # refused before Keras (and TensorFlow) could build anything


def test_the_parameter_budget_is_checked_from_the_shapes_alone(cnn_file):
    """Layers that match their weights but claim more than MAX_PARAMS: refused from the shapes (the
    arrays themselves are never made here)."""
    from core.models.cnn import MAX_PARAMS, check_architecture_json, check_network

    meta = json.loads(bytes(members(cnn_file)["meta"]).decode())
    arch = check_architecture_json(meta["model_config"]["architecture"])
    shapes = [members(cnn_file)[f"model/w{i}"].shape for i in range(meta["model_config"]["n_weights"])]
    assert check_network(arch, input_shape=(16, 16), weight_shapes=shapes, n_classes=3) < 10_000
    units = MAX_PARAMS // 256 + 1
    layer(arch, "Dense")["config"]["units"] = units
    layer(arch, "Dense", last=True)["build_config"]["input_shape"] = [None, units]
    shapes[-4:] = [(256, units), (units,), (units, 3), (3,)]
    with pytest.raises(SpeechLabError, match="at most"):
        check_network(arch, input_shape=(16, 16), weight_shapes=shapes, n_classes=3)


def test_loading_a_model_runs_off_the_gui_thread_while_the_window_stays_live(make_digits_tab, qtbot, mlp_file,
                                                                             tmp_path):
    """The file is read in a worker thread: held inside its open() until the GUI thread has handled an
    event, the load is still running and the window answers (before the fix it ran on the GUI thread)."""
    from PySide6.QtCore import QTimer

    path = tmp_path / "watched.slm"
    path.write_bytes(mlp_file.read_bytes())
    gate = threading.Event()
    opened_on_gui_thread = []

    def hook(event, args):  # an audit hook sees every open(); it cannot be removed, so it retires itself
        if gate.is_set() or event != "open" or not args or not isinstance(args[0], (str, os.PathLike)):
            return
        if os.fspath(args[0]) == str(path):
            on_gui = threading.current_thread() is threading.main_thread()
            opened_on_gui_thread.append(on_gui)
            if not on_gui:
                gate.wait(120)  # the loader waits here until the window has shown it is live

    sys.addaudithook(hook)
    tab = make_digits_tab()
    qtbot.waitUntil(lambda: not tab.busy, timeout=60000)
    try:
        assert tab.load_model(str(path))
        qtbot.waitUntil(lambda: bool(opened_on_gui_thread), timeout=60000)
        assert opened_on_gui_thread == [False], "the model file was read on the GUI thread"
        ticks = []
        QTimer.singleShot(0, lambda: ticks.append("tick"))
        qtbot.waitUntil(lambda: bool(ticks), timeout=10000)  # the event loop runs during the load
        assert tab.busy and tab.bundle is None and "Loading model" in tab.progress_panel.status_text()
        with qtbot.waitSignal(tab.model_load_finished, timeout=60000) as done:
            gate.set()
    finally:
        gate.set()
    assert done.args == [True]
    assert tab.bundle is not None and tab.bundle.labels == ["0", "1", "2"]


def test_a_cnn_file_claiming_a_huge_layer_is_one_line_in_the_tab(make_genres_tab, qtbot, cnn_file, tmp_path,
                                                                  load_model):
    tab = make_genres_tab()
    qtbot.waitUntil(lambda: not tab.busy, timeout=60000)
    bad = crafted(cnn_file, tmp_path / "huge.slm", config_of("Dense", last=True, units=10**7))
    assert load_model(tab, str(bad)) is False
    text = tab.progress_panel.status_text()
    assert "\n" not in text and str(bad) in text and "units=10000000" in text
    assert tab.bundle is None


# ----------------------------------------------------------------------------- 9: open-set fields


def _encoded(a):
    a = np.ascontiguousarray(a, dtype="<f8")
    return {"dtype": "float64", "shape": list(a.shape), "data": base64.b64encode(a.tobytes()).decode("ascii")}


def _decoded(d):
    return np.frombuffer(base64.b64decode(d["data"]), dtype="<f8").reshape(d["shape"]).copy()


def threshold(method, value):
    return lambda m: m["open_set"]["thresholds"].update({method: value})


def open_set_array(name, change):
    def edit(meta):
        arrays = meta["open_set"]["arrays"]
        arrays[name] = _encoded(change(_decoded(arrays[name])))
    return edit


def five_dims(meta):
    meta["open_set"]["arrays"].update(mean=_encoded(np.zeros(5)), scale=_encoded(np.ones(5)),
                                      class_means=_encoded(np.zeros((3, 5))), precision=_encoded(np.eye(5)))


def test_the_good_open_set_state_loads(mlp_file):
    bundle = load_bundle(mlp_file)
    assert bundle.open_set["method"] == "combined" and bundle.open_set["arrays"]["precision"].shape == (12, 12)


@pytest.mark.parametrize("change, fragment", [
    (threshold("combined", float("nan")), "thresholds 'combined' is nan"),
    (threshold("combined", float("inf")), "thresholds 'combined' is inf"),
    (threshold("distance", float("-inf")), "thresholds 'distance' is -inf"),
    (threshold("distance", 1e308), "thresholds 'distance' is 1e+308"),
    (threshold("combined", True), "thresholds 'combined' is True"),
    (threshold("probability", "0.5"), "thresholds 'probability'"),
    (open_set_array("precision", lambda p: np.where(np.eye(len(p), dtype=bool), np.nan, p)), "'precision' holds NaN"),
    (open_set_array("precision", lambda p: -p), "'precision' is not positive definite"),
    (open_set_array("precision", lambda p: p + np.triu(np.ones_like(p), 1)), "'precision' is not symmetric"),
    (open_set_array("scale", np.zeros_like), "'scale' must be positive"),
    (open_set_array("mean", lambda a: np.full_like(a, np.inf)), "'mean' holds NaN"),
    (open_set_array("class_means", lambda a: np.full_like(a, np.nan)), "'class_means' holds NaN"),
    (open_set_array("cal_distance", lambda c: c[:0]), "'cal_distance' must be a non-empty"),
    (open_set_array("cal_probability", lambda c: np.full_like(c, np.nan)), "'cal_probability' holds NaN"),
    (open_set_array("cal_distance", lambda c: c[::-1]), "'cal_distance' must be sorted"),
    (lambda m: m["open_set"]["arrays"].pop("cal_probability"), "both calibration"),
    (five_dims, "measure 5 feature values; the model takes 12"),
    (lambda m: m["open_set"].update(target_frr=float("nan")), "target_frr"),
])
def test_open_set_fields_are_checked_at_load(mlp_file, tmp_path, change, fragment):
    assert_refused(crafted(mlp_file, tmp_path / "os.slm", change), "open_set", fragment)


def test_a_nan_threshold_is_one_error_line_in_predict_and_evaluate(mlp_file, tmp_path):
    """Before: predict answered "unknown" for everything and evaluate wrote '"threshold": NaN' (not JSON)."""
    bad = crafted(mlp_file, tmp_path / "nan.slm", threshold("combined", float("nan")))
    clip = tmp_path / "0_x_0.wav"
    from tests.core.datagen import class_signal, write_wav

    write_wav(clip, class_signal(cls=0, sr=8000, seed=0), sr=8000)
    for args in (["predict", bad, clip, "--json"], ["evaluate", bad, "--data", tmp_path, "--json", "--no-cache"]):
        p = subprocess.run([sys.executable, "main.py", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                           timeout=300)
        errors = [line for line in p.stderr.splitlines() if line.startswith("error:")]
        assert p.returncode != 0 and "Traceback" not in p.stderr and p.stdout.strip() == "", p.stderr[-2000:]
        assert len(errors) == 1 and str(bad) in errors[0] and "thresholds 'combined' is nan" in errors[0]


# ----------------------------------------------------------------------------- 13: scalers


@pytest.mark.parametrize("which, change, fragment", [
    ("mlp", {"mean": "nan"}, "'mean' holds NaN"),
    ("mlp", {"scale": 0}, "'scale' must be positive"),
    ("mlp", {"scale": -1}, "'scale' must be positive"),
    ("linear", {"mean": "inf"}, "'mean' holds NaN"),
    ("linear", {"scale": 0}, "'scale' must be positive"),
])
def test_a_broken_scaler_is_refused_for_the_mlp_and_linear_models(mlp_file, linear_file, tmp_path, which, change,
                                                                   fragment):
    src = mlp_file if which == "mlp" else linear_file
    (field, value), = change.items()
    original = members(src)[f"model/{field}"]
    broken = original.copy()
    broken[0] = float(value)
    assert_refused(crafted(src, tmp_path / "scaler.slm", **{field: broken}), "standardisation", fragment)


@pytest.mark.parametrize("change, fragment", [
    ({"mean": float("nan")}, "standardisation 'mean' is nan"),
    ({"scale": 0.0}, "standardisation 'scale' is 0.0; it must be positive"),
    ({"scale": float("inf")}, "standardisation 'scale' is inf"),
    ({"mean": True}, "standardisation 'mean' is True"),
])
def test_a_broken_cnn_scaler_is_refused_before_keras_runs(cnn_file, tmp_path, change, fragment):
    bad = crafted(cnn_file, tmp_path / "cnn_scaler.slm", lambda m: m["model_config"].update(change))
    for host in (False, True):  # the CLI (Keras in process) and the GUI (the model host's stand-in)
        out = load_in_child(bad, host=host)
        assert "error" in out and str(bad) in out["error"] and fragment in out["error"], out
        assert out["tensorflow"] is False


# ----------------------------------------------------------------------------- 20: nesting


@pytest.mark.parametrize("architecture_text", ["[" * 200_000, '{"a": ' * 100_000 + "1" + "}" * 100_000])
def test_a_deeply_nested_architecture_is_one_line(cnn_file, tmp_path, architecture_text):
    bad = crafted(cnn_file, tmp_path / "nested.slm", lambda m: m["model_config"].update(architecture=architecture_text))
    out = load_in_child(bad)
    assert "error" in out and "\n" not in out["error"] and str(bad) in out["error"], out
    assert "nested too deeply" in out["error"] and out["tensorflow"] is False


def test_a_deeply_nested_architecture_is_one_line_in_the_tab(make_genres_tab, qtbot, cnn_file, tmp_path,
                                                             load_model):
    tab = make_genres_tab()
    qtbot.waitUntil(lambda: not tab.busy, timeout=60000)
    bad = crafted(cnn_file, tmp_path / "nested.slm", lambda m: m["model_config"].update(architecture="[" * 200_000))
    assert load_model(tab, str(bad)) is False
    text = tab.progress_panel.status_text()
    assert "\n" not in text and str(bad) in text and "nested too deeply" in text
    assert "Traceback" not in text and "RecursionError" not in text
