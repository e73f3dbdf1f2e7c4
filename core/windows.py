"""Fixed-length windows over a signal: one definition for training, files and the microphone."""
from __future__ import annotations


def window_ranges(n_samples, *, window, overlap=0.0):
    """(start, end) sample ranges of ``window`` samples covering ``n_samples``.

    Consecutive windows share ``overlap`` of their length. When the windows do
    not end exactly at the end of the signal, one more window ending there is
    added, so the whole signal is covered. A signal shorter than one window
    is one (shorter) window.

    Returns
    -------
    list of (int, int), never empty for ``n_samples >= 1``
    """
    n_samples, window = int(n_samples), max(1, int(window))
    if n_samples <= window:
        return [(0, max(n_samples, 0))]
    hop = max(1, int(round(window * (1.0 - float(overlap)))))
    starts = list(range(0, n_samples - window + 1, hop))
    if starts[-1] + window < n_samples:
        starts.append(n_samples - window)
    return [(s, s + window) for s in starts]
