"""Crafted and broken model files: each is refused at load with one line naming the file,
never runs code, never allocates what the file merely claims."""
import io
import json
import resource
import zipfile

import numpy as np
import pytest

from core.bundle import ModelBundle, load_bundle, save_bundle
from core.errors import SpeechLabError
from core.features import FeatureConfig
from core.models.mlp import MLPClassifier
from tests.helpers import write_npz_members


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 12)).astype(np.float32)
    y = np.array(["a", "b", "c"] * 20)
    X[y == "b"] += 2
    model = MLPClassifier(hidden_layer_sizes=(8,), epochs=3, early_stopping=False, random_state=0).fit(X, y)
    bundle = ModelBundle(task="speakers", model=model, labels=["a", "b", "c"],
                         feature_config=FeatureConfig(name="mfcc-mean", n_mfcc=12))
    return save_bundle(bundle, tmp_path_factory.mktemp("m") / "good.slm")


def members(path):
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def meta_of(path):
    return json.loads(bytes(members(path)["meta"]).decode())


def write(path, payload, *, compression=zipfile.ZIP_STORED):
    return write_npz_members(path, payload, compression=compression)


def with_meta(good, tmp_path, change, name="bad.slm"):
    payload = members(good)
    meta = meta_of(good)
    change(meta)
    payload["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    return write(tmp_path / name, payload)


def assert_refused(path, *fragments):
    with pytest.raises(SpeechLabError) as info:
        load_bundle(path)
    text = str(info.value)
    assert "\n" not in text and str(path) in text
    for f in fragments:
        assert f in text, text


def test_the_good_file_loads(good):
    assert load_bundle(good).labels == ["a", "b", "c"]


def test_a_header_claiming_billions_of_floats_is_refused_without_allocating(good, tmp_path):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (4_000_000_000,)})
    payload = members(good)
    payload["model/coef_0"] = header.getvalue() + bytes(1024)
    path = write(tmp_path / "huge.slm", payload)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, hard))  # 16 GB would be a MemoryError traceback
    try:
        assert_refused(path, "claims", "coef_0")
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def test_a_deflate_bomb_is_refused(good, tmp_path):
    payload = members(good)
    payload["model/coef_0"] = np.zeros((2000, 2000), np.float32)  # 16 MB of zeros deflate to ~16 KB
    path = write(tmp_path / "bomb.slm", payload, compression=zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 200_000
    assert_refused(path, "inflates")


@pytest.mark.parametrize("meta_value, fragment", [
    (np.array(10**9, dtype=np.int64), "malformed metadata"),          # a 0-d integer
    (np.zeros((3, 3), np.uint8), "malformed metadata"),
    (np.frombuffer(b"\xff\xfe", np.uint8), "not a readable"),
    (np.frombuffer(b"[1, 2]", np.uint8), "not a SpeechLab model"),
])
def test_malformed_metadata(good, tmp_path, meta_value, fragment):
    payload = members(good)
    payload["meta"] = meta_value
    assert_refused(write(tmp_path / "m.slm", payload), fragment)


@pytest.mark.parametrize("change, fragment", [
    (lambda m: m.update(format_version="1"), "format_version"),
    (lambda m: m.update(format_version=None), "format_version"),
    (lambda m: m.pop("labels"), "labels"),
    (lambda m: m.update(labels=["a", "a", "b"]), "labels"),
    (lambda m: m.update(labels=["a", "b", "z"]), "classes do not match"),
    (lambda m: m.pop("feature_config"), "feature_config"),
    (lambda m: m.update(feature_config=[]), "feature_config"),
    (lambda m: m["feature_config"].update(n_frames=10**9), "n_frames"),
    (lambda m: m["feature_config"].update(sr="fast"), "'sr'"),
    (lambda m: m["feature_config"].update(n_mfcc=20), "takes 12 inputs"),
    (lambda m: m.update(model_type="torch"), "unknown model type"),
    (lambda m: m.update(model_type=["mlp"]), "unknown model type"),
    (lambda m: m.pop("model_config"), "model_config"),
    (lambda m: m["model_config"].update(layer_activations=["relu", "sudo"]), "activations"),
    (lambda m: m["model_config"]["params"].update(hidden_layer_sizes=[-1]), "hidden_layer_sizes"),
    (lambda m: m["model_config"].update(n_features_in=13), "layer 0"),
    (lambda m: m.update(training="x"), "training"),
    (lambda m: m.update(history={}), "history"),
    (lambda m: m.update(format_version=99), "newer SpeechLab"),
])
def test_malformed_fields_get_one_line(good, tmp_path, change, fragment):
    assert_refused(with_meta(good, tmp_path, change), fragment)


@pytest.mark.parametrize("change, fragment", [
    (lambda a: a.pop("model/coef_1"), "coef_1"),
    (lambda a: a.update({"model/coef_0": np.zeros((5, 8), np.float32)}), "layer 0"),
    (lambda a: a.update({"model/intercept_0": np.zeros(3, np.float32)}), "layer 0"),
    (lambda a: a.update({"model/classes": np.array(["a", "b"])}), "classes"),
    (lambda a: a.update({"model/coef_0": np.full((12, 8), np.nan, np.float32)}), "non-finite"),
    (lambda a: a.update({"model/mean": np.zeros(3, np.float32)}), "standardisation"),
])
def test_arrays_that_do_not_chain_are_refused(good, tmp_path, change, fragment):
    payload = members(good)
    change(payload)
    assert_refused(write(tmp_path / "a.slm", payload), fragment)


def test_pickled_arrays_never_run(good, tmp_path):
    import pickle

    raw = io.BytesIO()
    np.lib.format.write_array_header_1_0(raw, {"descr": "|O", "fortran_order": False, "shape": (1,)})
    payload = members(good)
    payload["model/coef_0"] = raw.getvalue() + pickle.dumps([print])
    assert_refused(write(tmp_path / "p.slm", payload), "Python objects")


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04garbage", b"\x93NUMPY" + bytes(20), b"hello"])
def test_not_a_model_at_all(tmp_path, content):
    path = tmp_path / "x.slm"
    path.write_bytes(content)
    assert_refused(path)


def test_a_folder_named_like_a_model(tmp_path):
    folder = tmp_path / "m.slm"
    folder.mkdir()
    with pytest.raises(SpeechLabError, match="is a folder"):
        load_bundle(folder)


def test_truncated_copy_of_a_good_file(good, tmp_path):
    data = good.read_bytes()
    for cut in (len(data) // 3, len(data) - 30):
        path = tmp_path / f"cut{cut}.slm"
        path.write_bytes(data[:cut])
        assert_refused(path)
