"""Compute the reference outputs that tests/core/test_encoders.py compares the NumPy ports against.

Runs the original implementations, once, outside the project (they need torch and TF1-style graphs):

    # musicnn: its own model code from the wheel, on TensorFlow (the project's venv has it)
    unzip -q musicnn-0.1.0-py3-none-any.whl -d /tmp/musicnn-wheel
    PYTHONPATH=/tmp/musicnn-wheel .venv/bin/python scripts/pretrained_reference.py musicnn
    # GE2E: a throwaway venv with torch (2.13.0 CPU) and the Resemblyzer wheel
    python -m venv /tmp/refenv && /tmp/refenv/bin/pip install torch==2.13.0 numpy scipy librosa webrtcvad-wheels
    /tmp/refenv/bin/pip install --no-deps Resemblyzer-0.1.4-py3-none-any.whl
    /tmp/refenv/bin/python scripts/pretrained_reference.py ge2e

Each writes ``tests/data/reference_<name>.npz``: the input audio (16 kHz, int16, so the port reads
exactly the same samples) and the reference's outputs. The audio is cut from
``../shared/data`` (two GTZAN clips, two LibriSpeech voices) and is committed with the outputs.
"""
from __future__ import annotations

import pathlib
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
OUT = ROOT / "tests" / "data"


def _load16k(path, seconds, offset=0.0):
    import librosa

    y, _ = librosa.load(str(path), sr=16000, offset=offset, duration=seconds)
    return np.round(np.clip(y, -1, 1) * 32767).astype(np.int16)


def musicnn():
    import librosa
    import tensorflow as tf

    tf.compat.v1.disable_eager_execution()
    from musicnn import models  # from the unpacked wheel (PYTHONPATH)

    clips = [_load16k(SHARED / "gtzan-dev/genres_original/jazz/jazz.00004.wav", 6.5, 10.0),
             _load16k(SHARED / "gtzan-dev/genres_original/metal/metal.00003.wav", 6.5, 3.0)]
    n_frames = 187
    batches = []
    for audio in clips:
        y = audio.astype(np.float32) / 32768
        rep = librosa.feature.melspectrogram(y=y, sr=16000, hop_length=256, n_fft=512, n_mels=96).T
        rep = np.log10(10000 * rep.astype(np.float32) + 1)  # float32: musicnn's float16 overflows under NumPy 2
        batches.append(np.stack([rep[t:t + n_frames] for t in range(0, rep.shape[0] - n_frames + 1, n_frames)]))
    x = tf.compat.v1.placeholder(tf.float32, [None, n_frames, 96])
    is_training = tf.compat.v1.placeholder(tf.bool)
    _, _, _, _, _, _, mean_pool, max_pool, penultimate = models.define_model(x, is_training, "MSD_musicnn", 50)
    out = {f"audio{i}": a for i, a in enumerate(clips)}
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        checkpoint = str(pathlib.Path(models.__file__).parent / "MSD_musicnn") + "/"  # files named ".index", ".data-…"
        tf.compat.v1.train.Saver().restore(sess, checkpoint)  # strict: fails loudly, unlike musicnn's extractor
        for i, batch in enumerate(batches):
            pen, mean, mx = sess.run([penultimate, mean_pool, max_pool], feed_dict={x: batch, is_training: False})
            out[f"penultimate{i}"], out[f"mean_pool{i}"], out[f"max_pool{i}"] = pen, mean, mx
    OUT.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT / "reference_musicnn.npz", **out)


def ge2e():
    from resemblyzer import VoiceEncoder, preprocess_wav

    voices = sorted((SHARED / "librispeech-voices-dev").rglob("*.flac"))[:2]
    clips = [_load16k(v, 4.0) for v in voices]
    encoder = VoiceEncoder("cpu", verbose=False)
    out = {}
    for i, audio in enumerate(clips):
        y = audio.astype(np.float32) / 32768
        wav = preprocess_wav(y)  # at 16 kHz already: volume to -30 dBFS, long silences trimmed (webrtcvad)
        embed, partials, _ = encoder.embed_utterance(wav, return_partials=True)
        out[f"audio{i}"], out[f"embedding{i}"], out[f"partials{i}"] = audio, embed, partials
        out[f"preprocessed{i}"] = wav.astype(np.float32)
    OUT.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT / "reference_ge2e.npz", **out)


if __name__ == "__main__":
    {"musicnn": musicnn, "ge2e": ge2e}[sys.argv[1]]()
