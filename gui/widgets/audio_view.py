"""What the microphone heard: the waveform (live or a take, with the trimmed part) and its spectrogram."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QVBoxLayout, QWidget

from core.audio import trim_silence
from core.features import power_spectrogram

LIVE_POINTS = 4000  # decimate the live waveform: the screen cannot show more
TAKE_POINTS = 20000  # points of the min/max envelope a long take or file is drawn as
TAKE_SAMPLES = 500_000  # up to this many samples (10 s at 48 kHz) a take is drawn sample by sample
SPECTROGRAM_MAX_HZ = 11025  # the models see 16–22 kHz audio; nothing above this reaches them


def spectrogram(y: np.ndarray, sr: int, *, max_frames: int = 1200) -> np.ndarray:
    """A display spectrogram (core's STFT, ~25 ms window), at most ``max_frames`` columns.

    Returns
    -------
    np.ndarray, shape (frames, n_fft // 2 + 1), float32, dB relative to the maximum, floored at -80
    """
    n_fft = int(2 ** np.ceil(np.log2(max(64, 0.025 * sr))))
    y = np.asarray(y, np.float32)
    hop = max(n_fft // 4, -(-len(y) // max_frames))
    power = power_spectrogram(y=y, n_fft=n_fft, hop_length=hop).T
    db = 10 * np.log10(power + 1e-20)
    return np.maximum(db - db.max(), -80.0).astype(np.float32)


def envelope(y: np.ndarray, sr: int, *, points: int = TAKE_POINTS, full: int = TAKE_SAMPLES):
    """(times, values) to draw ``y``: every sample up to ``full`` samples, else the minimum and maximum of
    each of ``points // 2`` equal stretches (what a screen can show of a 10-minute file; peaks are kept)."""
    n = len(y)
    if n <= full:
        return np.arange(n) / sr, np.asarray(y, np.float32)
    k = -(-n // (points // 2))
    blocks = np.pad(np.asarray(y, np.float32), (0, (-n) % k), mode="edge").reshape(-1, k)
    values = np.empty(2 * len(blocks), np.float32)
    values[0::2], values[1::2] = blocks.min(axis=1), blocks.max(axis=1)
    starts = np.arange(len(blocks)) * k / sr
    times = np.empty_like(values, dtype=np.float64)
    times[0::2], times[1::2] = starts, starts + k / (2 * sr)
    return times, values


def take_view(y: np.ndarray, sr: int, *, show_waveform: bool = True) -> dict:
    """Everything :meth:`AudioView.show_view` draws for a take, as plain arrays: cheap to draw, and
    computed off the GUI thread for long files (a 10-minute file held the window 2.1 s when drawn
    sample by sample)."""
    y = np.asarray(y, np.float32)
    view = {"duration": len(y) / sr, "sr": int(sr), "spectrogram": spectrogram(y, sr), "waveform": None}
    if show_waveform:
        _, (start, end) = trim_silence(y, sr=sr)
        view["waveform"] = envelope(y, sr)
        view["trim"] = (start / sr, end / sr)
    return view


class AudioView(QWidget):
    """Waveform above spectrogram, time axes aligned.

    Attributes used by the recorder widget and its tests: ``waveform_plot``,
    ``waveform_curve``, ``start_marker``/``end_marker`` (the part kept after
    trimming silence), ``spectrogram_plot``, ``spectrogram_image``.
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        background = self.palette().color(QPalette.ColorRole.Base)
        foreground = self.palette().color(QPalette.ColorRole.Text)
        self.waveform_plot = pg.PlotWidget(background=background)
        self.waveform_plot.setMenuEnabled(False)
        self.waveform_plot.setMouseEnabled(x=True, y=False)
        self.waveform_plot.setYRange(-1, 1)
        # No time values under the waveform: the spectrogram below shows the same time axis (a take or a
        # file is drawn over the same range in both), and at 1280×800 every pixel of height counts.
        self.waveform_plot.getAxis("bottom").setStyle(showValues=False)
        self.waveform_plot.getAxis("bottom").setHeight(6)
        self.waveform_plot.getAxis("left").setTicks([[(-1, "-1"), (0, "0"), (1, "1")]])
        self.waveform_plot.setMinimumHeight(70)
        self.waveform_curve = self.waveform_plot.plot(pen=pg.mkPen("#0072B2", width=1))
        self.waveform_curve.setDownsampling(auto=True, method="peak")
        self.waveform_curve.setClipToView(True)
        marker_pen = pg.mkPen("#D55E00", width=2, style=Qt.PenStyle.DashLine)
        self.start_marker = pg.InfiniteLine(angle=90, movable=False, pen=marker_pen)
        self.end_marker = pg.InfiniteLine(angle=90, movable=False, pen=marker_pen)
        for line in (self.start_marker, self.end_marker):
            line.setToolTip("Speech start / end (silence trimmed)")
            line.hide()
            self.waveform_plot.addItem(line)

        self.spectrogram_plot = pg.PlotWidget(background=background)
        self.spectrogram_plot.setMenuEnabled(False)
        self.spectrogram_plot.setMouseEnabled(x=False, y=False)
        self.spectrogram_plot.setLabel("bottom", "time", units="s")
        self.spectrogram_plot.setLabel("left", "frequency", units="Hz")
        self.spectrogram_plot.setMinimumHeight(80)
        self.spectrogram_image = pg.ImageItem()
        self.spectrogram_image.setColorMap(pg.colormap.get("viridis"))
        self.spectrogram_plot.addItem(self.spectrogram_image)
        # before the first take: a second of time and 0-4 kHz, not an empty plot's -0.5..0.5 ("mHz")
        self.spectrogram_plot.setXRange(0, 1, padding=0.01)
        self.spectrogram_plot.setYRange(0, 4000, padding=0)
        self.waveform_plot.setXRange(0, 1, padding=0.01)

        # Equal left-axis widths keep the waveform's and the spectrogram's time axes aligned.
        for plot in (self.waveform_plot, self.spectrogram_plot):
            plot.getAxis("left").setWidth(48)
            for axis in ("left", "bottom"):
                plot.getAxis(axis).setTextPen(foreground)
                plot.getAxis(axis).setPen(foreground)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addWidget(self.waveform_plot, 2)
        lay.addWidget(self.spectrogram_plot, 3)

    #: px: a lower spectrogram names its axis "f (kHz)": "frequency (kHz)" did not fit and read "frequency ("
    FULL_AXIS_TITLE_MIN_HEIGHT = 130

    def resizeEvent(self, event):  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        title = "f" if self.spectrogram_plot.height() < self.FULL_AXIS_TITLE_MIN_HEIGHT else "frequency"
        if self.spectrogram_plot.getAxis("left").labelText != title:  # a new title re-lays the axis out: on change only
            self.spectrogram_plot.setLabel("left", title, units="Hz")

    def clear_live(self):
        """Empty the waveform before a new stream."""
        self.waveform_curve.setData([], [])
        self.hide_markers()
        self.waveform_plot.enableAutoRange(x=True)

    def show_live(self, y, sr, t0):
        """The last seconds of a running stream, starting ``t0`` s into it."""
        step = max(1, len(y) // LIVE_POINTS)
        self.waveform_curve.setData(t0 + np.arange(0, len(y), step) / sr, y[::step])

    def hide_markers(self):
        self.start_marker.hide()
        self.end_marker.hide()

    def show_take(self, y, sr, *, show_waveform=True):
        """A finished take or file: its waveform, the trimmed part marked, and its spectrogram."""
        self.show_view(take_view(y, sr, show_waveform=show_waveform))

    def show_view(self, view):
        """Draw what :func:`take_view` computed (small arrays: fast on the GUI thread)."""
        duration, sr = view["duration"], view["sr"]
        if view["waveform"] is not None:
            self.waveform_curve.setData(*view["waveform"])
            start, end = view["trim"]
            self.start_marker.setValue(start)
            self.end_marker.setValue(end)
            self.start_marker.show()
            self.end_marker.show()
            self.waveform_plot.setXRange(0, duration, padding=0.01)
        self.spectrogram_image.setImage(view["spectrogram"], autoLevels=False, levels=(-80, 0))
        self.spectrogram_image.setRect(QRectF(0, 0, duration, sr / 2))
        self.spectrogram_plot.setYRange(0, min(sr / 2, SPECTROGRAM_MAX_HZ), padding=0)
        self.spectrogram_plot.setXRange(0, duration, padding=0.01)
