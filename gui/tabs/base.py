"""TaskTab: the frame every task tab shares.

Left: dataset, features, the task's own model panel, Train/Stop with
progress. Right: live training curves above; results, microphone and log
below. A subclass supplies the model panel (``build_model_panel``) and the
model (``make_model``); everything else — scanning and training in a
worker, plotting, results, saving/loading models, the microphone — lives
here once.
"""
from __future__ import annotations

import datetime
import pathlib

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog, QHBoxLayout, QMessageBox, QPlainTextEdit, QPushButton, QScrollArea, QSplitter,
    QTabWidget, QVBoxLayout, QWidget,
)

from core.errors import SpeechLabError
from gui import settings as app_settings
from gui.panels import DatasetPanel, FeaturesPanel, ProgressPanel
from gui.widgets.recorder import RecorderWidget
from gui.widgets.results_view import ResultsView
from gui.widgets.runs_table import RunsTable
from gui.widgets.training_plot import TrainingPlot
from gui.workers import WorkerRunner


def _scan_job(folder, layout, label, task_key):
    """Runs in the worker: scan + summary (header reads only)."""
    from core.datasets import scan_dataset, summarize
    from core.demo import demo_dataset

    def job(report, should_stop):
        is_demo = not folder
        root = demo_dataset(task_key) if is_demo else folder
        ds = scan_dataset(root, layout=layout, label=label, should_stop=should_stop)
        return ds, summarize(ds), is_demo

    return job


class TaskTab(QWidget):
    """Shared behaviour of the Digits, Genres and Speakers tabs."""

    status_message = Signal(str)
    model_changed = Signal(object)  # the current ModelBundle or None

    def __init__(self, spec, parent=None):
        super().__init__(parent)
        self.spec = spec
        self.bundle = None
        self.last_result = None
        self.runs = {}  # run number -> (TrainResult); the session's experiments
        self.runner = WorkerRunner(self)
        self._pending_train = False
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
        self.progress_panel = ProgressPanel()

        left = QWidget()
        left_lay = QVBoxLayout(left)
        left_lay.setContentsMargins(4, 4, 4, 4)
        left_lay.addWidget(self.dataset_panel)
        left_lay.addWidget(self.features_panel)
        left_lay.addWidget(self.model_panel)
        left_lay.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(left)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAsNeeded)
        left_col = QWidget()
        left_col_lay = QVBoxLayout(left_col)
        left_col_lay.setContentsMargins(0, 0, 0, 0)
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
        left_col.setMinimumWidth(420)

        self.plot = TrainingPlot()
        self.results = ResultsView()
        self.recorder = RecorderWidget(settings=app_settings.settings())  # SPEECHLAB_SETTINGS applies here too
        self.recorder.set_default_seconds(self.spec.record_seconds)
        self.recorder.set_filename_factory(self.take_filename)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.runs_table = RunsTable()
        self.runs_table.run_activated.connect(self.show_run)
        self.lower_tabs = QTabWidget()
        self.lower_tabs.addTab(self.results, "Results")
        self.lower_tabs.addTab(self.runs_table, "Runs")
        self.lower_tabs.addTab(self.recorder, "Microphone && files")
        self.lower_tabs.addTab(self.log, "Log")
        right = QSplitter(Qt.Vertical)
        right.addWidget(self.plot)
        right.addWidget(self.lower_tabs)
        right.setStretchFactor(0, 2)
        right.setStretchFactor(1, 3)

        split = QSplitter(Qt.Horizontal)
        split.addWidget(left_col)
        split.addWidget(right)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 1)
        split.setSizes([460, 820])
        lay = QHBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(split)

        self.dataset_panel.scan_requested.connect(self.scan)
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

    def take_filename(self, label):
        """File name for a saved microphone take; subclasses match their dataset layout."""
        stamp = datetime.datetime.now().strftime("%Y%m%d_%H%M%S")
        return f"{label or 'take'}_{stamp}.wav"

    # -------------------------------------------------------------------- scan

    def scan(self, folder=None, layout=None, label=None):
        """Scan the dataset folder in the background (``folder=''`` is the demo data)."""
        if self.busy:
            self.message("Busy: stop the running task first.")
            return
        st = self.dataset_panel.state()
        folder = st["folder"] if folder is None else folder
        job = _scan_job(folder, layout or st["layout"], label or st["label"], self.spec.key)

        def connect(w):
            w.finished.connect(self._on_scanned)
            w.failed.connect(self._on_scan_failed)

        self.runner.start(job, connect=connect)
        self.message(f"Scanning {folder or 'the demo data'}…")

    def _on_scanned(self, result):
        ds, summary, is_demo = result
        self.dataset_panel.set_dataset(ds, summary, is_demo=is_demo)
        self.on_dataset(ds)
        self.message(f"Loaded {summary['n_files']} clips in {len(summary['classes'])} classes"
                     + (f"; {summary['n_skipped']} file(s) skipped" if summary["n_skipped"] else ""))
        if self._pending_train:
            self._pending_train = False
            self.runner.busy_changed.connect(self._train_after_scan)

    def _train_after_scan(self, busy):
        if not busy:
            self.runner.busy_changed.disconnect(self._train_after_scan)
            self.train()

    def _on_scan_failed(self, message):
        self._pending_train = False
        self.dataset_panel.show_error(message)
        self.message(message, error=True)

    def on_dataset(self, ds):
        """Hook: a dataset was loaded (the model panel may adapt to its classes)."""

    # ------------------------------------------------------------------- train

    def train(self):
        if self.busy:
            self.message("Training is already running.")
            return
        if self.dataset_panel.dataset is None:
            self._pending_train = True
            self.scan()
            return
        try:
            settings = self.model_settings()
            feature_config = self.features_panel.config()
        except (SpeechLabError, ValueError) as exc:
            self.message(str(exc), error=True)
            return
        kind, test_size = self.dataset_panel.split()
        extra = self.train_options(settings)  # e.g. the Speakers tab's open set
        ds = self.dataset_panel.dataset
        task = self.spec.key
        make_model = self.make_model
        seed = self.split_seed()

        def build():
            try:
                return make_model(settings)
            except ValueError as exc:
                raise SpeechLabError(f"Model settings: {exc}") from exc

        def job(report, should_stop):
            # Everything that imports or validates runs here, in the worker.
            from core.training import SplitConfig, leave_one_speaker_out, train_model

            build()  # a bad setting is reported before any extraction
            common = dict(task=task, feature_config=feature_config, on_epoch=lambda s: report("epoch", s),
                          should_stop=should_stop, on_progress=lambda p: report("progress", p))
            if kind == "loso":
                return leave_one_speaker_out(
                    ds, make_model=build, on_rotation=lambda i, n, spk: report("rotation", (i, n, spk)),
                    on_result=lambda r: report("result", r), fit_final=True, **common)
            split = SplitConfig(kind=kind, test_size=test_size, random_state=seed)
            return train_model(ds, model=build(), split=split, **common, **extra)

        def connect(w):
            w.progress.connect(self.progress_panel.show_extraction)
            w.epoch.connect(self._on_epoch)
            w.event.connect(self._on_event)
            w.finished.connect(self._on_trained)
            w.failed.connect(self._on_failed)
            w.cancelled.connect(self._on_training_cancelled)

        self._run_epochs = settings.get("epochs")
        self.plot.reset(self._run_epochs)
        self.results.clear()
        self.save_settings()
        self.runner.start(job, connect=connect)
        how = ("one training per speaker, each tested on the held-out voice" if kind == "loso"
               else f"{kind} split, test {test_size:.0%}")
        self.message(f"Training on {len(ds.items)} clips ({how})…")

    def train_options(self, settings):
        """Hook: extra keyword arguments of core.training.train_model (GUI thread, plain values)."""
        return {}

    def split_seed(self):
        return 42

    def stop(self):
        if self.busy:
            self.runner.stop()
            self.message("Stopping…")

    def _on_epoch(self, stats):
        self.plot.add_epoch(stats)
        self.progress_panel.show_epoch(stats)
        if stats.get("batch") is None:
            val = "" if stats.get("val_accuracy") is None else f", validation {stats['val_accuracy']:.1%}"
            self.log.appendPlainText(f"epoch {stats['epoch']}: loss {stats['loss']:.4f}, "
                                     f"accuracy {stats['accuracy']:.1%}{val}")

    def _on_event(self, kind, value):
        if kind == "rotation":  # leave-one-speaker-out: a new training starts
            index, total, speaker = value
            self.plot.reset(self._run_epochs)  # what this run was started with
            if speaker is None:
                self.message(f"All {total} rotations done; training the final model on every speaker…")
            else:
                self.message(f"Rotation {index + 1}/{total}: testing on speaker '{speaker}', training on the others…")
        elif kind == "result":
            self._add_run(value)

    def _on_trained(self, result):
        if hasattr(result, "per_speaker"):  # leave-one-speaker-out
            self._on_rotations_done(result)
            return
        self.last_result = result
        self.set_bundle(result.bundle)
        self._add_run(result)
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
        self.message(text, error=result.diverged)
        self.progress_panel.bar.setFormat("Done")

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
        accs = list(rot.per_speaker.values())
        mean = sum(accs) / len(accs)
        spread = (sum((a - mean) ** 2 for a in accs) / len(accs)) ** 0.5
        each = ", ".join(f"{s} {a:.1%}" for s, a in rot.per_speaker.items())
        self.message(f"Leave one speaker out: mean {mean:.1%} ± {spread:.1%} ({each}); pooled test accuracy "
                     f"{rot.metrics['accuracy']:.1%} shown in Results. Each rotation is in Runs; {kept}.")
        self.progress_panel.bar.setFormat("Done")

    # ------------------------------------------------------------------- runs

    def describe_model(self, model):
        """A short text for the runs table; subclasses describe their models."""
        return type(model).__name__

    def _add_run(self, result):
        number = len(self.runs) + 1
        self.runs[number] = result
        b, m = result.bundle, result.metrics
        cfg = b.feature_config
        features = cfg.name + (f" {cfg.n_mfcc} coef" if cfg.name.startswith("mfcc") else "")
        if cfg.name == "mfcc-full":
            features += f", {cfg.frames} {cfg.n_frames} frames"
        split = b.training["split"]
        split_text = "speaker-indep." if split["kind"] == "speaker" else f"random {split['test_size']:.0%}"
        if b.training.get("test_speakers"):
            split_text += f" (test: {', '.join(b.training['test_speakers'])})"
        note = "diverged" if result.diverged else ("stopped" if (result.stop_reason or "").startswith("stopped") else "")
        self.runs_table.add_run(number, {
            "time": datetime.datetime.now().strftime("%H:%M:%S"),
            "features": features,
            "model": self.describe_model(b.model),
            "split": split_text,
            "epochs": len(result.history),
            "best_epoch": b.training.get("best_epoch"),
            "train_accuracy": m["train_accuracy"],
            "accuracy": m["accuracy"],
            "balanced_accuracy": m["balanced_accuracy"],
            "seconds": result.seconds,
            "note": note,
        })

    def show_run(self, number):
        """Bring back an earlier run's model, curves and results."""
        result = self.runs[number]
        self.last_result = result
        self.set_bundle(result.bundle)
        self.plot.set_history(result.history)
        best = result.bundle.training.get("best_epoch")
        if best:
            self.plot.mark_best_epoch(best)
        self.results.set_results(result.metrics)
        self.lower_tabs.setCurrentWidget(self.results)
        self.message(f"Showing run {number}: test accuracy {result.metrics['accuracy']:.1%}; "
                     "Save model keeps this one.")

    # -------------------------------------------------------------- the model

    def set_bundle(self, bundle):
        self.bundle = bundle
        self.save_button.setEnabled(bundle is not None)
        self.evaluate_button.setEnabled(bundle is not None)
        self.recorder.set_predictor(bundle.predict_signal if bundle is not None else None,
                                    windows=bundle is not None and bundle.feature_config.window_seconds is not None)
        self.model_changed.emit(bundle)

    def evaluate_on_dataset(self):
        """Evaluate the current model on all usable clips of the loaded dataset (in the worker)."""
        if self.bundle is None or self.busy:
            return
        ds = self.dataset_panel.dataset
        if ds is None:
            self.message("Load a dataset folder to evaluate on first.", error=True)
            return
        bundle = self.bundle

        def job(report, should_stop):
            from core.training import evaluate_bundle

            return evaluate_bundle(bundle, ds, on_progress=lambda p: report("progress", p), should_stop=should_stop)

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
        default = str(pathlib.Path(app_settings.settings().value(f"{self.spec.key}/model_dir", str(pathlib.Path.home())))
                      / f"{self.spec.key}-model.slm")
        path, _ = QFileDialog.getSaveFileName(self, "Save model", default, "SpeechLab model (*.slm)")
        if path:
            self.save_model(path)

    def save_model(self, path):
        from core.bundle import save_bundle

        if not path.endswith(".slm"):
            path += ".slm"
        try:
            save_bundle(self.bundle, path)
        except SpeechLabError as exc:
            self.message(str(exc), error=True)
            QMessageBox.warning(self, "Save failed", str(exc))
            return False
        app_settings.settings().setValue(f"{self.spec.key}/model_dir", str(pathlib.Path(path).parent))
        self.message(f"Model saved to {path}")
        return True

    def load_model_dialog(self):
        path, _ = QFileDialog.getOpenFileName(self, "Load model", str(pathlib.Path.home()), "SpeechLab model (*.slm)")
        if path:
            self.load_model(path)

    def load_model(self, path):
        from core.bundle import load_bundle

        try:
            bundle = load_bundle(path)
        except SpeechLabError as exc:
            self.message(str(exc), error=True)
            return False
        if bundle.task != self.spec.key:
            self.message(f"{path} is a {bundle.task} model; open it in the {bundle.task.title()} tab", error=True)
            return False
        self.set_bundle(bundle)
        self.plot.set_history(bundle.history)
        if bundle.metrics:
            self.results.set_results(bundle.metrics)
        self.message(f"Loaded model {path} ({len(bundle.labels)} classes, "
                     f"test accuracy {bundle.metrics.get('accuracy') or 0:.1%} when trained)")
        return True

    # ----------------------------------------------------------------- settings

    def extra_state(self):
        return {}

    def restore_extra_state(self, st):
        pass

    def save_settings(self):
        app_settings.set_json(f"{self.spec.key}/state", {
            "dataset": self.dataset_panel.state(),
            "features": self.features_panel.state(),
            "model": self.extra_state(),
        })

    def restore_settings(self):
        st = app_settings.get_json(f"{self.spec.key}/state", {})
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
        self.runner.shutdown()
        self.recorder.shutdown()

