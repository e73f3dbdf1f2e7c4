"""The GUI shows the same one-line messages as the command line when a bad model file or folder is opened."""
import io
import json

import numpy as np
import pytest

from tests.core.datagen import class_signal, write_wav
from tests.helpers import write_npz_members


@pytest.fixture
def good_model(tmp_path):
    from core.bundle import ModelBundle, save_bundle
    from core.features import FeatureConfig
    from core.models.mlp import MLPClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 12)).astype(np.float32)
    y = np.array([str(d) for d in range(10)] * 4)
    model = MLPClassifier(hidden_layer_sizes=(8,), epochs=2, early_stopping=False, random_state=0).fit(X, y)
    return save_bundle(ModelBundle(task="digits", model=model, labels=[str(d) for d in range(10)],
                                   feature_config=FeatureConfig(name="mfcc-mean", n_mfcc=12)), tmp_path / "good.slm")


def crafted(src, dst, **arrays):
    with np.load(src, allow_pickle=False) as npz:
        payload = {k: npz[k] for k in npz.files}
    payload.update(arrays)
    return write_npz_members(dst, payload)


def header_claiming(n):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False, "shape": (n,)})
    return buf.getvalue() + bytes(64)


@pytest.mark.parametrize("kind, fragment", [
    ("claims", "claims"),
    ("meta", "malformed metadata"),
    ("labels", "field 'labels'"),
    ("text", "not a readable SpeechLab model"),
])
def test_a_bad_model_file_gives_one_line_and_keeps_the_current_model(make_digits_tab, good_model, tmp_path,
                                                                      kind, fragment, load_model):
    tab = make_digits_tab()
    assert load_model(tab, str(good_model))
    current = tab.bundle
    bad = tmp_path / f"{kind}.slm"
    if kind == "claims":
        crafted(good_model, bad, **{"model/coef_0": header_claiming(4_000_000_000)})
    elif kind == "meta":
        crafted(good_model, bad, meta=np.array(10**9))
    elif kind == "labels":
        with np.load(good_model, allow_pickle=False) as npz:
            meta = json.loads(bytes(npz["meta"]).decode())
        meta.pop("labels")
        crafted(good_model, bad, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8))
    else:
        bad.write_text("not a model")
    assert load_model(tab, str(bad)) is False
    text = tab.progress_panel.status_text()
    assert "\n" not in text and str(bad) in text and fragment in text
    assert "numpy" not in text.lower() and "Traceback" not in text
    assert tab.bundle is current  # the model in use is untouched


def test_a_folder_of_broken_files_lists_each_with_its_reason(make_digits_tab, qtbot, tmp_path):
    for i in range(12):
        write_wav(tmp_path / f"{i % 2}_s{i % 3}_{i}.wav", class_signal(cls=i % 2, sr=8000, seed=i), sr=8000)
    (tmp_path / "1_bad_0.wav").write_bytes(b"RIFF\x14\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00")
    (tmp_path / "1_bad_1.wav").write_bytes(b"")
    tab = make_digits_tab()
    tab.scan(str(tmp_path))
    qtbot.waitUntil(lambda: tab.dataset_panel.dataset is not None and not tab.busy, timeout=20000)
    text = tab.progress_panel.status_text()
    assert "2 file(s) skipped" in text and "\n" not in text
    listed = [tab.dataset_panel.skipped_list.item(i).text() for i in range(tab.dataset_panel.skipped_list.count())]
    assert len(listed) == 2
    reasons = dict(line.rsplit(": ", 1) if line.count(": ") == 1 else line.split(": ", 1) for line in listed)
    assert any("1_bad_0.wav" in p for p in reasons) and any("1_bad_1.wav" in p for p in reasons)
    assert all(r.strip() for r in reasons.values())
