"""Record from the microphone (or open a file) and show what the model hears.

The audio callback only queues blocks (``core.recorder.MicrophoneStream``); a 30 ms
``QTimer`` on the GUI thread drains the queue, moves the level meter and the
live waveform, and feeds the utterance detector (``core.utterances``).
Predictions and slow file decoding run in order on the app's one background
mechanism (:class:`gui.workers.JobQueue`) and come back to bound slots on the
GUI thread; results of an older take are still added to the history but
never overwrite a newer take's display. The waveform/spectrogram and the
verdict are their own widgets (``audio_view``, ``prediction_view``).
"""
from __future__ import annotations

import datetime
import os
import pathlib

import numpy as np
from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from core.audio import load_audio
from core.errors import NoAudioDevice, SpeechLabError
from core.prediction import sliding_predictions
from core.recorder import MicrophoneStream, list_input_devices, play_audio, resolve_device, stop_playback
from core.utterances import UtteranceDetector, is_clipped, peak_dbfs
from gui.settings import RECORDER_DEVICE, RECORDER_SAVE_DIR
from gui.widgets.audio_view import AudioView, take_view
from gui.widgets.prediction_view import PredictionView
from gui.workers import JobQueue

LEVEL_FLOOR_DB = -60
QUIET_PEAK_DB = -45.0
LIVE_SECONDS = 3.0  # the scrolling waveform while listening
LEVEL_FALL_DB = 2  # per 30 ms tick: the meter falls back smoothly instead of flickering
NO_PREDICTOR_TEXT = "Train or load a model to predict"
READY_TEXT = "Record a take or open a file to predict"
AUDIO_FILTER = "Audio files (*.wav *.flac *.ogg *.mp3);;All files (*)"


def timestamped_name(prefix: str) -> str:
    """``{prefix}_YYYYmmdd_HHMMSS.wav``: the one format of a saved take's time stamp."""
    return f"{prefix}_{datetime.datetime.now():%Y%m%d_%H%M%S}.wav"


def default_filename(label: str) -> str:
    """``{label or "take"}_YYYYmmdd_HHMMSS.wav``."""
    return timestamped_name(label.strip() or "take") if label else timestamped_name("take")


def _slow_to_load(path):
    """Whether decoding and drawing could hold the GUI thread past ~50 ms: compressed formats, or files
    over 2 MB (about 20 s of CD-quality sound)."""
    try:
        size = os.path.getsize(path)
    except OSError:
        return False  # the synchronous path reports the problem at once
    return size > 2_000_000 or not str(path).lower().endswith((".wav", ".flac"))


def quality_warnings(y):
    """What to tell the user about a take's level: clipped, or very quiet (a few lines, maybe none)."""
    warnings = []
    if is_clipped(y):
        warnings.append("Clipped: move back from the microphone or lower its gain.")
    peak = peak_dbfs(y)
    if peak < QUIET_PEAK_DB:
        warnings.append(f"Very quiet (peak {peak:.0f} dBFS): speak closer or raise the gain.")
    return warnings


def load_for_display(path):
    """A file decoded and prepared for showing (plain data, for a background job): ``(y, sr)``, what the
    audio view draws and the level warnings, so the GUI thread only draws a few thousand points."""
    y, sr = load_audio(path)
    return {"audio": (y, sr), "view": take_view(y, sr), "warnings": quality_warnings(y)}


def _is_audio_url(url):
    from core.audio import AUDIO_EXTENSIONS

    return url.isLocalFile() and url.toLocalFile().lower().endswith(AUDIO_EXTENSIONS)


def _give_room(splitter, child, wanted):
    """Make ``child`` of ``splitter`` at least ``wanted`` px (at most 75 % of the splitter), taking the
    room from its other children in proportion to their sizes."""
    sizes = splitter.sizes()
    index = splitter.indexOf(child)
    total = sum(sizes)
    if index < 0 or total <= 0:
        return
    wanted = min(int(0.75 * total), int(wanted))
    if wanted <= sizes[index]:
        return
    others = total - sizes[index]
    splitter.setSizes([wanted if i == index else max(1, round(s * (total - wanted) / max(others, 1)))
                       for i, s in enumerate(sizes)])


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
        (keys in :mod:`gui.settings`); default ``QSettings()``.

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
    #: "Add to training…" pressed with a take (or an opened file) on screen: the tab asks for its class
    add_to_training_requested = Signal()

    #: Whether a new widget lists the microphones at once. The app turns it off while it builds its
    #: window and calls :meth:`list_devices` after the first paint: loading PortAudio (tens of ms,
    #: more with an audio server) is then not on the way to the first picture.
    list_devices_at_init = True

    def __init__(self, parent=None, *, device=None, settings=None):
        super().__init__(parent)
        self.setAcceptDrops(True)
        self._settings = settings if settings is not None else QSettings()
        self._predictor = None
        self._filename_factory = default_filename
        self._recorder: MicrophoneStream | None = None
        self._mode: str | None = None  # None, "take" or "listen"
        self._recent = []  # the last words' predictions while listening (decide over N words)
        self._evidence_rates = None
        self._decide_words = None
        self._parts: list[np.ndarray] = []
        self._collected = 0
        self._live = np.zeros(0, np.float32)
        self._detector: UtteranceDetector | None = None
        self._take: np.ndarray | None = None
        self._take_sr = 0
        self._take_id = 0
        self._quality_warnings: list[str] = []
        self._device_ok = False
        self.jobs = JobQueue(self)  # predictions and slow file loads, in order, off the GUI thread
        self.jobs.done.connect(self._on_job_done)  # bound slots: they run on the GUI thread
        self.jobs.failed.connect(self._on_job_failed)
        self._timer = QTimer(self)
        self._timer.setInterval(MicrophoneStream.POLL_MS)
        self._timer.timeout.connect(self._poll)

        self._grown = False  # asked the enclosing splitter for room (first showing only)
        self._build()
        self._initial_device = device
        if self.list_devices_at_init:
            self.list_devices()
        self.set_predictor(None)

    # ------------------------------------------------------------------ UI
    def _build(self):
        self.view = AudioView()
        self.verdict = PredictionView()
        # The parts tests and tabs reach for, under their old names.
        for name in ("waveform_plot", "waveform_curve", "start_marker", "end_marker",
                     "spectrogram_plot", "spectrogram_image"):
            setattr(self, name, getattr(self.view, name))
        for name in ("prediction_label", "probability_plot", "probability_bars", "warning_label", "history_list"):
            setattr(self, name, getattr(self.verdict, name))

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addLayout(self._build_device_row())
        left_layout.addWidget(self.device_message)
        left_layout.addLayout(self._build_record_row())
        evidence_row = QHBoxLayout()  # its own row: beside the record buttons it made the page too wide at 1024 px
        evidence_row.addWidget(self.words_spin)
        evidence_row.addWidget(self.evidence_label, 1)
        left_layout.addLayout(evidence_row)
        left_layout.addWidget(self.view, 1)
        left_layout.addLayout(self._build_take_row())
        left_layout.addWidget(self.status_label)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.verdict)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(splitter)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._update_buttons()

    def _build_device_row(self):
        self.device_combo = QComboBox()
        self.device_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.device_combo.setMinimumContentsLength(8)
        self.device_combo.setPlaceholderText("choose a microphone")
        self.device_combo.activated.connect(self._on_device_chosen)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Look for microphones plugged in since start-up")
        self.refresh_button.clicked.connect(self._on_refresh_clicked)
        self.device_message = QLabel()
        self.device_message.setWordWrap(True)
        self.device_message.setStyleSheet("color: #B00020;")
        self.device_message.hide()
        row = QHBoxLayout()
        row.addWidget(QLabel("Microphone:"))
        row.addWidget(self.device_combo, 1)
        row.addWidget(self.refresh_button)
        return row

    def _build_record_row(self):
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
        self.level_bar.setFormat("%v dB")  # short: the bar shares its row with the buttons
        self.level_bar.setToolTip("Input level (RMS, in dB below full scale: dBFS)")
        self.level_bar.setMaximumHeight(self.level_bar.sizeHint().height() * 3 // 4)
        self.level_bar.setMinimumWidth(50)
        # Speakers: decide "who is speaking" over the last few words heard (hidden unless enabled)
        self.words_spin = QSpinBox()
        self.words_spin.setRange(1, 5)
        self.words_spin.setValue(1)
        self.words_spin.setPrefix("decide over ")
        self.words_spin.setSuffix(" word(s)")
        self.words_spin.setToolTip("While listening, name the speaker from the last N words together: their evidence\n"
                                   "is pooled into one score and judged by a threshold set for N words (the same share\n"
                                   "of known voices rejected): fewer strangers accepted. The rates beside it are the\n"
                                   "model's on its test clips, N different words of a voice at a time.")
        self.words_spin.valueChanged.connect(self._on_words_changed)
        self.words_spin.hide()
        self.evidence_label = QLabel()
        self.evidence_label.setWordWrap(True)
        self.evidence_label.hide()
        row = QHBoxLayout()
        row.addWidget(self.record_button)
        row.addWidget(self.fixed_check)
        row.addWidget(self.seconds_spin)
        row.addWidget(self.listen_button)
        row.addWidget(self.level_bar, 1)  # beside the buttons: the height goes to the waveform
        return row

    # ------------------------------------------------------------ evidence over words

    def enable_evidence(self, rates=None, decide=None):
        """Offer "decide over the last N words" while listening (speakers). ``rates(n)``: the model's
        ``{"false_reject_rate", "false_accept_rate"}`` for n-word decisions on its test clips, or None;
        ``decide(predictions)``: one decision from the last words' predictions (default: core.openset's
        ``decide_over`` without the model: the name heard most often, the mean score)."""
        self._evidence_rates = rates
        self._decide_words = decide
        self.words_spin.show()
        self.evidence_label.show()
        self._on_words_changed()

    def refresh_evidence(self):
        """The model or its threshold changed: forget the words heard and show the new rates."""
        self._recent = []
        self._on_words_changed()

    def _on_words_changed(self, *_):
        self._recent = self._recent[-self.words_spin.value():]
        n = self.words_spin.value()
        rates = self._evidence_rates(n) if self._evidence_rates is not None else None
        if not rates or rates.get("false_reject_rate") is None:
            self.evidence_label.setText("" if n == 1 else f"Deciding over the last {n} words.")
            return
        far = rates.get("false_accept_rate")
        self.evidence_label.setText(
            f"{n} word{'s' if n > 1 else ''} per decision, on the model's test clips: "
            f"{rates['false_reject_rate']:.0%} of known voices rejected or misnamed"
            + (f", {far:.0%} of voices never heard accepted" if far is not None else "") + ".")

    def _decide_over_words(self, prediction):
        """The decision over the last N words heard, or None (one word, or no open-set score)."""
        from core.openset import decide_over

        if self.words_spin.isHidden() or self.words_spin.value() < 2 or prediction.get("score") is None:
            return None
        self._recent = (self._recent + [prediction])[-self.words_spin.value():]
        if len(self._recent) < 2:
            return None
        decide = getattr(self, "_decide_words", None) or decide_over
        return decide(self._recent)

    def _build_take_row(self):
        self.play_button = QPushButton("▶ Play")
        self.play_button.clicked.connect(self.play)
        self.label_edit = QLineEdit()
        self.label_edit.setPlaceholderText("label for the saved take")
        self.label_edit.setMinimumWidth(60)
        self.save_button = QPushButton("Save take…")
        self.save_button.clicked.connect(self._on_save_clicked)
        self.open_button = QPushButton("Open file…")
        self.open_button.clicked.connect(self._on_open_clicked)
        self.add_button = QPushButton("Add to training…")
        self.add_button.setToolTip("Save this take (or file) into a class of the training data, beside the dataset,\n"
                                   "and retrain the model on the dataset plus your takes")
        self.add_button.clicked.connect(self.add_to_training_requested)
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row = QHBoxLayout()
        row.addWidget(self.play_button)
        row.addWidget(self.label_edit, 1)
        row.addWidget(self.save_button)
        row.addWidget(self.add_button)
        row.addWidget(self.open_button)
        return row

    # ------------------------------------------------------------- public API
    def list_devices(self) -> None:
        """List the microphones and choose the given, remembered or default one (the constructor
        does it, unless :attr:`list_devices_at_init` was off); recording is disabled until then."""
        self._refresh_devices(wanted=self._initial_device, rescan=False)

    def set_predictor(self, predictor, *, windows=False) -> None:
        """Use ``predictor(y, sr) -> {"label": str, "probabilities": {label: float}}``, or None.

        ``windows=True``: the predictor cuts long signals into windows itself
        (a model trained on windows); otherwise long files are cut here into
        windows of the take length (:func:`core.prediction.sliding_predictions`).
        """
        self._predictor = predictor
        self._predictor_windows = bool(windows)
        self._recent = []  # words heard belong to the model that heard them
        if predictor is None:
            self.verdict.show_hint(NO_PREDICTOR_TEXT)
            self.verdict.set_bars({})
        elif self.prediction_label.text() == NO_PREDICTOR_TEXT:
            self.verdict.show_hint(READY_TEXT)

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
            self.jobs.submit(lambda: load_for_display(path), {"kind": "file", "name": name})
            return True
        try:
            loaded = load_for_display(path)
        except SpeechLabError as exc:
            self._status(str(exc), error=True)
            return False
        self._on_file_loaded({"name": name}, loaded)
        return True

    def _on_job_done(self, request, result):
        if request["kind"] == "file":
            self._on_file_loaded(request, result)
        else:
            self._on_prediction(request, result)

    def _on_job_failed(self, request, message):
        if request["kind"] == "file":
            self._status(message, error=True)
        elif request["take_id"] == self._take_id:
            self.verdict.show_hint("Prediction failed")
            self.warning_label.setText(message)

    def _on_file_loaded(self, request, loaded):
        y, sr = loaded["audio"]
        self._status(f"Opened {request['name']} ({len(y) / sr:.1f} s, {sr} Hz)")
        self._show_take(y, sr, source=request["name"], windows=True, view=loaded["view"],
                        warnings=loaded["warnings"])

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
        import soundfile  # here, not at start-up

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
        self.jobs.shutdown()

    #: Height the panel asks of the enclosing vertical splitter the first time it is shown: the controls,
    #: a waveform and a spectrogram each over 100 px, and the verdict's bars one label apart.
    WANTED_HEIGHT = 440

    def showEvent(self, event):  # noqa: N802 (Qt override)
        super().showEvent(event)
        if not self._grown:
            self._grown = True
            self._grow_into_splitter()

    def _grow_into_splitter(self):
        """A lower tab usually gets what the training curves above leave (about 370 px at 1280×800, where
        the spectrogram was 40 px tall): the first time the panel is shown, ask every vertical splitter
        around it for room, once (at most 75 % of each); the user's own dragging is kept after that.

        The outermost splitter (the curves above the lower tabs) gives room for the panel and for what
        shares inner splitters with it (Genres: the timeline below); the inner ones are sized after the
        new height is laid out."""
        around = []  # (splitter, its child holding this panel), innermost first
        child, parent = self, self.parentWidget()
        while parent is not None:
            if isinstance(parent, QSplitter) and parent.orientation() == Qt.Orientation.Vertical:
                around.append((parent, child))
            child, parent = parent, parent.parentWidget()
        if not around:
            return
        need = self.WANTED_HEIGHT
        for splitter, holder in around[:-1]:
            sizes = splitter.sizes()
            need += sum(sizes) - sizes[splitter.indexOf(holder)] + splitter.handleWidth() * (len(sizes) - 1)
        _give_room(*around[-1], need + 30)  # 30: the tab bar above the panel
        if len(around) > 1:
            self._inner_splitters = around[:-1]
            QTimer.singleShot(0, self._grow_inner)

    def _grow_inner(self):
        for splitter, holder in getattr(self, "_inner_splitters", ()):
            _give_room(splitter, holder, self.WANTED_HEIGHT)
        self._inner_splitters = ()

    def closeEvent(self, event):
        self.shutdown()
        super().closeEvent(event)

    # -------------------------------------------------------------- devices
    def _current_device_name(self):
        return self.device_combo.currentData()

    def _on_refresh_clicked(self):
        self._refresh_devices(wanted=self._current_device_name())

    def _refresh_devices(self, *, wanted=None, rescan=True):
        if self._mode is not None:
            return
        if rescan:
            stop_playback()
        devices = list_input_devices(rescan=rescan)
        remembered = self._settings.value(RECORDER_DEVICE, None) if wanted is None else None
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
        self._settings.setValue(RECORDER_DEVICE, name)
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
        self.add_button.setEnabled(has_take)

    # -------------------------------------------------------------- streams
    def _open_recorder(self) -> bool:
        try:
            self._recorder = MicrophoneStream(self._current_device_name(), on_block=self._on_block,
                                              on_error=self._stream_lost).start()
        except NoAudioDevice as exc:
            self._recorder = None
            self._device_problem(exc)
            return False
        self._live = np.zeros(0, np.float32)
        self._collected = 0
        self.view.clear_live()
        self._timer.start()
        return True

    def _close_recorder(self) -> np.ndarray:
        """Stop the stream and return what was still queued."""
        self._timer.stop()
        rest = np.zeros(0, np.float32)
        if self._recorder is not None:
            rest = self._recorder.stop()
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

    def _poll(self):
        """Timer slot: the stream hands what the callback queued to :meth:`_on_block`."""
        if self._recorder is not None:
            self._recorder.poll()

    def _on_block(self, block):
        """New audio from the stream (GUI thread); keep it light."""
        level = max(LEVEL_FLOOR_DB, int(round(self._recorder.level_db)))
        self.level_bar.setValue(max(level, self.level_bar.value() - LEVEL_FALL_DB))
        sr = self._recorder.samplerate
        # The live view scrolls over the last few seconds only, so a tick costs
        # the same however long the take or the listening session has run.
        self._collected = self._recorder.frames
        self._live = np.concatenate([self._live, block])[-int(LIVE_SECONDS * sr) :]
        self.view.show_live(self._live, sr, (self._collected - len(self._live)) / sr)
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
    def _show_take(self, y, sr, *, source, windows=False, show_waveform=True, view=None, warnings=None):
        """Show a take (``view``/``warnings`` already computed for a file loaded in the background)."""
        y = np.ascontiguousarray(y, dtype=np.float32)
        self._take, self._take_sr = y, int(sr)
        self._take_id += 1
        self.view.show_view(view if view is not None else take_view(y, int(sr), show_waveform=show_waveform))
        self._quality_warnings = list(warnings) if warnings is not None else quality_warnings(y)
        self.warning_label.setText("\n".join(self._quality_warnings))
        self._update_buttons()
        if self._predictor is not None:
            self._submit_prediction(y, int(sr), source, windows)

    def _submit_prediction(self, y, sr, source, windows):
        predictor = self._predictor
        clip_seconds = self.seconds_spin.value() if windows and not self._predictor_windows else None
        request = {"kind": "prediction", "take_id": self._take_id, "source": source, "time": datetime.datetime.now()}

        def work():
            return sliding_predictions(predictor, y, sr, clip_seconds=clip_seconds)

        self.jobs.submit(work, request)

    def _on_prediction(self, request, result):
        clock = request["time"].strftime("%H:%M:%S")
        source = request["source"]
        if len(result.get("windows") or ()) > 1:  # a long file, window by window
            for w in result["windows"]:
                self.verdict.add_history(f"{clock}  {source} {w['start']:.1f}–{w['end']:.1f} s", w)
        else:
            self.verdict.add_history(f"{clock}  {source}", result)
        shown = dict(result)
        shown["source"] = source
        if self._mode == "listen" and source.startswith("word at"):
            over = self._decide_over_words(shown)
            if over is not None:
                self.verdict.add_history(f"{clock}  last {over['words']} words", over)
                shown.update(label=over["label"], known_label=over["known_label"], score=over["score"],
                             threshold=over["threshold"], words=over["words"])
        if request["take_id"] == self._take_id:
            self._show_prediction(shown)
        self.prediction_made.emit(shown)

    def _show_prediction(self, prediction):
        self.verdict.show_prediction(prediction, self._quality_warnings)

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
        start = str(self._settings.value(RECORDER_SAVE_DIR, str(pathlib.Path.home())))
        folder = QFileDialog.getExistingDirectory(self, "Save take into folder", start)
        if not folder:
            return
        try:
            path = self.save_take(folder)
        except (OSError, SpeechLabError) as exc:
            self._status(f"Could not save the take: {exc}", error=True)
            return
        self._settings.setValue(RECORDER_SAVE_DIR, folder)
        self._status(f"Saved {path}")
