"""Pretrained audio encoders, run in NumPy: music (musicnn) and voices (GE2E).

Both turn a clip into a fixed-size vector learned from far more audio than a user has; a simple
classifier on top then needs only a handful of examples per class.

``musicnn``  musicnn 0.1.0's MSD_musicnn (Pons & Serra, ISC licence): a CNN trained to tag the
             Million Song Dataset. 3 s patches of a 96-band log-mel spectrogram at 16 kHz; the
             embedding of a clip is the mean over its patches of the 200-unit penultimate layer
             (``layer="penultimate"``) or of the 1506 temporal max and mean pools (``"pooled"``).
``ge2e``     Resemblyzer 0.1.4's GE2E speaker encoder (Apache-2.0): 3 LSTM layers of 256 units on
             40 mel bands, 1.6 s partials; a clip's embedding is the L2-normalised mean of its
             partials' L2-normalised embeddings (256 numbers, all ≥ 0: cosine similarity in [0, 1]).

The weights are converted from the pinned registry wheels by ``scripts/convert_pretrained.py`` (run by
``scripts/setup.sh``) into ``resources/pretrained/`` beside both licences, not kept in git; each archive
is checked against its SHA-256 before use and read without pickle. The ports match the original implementations within 1e-4
(``tests/core/test_encoders.py`` against ``tests/data/reference_*.npz``, made by
``scripts/pretrained_reference.py``). Differences from the originals, on purpose: musicnn's
log-compression is computed in float32 (its float16 overflows to inf under NumPy 2) and a clip
shorter than one patch is repeat-padded (musicnn training's ``pad_short``) instead of failing.
"""
from __future__ import annotations

import functools
import hashlib
import pathlib

import numpy as np

from .errors import SpeechLabError

WEIGHTS_DIR = pathlib.Path(__file__).resolve().parents[1] / "resources" / "pretrained"

# name -> (file, SHA-256, what it is)
WEIGHTS = {
    "musicnn": ("musicnn_msd.npz", "e64246ee79c7127ec621685ef7eaee983d62886291f21d1f417a9bb65ad1433f",
                "musicnn MSD music encoder"),
    "ge2e": ("ge2e.npz", "e56566b8a1330ec0da999c945c578f7115cb68698f718d7e5d59d139378d7f43",
             "GE2E voice encoder"),
}

SR = 16000  # both encoders' sample rate
MUSIC_LAYERS = ("penultimate", "pooled")


def unavailable(name):
    """None when encoder ``name`` can be used, else a one-line reason (for disabled choices)."""
    file, digest, title = WEIGHTS[name]
    path = WEIGHTS_DIR / file
    if not path.is_file():
        return f"the {title} needs {path} (run scripts/setup.sh)"
    if name == "ge2e":
        try:
            import webrtcvad  # noqa: F401
        except ImportError:
            return "the GE2E voice encoder needs webrtcvad (pip install webrtcvad-wheels; run scripts/setup.sh)"
    return None


@functools.lru_cache(maxsize=None)
def load_weights(name):
    """{array name: float32 array} of encoder ``name``, after checking the file's SHA-256."""
    file, digest, title = WEIGHTS[name]
    path = WEIGHTS_DIR / file
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SpeechLabError(f"The {title} cannot be used: {path} cannot be read ({exc.strerror or exc})") from None
    if hashlib.sha256(data).hexdigest() != digest:
        raise SpeechLabError(f"The {title} cannot be used: {path} is not the file SpeechLab ships "
                             "(SHA-256 differs); reinstall it")
    import io

    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {k: npz[k].astype(np.float32, copy=False) for k in npz.files}


# ----------------------------------------------------------------------------- musicnn

_N_FRAMES = 187  # 3 s at 16 kHz with a 256 hop
_BN_EPS = 1e-3  # TensorFlow 1's batch_normalization default


def _bn(x, w, name):
    return (x - w[f"{name}.moving_mean"]) / np.sqrt(w[f"{name}.moving_variance"] + _BN_EPS) * w[f"{name}.gamma"] \
        + w[f"{name}.beta"]


def _conv_time(x, kernel, bias, *, pad_before, pad_after):
    """A 2-D convolution whose kernel spans ``kh`` frames and ``kw`` bands of a one-channel input.

    x : (B, T, F); kernel : (kh, kw, 1, out). Time is padded with zeros, frequency is 'valid'.
    Returns (B, T', F - kw + 1, out) after ReLU.
    """
    kh, kw, _, out = kernel.shape
    x = np.pad(x, ((0, 0), (pad_before, pad_after), (0, 0)))
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))  # (B, T', F', kh, kw)
    b, t, f = win.shape[:3]
    y = win.reshape(b * t * f, kh * kw) @ kernel.reshape(kh * kw, out) + bias
    return np.maximum(y, 0.0).reshape(b, t, f, out)


def music_patches(y):
    """musicnn's input: (n, 187, 96) log-compressed mel patches of a 16 kHz signal, end to end.

    A signal shorter than one patch is repeated until it fills one."""
    from .dsp import mel_basis, power_spectrogram

    y = np.asarray(y, dtype=np.float32)
    need = (_N_FRAMES - 1) * 256
    if y.size < need:
        y = np.tile(y, int(np.ceil(need / max(1, y.size))) + 1)[: need + 256]
    mel = (mel_basis(SR, 512, 96) @ power_spectrogram(y=y, n_fft=512, hop_length=256)).T
    rep = np.log10(10000.0 * mel.astype(np.float32) + 1.0)
    starts = range(0, rep.shape[0] - _N_FRAMES + 1, _N_FRAMES)
    return np.stack([rep[s:s + _N_FRAMES] for s in starts]).astype(np.float32)


def music_forward(patches, *, weights=None):
    """musicnn's activations for a batch of patches: {"penultimate": (n, 200), "pooled": (n, 1506),
    "mean_pool": (n, 753), "max_pool": (n, 753)}."""
    w = weights or load_weights("musicnn")
    x = _bn(np.asarray(patches, np.float32), w, "batch_normalization")
    front = []
    # timbral filters (7 frames × 38 or 67 bands), then temporal ones (128, 64, 32 frames × 1 band)
    for i, conv in enumerate(("conv2d", "conv2d_1")):
        h = _conv_time(x, w[f"{conv}.kernel"], w[f"{conv}.bias"], pad_before=3, pad_after=3)
        front.append(_bn(h, w, f"batch_normalization_{i + 1}").max(axis=2))
    for i, conv in enumerate(("conv2d_2", "conv2d_3", "conv2d_4")):
        kh = w[f"{conv}.kernel"].shape[0]
        h = _conv_time(x, w[f"{conv}.kernel"], w[f"{conv}.bias"], pad_before=(kh - 1) // 2, pad_after=kh // 2)
        front.append(_bn(h, w, f"batch_normalization_{i + 3}").max(axis=2))
    front = np.concatenate(front, axis=2)  # (B, T, 561)
    # mid-end: three convolutions over all features, the last two residual
    mids = [front]
    h = front
    for i, conv in enumerate(("conv2d_5", "conv2d_6", "conv2d_7")):
        out = _bn(_conv_time(h, w[f"{conv}.kernel"], w[f"{conv}.bias"], pad_before=3, pad_after=3)[:, :, 0, :],
                  w, f"batch_normalization_{i + 6}")
        h = out if i == 0 else out + h
        mids.append(h)
    feats = np.concatenate(mids, axis=2)  # (B, T, 753)
    max_pool, mean_pool = feats.max(axis=1), feats.mean(axis=1)
    pooled = np.stack([max_pool, mean_pool], axis=2).reshape(len(feats), -1)  # TF's flatten of (753, 2)
    dense = np.maximum(_bn(pooled, w, "batch_normalization_9") @ w["dense.kernel"] + w["dense.bias"], 0.0)
    penultimate = _bn(dense, w, "batch_normalization_10")
    return {"penultimate": penultimate, "pooled": np.concatenate([mean_pool, max_pool], axis=1),
            "mean_pool": mean_pool, "max_pool": max_pool}


def music_embedding(y, *, layer="penultimate", batch=8):
    """A 16 kHz clip's musicnn embedding: the mean over its 3 s patches of ``layer``."""
    if layer not in MUSIC_LAYERS:
        raise SpeechLabError(f"Music embedding layer must be one of {', '.join(MUSIC_LAYERS)}, not {layer!r}")
    patches = music_patches(y)
    rows = [music_forward(patches[i:i + batch])[layer] for i in range(0, len(patches), batch)]
    return np.concatenate(rows).mean(axis=0).astype(np.float32)


# ----------------------------------------------------------------------------- GE2E

_PARTIAL = 160  # frames of 10 ms: 1.6 s
_INT16_MAX = 2**15 - 1


def voice_preprocess(y):
    """Resemblyzer's preprocessing of a 16 kHz signal: raise the level to -30 dBFS (never lower it),
    then shorten silences longer than ~0.2 s (webrtcvad, mode 3, 30 ms windows)."""
    import webrtcvad
    from scipy.ndimage import binary_dilation

    y = np.asarray(y, dtype=np.float32)
    rms = np.sqrt(np.mean((y.astype(np.float64) * _INT16_MAX) ** 2))
    if rms > 0:
        change = -30.0 - 20 * np.log10(rms / _INT16_MAX)
        if change > 0:
            y = (y * 10 ** (change / 20)).astype(np.float32)
    window = 30 * SR // 1000
    y = y[: y.size - y.size % window]
    if y.size == 0:
        return y
    pcm = np.round(y * _INT16_MAX).astype(np.int16).tobytes()
    vad = webrtcvad.Vad(3)
    flags = np.array([vad.is_speech(pcm[s * 2:(s + window) * 2], sample_rate=SR)
                      for s in range(0, y.size, window)], dtype=float)
    width = 8  # moving average of the decisions
    padded = np.concatenate((np.zeros((width - 1) // 2), flags, np.zeros(width // 2)))
    csum = np.cumsum(padded)
    csum[width:] = csum[width:] - csum[:-width]
    mask = np.round(csum[width - 1:] / width).astype(bool)
    mask = binary_dilation(mask, np.ones(7))
    return y[np.repeat(mask, window)]


def voice_mels(wav):
    """(frames, 40) mel power spectrogram (25 ms window, 10 ms hop), as the GE2E encoder reads it."""
    from .dsp import mel_basis, power_spectrogram

    return (mel_basis(SR, 400, 40) @ power_spectrogram(y=wav, n_fft=400, hop_length=160)).T.astype(np.float32)


def partial_slices(n_samples, *, rate=1.3, min_coverage=0.75):
    """Frame ranges of the 1.6 s partials covering ``n_samples`` (Resemblyzer's rule)."""
    hop = 160
    n_frames = int(np.ceil((n_samples + 1) / hop))
    step = max(1, int(np.round((SR / rate) / hop)))
    starts = list(range(0, max(1, n_frames - _PARTIAL + step + 1), step))
    if len(starts) > 1:
        last = starts[-1] * hop
        coverage = (n_samples - last) / (_PARTIAL * hop)
        if coverage < min_coverage:
            starts = starts[:-1]
    return [(s, s + _PARTIAL) for s in starts]


def voice_forward(mels, *, weights=None):
    """GE2E embeddings of a batch of partials (B, 160, 40): (B, 256), each L2-normalised.

    The recurrence is 480 small matrix products; a multi-threaded BLAS spends more time waking its
    threads than computing them (12× slower on a busy 2-core machine), so it runs on one thread."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return _voice_forward(mels, weights or load_weights("ge2e"))


def _voice_forward(mels, w):
    h_seq = np.ascontiguousarray(np.swapaxes(np.asarray(mels, np.float32), 0, 1))  # time-major: (T, B, 40)
    steps, b = h_seq.shape[:2]
    for layer in range(3):
        w_ih, w_hh = w[f"lstm.weight_ih_l{layer}"], w[f"lstm.weight_hh_l{layer}"]
        bias = w[f"lstm.bias_ih_l{layer}"] + w[f"lstm.bias_hh_l{layer}"]
        n = w_hh.shape[1]
        # torch's gate order is input, forget, candidate, output; reordered to input, forget, output, candidate.
        # sigmoid(x) = (tanh(x / 2) + 1) / 2: the three sigmoid gates' rows are halved here, so one tanh over
        # all the gates does each step (a sigmoid call cost twice a tanh; a step is many small calls)
        order = np.r_[0:2 * n, 3 * n:4 * n, 2 * n:3 * n]
        scale = np.ones(4 * n, np.float32)
        scale[:3 * n] = 0.5
        w_ih_s, w_hh_s, bias_s = w_ih[order] * scale[:, None], w_hh[order] * scale[:, None], bias[order] * scale
        # (T, B, 4n): the input part of every step at once, as one 2-D product (a 3-D one is a product per step)
        xs = h_seq.reshape(steps * b, -1) @ w_ih_s.T
        xs += bias_s
        xs = xs.reshape(steps, b, 4 * n)
        w_hh_t = np.ascontiguousarray(w_hh_s.T)
        c = np.zeros((b, n), np.float32)
        h = np.zeros((b, n), np.float32)
        g = np.empty((b, 4 * n), np.float32)  # gates (and the step's product), reused
        tmp = np.empty((b, n), np.float32)
        outs = np.empty((steps, b, n), np.float32)
        for t in range(steps):  # buffers reused: the recurrence is many small steps, allocation shows
            np.matmul(h, w_hh_t, out=g)
            g += xs[t]
            np.tanh(g, out=g)
            sig = g[:, :3 * n]
            sig *= 0.5
            sig += 0.5
            c *= g[:, n:2 * n]
            np.multiply(g[:, :n], g[:, 3 * n:], out=tmp)
            c += tmp
            np.tanh(c, out=tmp)
            h = np.multiply(g[:, 2 * n:3 * n], tmp, out=outs[t])  # written in place: the next step reads it
        h_seq = outs
    raw = np.maximum(h @ w["linear.weight"].T + w["linear.bias"], 0.0)
    norm = np.linalg.norm(raw, axis=1, keepdims=True)
    return raw / np.maximum(norm, 1e-12)


def voice_embedding_of_preprocessed(wav, *, batch=64):
    """The GE2E embedding (256,) of an already preprocessed 16 kHz signal, and its partials' (n, 256).

    Partials go through the network ``batch`` at a time: each batch is 480 steps of the recurrence one after
    another, so a 50 s utterance (64 partials) is one pass, not four."""
    slices = partial_slices(wav.size)
    need = slices[-1][1] * 160
    if need > wav.size:
        wav = np.pad(wav, (0, need - wav.size))
    mels = voice_mels(wav)
    batch_mels = np.stack([mels[a:b] for a, b in slices])
    partials = np.concatenate([voice_forward(batch_mels[i:i + batch]) for i in range(0, len(batch_mels), batch)])
    mean = partials.mean(axis=0)
    return (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32), partials


def voice_embedding(y):
    """A 16 kHz clip's GE2E embedding (256,): preprocessing, partials, mean, L2 norm.

    When voice-activity detection finds no speech the untrimmed signal is used (a very short or
    quiet take still gets an embedding; its score will show how unlike a voice it is)."""
    wav = voice_preprocess(y)
    if wav.size < 160 * 10:  # under 0.1 s of speech
        wav = np.asarray(y, np.float32)
    return voice_embedding_of_preprocessed(wav)[0]
