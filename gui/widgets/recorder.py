"""Record from the microphone (or open a file) and show what the model hears.

The audio callback only queues blocks (``core.recorder.Recorder``); a 30 ms
``QTimer`` on the GUI thread drains the queue, moves the level meter and the
live waveform, and feeds the utterance detector. Predictions run on a
one-thread ``QThreadPool`` (in order, never on the GUI thread) and come back
through a queued signal; results of an older take are still added to the
history but never overwrite a newer take's display.
"""
from __future__ import annotations

import datetime
import os
import pathlib

import numpy as np
import pyqtgraph as pg
import soundfile
from PySide6.QtCore import QObject, QRectF, QRunnable, QSettings, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QFont, QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from core.audio import load_audio, trim_silence
from core.errors import NoAudioDevice, SpeechLabError
from core.prediction import sliding_predictions
from core.recorder import Recorder, list_input_devices, play_audio, resolve_device, stop_playback
from core.utterances import UtteranceDetector, is_clipped, level_dbfs, peak_dbfs

SETTINGS_DEVICE = "recorder/device"
SETTINGS_SAVE_DIR = "recorder/save_dir"
LEVEL_FLOOR_DB = -60
QUIET_PEAK_DB = -45.0
UNSURE_PROBABILITY = 0.5
LIVE_SECONDS = 3.0  # the scrolling waveform while listening
LIVE_POINTS = 4000  # decimate the live waveform: the screen cannot show more
LEVEL_FALL_DB = 2  # per 30 ms tick: the meter falls back smoothly instead of flickering
SPECTROGRAM_MAX_HZ = 11025  # the models see 16–22 kHz audio; nothing above this reaches them
NO_PREDICTOR_TEXT = "Train or load a model to predict"
AUDIO_FILTER = "Audio files (*.wav *.flac *.ogg *.mp3);;All files (*)"
_TOP_BRUSH = pg.mkBrush("#0072B2")
_OTHER_BRUSH = pg.mkBrush("#9BB7D4")


def default_filename(label: str) -> str:
    """``take_YYYYmmdd_HHMMSS.wav`` (the label is not used)."""
    return f"take_{datetime.datetime.now():%Y%m%d_%H%M%S}.wav"


def spectrogram(y: np.ndarray, sr: int, *, max_frames: int = 1200) -> np.ndarray:
    """Magnitude spectrogram in dB for display.

    The hop grows with the length so that at most ``max_frames`` frames are
    computed: a 10-minute file costs the same ~10 ms as a 5 s take.

    Returns
    -------
    np.ndarray, shape (frames, n_fft // 2 + 1), float32, dB relative to the maximum, floored at -80
    """
    n_fft = int(2 ** np.ceil(np.log2(max(64, 0.025 * sr))))
    y = np.pad(np.asarray(y, np.float32), (0, max(0, n_fft - len(y))))
    hop = max(n_fft // 4, -(-(len(y) - n_fft) // max_frames) or 1)
    n = 1 + (len(y) - n_fft) // hop
    index = np.arange(n_fft)[None, :] + hop * np.arange(n)[:, None]
    mag = np.abs(np.fft.rfft(y[index] * np.hanning(n_fft).astype(np.float32), axis=1))
    db = 20 * np.log10(mag + 1e-10)
    return np.maximum(db - db.max(), -80.0).astype(np.float32)


class _PoolSignals(QObject):
    done = Signal(object, object)  # (request, result)
    failed = Signal(object, str)


class _Job(QRunnable):
    """Run ``fn()`` on the pool and report through queued signals."""

    def __init__(self, fn, request, signals):
        super().__init__()
        self.fn, self.request, self.signals = fn, request, signals

    def run(self):
        try:
            result = self.fn()
        except SpeechLabError as exc:  # already a message for the user
            self.signals.failed.emit(self.request, str(exc))
        except Exception as exc:  # a predictor can fail in any way; show it, never crash
            self.signals.failed.emit(self.request, f"{type(exc).__name__}: {exc}")
        else:
            self.signals.done.emit(self.request, result)


def _slow_to_load(path):
    """Whether decoding could hold the GUI thread past ~50 ms: compressed formats, or big files."""
    try:
        size = os.path.getsize(path)
    except OSError:
        return False  # the synchronous path reports the problem at once
    return size > 8_000_000 or not str(path).lower().endswith((".wav", ".flac"))


def _is_audio_url(url):
    from core.audio import AUDIO_EXTENSIONS

    return url.isLocalFile() and url.toLocalFile().lower().endswith(AUDIO_EXTENSIONS)


class RecorderWidget(QWidget):
    """Microphone takes, continuous listening, files, and the model's verdict.

    Parameters
    ----------
    parent : QWidget, optional
    device : str or int, optional
        Input device to use instead of the remembered one (name substring
        or PortAudio index). A name that does not exist shows the error and
        disables recording until another device is picked.
    settings : QSettings, optional
        Where the device choice and save folder are remembered
        (keys ``recorder/device``, ``recorder/save_dir``); default ``QSettings()``.

    Signals
    -------
    take_ready(np.ndarray, int)
        A new microphone take or utterance: float32 mono samples, rate.
        Opened files do not emit it (they are not takes).
    prediction_made(dict)
        ``{"label", "probabilities", "source"}`` for each take, utterance or
        file; for a long file the probabilities are the mean over its
        windows and ``"windows"`` lists ``{start, end, label, probabilities}``.
    """

    take_ready = Signal(object, int)
    prediction_made = Signal(dict)

    def __init__(self, parent=None, *, device=None, settings=None):
        super().__init__(parent)
        self.setAcceptDrops(True)
        self._settings = settings if settings is not None else QSettings()
        self._predictor = None
        self._filename_factory = default_filename
        self._recorder: Recorder | None = None
        self._mode: str | None = None  # None, "take" or "listen"
        self._parts: list[np.ndarray] = []
        self._collected = 0
        self._live = np.zeros(0, np.float32)
        self._detector: UtteranceDetector | None = None
        self._take: np.ndarray | None = None
        self._take_sr = 0
        self._take_id = 0
        self._quality_warnings: list[str] = []
        self._device_ok = False
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)  # predictions in order; a model need not be thread-safe
        self._pool_signals = _PoolSignals(self)
        self._pool_signals.done.connect(self._on_prediction)
        self._pool_signals.failed.connect(self._on_prediction_failed)
        self._load_signals = _PoolSignals(self)
        self._load_signals.done.connect(self._on_file_loaded)
        self._load_signals.failed.connect(self._on_file_failed)  # a bound slot: runs on the GUI thread
        self._timer = QTimer(self)
        self._timer.setInterval(30)
        self._timer.timeout.connect(self._drain)

        self._build()
        self._refresh_devices(wanted=device, rescan=False)
        self.set_predictor(None)

    # ------------------------------------------------------------------ UI
    def _build(self):
        background = self.palette().color(QPalette.ColorRole.Base)
        foreground = self.palette().color(QPalette.ColorRole.Text)

        self.device_combo = QComboBox()
        self.device_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.device_combo.setMinimumContentsLength(18)
        self.device_combo.setPlaceholderText("choose a microphone")
        self.device_combo.activated.connect(self._on_device_chosen)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Look for microphones plugged in since start-up")
        self.refresh_button.clicked.connect(lambda: self._refresh_devices(wanted=self._current_device_name()))
        self.device_message = QLabel()
        self.device_message.setWordWrap(True)
        self.device_message.setStyleSheet("color: #B00020;")
        self.device_message.hide()

        self.record_button = QPushButton("● Record")
        self.record_button.setCheckable(True)
        self.record_button.setToolTip("Start a take; press again to stop (or it stops after the fixed length)")
        self.record_button.toggled.connect(self._on_record_toggled)
        self.fixed_check = QCheckBox("Stop after")
        self.fixed_check.setChecked(True)
        self.seconds_spin = QDoubleSpinBox()
        self.seconds_spin.setRange(0.5, 60.0)
        self.seconds_spin.setSingleStep(0.5)
        self.seconds_spin.setDecimals(1)
        self.seconds_spin.setSuffix(" s")
        self.seconds_spin.setValue(1.0)
        self.fixed_check.toggled.connect(self.seconds_spin.setEnabled)
        self.listen_button = QPushButton("Listen continuously")
        self.listen_button.setCheckable(True)
        self.listen_button.setToolTip("Cut each spoken word out of the stream and predict it")
        self.listen_button.toggled.connect(self._on_listen_toggled)
        self.level_bar = QProgressBar()
        self.level_bar.setRange(LEVEL_FLOOR_DB, 0)
        self.level_bar.setValue(LEVEL_FLOOR_DB)
        self.level_bar.setFormat("%v dBFS")
        self.level_bar.setToolTip("Input level (RMS)")
        self.level_bar.setMinimumWidth(120)

        self.waveform_plot = pg.PlotWidget(background=background)
        self.waveform_plot.setMenuEnabled(False)
        self.waveform_plot.setMouseEnabled(x=True, y=False)
        self.waveform_plot.setYRange(-1, 1)
        self.waveform_plot.setLabel("bottom", "time", units="s")
        self.waveform_plot.getAxis("left").setTicks([[(-1, "-1"), (0, "0"), (1, "1")]])
        self.waveform_plot.setMinimumHeight(110)
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
        self.spectrogram_plot.setMinimumHeight(130)
        self.spectrogram_image = pg.ImageItem()
        self.spectrogram_image.setColorMap(pg.colormap.get("viridis"))
        self.spectrogram_plot.addItem(self.spectrogram_image)

        self.play_button = QPushButton("▶ Play")
        self.play_button.clicked.connect(self.play)
        self.label_edit = QLineEdit()
        self.label_edit.setPlaceholderText("label for the saved take")
        self.save_button = QPushButton("Save take…")
        self.save_button.clicked.connect(self._on_save_clicked)
        self.open_button = QPushButton("Open file…")
        self.open_button.clicked.connect(self._on_open_clicked)
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.prediction_label = QLabel()
        self.prediction_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.prediction_label.setWordWrap(True)
        self.prediction_label.setMinimumHeight(56)
        self._big_font = QFont(self.font())
        self._big_font.setPointSizeF(self.font().pointSizeF() * 2.6)
        self._big_font.setBold(True)
        self._hint_font = QFont(self.font())
        self._hint_font.setItalic(True)
        self.probability_plot = pg.PlotWidget(background=background)
        self.probability_plot.setMenuEnabled(False)
        self.probability_plot.setMouseEnabled(x=False, y=False)
        self.probability_plot.setXRange(0, 1.04, padding=0)  # room for the "1.0" tick
        self.probability_plot.setLabel("bottom", "probability")
        self.probability_plot.getPlotItem().invertY(True)  # top label first
        self.probability_plot.setMinimumHeight(140)
        self.probability_bars = pg.BarGraphItem(x0=[], y=[], height=0.7, width=[], brushes=[])
        self.probability_plot.addItem(self.probability_bars)
        self.warning_label = QLabel()
        self.warning_label.setWordWrap(True)
        self.warning_label.setStyleSheet("color: #A65A00;")
        self.history_list = QListWidget()
        self.history_list.setToolTip("Predictions, newest last")

        # Equal left-axis widths keep the waveform's and the spectrogram's time axes aligned.
        self.waveform_plot.getAxis("left").setWidth(48)
        self.spectrogram_plot.getAxis("left").setWidth(48)
        for plot in (self.waveform_plot, self.spectrogram_plot, self.probability_plot):
            for axis in ("left", "bottom"):
                plot.getAxis(axis).setTextPen(foreground)
                plot.getAxis(axis).setPen(foreground)

        device_row = QHBoxLayout()
        device_row.addWidget(QLabel("Microphone:"))
        device_row.addWidget(self.device_combo, 1)
        device_row.addWidget(self.refresh_button)
        record_row = QHBoxLayout()
        record_row.addWidget(self.record_button)
        record_row.addWidget(self.fixed_check)
        record_row.addWidget(self.seconds_spin)
        record_row.addWidget(self.listen_button)
        record_row.addWidget(self.level_bar, 1)
        take_row = QHBoxLayout()
        take_row.addWidget(self.play_button)
        take_row.addWidget(self.label_edit, 1)
        take_row.addWidget(self.save_button)
        take_row.addWidget(self.open_button)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addLayout(device_row)
        left_layout.addWidget(self.device_message)
        left_layout.addLayout(record_row)
        left_layout.addWidget(self.waveform_plot, 2)
        left_layout.addWidget(self.spectrogram_plot, 3)
        left_layout.addLayout(take_row)
        left_layout.addWidget(self.status_label)

        right = QWidget()
        right_layout = QGridLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.prediction_label, 0, 0)
        right_layout.addWidget(self.probability_plot, 1, 0)
        right_layout.addWidget(self.warning_label, 2, 0)
        right_layout.addWidget(QLabel("History"), 3, 0)
        right_layout.addWidget(self.history_list, 4, 0)
        right_layout.setRowStretch(1, 3)
        right_layout.setRowStretch(4, 2)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._update_buttons()

    # ------------------------------------------------------------- public API
    def set_predictor(self, predictor, *, windows=False) -> None:
        """Use ``predictor(y, sr) -> {"label": str, "probabilities": {label: float}}``, or None.

        ``windows=True``: the predictor cuts long signals into windows itself
        (a model trained on windows); otherwise long files are cut here into
        windows of the take length (:func:`core.prediction.sliding_predictions`).
        """
        self._predictor = predictor
        self._predictor_windows = bool(windows)
        if predictor is None:
            self._show_hint(NO_PREDICTOR_TEXT)
            self._set_bars({})

    def set_default_seconds(self, seconds: float) -> None:
        """Fixed take length (and the window for long files): 1 s for digits, 5 s for genres."""
        self.seconds_spin.setValue(float(seconds))

    def set_filename_factory(self, factory) -> None:
        """Name saved takes with ``factory(label_text) -> str``; None restores the default."""
        self._filename_factory = factory or default_filename

    @property
    def take(self) -> tuple[np.ndarray, int] | None:
        """The current take (or opened file) as (float32 mono samples, rate), or None."""
        return None if self._take is None else (self._take, self._take_sr)

    # Drop audio files on the widget to predict them.
    def dragEnterEvent(self, event):
        if any(_is_audio_url(u) for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event):
        paths = [u.toLocalFile() for u in event.mimeData().urls() if _is_audio_url(u)]
        for path in paths:
            self.open_file(path)
        if paths:
            event.acceptProposedAction()

    def open_file(self, path) -> bool:
        """Load an audio file, show it like a take and predict it; False (with a message) if unreadable.

        Big files and compressed formats (MP3, OGG: slow to decode) load in the
        worker pool so the window never waits for them; then True means
        "loading", and a failure shows up in the status line.
        """
        name = pathlib.Path(path).name
        if _slow_to_load(path):
            self._status(f"Loading {name}…")
            self._pool.start(_Job(lambda: load_audio(path), {"name": name}, self._load_signals))
            return True
        try:
            y, sr = load_audio(path)
        except SpeechLabError as exc:
            self._status(str(exc), error=True)
            return False
        self._on_file_loaded({"name": name}, (y, sr))
        return True

    def _on_file_failed(self, request, message):
        self._status(message, error=True)

    def _on_file_loaded(self, request, loaded):
        y, sr = loaded
        self._status(f"Opened {request['name']} ({len(y) / sr:.1f} s, {sr} Hz)")
        self._show_take(y, sr, source=request["name"], windows=True)

    def save_take(self, folder) -> pathlib.Path:
        """Write the current take into ``folder`` as 16-bit WAV at its own rate; return the path.

        The name comes from the filename factory, given the label field's text;
        an existing file is never overwritten (``_2``, ``_3``… are appended).
        """
        if self._take is None:
            raise SpeechLabError("There is no take to save yet: record one or open a file.")
        name = self._filename_factory(self.label_edit.text().strip())
        path = pathlib.Path(folder) / name
        if path.suffix.lower() != ".wav":
            path = path.with_name(path.name + ".wav")
        stem, n = path.stem, 2
        while path.exists():
            path = path.with_name(f"{stem}_{n}.wav")
            n += 1
        path.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(path, self._take, self._take_sr, subtype="PCM_16")
        return path

    def play(self) -> None:
        """Play the current take on the default output; a missing output only shows a message."""
        if self._take is None:
            return
        try:
            play_audio(self._take, sr=self._take_sr)
        except NoAudioDevice as exc:
            self._status(str(exc), error=True)

    def shutdown(self) -> None:
        """Stop the stream, playback and timer, and wait for running predictions."""
        self._timer.stop()
        if self._recorder is not None:
            self._recorder.stop()
            self._recorder = None
        self._mode = None
        stop_playback()
        self._pool.waitForDone()

    def closeEvent(self, event):
        self.shutdown()
        super().closeEvent(event)

    # -------------------------------------------------------------- devices
    def _current_device_name(self):
        return self.device_combo.currentData()

    def _refresh_devices(self, *, wanted=None, rescan=True):
        if self._mode is not None:
            return
        if rescan:
            stop_playback()
        devices = list_input_devices(rescan=rescan)
        remembered = self._settings.value(SETTINGS_DEVICE, None) if wanted is None else None
        self.device_combo.clear()
        for d in devices:
            text = f"{d.name} ({d.hostapi})" + ("  — default" if d.is_default else "")
            self.device_combo.addItem(text, d.name)
        try:
            try:
                chosen = resolve_device(wanted if wanted is not None else remembered or None)
            except NoAudioDevice:
                if not remembered:
                    raise
                # The remembered microphone is gone (unplugged): use the default, keep the memory.
                chosen = resolve_device(None)
        except NoAudioDevice as exc:
            self.device_combo.setCurrentIndex(-1)
            self._device_problem(exc)
            return
        self.device_combo.setCurrentIndex(self.device_combo.findData(chosen.name))
        self._device_problem(None)

    def _on_device_chosen(self, index):
        name = self.device_combo.itemData(index)
        self._settings.setValue(SETTINGS_DEVICE, name)
        try:
            resolve_device(name)
        except NoAudioDevice as exc:
            self._device_problem(exc)
        else:
            self._device_problem(None)

    def _device_problem(self, exc):
        self._device_ok = exc is None
        if exc is None:
            self.device_message.hide()
        else:
            if self.device_combo.count() == 0:
                text = str(exc)  # already says what to do and that files still work
            else:
                text = f"This microphone cannot be used — pick another one, or open audio files.\n{exc}"
            self.device_message.setText(text)
            self.device_message.show()
        self._update_buttons()

    def _update_buttons(self):
        ok = self._device_ok
        self.record_button.setEnabled(ok and self._mode != "listen")
        self.listen_button.setEnabled(ok and self._mode != "take")
        idle = self._mode is None
        for w in (self.device_combo, self.refresh_button, self.open_button):
            w.setEnabled(idle and (w is not self.device_combo or self.device_combo.count() > 0))
        has_take = self._take is not None
        self.play_button.setEnabled(has_take)
        self.save_button.setEnabled(has_take)

    # -------------------------------------------------------------- streams
    def _open_recorder(self) -> bool:
        try:
            self._recorder = Recorder(self._current_device_name()).start()
        except NoAudioDevice as exc:
            self._recorder = None
            self._device_problem(exc)
            return False
        self._live = np.zeros(0, np.float32)
        self._collected = 0
        self.waveform_curve.setData([], [])
        self._hide_markers()
        self.waveform_plot.enableAutoRange(x=True)
        self._timer.start()
        return True

    def _close_recorder(self) -> np.ndarray:
        """Stop the stream and return what was still queued."""
        self._timer.stop()
        rest = np.zeros(0, np.float32)
        if self._recorder is not None:
            self._recorder.stop()
            try:
                rest = self._recorder.read()
            except NoAudioDevice:
                pass
        self.level_bar.setValue(LEVEL_FLOOR_DB)
        return rest

    def _on_record_toggled(self, checked):
        if checked and self._mode is None:
            self._parts = []
            if not self._open_recorder():
                self._set_checked(self.record_button, False)
                return
            self._mode = "take"
            self.record_button.setText("■ Stop")
            self._status("Recording…")
        elif not checked and self._mode == "take":
            self._finish_take()
        self._update_buttons()

    def _finish_take(self):
        rest = self._close_recorder()
        sr = self._recorder.samplerate
        overflows = self._recorder.overflows
        self._recorder = None
        self._mode = None
        self._set_checked(self.record_button, False)
        self.record_button.setText("● Record")
        y = np.concatenate([*self._parts, rest])
        self._parts = []
        if self.fixed_check.isChecked():
            y = y[: int(round(self.seconds_spin.value() * sr))]
        self._update_buttons()
        if y.size == 0:
            self._status("The microphone delivered no audio.", error=True)
            return
        lost = f"; {overflows} input overflow(s): some audio was lost" if overflows else ""
        self._status(f"Take: {len(y) / sr:.2f} s at {sr} Hz{lost}", error=bool(overflows))
        self._show_take(y, sr, source="take")
        self.take_ready.emit(y, sr)

    def _on_listen_toggled(self, checked):
        if checked and self._mode is None:
            if not self._open_recorder():
                self._set_checked(self.listen_button, False)
                return
            self._mode = "listen"
            self.listen_button.setText("Stop listening")
            self._detector = UtteranceDetector(self._recorder.samplerate)
            self._status("Listening… speak a word, pause, speak the next.")
        elif not checked and self._mode == "listen":
            rest = self._close_recorder()
            utterances = self._detector.feed(rest) + self._detector.flush()
            sr = self._recorder.samplerate
            self._recorder, self._detector, self._mode = None, None, None
            self.listen_button.setText("Listen continuously")
            for u in utterances:
                self._on_utterance(u, sr)
            self._status("Stopped listening.")
        self._update_buttons()

    def _drain(self):
        """Timer slot: take what the callback queued; keep it light."""
        if self._recorder is None:
            return
        try:
            block = self._recorder.read()
        except NoAudioDevice as exc:
            self._stream_lost(exc)
            return
        if block.size == 0:
            return
        level = max(LEVEL_FLOOR_DB, int(round(level_dbfs(block))))
        self.level_bar.setValue(max(level, self.level_bar.value() - LEVEL_FALL_DB))
        sr = self._recorder.samplerate
        # The live view scrolls over the last few seconds only, so a tick costs
        # the same however long the take or the listening session has run.
        self._collected += block.size
        self._live = np.concatenate([self._live, block])[-int(LIVE_SECONDS * sr) :]
        self._show_live(self._live, sr, (self._collected - len(self._live)) / sr)
        if self._mode == "take":
            self._parts.append(block)
            if self.fixed_check.isChecked() and self._collected >= self.seconds_spin.value() * sr:
                self._set_checked(self.record_button, False)
                self._finish_take()
        elif self._mode == "listen":
            for u in self._detector.feed(block):
                self._on_utterance(u, sr)

    def _stream_lost(self, exc):
        mode = self._mode
        self._close_recorder()
        self._recorder, self._detector, self._mode = None, None, None
        self._parts = []
        self._set_checked(self.record_button if mode == "take" else self.listen_button, False)
        self.record_button.setText("● Record")
        self.listen_button.setText("Listen continuously")
        self._device_problem(exc)

    def _on_utterance(self, utterance, sr):
        self._show_take(
            utterance.audio,
            sr,
            source=f"word at {utterance.start:.1f} s",
            show_waveform=self._mode != "listen",
        )
        self.take_ready.emit(utterance.audio, sr)

    # ---------------------------------------------------------------- display
    def _show_live(self, y, sr, t0):
        step = max(1, len(y) // LIVE_POINTS)
        self.waveform_curve.setData(t0 + np.arange(0, len(y), step) / sr, y[::step])

    def _hide_markers(self):
        self.start_marker.hide()
        self.end_marker.hide()

    def _show_take(self, y, sr, *, source, windows=False, show_waveform=True):
        y = np.ascontiguousarray(y, dtype=np.float32)
        self._take, self._take_sr = y, int(sr)
        self._take_id += 1
        duration = len(y) / sr
        if show_waveform:
            self.waveform_curve.setData(np.arange(len(y)) / sr, y)
            _, (start, end) = trim_silence(y, sr=sr)
            self.start_marker.setValue(start / sr)
            self.end_marker.setValue(end / sr)
            self.start_marker.show()
            self.end_marker.show()
            self.waveform_plot.setXRange(0, duration, padding=0.01)
        spec = spectrogram(y, sr)
        self.spectrogram_image.setImage(spec, autoLevels=False, levels=(-80, 0))
        self.spectrogram_image.setRect(QRectF(0, 0, duration, sr / 2))
        self.spectrogram_plot.setYRange(0, min(sr / 2, SPECTROGRAM_MAX_HZ), padding=0)
        self.spectrogram_plot.setXRange(0, duration, padding=0.01)

        self._quality_warnings = []
        if is_clipped(y):
            self._quality_warnings.append("Clipped: move back from the microphone or lower its gain.")
        peak = peak_dbfs(y)
        if peak < QUIET_PEAK_DB:
            self._quality_warnings.append(f"Very quiet (peak {peak:.0f} dBFS): speak closer or raise the gain.")
        self.warning_label.setText("\n".join(self._quality_warnings))
        self._update_buttons()
        if self._predictor is not None:
            self._submit_prediction(y, int(sr), source, windows)

    def _submit_prediction(self, y, sr, source, windows):
        predictor = self._predictor
        window = int(round(self.seconds_spin.value() * sr))
        clip_seconds = self.seconds_spin.value() if windows and not self._predictor_windows else None
        request = {"take_id": self._take_id, "source": source, "time": datetime.datetime.now()}

        def work():
            return sliding_predictions(predictor, y, sr, clip_seconds=clip_seconds)

        self._pool.start(_Job(work, request, self._pool_signals))

    def _on_prediction(self, request, result):
        clock = request["time"].strftime("%H:%M:%S")
        source = request["source"]
        if len(result.get("windows") or ()) > 1:  # a long file, window by window
            for w in result["windows"]:
                self._add_history(f"{clock}  {source} {w['start']:.1f}–{w['end']:.1f} s", w)
        else:
            self._add_history(f"{clock}  {source}", result)
        shown = dict(result)
        shown["source"] = source
        if request["take_id"] == self._take_id:
            self._show_prediction(shown)
        self.prediction_made.emit(shown)

    def _on_prediction_failed(self, request, message):
        if request["take_id"] == self._take_id:
            self._show_hint("Prediction failed")
            self.warning_label.setText(message)

    def _add_history(self, prefix, prediction):
        probability = prediction.get("probabilities", {}).get(prediction["label"])
        text = f"{prefix}:  {prediction['label']}"
        if probability is not None:
            text += f"  ({probability:.0%})"
        self.history_list.addItem(text)
        self.history_list.scrollToBottom()

    def _show_prediction(self, prediction):
        probabilities = prediction.get("probabilities", {})
        label = str(prediction["label"])
        self.prediction_label.setFont(self._big_font)
        self.prediction_label.setText(label)
        self._set_bars(probabilities, top=label)
        warnings = list(self._quality_warnings)
        top = probabilities.get(label)
        if top is not None and top < UNSURE_PROBABILITY:
            warnings.insert(0, f"Unsure: the top class has only {top:.0%}.")
        self.warning_label.setText("\n".join(warnings))

    def _show_hint(self, text):
        self.prediction_label.setFont(self._hint_font)
        self.prediction_label.setText(text)

    def _set_bars(self, probabilities, top=None):
        labels = [str(k) for k in probabilities]
        values = [float(v) for v in probabilities.values()]
        self.probability_bars.setOpts(
            x0=np.zeros(len(values)),
            y=np.arange(len(values)),
            width=np.array(values),
            height=0.7,
            brushes=[_TOP_BRUSH if k == top else _OTHER_BRUSH for k in labels],
        )
        self.probability_plot.getAxis("left").setTicks(
            [[(i, f"{k}  {v:.0%}") for i, (k, v) in enumerate(zip(labels, values))]]
        )
        self.probability_plot.setYRange(-0.5, max(len(values), 1) - 0.5, padding=0.02)

    def _status(self, text, *, error=False):
        self.status_label.setStyleSheet("color: #B00020;" if error else "")
        self.status_label.setText(text)

    @staticmethod
    def _set_checked(button, checked):
        button.blockSignals(True)
        button.setChecked(checked)
        button.blockSignals(False)

    # ----------------------------------------------------------- file dialogs
    def _on_open_clicked(self):
        path, _ = QFileDialog.getOpenFileName(self, "Open audio file", "", AUDIO_FILTER)
        if path:
            self.open_file(path)

    def _on_save_clicked(self):
        start = str(self._settings.value(SETTINGS_SAVE_DIR, str(pathlib.Path.home())))
        folder = QFileDialog.getExistingDirectory(self, "Save take into folder", start)
        if not folder:
            return
        try:
            path = self.save_take(folder)
        except (OSError, SpeechLabError) as exc:
            self._status(f"Could not save the take: {exc}", error=True)
            return
        self._settings.setValue(SETTINGS_SAVE_DIR, folder)
        self._status(f"Saved {path}")
