"""TaskTab: the frame every task tab shares.

Left: dataset, features, the task's own model panel, Train/Stop with
progress. Right: live training curves above; results, microphone and log
below. A subclass supplies the model panel (``build_model_panel``) and the
model (``make_model``); everything else — scanning and training in a
worker, plotting, results, the microphone — lives here once. What runs in
the worker is in ``gui/tabs/jobs.py``; what a run was and the
leave-one-speaker-out summary in ``gui/tabs/runs.py``; model files
(dialogs, remembered folder) in ``gui/tabs/model_files.py``.

The left column fits a 1280×800 screen without scrolling to the model:
the dataset summary is two lines (details in its tooltip), the features
fold into one summary line on short screens, and the status line never
grows (long messages are elided; the full text is in its tooltip and the Log).
"""
from __future__ import annotations

import datetime
import threading

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout, QMessageBox, QPlainTextEdit, QPushButton, QScrollArea, QSplitter, QTabWidget, QVBoxLayout, QWidget,
)

from core.errors import SpeechLabError
from gui import settings as app_settings
from gui.panels import DatasetPanel, FeaturesPanel, ProgressPanel
from gui.tabs import jobs, model_files
from gui.tabs.runs import dataset_name, kfold_summary, loso_summary, run_row
from gui.widgets.explorer import DataExplorer
from gui.widgets.recorder import RecorderWidget
from gui.widgets.results_view import ResultsView
from gui.widgets.runs_table import RunsTable
from gui.widgets.runs_view import RunsView
from gui.widgets.training_plot import TrainingPlot
from gui.workers import FIRST_SPARE_MODULES, WorkerRunner, prepare_spare_later


#: The left column's minimum width never exceeds this (px): with the right column's, it fits 1024 px.
LEFT_MAX_MIN_WIDTH = 440


def scrolled(widget):
    """``widget`` in a frameless scroll area that follows its size: its minimum height stops being the
    minimum of the pane or page it is put in (a short screen scrolls it instead)."""
    scroll = QScrollArea()
    scroll.setWidget(widget)
    scroll.setWidgetResizable(True)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAsNeeded)
    scroll.setFrameShape(QScrollArea.NoFrame)
    return scroll


class TaskTab(QWidget):
    """Shared behaviour of the Digits, Genres and Speakers tabs."""

    status_message = Signal(str)
    model_changed = Signal(object)  # the current ModelBundle or None
    model_load_finished = Signal(bool)  # a Load model ended: True when the file's model is now the tab's

    def __init__(self, spec, parent=None):
        super().__init__(parent)
        self.spec = spec
        self.bundle = None
        self.last_result = None
        self.runs = {}  # run number -> (TrainResult); the session's experiments
        self.runner = WorkerRunner(self)
        self._pending_request = None  # a re-run's stored request, trained once its data is scanned
        self._pending_train = False
        self._rerun_pending = False
        self._build()
        self.restore_settings()

    # ------------------------------------------------------------------ layout

    def build_model_panel(self):  # pragma: no cover - subclasses provide it
        raise NotImplementedError

    def model_settings(self):  # pragma: no cover
        """The model's settings from the panel (GUI thread: plain values only)."""
        raise NotImplementedError

    @staticmethod
    def make_model(settings):  # pragma: no cover
        """Build the model from :meth:`model_settings` (runs in the worker: imports
        and validation stay off the GUI thread). Raise ValueError for bad settings."""
        raise NotImplementedError

    def _build(self):
        self.dataset_panel = DatasetPanel(self.spec)
        self.features_panel = FeaturesPanel(self.spec)
        self.model_panel = self.build_model_panel()
        if hasattr(self.model_panel, "changed"):
            self.model_panel.changed.connect(self._prepare_for_model)
        self.progress_panel = ProgressPanel()

        left = QWidget()
        left_lay = QVBoxLayout(left)
        left_lay.setContentsMargins(2, 2, 2, 2)
        left_lay.setSpacing(4)
        left_lay.addWidget(self.dataset_panel)
        left_lay.addWidget(self.features_panel)
        left_lay.addWidget(self.model_panel)
        left_lay.addStretch(1)
        scroll = scrolled(left)
        self.left_scroll = scroll
        left_col = QWidget()
        left_col_lay = QVBoxLayout(left_col)
        left_col_lay.setContentsMargins(0, 0, 0, 0)
        left_col_lay.setSpacing(2)
        left_col_lay.addWidget(scroll, 1)
        model_row = QHBoxLayout()
        self.save_button = QPushButton("Save model…")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self.save_model_dialog)
        self.load_button = QPushButton("Load model…")
        self.load_button.clicked.connect(self.load_model_dialog)
        self.evaluate_button = QPushButton("Evaluate on dataset")
        self.evaluate_button.setToolTip("Test the current model on every clip of the loaded dataset folder\n"
                                        "(e.g. a model trained on FSDD on your own recordings)")
        self.evaluate_button.setEnabled(False)
        self.evaluate_button.clicked.connect(self.evaluate_on_dataset)
        model_row.addWidget(self.save_button)
        model_row.addWidget(self.load_button)
        model_row.addWidget(self.evaluate_button)
        left_col_lay.addWidget(self.progress_panel)
        left_col_lay.addLayout(model_row)
        # As wide as the panels need, but never so wide that the window outgrows a 1024-px screen
        # (wider panels scroll sideways).
        left_col.setMinimumWidth(min(LEFT_MAX_MIN_WIDTH, left.minimumSizeHint().width()
                                     + scroll.verticalScrollBar().sizeHint().width() + 4))
        self.left_column = left_col

        self.plot = TrainingPlot()
        self.results = ResultsView()
        self.recorder = RecorderWidget(settings=app_settings.settings())  # SPEECHLAB_SETTINGS applies here too
        self.recorder.set_default_seconds(self.spec.record_seconds)
        self.recorder.set_filename_factory(self.take_filename)
        self.recorder.add_to_training_requested.connect(self.ask_add_to_training)
        self.recorder.prediction_made.connect(self._remember_prediction)
        self._last_prediction = ""
        self.added_folders = []  # folders of takes added to training ("Add to training…"), trained on with the data
        self._added_root = None  # the dataset folder they were added to
        self._added_counts = {}
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.runs_table = RunsTable()
        self.runs_table.run_activated.connect(self.show_run)
        self.history_view = RunsView(self.spec.key)  # every run of this task, across sessions (core.history)
        self.history_view.bring_back_requested.connect(self.bring_back_run)
        self.history_view.rerun_requested.connect(self.rerun)
        self.history_view.sweep_requested.connect(self.sweep_dialog)
        self.results.confusion_view().cell_clicked.connect(self.show_cell_clips)
        self._clips = ([], None)  # (test files of the results shown, the model that predicted them)
        self.lower_tabs = QTabWidget()
        self.lower_tabs.addTab(self.results, "Results")
        self.lower_tabs.addTab(self.runs_table, "Runs")
        self.lower_tabs.addTab(self.history_view, "All runs")
        self.lower_tabs.addTab(self.recorder, "Microphone && files")
        self.explorer = DataExplorer(config_provider=self.features_panel.config)  # the loaded data, mapped
        self.features_panel.changed.connect(self.explorer.features_changed)
        self.lower_tabs.addTab(self.explorer, "Explore")
        self.lower_tabs.addTab(self.log, "Log")
        right = QSplitter(Qt.Vertical)
        right.addWidget(self.plot)
        right.addWidget(self.lower_tabs)
        right.setStretchFactor(0, 2)
        right.setStretchFactor(1, 3)
        right.setSizes([400, 500])  # proportions: the curves get room on a big screen, not a thin strip

        split = QSplitter(Qt.Horizontal)
        split.addWidget(left_col)
        split.addWidget(right)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 1)
        split.setChildrenCollapsible(False)
        split.setSizes([left_col.minimumWidth(), 10_000])  # the rest goes to the plots
        self.main_split = split
        lay = QHBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(split)

        self.dataset_panel.scan_requested.connect(self.scan)
        self.dataset_panel.added_dropped.connect(self.drop_added)
        self.progress_panel.train_clicked.connect(self.train)
        self.progress_panel.stop_clicked.connect(self.stop)
        self.runner.busy_changed.connect(self.progress_panel.set_running)

    # ------------------------------------------------------------------ helpers

    @property
    def busy(self):
        return self.runner.busy

    def message(self, text, *, error=False):
        self.progress_panel.set_status(text, error=error)
        stamp = datetime.datetime.now().strftime("%H:%M:%S")
        self.log.appendPlainText(f"{stamp}  {text}")
        self.status_message.emit(text)

    def show_lower(self, widget):
        """Bring the lower page that holds ``widget`` to the front (a page may wrap it in a scroll area)."""
        for i in range(self.lower_tabs.count()):
            page = self.lower_tabs.widget(i)
            if page is widget or page.isAncestorOf(widget):
                self.lower_tabs.setCurrentIndex(i)
                return

    # ------------------------------------------------------------ add to training

    def takes_layout(self, ds):
        """How added takes are saved (core.voice_test.save_takes): a folder per class, which every tab's
        scan reads with the class from the folder's name (the Digits tab follows its dataset's layout)."""
        return "folders"

    #: what a class is called in the add-to-training dialog
    class_noun = "class"

    def _remember_prediction(self, prediction):
        self._last_prediction = str(prediction.get("label", "")) if isinstance(prediction, dict) else ""

    def ask_add_to_training(self):
        """"Add to training…" in the microphone panel: the class and folder for the take on screen."""
        from core.voice_test import takes_folder
        from gui.dialogs.add_to_training import AddToTrainingDialog

        ds = self.dataset_panel.dataset
        if ds is None or self.recorder.take is None:
            self.message("Load a dataset and record a take (or open a file) first: the take joins the dataset's "
                         "training data.", error=True)
            return
        suggested = self.recorder.label_edit.text().strip() or self._last_prediction
        folder = self.added_folders[-1] if self.added_folders else str(takes_folder(ds.root, "me"))
        dialog = AddToTrainingDialog(ds.labels, suggested_class=suggested if suggested != "unknown" else "",
                                     folder=folder, noun=self.class_noun, parent=self)
        dialog.accepted.connect(self._on_add_accepted)  # a bound slot: no cycle through a lambda
        dialog.finished.connect(dialog.deleteLater)
        self._add_dialog = dialog
        dialog.open()

    def _on_add_accepted(self):
        from core.errors import SpeechLabError

        dialog, self._add_dialog = self._add_dialog, None
        if dialog is None:
            return
        label, folder, retrain = dialog.choice()
        try:
            self.add_take_to_training(label, folder, retrain=retrain)
        except SpeechLabError as exc:
            self.message(str(exc), error=True)

    def add_take_to_training(self, label, folder, *, retrain=True):
        """Save the take on screen (recorded or opened) as a clip of class ``label`` into ``folder``, in the
        dataset's layout, never overwriting; from now on every training of this tab uses the dataset plus
        ``folder`` (a folder inside the dataset is part of it after a rescan); retrain in the background
        when ``retrain``. Returns the path written; raises SpeechLabError with a one-line reason."""
        from core.errors import SpeechLabError
        from core.voice_test import save_takes

        ds, take = self.dataset_panel.dataset, self.recorder.take
        if ds is None:
            raise SpeechLabError("Load a dataset first: the take joins its training data")
        if take is None:
            raise SpeechLabError("There is no take to add yet: record one or open a file")
        if not label:
            raise SpeechLabError("Choose the class the take is an example of")
        if not folder:
            raise SpeechLabError("Choose a folder for your takes")
        self.check_take_class(label, ds)
        [path] = save_takes(folder, "me", [(label, take[0], take[1])], layout=self.takes_layout(ds))
        inside = self.keep_added(folder, ds, n_saved=1)
        where = "inside the dataset folder (it is rescanned)" if inside else "beside the dataset"
        retrain = retrain and not self.busy
        self.message(f"Added {path.name} to '{label}' {where}: {path.parent}"
                     + ("; retraining on the dataset plus your takes…" if retrain else
                        "; the tab is busy, so press Train when it is done." if self.busy else
                        "; the next training uses it."))
        if retrain and inside:
            self._pending_train = True
            self.scan()
        elif retrain:
            self.train()
        return path

    def keep_added(self, folder, ds, *, n_saved=0):
        """Every later training of this tab uses ``folder`` (takes saved beside dataset ``ds``) as well, and
        the dataset panel says so. Returns True when ``folder`` is inside the dataset (a rescan reads it)."""
        from core.voice_test import is_inside

        inside = is_inside(folder, ds.root)
        key = str(folder)
        if not inside and key not in self.added_folders:
            self.added_folders.append(key)
            self._added_root = str(ds.root)
        if n_saved:
            self._added_counts[key] = self._added_counts.get(key, 0) + n_saved
        self.dataset_panel.show_added(self.added_folders, self._added_counts)
        return inside

    def check_take_class(self, label, ds):
        """Hook: raise SpeechLabError when ``label`` cannot be a class of this tab's data (a new class is
        fine for genres and speakers)."""

    def drop_added(self, quiet=False):
        """Train on the dataset alone again (the takes stay saved on disk)."""
        folders, self.added_folders, self._added_counts = self.added_folders, [], {}
        self.dataset_panel.show_added([])
        if folders and not quiet:
            self.message("Your takes are left out of training from now on (still saved in "
                         + "; ".join(folders) + ").")

    def take_filename(self, label):
        """File name for a saved microphone take; subclasses match their dataset layout."""
        from gui.widgets.recorder import default_filename

        return default_filename(label)

    def fit_height(self, available):
        """The window gave this tab ``available`` pixels of height: on short screens fold the features and
        let the curves shrink a little further, so the results below fit without scrolling the whole tab."""
        self.features_panel.set_expanded(available >= 880)
        self.plot.setMinimumHeight(160 if available < 800 else 180)

    # -------------------------------------------------------------------- scan

    def scan(self, folder=None, layout=None, label=None):
        """Scan the dataset folder in the background (``folder=''`` is the demo data)."""
        if self.busy:
            self.message("Busy: stop the running task first.")
            return
        st = self.dataset_panel.state()
        folder = st["folder"] if folder is None else folder
        job = jobs.scan_job(folder, layout or st["layout"], label or st["label"], self.spec.key)

        def connect(w):
            w.reported.connect(self._on_scan_event)
            w.finished.connect(self._on_scanned)
            w.failed.connect(self._on_scan_failed)
            w.cancelled.connect(self._on_scan_cancelled)

        self.runner.start(job, connect=connect)
        self.dataset_panel.show_scanning()
        self.message(f"Scanning {folder or 'the demo data'}…")

    def _on_scan_event(self, kind, value):
        if kind == "scan":
            self.progress_panel.show_scan(*value)

    def _on_scan_cancelled(self):
        self._pending_train = False
        self.progress_panel.show_done("Scan stopped")
        self.dataset_panel.show_scan_stopped()
        kept = self.dataset_panel.dataset
        self.message("Scan stopped" + (f"; still using {dataset_name(kept)}" if kept is not None else "") + ".")

    def _on_scanned(self, result):
        ds, summary, is_demo = result
        previous = self.dataset_panel.dataset
        self.dataset_panel.set_dataset(ds, summary, is_demo=is_demo)
        self.explorer.set_dataset(ds, rows=summary.get("class_rows"))
        self.on_dataset(ds)
        text = (f"Loaded {summary['n_files']} clips in {len(summary['classes'])} classes"
                + (f"; {summary['n_skipped']} file(s) skipped" if summary["n_skipped"] else ""))
        if self.added_folders and self._added_root != str(ds.root):
            self.drop_added(quiet=True)  # takes added to another dataset do not follow to this one
        if previous is not None and (str(previous.root), previous.label_kind) != (str(ds.root), ds.label_kind):
            # Results, curves and the LOSO summary described the other data: do not leave them on screen.
            self.results.clear()
            self.plot.reset(None)
            self.last_result = None
            if self.bundle is not None:
                text += (f". Results of {dataset_name(previous)} cleared; the current model is still the one trained "
                         f"there (Evaluate on dataset tests it on this one)")
        self.progress_panel.show_done(f"Loaded {summary['n_files']:,} clips")  # not the scan's last count
        self.message(text)
        prepare_spare_later()  # a training is likely next: its process starts ahead, imports done
        if self._pending_train:
            self._pending_train = False
            self.runner.busy_changed.connect(self._train_after_scan)

    def _train_after_scan(self, busy):
        if not busy:
            self.runner.busy_changed.disconnect(self._train_after_scan)
            self.train()

    def _on_scan_failed(self, message):
        self._pending_train = False
        self.progress_panel.show_done("Scan failed")
        self.dataset_panel.show_error(message)
        self.message(message, error=True)

    def on_dataset(self, ds):
        """Hook: a dataset was loaded (the model panel may adapt to its classes)."""

    def _prepare_for_model(self):
        """A Keras model was chosen: the spare process imports TensorFlow ahead (3-6 s of the first
        training's start otherwise)."""
        combo = getattr(self.model_panel, "choice", None)  # the model chooser of the Digits and Genres panels
        if combo is None or combo.currentData() is None:
            return
        try:
            choice = self.spec.model_choice(combo.currentData())
        except SpeechLabError:
            return
        if choice.type == "keras-cnn":
            prepare_spare_later((*FIRST_SPARE_MODULES, "tensorflow", "keras"), delay_ms=1000)

    # ------------------------------------------------------------------- train

    def train(self):
        if self.busy:
            self.message("Training is already running.")
            return
        if self.dataset_panel.dataset is None:
            self._pending_train = True
            self.scan()
            return
        request, self._pending_request = self._pending_request, None  # a re-run trains its stored request
        if request is None:
            try:
                request = self.train_request()
            except (SpeechLabError, ValueError) as exc:
                self.message(str(exc), error=True)
                return
        self.train_with(request)

    def train_request(self):
        """The core.request.TrainRequest the panels describe (GUI thread, plain values only)."""
        from core.request import TrainRequest

        ds = self.dataset_panel.dataset
        cfg = self.features_panel.config().to_dict()
        name = cfg.pop("name")
        cfg.pop("max_rate", None)  # the training data decides it (core.features.bandwidth_of), not a loaded model
        data = str(ds.root) if ds is not None else None
        if data is not None and self.added_folders:  # the takes added to training come along (kept in the run)
            data = [data, *[f for f in self.added_folders if f != data]]
        return TrainRequest(task=self.spec.key, data=data,
                            label=ds.label_kind if ds is not None else None, features=name, feature_settings=cfg,
                            **self.dataset_panel.split_request(), **self.model_request())

    def model_request(self):  # pragma: no cover - subclasses provide it
        """Hook: the request's ``model``, ``model_params``, ``seed``, ``augment`` and ``open_set`` from the panels."""
        raise NotImplementedError

    def train_with(self, request, *, rescan=False):
        """Train ``request`` in the worker (the same core.request.train_and_record the CLI and sweeps use);
        ``rescan``: the loaded dataset's folder changed since its scan (the child scans it again)."""
        ds = self.dataset_panel.dataset
        same = (not rescan and ds is not None and request.data is not None
                and str(ds.root) == str(request.data))
        job = jobs.train_job(request, dataset=ds if same else None, memory_limit=app_settings.training_memory_limit())

        def connect(w):
            w.progress.connect(self.progress_panel.show_extraction)
            w.epoch.connect(self._on_epoch)
            w.reported.connect(self._on_event)
            w.finished.connect(self._on_trained)
            w.failed.connect(self._on_failed)
            w.cancelled.connect(self._on_training_cancelled)

        self._run_epochs = request.model_params.get("epochs")
        self._epoch_timer, self._epoch_seconds = None, None  # a new training: epoch times count afresh
        self.plot.reset(self._run_epochs)
        self.results.clear()
        self.save_settings()
        self.runner.start(job, connect=connect)
        kind, test_size = request.split, request.test_size
        how = ("one training per speaker, each tested on the held-out voice" if kind == "loso"
               else f"{request.folds or 5}-fold cross-validation" if kind == "kfold"
               else "the task's default split" if kind is None else f"{kind} split, test {test_size:.0%}")
        n = len(ds.items) if same else "the"
        more = (f" of {len(request.data)} folders" if isinstance(request.data, (list, tuple)) else "")
        self.message(f"Training on {n} clips{more} ({how})…")

    def stop(self):
        if self.busy:
            self.runner.stop()
            self.message("Stopping…")

    def _on_epoch(self, stats):
        from core.models import EpochTimer

        if stats.get("batch") is None:
            timer = getattr(self, "_epoch_timer", None) or EpochTimer()
            self._epoch_timer = timer
            self._epoch_seconds = timer.lap(stats)
        # The progress bar first: QProgressBar.setValue repaints at once, with every widget then waiting for
        # a paint; set after the curves it painted them inside this slot (the curves and the log below are
        # painted on the next turn of the event loop instead: two shorter stretches of the GUI thread).
        self.progress_panel.show_epoch(stats, getattr(self, "_epoch_seconds", None))
        self.plot.add_epoch(stats)
        if stats.get("batch") is None:
            val = "" if stats.get("val_accuracy") is None else f", validation {stats['val_accuracy']:.1%}"
            self.log.appendPlainText(f"epoch {stats['epoch']}: loss {stats['loss']:.4f}, "
                                     f"accuracy {stats['accuracy']:.1%}{val} ({self._epoch_seconds:.2f} s)")

    def _on_event(self, kind, value):
        if kind == "phase":
            self.progress_panel.show_phase(value)
        elif kind == "rotation":  # leave-one-speaker-out: a new training starts
            index, total, speaker = value
            self.plot.reset(self._run_epochs)  # what this run was started with
            if speaker is None:
                self.message(f"All {total} rotations done; training the final model on every speaker…")
            else:
                self.message(f"Rotation {index + 1}/{total}: testing on speaker '{speaker}', training on the others…")
        elif kind == "checkpoint":  # the training process saved its best epoch so far (kept should it die)
            self.log.appendPlainText(f"best epoch so far saved in case the training process dies "
                                     f"(epoch {value['epoch']}, {value['seconds']:.2f} s)")
        elif kind == "salvaged":  # the training process died: its best epoch so far becomes the model
            self.set_bundle(value)
        elif kind == "result":  # one leave-one-speaker-out rotation
            self._add_run(value, rotation=True)
        elif kind == "fold":  # k-fold: the curves show the fold being trained
            self.plot.reset(self._run_epochs)
            self.message(f"Fold {value['index'] + 1}/{value['total']}: testing on {value['test']}…"
                         if value["test"] is not None else
                         f"All {value['total']} folds done; training the final model on all the data…")

    def _on_trained(self, result):
        # First: QProgressBar.setValue repaints at once, and with it every widget waiting for a paint; called
        # after the results were set it painted them inside this slot (a 56-75 ms stall under a CPU hog),
        # called first it leaves them to the next paint event.
        self.progress_panel.show_done()
        if hasattr(result, "per_speaker"):  # leave-one-speaker-out
            self._on_rotations_done(result)
            return
        if hasattr(result, "kfold"):  # the folds' table and mean ± std are in its metrics
            self._clips = ([{**f, "bundle": r.bundle} for r in result.results
                            for f in r.metrics.get("test_files", [])], None)
            self.set_bundle(result.bundle)
            self.last_result = result
            self._add_run(result)
            self.history_view.refresh(select=result.run_id)
            self.results.set_results(result.metrics)
            self.lower_tabs.setCurrentWidget(self.results)
            self.message(kfold_summary(result))
            return
        self.last_result = result
        self.set_bundle(result.bundle)
        self._add_run(result)
        self._clips = (result.metrics.get("test_files", []), result.bundle)
        self.history_view.refresh(select=result.run_id)
        m = result.metrics
        self.results.set_results(m)
        best = result.bundle.training.get("best_epoch")
        if best:
            self.plot.mark_best_epoch(best)
        self.lower_tabs.setCurrentWidget(self.results)
        text = (f"Test accuracy {m['accuracy']:.1%} (train {m['train_accuracy']:.1%}) on {result.n_test} clips, "
                f"{result.seconds:.1f} s")
        if result.stop_reason:
            text += f". {result.stop_reason}"
        band = result.bundle.feature_config.max_rate
        if band:
            self.log.appendPlainText(f"the training clips were recorded at {band} Hz or less: microphone takes and "
                                     f"files are heard up to {band / 2000:g} kHz as well, as the model learned")
        templates = result.bundle.training.get("take_templates")
        if templates:
            self.log.appendPlainText(f"your {templates} added takes are also matched directly: clips that sound "
                                     "like them are answered by the network and the takes together")
        self.message(text, error=result.diverged)

    def _on_rotations_done(self, rot):
        if rot.final is not None:  # trained on every speaker; its metrics are the pooled estimate
            self.last_result = None
            self.set_bundle(rot.final)
            kept = "the current model is trained on every speaker, with these pooled results as its estimate"
        else:  # stopped early: keep the last finished rotation
            last = rot.results[-1]
            self.last_result = last
            self.set_bundle(last.bundle)
            kept = "stopped early: the current model is the last finished rotation's"
        self.results.set_results(rot.metrics)
        self.lower_tabs.setCurrentWidget(self.results)
        self.message(loso_summary(rot, kept=kept))
        self._clips = ([{**f, "bundle": r.bundle} for r in rot.results for f in r.metrics.get("test_files", [])], None)
        self.history_view.refresh(select=rot.run_id)

    # ------------------------------------------------------------------- runs

    @staticmethod
    def describe_model(model):  # static: the worker calls it, and a job never holds a widget
        """A short text for the runs table; subclasses describe their models."""
        return type(model).__name__

    # The session's latest runs stay in memory (a run's model, curves, test predictions: about 20 MB for a
    # Genres CNN); older ones keep only their id in the run history and come back from it when shown.
    RUNS_IN_MEMORY = 5

    def _add_run(self, result, *, rotation=False):
        number = len(self.runs) + 1
        self.runs[number] = result
        ds = self.dataset_panel.dataset
        self.runs_table.add_run(number, run_row(result, model_text=self.describe_model(result.bundle.model),
                                                dataset=dataset_name(ds), rotation=rotation))
        for n in sorted(self.runs)[:-self.RUNS_IN_MEMORY]:
            run_id = getattr(self.runs[n], "run_id", None)
            if run_id is not None:
                self.runs[n] = int(run_id)

    def show_run(self, number):
        """Bring back an earlier run's model, curves and results (from the run history for an older run)."""
        result = self.runs[number]
        if isinstance(result, int):
            self.bring_back_run(result)
            return
        self.last_result = result
        self.set_bundle(result.bundle)
        self.show_bundle_settings(result.bundle)
        self.plot.set_history(result.history)
        best = result.bundle.training.get("best_epoch")
        if best:
            self.plot.mark_best_epoch(best)
        self.results.set_results(result.metrics)
        self._clips = (result.metrics.get("test_files", []), result.bundle)
        self.lower_tabs.setCurrentWidget(self.results)
        self.message(f"Showing run {number}: test accuracy {result.metrics['accuracy']:.1%}; its settings are "
                     "in the panels; Save model keeps this one.")

    # -------------------------------------------------------------- the model

    def show_model_settings(self, bundle):
        """Put a model's feature and model settings into the panels, so they describe the model
        that predicts (after loading a model or bringing back a run)."""
        self.features_panel.set_config(bundle.feature_config)
        self.show_model_params(bundle)

    def show_model_params(self, bundle):
        """Hook: show ``bundle.model``'s settings in the model panel."""

    def show_bundle_settings(self, bundle):
        """The panels show a model's settings: its training request when it carries one (the panel of
        its model type, seed, augmentation, open set), else its feature and model settings."""
        from core.request import TrainRequest, resolve

        stored = (bundle.training or {}).get("request")
        if isinstance(stored, dict):
            try:
                self.show_request(resolve(TrainRequest.from_dict(stored)))
                if bundle.feature_config.max_rate is not None:  # derived from its data: shown, not asked for
                    import dataclasses

                    self.features_panel.set_config(dataclasses.replace(
                        self.features_panel.config(), max_rate=bundle.feature_config.max_rate))
                return
            except SpeechLabError:
                pass
        self.show_model_settings(bundle)

    def set_bundle(self, bundle):
        self.bundle = bundle
        self.save_button.setEnabled(bundle is not None)
        self.evaluate_button.setEnabled(bundle is not None)
        self.recorder.set_predictor(bundle.predict_signal if bundle is not None else None,
                                    windows=bundle is not None and bundle.feature_config.window_seconds is not None)
        warm_up = getattr(getattr(bundle, "model", None), "warm_up", None)
        if warm_up is not None:  # a CNN predicts in the model host: start it now, not at the first take (3-4 s)
            threading.Thread(target=warm_up, name="speechlab-model-host-warm-up", daemon=True).start()
        self.model_changed.emit(bundle)

    def evaluate_on_dataset(self):
        """Evaluate the current model on all usable clips of the loaded dataset (in the worker)."""
        if self.bundle is None or self.busy:
            return
        ds = self.dataset_panel.dataset
        if ds is None:
            self.message("Load a dataset folder to evaluate on first.", error=True)
            return
        job = jobs.evaluate_job(self.bundle, ds)

        # Bound methods only: a closure connected to a worker signal would run in the worker thread.
        def connect(w):
            w.progress.connect(self.progress_panel.show_extraction)
            w.finished.connect(self._on_evaluated)
            w.failed.connect(self._on_failed)
            w.cancelled.connect(self._on_evaluation_cancelled)

        self._evaluated_root = ds.root
        self.runner.start(job, connect=connect)
        self.message(f"Evaluating on {len(ds.items)} clips…")

    def _on_evaluated(self, result):
        metrics, skipped = result
        self.results.set_results(metrics)
        self._clips = (metrics.get("test_files", []), self.bundle)
        self.lower_tabs.setCurrentWidget(self.results)
        unknown = metrics["unknown_labels"]
        self.message(f"Evaluated the model on {metrics['n_clips']} clips of {self._evaluated_root}: "
                     f"accuracy {metrics['accuracy']:.1%}"
                     + (f"; {len(skipped)} file(s) skipped" if skipped else "")
                     + (f"; labels the model does not know: {', '.join(unknown)}" if unknown else ""))

    def _on_failed(self, message):
        self.message(message, error=True)

    def _on_training_cancelled(self):
        self.message("Stopped during feature extraction; nothing was trained.")

    def _on_evaluation_cancelled(self):
        self.message("Evaluation stopped.")

    def save_model_dialog(self):
        if self.bundle is None:
            return
        path = model_files.ask_save_path(self, self.spec.key)
        if path:
            self.save_model(path)

    def save_model(self, path):
        try:
            path = model_files.save(self.bundle, path, task_key=self.spec.key)
        except SpeechLabError as exc:
            self.message(str(exc), error=True)
            QMessageBox.warning(self, "Save failed", str(exc))
            return False
        self.message(f"Model saved to {path}")
        return True

    def load_model_dialog(self):
        path = model_files.ask_load_path(self, self.spec.key)
        if path:
            self.load_model(path)

    def load_model(self, path):
        """Load a model file in the background: reading and checking it (up to 1 GB of arrays, every
        field) never blocks the window. The model arrives in :meth:`_on_model_loaded`, a refusal in
        :meth:`_on_model_load_failed`; ``model_load_finished`` tells which. Returns False when another
        task is running."""
        if self.busy:
            self.message("Busy: stop the running task first.")
            return False

        def connect(w):
            w.finished.connect(self._on_model_loaded)
            w.failed.connect(self._on_model_load_failed)

        self.runner.start(jobs.load_model_job(str(path), self.spec.key), connect=connect)
        self.message(f"Loading model {path}…")
        return True

    def _on_model_loaded(self, value):
        path, bundle = value
        model_files.remember_loaded(path, task_key=self.spec.key)
        self.set_bundle(bundle)
        self.show_bundle_settings(bundle)
        self.plot.set_history(bundle.history)
        self._clips = ([], None)  # a model file keeps no test clips
        if bundle.metrics:
            self.results.set_results(bundle.metrics)
        else:
            self.results.clear()
        self.message(f"Loaded model {path} ({len(bundle.labels)} classes, "
                     f"test accuracy {bundle.metrics.get('accuracy') or 0:.1%} when trained); "
                     "the panels show its settings")
        self.model_load_finished.emit(True)

    def _on_model_load_failed(self, message):
        self.message(message, error=True)  # the model in use stays
        self.model_load_finished.emit(False)

    # ------------------------------------------------- run history, error analysis

    def bring_back_run(self, run_id, *, then_train=False):
        """Load a recorded run's kept model, curves and results into the tab (in the worker)."""
        if self.busy:
            self.message("Busy: stop the running task first.")
            return
        self._rerun_pending = then_train

        def connect(w):
            w.finished.connect(self._on_run_brought_back)
            w.failed.connect(self._on_failed)

        self.runner.start(jobs.history_run_job(self.history_view.history, run_id), connect=connect)

    def rerun(self, run_id):
        """Train again with a recorded run's data, features, model settings and split."""
        self.bring_back_run(run_id, then_train=True)

    def _on_run_brought_back(self, value):
        from core.request import request_of_run, resolve

        run, bundle = value
        self.set_bundle(bundle)
        try:
            request = resolve(request_of_run(run))
        except SpeechLabError as exc:  # a run of an older version whose settings no longer resolve
            request = None
            self.show_model_settings(bundle)
            self.message(f"Run {run['id']}: its settings cannot be shown ({exc})", error=True)
        else:
            self.show_request(request)
        self.plot.set_history(run.get("history") or [])
        best = (run.get("training") or {}).get("best_epoch")
        if best:
            self.plot.mark_best_epoch(best)
        self.results.set_results({**run["metrics"], "labels": run["metrics"].get("labels") or bundle.labels})
        self._clips = (run.get("test_files") or [], bundle)
        self.lower_tabs.setCurrentWidget(self.results)
        self.message(f"Run {run['id']} brought back: test accuracy {run['metrics'].get('accuracy') or 0:.1%}; its "
                     "settings are in the panels; Save model keeps this one.")
        if self._rerun_pending and request is not None:
            self._pending_request = request
            self.runner.busy_changed.connect(self._rerun_when_idle)

    def show_request(self, request):
        """Put a (resolved) request's data, split, features and model settings into the panels."""
        if request.data:  # a run on several folders (Add my takes…): the panel shows the first, the run has all
            self.dataset_panel.restore({"folder": _first_folder(request.data), "split": request.split,
                                        "test_size": request.test_size, "folds": request.folds})
            extra = [str(f) for f in request.data[1:]] if isinstance(request.data, (list, tuple)) else []
            self.added_folders, self._added_counts = extra, {}  # its takes' folders: later trainings keep them
            self._added_root = _first_folder(request.data)
            self.dataset_panel.show_added(extra)
        try:
            self.features_panel.set_config(self.spec.feature_config(request.features, **request.feature_settings))
        except (TypeError, ValueError):
            pass  # a feature set this version no longer has: the panel keeps its settings
        self.show_request_model(request)

    def show_request_model(self, request):
        """Hook: show the request's model (the panel of *its* model type), seed, augmentation and open set."""

    def _rerun_when_idle(self, busy):
        if busy:
            return
        self.runner.busy_changed.disconnect(self._rerun_when_idle)
        self._rerun_pending = False
        request = self._pending_request
        loaded = self.dataset_panel.dataset
        first = _first_folder(request.data) if request is not None else None
        if first and (loaded is None or str(loaded.root) != first):
            self._pending_train = True
            self.scan(first)  # the training itself reads every folder of the request
        else:
            self.train()

    def sweep_base(self):
        """The request of the panels (data, features, model, split, seed, augmentation, open set):
        what a sweep varies; every run of it is trained as this request with the swept values changed."""
        request = self.train_request()
        if request.split in ("loso", "kfold", None):  # a sweep's runs are single trainings
            request.split, request.folds = "random", None
        request.model_params = {k: v for k, v in request.model_params.items() if k != "report_every"}
        return request

    def sweep_dialog(self):
        from gui.dialogs.sweep import SweepDialog

        try:
            base = self.sweep_base()
        except (SpeechLabError, ValueError) as exc:
            self.message(str(exc), error=True)
            return None
        previous = getattr(self, "sweep", None)
        if previous is not None and not previous.isVisible() and not previous.runner.busy:
            # a closed sweep dialog (its plot, table and answers) would otherwise stay under the tab for the
            # whole session: the soak benchmark counted 174 widgets more per sweep
            previous.deleteLater()
        dialog = SweepDialog(base, parent=self)
        dialog.finished_sweep.connect(self.history_view.refresh)
        dialog.show()
        self.sweep = dialog
        return dialog

    def show_cell_clips(self, row, col):
        """The test clips of one confusion-matrix cell, to listen to and look at."""
        from gui.dialogs.clips import ClipsDialog, clips_in_cell

        labels = self.results.confusion_view().labels()
        files, bundle = self._clips
        if not files:
            self.message("These results keep no test clips (a model loaded from a file); bring the run back from "
                         "All runs, or train.")
            return None
        clips = [{**f, "bundle": f.get("bundle", bundle)} for f in clips_in_cell(files, labels[row], labels[col])]
        dialog = ClipsDialog(clips, true_label=labels[row], predicted=labels[col], parent=self)
        dialog.setAttribute(Qt.WA_DeleteOnClose)
        dialog.show()
        self.clips_dialog = dialog
        return dialog

    # ----------------------------------------------------------------- settings

    def extra_state(self):
        return {}

    def restore_extra_state(self, st):
        pass

    def save_settings(self):
        app_settings.set_json(app_settings.task_state_key(self.spec.key), {
            "dataset": self.dataset_panel.state(),
            "features": self.features_panel.state(),
            "model": self.extra_state(),
        })

    def restore_settings(self):
        st = app_settings.get_json(app_settings.task_state_key(self.spec.key), {})
        if not isinstance(st, dict):
            return
        self.dataset_panel.restore(st.get("dataset", {}))
        if st.get("features"):
            self.features_panel.restore(st["features"])
        try:
            self.restore_extra_state(st.get("model", {}))
        except (TypeError, ValueError, KeyError):
            pass  # settings from an older version: keep the defaults

    def shutdown(self):
        """Stop background work and the microphone; wait for threads (window closing)."""
        self.save_settings()
        app_settings.flush()  # the panels' state on disk before the process may end
        self.runner.shutdown()
        self.recorder.shutdown()
        self.explorer.shutdown()
        self.history_view.shutdown()


def _first_folder(data):
    """The dataset panel's folder for a request's ``data``: one folder, or the first of several."""
    if isinstance(data, (list, tuple)):
        return str(data[0]) if data else None
    return str(data) if data else None
