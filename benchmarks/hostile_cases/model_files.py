"""Round two (issue 17): crafted model files (Keras layer sizes, open-set fields, scalers, deep nesting).

Every case is ``predict`` (or ``evaluate``) of a copy of a good model with one field changed; each must
end in one ``error:`` line naming the file and the field, without building what the file claims.
"""
from __future__ import annotations

import base64
import json
import subprocess
import sys

import numpy as np

from tests.helpers import write_npz_members

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def _members(path):
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def _encoded(a):
    a = np.ascontiguousarray(a, dtype="<f8")
    return {"dtype": "float64", "shape": list(a.shape), "data": base64.b64encode(a.tobytes()).decode("ascii")}


def _decoded(d):
    return np.frombuffer(base64.b64decode(d["data"]), dtype="<f8").reshape(d["shape"]).copy()


def crafted(src, dst, change_meta=None, arrays=None):
    """A copy of the model file ``src`` at ``dst`` with ``change_meta(meta)`` applied and ``arrays`` replaced."""
    payload = _members(src)
    if change_meta is not None:
        meta = json.loads(bytes(payload["meta"]).decode())
        change_meta(meta)
        payload["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)  # NaN/Infinity as Python writes them
    payload.update(arrays or {})
    return write_npz_members(dst, payload)


def architecture(edit):
    """A meta change that edits the Keras architecture JSON (a dict) of a CNN model file."""
    def change(meta):
        arch = json.loads(meta["model_config"]["architecture"])
        edit(arch)
        meta["model_config"]["architecture"] = json.dumps(arch)
    return change


def last_dense(arch):
    return [layer for layer in arch["config"]["layers"] if layer["class_name"] == "Dense"][-1]


def open_set_array(name, value):
    """A meta change that replaces the open-set array ``name`` (``value(old) -> new``)."""
    def change(meta):
        arrays = meta["open_set"]["arrays"]
        arrays[name] = _encoded(value(_decoded(arrays[name])))
    return change


def threshold(value):
    def change(meta):
        meta["open_set"]["thresholds"][meta["open_set"]["method"]] = value
    return change


def make_cases(tmp, good, clip, model):
    """(name, main.py arguments, expect) rows; a digits CNN and a speakers logistic regression are
    trained here (1 epoch / a few seconds) to craft their files from."""
    cnn = tmp / "cnn.slm"
    subprocess.run([sys.executable, "main.py", "train", "--data", good, "--model", "cnn", "--epochs", "1",
                    "--out", cnn, "--no-cache"], cwd=ROOT, check=True, capture_output=True)
    linear = tmp / "linear.slm"
    subprocess.run([sys.executable, "main.py", "train", "--task", "speakers", "--data", good, "--model", "logreg",
                    "--out", linear, "--no-cache"], cwd=ROOT, check=True, capture_output=True)
    cases = []

    def predict(name, src, filename, change_meta=None, arrays=None):
        cases.append((name, ["predict", crafted(src, tmp / filename, change_meta, arrays), clip], "error"))

    # 3: Keras layer sizes against the stored weights, before anything is built
    predict("CNN whose last Dense claims units=10**7 (134 KB file)", cnn, "units.slm",
            architecture(lambda a: last_dense(a)["config"].update(units=10**7)))
    predict("CNN whose first Conv2D claims a 4096×4096 kernel", cnn, "kernel.slm",
            architecture(lambda a: a["config"]["layers"][1]["config"].update(kernel_size=[4096, 4096])))
    predict("CNN whose Dense build_config claims 10**7 inputs", cnn, "build.slm",
            architecture(lambda a: last_dense(a)["build_config"].update(input_shape=[None, 10**7])))
    # 20: nesting
    predict("CNN whose architecture is 200 000 '['", cnn, "nested.slm",
            lambda m: m["model_config"].update(architecture="[" * 200_000))
    # 13: scalers
    predict("CNN with mean NaN", cnn, "cnn_mean.slm", lambda m: m["model_config"].update(mean=float("nan")))
    predict("CNN with scale 0", cnn, "cnn_scale.slm", lambda m: m["model_config"].update(scale=0.0))
    mlp_scale = _members(model)["model/scale"]
    predict("MLP with a NaN in mean", model, "mlp_mean.slm",
            arrays={"model/mean": np.where(np.arange(mlp_scale.size) == 0, np.nan, _members(model)["model/mean"])})
    predict("MLP with scale 0", model, "mlp_scale.slm", arrays={"model/scale": np.zeros_like(mlp_scale)})
    predict("linear model with scale 0", linear, "lin_scale.slm",
            arrays={"model/scale": np.zeros_like(_members(linear)["model/scale"])})
    # 9: open-set fields
    nan_threshold = crafted(model, tmp / "os_nan.slm", threshold(float("nan")))
    cases.append(("open set: threshold NaN, predict", ["predict", nan_threshold, clip], "error"))
    cases.append(("open set: threshold NaN, evaluate --json", ["evaluate", nan_threshold, "--data", good, "--json",
                                                               "--no-cache"], "error"))
    predict("open set: threshold Infinity", model, "os_inf.slm", threshold(float("inf")))
    predict("open set: threshold 1e308", model, "os_big.slm", threshold(1e308))
    predict("open set: threshold true", model, "os_true.slm", threshold(True))
    predict("open set: NaN in the precision matrix", model, "os_prec_nan.slm",
            open_set_array("precision", lambda p: np.where(np.eye(len(p), dtype=bool), np.nan, p)))
    predict("open set: precision matrix not positive definite", model, "os_prec_neg.slm",
            open_set_array("precision", lambda p: -p))
    predict("open set: scale 0", model, "os_scale.slm", open_set_array("scale", np.zeros_like))
    predict("open set: empty calibration scores", model, "os_cal_empty.slm",
            open_set_array("cal_distance", lambda c: c[:0]))
    predict("open set: NaN calibration scores", model, "os_cal_nan.slm",
            open_set_array("cal_distance", lambda c: np.full_like(c, np.nan)))
    predict("open set: arrays for 5 feature dimensions (the model takes 1248)", model, "os_dims.slm",
            lambda m: m["open_set"]["arrays"].update(mean=_encoded(np.zeros(5)), scale=_encoded(np.ones(5)),
                                                     class_means=_encoded(np.zeros((2, 5))),
                                                     precision=_encoded(np.eye(5))))
    return cases
