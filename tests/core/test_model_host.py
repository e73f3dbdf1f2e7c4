"""The model host: Keras predictions in a long-lived child process, so TensorFlow never loads in the GUI process.

A tiny CNN is trained here for real (random 16×16 images, 2 epochs) and saved
as a model file; loaded with the host switched on it is a RemoteKerasModel
whose predictions come from the host and equal the real model's.
"""
import json
import os
import pickle
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from core import model_host
from core.errors import SpeechLabError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = dict(conv_blocks=({"filters": 4, "kernel": 3, "pool": 2, "batch_norm": True, "dropout": 0.0},),
            head="global-avg", dense_units=(8,), dropout=0.0, epochs=2, batch_size=16, early_stopping=False,
            validation_fraction=0.0, freq_mask=0.0, time_mask=0.0, random_state=0)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(the real trained model, X, the saved .slm path), trained and saved with the host off."""
    from core.bundle import ModelBundle, save_bundle
    from core.features import FeatureConfig
    from core.models.cnn import KerasCNNClassifier

    assert not model_host.host_enabled()
    rng = np.random.default_rng(0)
    X = rng.normal(-40, 10, size=(48, 16, 16)).astype(np.float32)
    y = np.array(["low", "mid", "high"] * 16)
    model = KerasCNNClassifier(**TINY).fit(X, y)
    cfg = FeatureConfig(name="logmel-128", sr=22050, n_mels=32, n_fft=512, hop_length=256, image_size=16,
                        window_seconds=1.0)
    bundle = ModelBundle(task="genres", model=model, feature_config=cfg, labels=[str(c) for c in model.classes_])
    path = save_bundle(bundle, tmp_path_factory.mktemp("host") / "tiny.slm")
    return model, X, path


@pytest.fixture
def host_on():
    model_host.use_host(True)
    try:
        yield model_host.host()
    finally:
        model_host.use_host(False)


@pytest.fixture(scope="module", autouse=True)
def _stop_host_after_module():
    yield
    model_host.use_host(False)
    model_host.host().stop()


def test_loaded_model_is_remote_and_predicts_like_the_real_one(trained, host_on):
    from core.bundle import load_bundle
    from core.models import model_type_of
    from core.models.cnn import KerasCNNClassifier

    model, X, path = trained
    loaded = load_bundle(path).model
    assert isinstance(loaded, model_host.RemoteKerasModel)
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X), rtol=1e-5, atol=1e-6)
    assert list(loaded.predict(X)) == list(model.predict(X))
    assert host_on.pid is not None and host_on.pid != os.getpid()
    # the contract the rest of SpeechLab reads on a loaded model, without TensorFlow
    model_host.use_host(False)
    real = KerasCNNClassifier.from_state(*model.get_state())
    assert model_type_of(loaded) == "keras-cnn" == model_type_of(real)
    assert loaded.get_params() == real.get_params()
    assert loaded.conv_blocks == real.conv_blocks and loaded.head == "global-avg" and loaded.dense_units == (8,)
    assert list(loaded.classes_) == list(real.classes_) and loaded.input_shape_ == real.input_shape_ == (16, 16)
    assert (loaded.history_, loaded.best_epoch_, loaded.stop_reason_, loaded.diverged_) == \
        (real.history_, real.best_epoch_, real.stop_reason_, real.diverged_)
    assert loaded.predict_proba(X[:0]).shape == (0, 3)
    with pytest.raises(AttributeError):
        loaded.n_features_in_  # noqa: B018 - the bundle's input check asks with getattr(..., None)


def test_a_loaded_remote_model_saves_and_loads_again(trained, host_on, tmp_path):
    from core.bundle import load_bundle, save_bundle

    model, X, path = trained
    first = load_bundle(path)
    again = load_bundle(save_bundle(first, tmp_path / "again.slm"))
    assert isinstance(again.model, model_host.RemoteKerasModel)
    np.testing.assert_allclose(again.model.predict_proba(X), model.predict_proba(X), rtol=1e-5, atol=1e-6)
    config, arrays = again.model.get_state()
    original, original_arrays = model.get_state()
    assert json.loads(json.dumps(config)) == json.loads(json.dumps(original))
    assert arrays.keys() == original_arrays.keys()
    assert all(np.array_equal(arrays[k], original_arrays[k]) for k in arrays)
    copied = pickle.loads(pickle.dumps(first.model))  # a copy is a stand-in of the same state
    np.testing.assert_allclose(copied.predict_proba(X[:4]), model.predict_proba(X[:4]), rtol=1e-5, atol=1e-6)


def test_the_host_restarts_after_it_is_killed(trained, host_on):
    from core.bundle import load_bundle

    model, X, path = trained
    loaded = load_bundle(path).model
    before = loaded.predict_proba(X)
    pid = host_on.pid
    os.kill(pid, signal.SIGKILL)
    after = loaded.predict_proba(X)  # a new host gets the model again
    np.testing.assert_array_equal(after, before)
    assert host_on.pid not in (None, pid)


def test_bad_requests_raise_one_line_errors_and_the_host_lives_on(trained, host_on):
    from core.bundle import load_bundle

    model, X, path = trained
    good = load_bundle(path).model
    good.predict_proba(X[:2])
    pid = host_on.pid
    config, arrays = model.get_state()
    broken = dict(arrays, w0=arrays["w0"][..., :2])  # first conv kernel with the wrong number of filters
    with pytest.raises(SpeechLabError) as err:
        model_host.RemoteKerasModel(config, broken).predict_proba(X[:2])
    assert "\n" not in str(err.value) and "could not be rebuilt" in str(err.value)
    with pytest.raises(SpeechLabError) as err:  # past the stand-in's own checks, straight to the host
        host_on.predict_proba("tiny-bad-shape", config, arrays, np.zeros((1, 5, 5), np.float32))
    assert "\n" not in str(err.value) and "16×16" in str(err.value)
    with pytest.raises(SpeechLabError, match="16×16"):  # refused before any request
        good.predict_proba(np.zeros((1, 8, 8)))
    with pytest.raises(SpeechLabError):
        good.fit(X, None)
    np.testing.assert_allclose(good.predict_proba(X), model.predict_proba(X), rtol=1e-5, atol=1e-6)
    assert host_on.pid == pid


def test_threads_share_the_host_one_request_at_a_time(trained, host_on):
    from core.bundle import load_bundle

    model, X, path = trained
    models = [load_bundle(path).model for _ in range(2)]
    expected = model.predict_proba(X)
    errors, results = [], []

    def work(m, rows):
        try:
            for _ in range(5):
                results.append((rows, m.predict_proba(X[rows])))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(models[i % 2], slice(i, i + 7))) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors and len(results) == 20
    for rows, proba in results:
        np.testing.assert_allclose(proba, expected[rows], rtol=1e-5, atol=1e-6)


def test_off_by_default_the_real_keras_model_is_built(trained):
    from core.bundle import load_bundle
    from core.models.cnn import KerasCNNClassifier

    assert not model_host.host_enabled()
    assert type(load_bundle(trained[2]).model) is KerasCNNClassifier


SCRIPT = r"""
import json, os, sys
import numpy as np
from core import model_host
from core.bundle import load_bundle, save_bundle

model_host.use_host(True)
bundle = load_bundle(sys.argv[1])
proba = bundle.model.predict_proba(np.load(sys.argv[2]))
signal = np.random.default_rng(0).normal(0, 0.1, 22050 * 2).astype(np.float32)
verdict = bundle.predict_signal(signal, 22050)
again = load_bundle(save_bundle(bundle, sys.argv[3]))
proba_again = again.model.predict_proba(np.load(sys.argv[2]))
print(json.dumps({"tensorflow": "tensorflow" in sys.modules, "keras": "keras" in sys.modules,
                  "proba": proba.tolist(), "proba_again": proba_again.tolist(), "label": verdict["label"],
                  "host_pid": model_host.host().pid, "type": type(bundle.model).__name__}))
"""


def test_tensorflow_never_loads_in_a_process_with_the_host_on(trained, tmp_path):
    """A fresh interpreter loads the model file, predicts an array and a signal, saves it again: no TensorFlow.
    Its host ends with it (atexit)."""
    model, X, path = trained
    np.save(tmp_path / "X.npy", X)
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(path), str(tmp_path / "X.npy"), str(tmp_path / "re.slm")],
                         capture_output=True, text=True, timeout=240, cwd=ROOT, env=env)  # timeout: a hang guard
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["type"] == "RemoteKerasModel"
    assert result["tensorflow"] is False and result["keras"] is False
    np.testing.assert_allclose(result["proba"], model.predict_proba(X), rtol=1e-5, atol=1e-6)
    assert result["proba_again"] == result["proba"]
    assert result["label"] in model.classes_
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _running(result["host_pid"]):
        time.sleep(0.1)
    assert not _running(result["host_pid"]), "the model host outlived its parent"


def _running(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not running
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_warm_up_starts_the_host_and_loads_the_network_before_the_first_prediction(trained, host_on):
    """A model that becomes the tab's model is warmed up (gui.tabs.base.set_bundle, in a thread): the first
    take then finds the host running with the network loaded and traced, instead of waiting 3-4 s for it."""
    from core.bundle import load_bundle

    model, X, path = trained
    host_on.stop()
    loaded = load_bundle(path).model
    starts = host_on.starts
    loaded.warm_up()
    assert host_on.pid is not None and host_on.starts == starts + 1
    assert loaded._key in host_on._loaded  # the network is there before anything asked for a prediction
    pid = host_on.pid
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X), rtol=1e-5, atol=1e-6)
    assert host_on.pid == pid and host_on.starts == starts + 1  # the prediction used it: no second start
    loaded.warm_up()  # again: nothing to do
    assert host_on.pid == pid and host_on.starts == starts + 1
