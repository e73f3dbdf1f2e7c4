"""The pretrained encoders' NumPy ports against their original implementations, and their safety.

The reference outputs in tests/data/reference_*.npz were computed once by the originals (musicnn 0.1.0
on TensorFlow with tf_keras, Resemblyzer 0.1.4 on torch 2.13 CPU) with
``scripts/pretrained_reference.py``; the file's docstring says how to re-run it.
"""
import importlib.util
import io
import pickle
import shutil
import struct

import numpy as np
import pytest

from core import encoders
from core.errors import SpeechLabError
from tests.conftest import ROOT

DATA = ROOT / "tests" / "data"


def _close(port, ref, tol=1e-4):
    """Within ``tol`` of the reference, relative to the reference's magnitude where it exceeds 1."""
    scale = max(1.0, float(np.abs(ref).max()))
    return float(np.abs(np.asarray(port) - ref).max()) <= tol * scale


def test_music_encoder_matches_musicnn():
    ref = np.load(DATA / "reference_musicnn.npz")
    for i in range(2):
        audio = ref[f"audio{i}"].astype(np.float32) / 32768
        out = encoders.music_forward(encoders.music_patches(audio))
        assert out["penultimate"].shape == ref[f"penultimate{i}"].shape == (2, 200)
        for layer in ("penultimate", "mean_pool", "max_pool"):
            assert _close(out[layer], ref[f"{layer}{i}"]), (i, layer)


def test_voice_encoder_matches_resemblyzer():
    ref = np.load(DATA / "reference_ge2e.npz")
    for i in range(2):
        audio = ref[f"audio{i}"].astype(np.float32) / 32768
        wav = encoders.voice_preprocess(audio)
        assert wav.shape == ref[f"preprocessed{i}"].shape  # the same silences cut
        assert _close(wav, ref[f"preprocessed{i}"])
        embedding, partials = encoders.voice_embedding_of_preprocessed(ref[f"preprocessed{i}"])
        assert partials.shape == ref[f"partials{i}"].shape
        assert _close(partials, ref[f"partials{i}"])
        assert _close(embedding, ref[f"embedding{i}"])
        assert abs(float(np.linalg.norm(embedding)) - 1.0) < 1e-5


def test_a_changed_weights_file_is_refused(tmp_path, monkeypatch):
    for name in ("ge2e.npz", "musicnn_msd.npz"):
        shutil.copy(encoders.WEIGHTS_DIR / name, tmp_path / name)
    data = bytearray((tmp_path / "ge2e.npz").read_bytes())
    data[-100] ^= 1
    (tmp_path / "ge2e.npz").write_bytes(bytes(data))
    monkeypatch.setattr(encoders, "WEIGHTS_DIR", tmp_path)
    encoders.load_weights.cache_clear()
    try:
        with pytest.raises(SpeechLabError, match="ge2e.npz is not the file SpeechLab ships"):
            encoders.load_weights("ge2e")
        assert encoders.load_weights("musicnn")["dense.kernel"].shape == (1506, 200)
        (tmp_path / "ge2e.npz").unlink()
        assert "ge2e.npz" in encoders.unavailable("ge2e")
    finally:
        encoders.load_weights.cache_clear()


def _converter():
    spec = importlib.util.spec_from_file_location("convert_pretrained", ROOT / "scripts" / "convert_pretrained.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _u(text):  # pickle's BINUNICODE opcode
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def _global(module, name):  # pickle's GLOBAL opcode
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _legacy_file(payload, storages=b""):
    """torch's legacy layout: magic number, protocol, system info, the object, storage keys, storages."""
    buf = io.BytesIO()
    for head in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}):
        pickle.dump(head, buf, protocol=2)
    buf.write(payload)
    buf.write(storages)
    return buf.getvalue()


def test_the_weight_converter_refuses_code_in_a_torch_file(tmp_path):
    convert = _converter()
    marker = tmp_path / "ran"
    # {"model_state": os.system("touch <marker>")}, written by hand as torch's files are pickles
    payload = (b"\x80\x02}" + _u("model_state") + _global("os", "system") + b"(" + _u(f"touch {marker}")
               + b"tRs.")
    with pytest.raises(pickle.UnpicklingError, match="os.system"):
        convert.read_legacy_torch(_legacy_file(payload))
    assert not marker.exists()


def test_the_weight_converter_reads_a_tensor_state_dict():
    """A hand-made legacy file with one 2×3 float tensor, as torch.save of a state dict writes it."""
    convert = _converter()
    storage_id = b"(" + _u("storage") + _global("torch", "FloatStorage") + _u("0") + _u("cpu") + b"K\x06Nt"
    tensor = (_global("torch._utils", "_rebuild_tensor_v2") + b"(" + storage_id + b"Q" + b"K\x00"
              + b"(K\x02K\x03t" + b"(K\x03K\x01t" + b"\x89}tR")
    payload = b"\x80\x02}" + _u("model_state") + b"}" + _u("lstm.weight") + tensor + b"ss."
    keys = b"\x80\x02]" + _u("0") + b"a."
    raw = struct.pack("<q", 6) + np.arange(6, dtype="<f4").tobytes()
    arrays = convert.read_legacy_torch(_legacy_file(payload, keys + raw))
    np.testing.assert_array_equal(arrays["lstm.weight"], np.arange(6, dtype=np.float32).reshape(2, 3))


def test_short_music_is_repeated_to_one_patch_and_every_layer_has_its_size():
    y = np.sin(np.arange(8000) * 2 * np.pi * 440 / 16000).astype(np.float32)  # half a second
    pen = encoders.music_embedding(y)
    pooled = encoders.music_embedding(y, layer="pooled")
    assert pen.shape == (200,) and pooled.shape == (1506,)
    assert np.all(np.isfinite(pen)) and np.all(np.isfinite(pooled))
    with pytest.raises(SpeechLabError, match="layer"):
        encoders.music_embedding(y, layer="logits")
