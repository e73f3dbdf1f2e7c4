"""Random split vs voices never heard, beside the accuracy.

A random split puts the same speakers in training and test; this strip says
so under the curves whenever it happens, and runs both evaluations with one
click (:func:`core.honest.compare_splits`) so the user sees how much of the
random-split accuracy is memorised voices.

:class:`HonestSplitView` is the widget; :class:`HonestSplit` attaches it to a
task tab (its runner, panels and messages) with bound GUI-thread slots only.
"""
from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from core.errors import SpeechLabError


def compare_job(request, dataset, *, memory_limit=None):
    """Both evaluations of a training request, in their own process (core.child.compare). Reports
    ``progress``, ``epoch`` and ``stage`` (index, total, test speakers or None); returns a SplitComparison."""
    from gui.workers import ChildJob

    return ChildJob("core.child:compare", request.to_dict(), dataset, memory_limit=memory_limit)


def random_split_text(accuracy, shared, test_speakers):
    """What to say beside a random split's accuracy."""
    if not test_speakers:
        return f"Random split: {accuracy:.1%}. The clips name no speakers, so voices may be on both sides."
    if shared:
        return (f"Random split: {accuracy:.1%} — {len(shared)} of {len(test_speakers)} test speakers are also in "
                "training, so part of this is memorised voices. Your voice at the microphone is a new one.")
    return f"Test accuracy {accuracy:.1%} on {len(test_speakers)} speaker(s) never heard in training."


def comparison_text(comp):
    """Both numbers in words."""
    how = ("leave one speaker out" if all(len(f) == 1 for f in comp.folds)
           else f"{len(comp.folds)} folds of speakers")
    text = (f"Same voices (random split): {comp.random_accuracy:.1%}   ·   Voices never heard ({how}, "
            f"{comp.n_speakers} speakers): {comp.speaker_accuracy:.1%}   ·   "
            f"{100 * comp.gap:+.1f} points from memorised voices")
    per = getattr(comp, "per_speaker", None) or {}
    if per:  # worst first: the voices a new user is most likely to sound like when it fails
        shown = list(per.items())[:8]
        text += ("\nEach voice never heard: " + ", ".join(f"{s} {a:.0%}" for s, (a, _) in shown)
                 + (f" … ({len(per) - len(shown)} more)" if len(per) > len(shown) else ""))
    return text


class HonestSplitView(QWidget):
    """Two lines and a button: the split's caveat, and both numbers after a comparison."""

    compare_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.caveat = QLabel("")
        self.caveat.setWordWrap(True)
        self.caveat.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.numbers = QLabel("")
        self.numbers.setWordWrap(True)
        self.numbers.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.compare_button = QPushButton("Compare: same voices vs new voices")
        self.compare_button.setToolTip("Train with these settings on a random split and on speaker-grouped folds\n"
                                       "(every speaker tested once, never trained on), and show both accuracies")
        self.compare_button.clicked.connect(self.compare_requested)
        text = QVBoxLayout()
        text.setContentsMargins(0, 0, 0, 0)
        text.addWidget(self.caveat)
        text.addWidget(self.numbers)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(4, 2, 4, 2)
        lay.addLayout(text, 1)
        lay.addWidget(self.compare_button, 0, Qt.AlignTop)
        self.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Maximum)
        self.clear()

    def clear(self):
        self.caveat.setText("Train, or compare a random split with voices never heard in one click.")
        self.numbers.setText("")
        self.numbers.setVisible(False)

    def show_random(self, accuracy, shared, test_speakers):
        self.caveat.setText(random_split_text(accuracy, shared, test_speakers))
        self.fit_height()

    def show_comparison(self, comp):
        self.numbers.setText(comparison_text(comp))
        per = getattr(comp, "per_speaker", None) or {}
        self.numbers.setToolTip("Each voice never heard (accuracy, clips):\n"
                                + "\n".join(f"{s}: {a:.1%} of {n}" for s, (a, n) in per.items()) if per else "")
        self.numbers.setVisible(True)
        self.fit_height()

    def _need(self):
        """The height that shows every line of the text at the strip's current width."""
        self.layout().activate()
        return self.layout().totalHeightForWidth(self.width()) if self.width() > 0 else self.sizeHint().height()

    def resizeEvent(self, event):  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        # a splitter ignores height-for-width: the text's height at this width is the strip's minimum, so
        # no later resize of the panes (another page below, a narrower window) cuts a line off
        need = self._need()
        if event.size().width() != event.oldSize().width() and need != self.minimumHeight():
            self.setMinimumHeight(need)

    def fit_height(self):
        """Grow this strip in its splitter to show every line of its text (a splitter keeps a pane's height
        when its text grows), taking the room from the pane below."""
        splitter = self.parentWidget()
        if splitter is None or not hasattr(splitter, "sizes"):
            return
        need = self._need()
        self.setMinimumHeight(need)
        sizes = splitter.sizes()
        i = splitter.indexOf(self)
        extra = need - sizes[i]
        for j in (i + 1, i - 1):  # the results below first, then the curves above, each down to its minimum
            if extra <= 0 or not 0 <= j < len(sizes):
                continue
            spare = sizes[j] - splitter.widget(j).minimumSizeHint().height()
            take = max(0, min(extra, spare))
            sizes[j] -= take
            sizes[i] += take
            extra -= take
        splitter.setSizes(sizes)

    def set_available(self, ok, why=""):
        self.compare_button.setEnabled(ok)
        self.compare_button.setToolTip(self.compare_button.toolTip() if ok else why)


class HonestSplit(QObject):
    """Attach the strip to a TaskTab: under its curves, fed by its trainings, run by its runner."""

    def __init__(self, tab):
        super().__init__(tab)
        self.tab = tab
        self.view = HonestSplitView()
        self.comparison = None
        right = tab.main_split.widget(1)  # the curves above, the results below
        right.insertWidget(1, self.view)
        right.setCollapsible(right.indexOf(self.view), False)
        self.view.compare_requested.connect(self.compare)
        tab.model_changed.connect(self._on_model)

    def _on_model(self, bundle):
        result = self.tab.last_result
        ds = self.tab.dataset_panel.dataset
        if bundle is None or result is None or result.bundle is not bundle or ds is None:
            return
        from core.honest import speakers_on_both_sides

        shared, test = speakers_on_both_sides(ds, result.metrics)
        self.view.show_random(result.metrics["accuracy"], shared, test)

    def compare(self):
        tab = self.tab
        if tab.busy:
            tab.message("Busy: stop the running task first.")
            return
        ds = tab.dataset_panel.dataset
        if ds is None:
            tab.message("Load a dataset first.", error=True)
            return
        if ds.label_kind == "speaker" or not ds.has_speakers or len(ds.speakers) < 2:
            tab.message("Comparing with new voices needs at least two speakers named in the file names.", error=True)
            return
        try:
            request = tab.train_request()
        except (SpeechLabError, ValueError) as exc:
            tab.message(str(exc), error=True)
            return
        from gui import settings as app_settings

        job = compare_job(request, ds, memory_limit=app_settings.training_memory_limit())
        tab.plot.reset(request.model_params.get("epochs"))
        tab.runner.start(job, connect=self._connect)
        tab.message(f"Comparing on {len(ds.items)} clips: a random split, then every speaker held out once…")

    def _connect(self, w):  # bound methods only: they run in the GUI thread
        w.progress.connect(self.tab.progress_panel.show_extraction)
        w.epoch.connect(self.tab.plot.add_epoch)
        w.reported.connect(self._on_event)
        w.finished.connect(self._on_done)
        w.failed.connect(self._on_failed)
        w.cancelled.connect(self._on_cancelled)

    def _on_event(self, kind, value):
        if kind != "stage":
            return
        index, total, speakers = value
        self.tab.plot.reset(None)
        what = "random split" if speakers is None else "testing on " + ", ".join(speakers)
        self.tab.message(f"Comparison {index + 1}/{total}: {what}…")

    def _on_done(self, comp):
        self.comparison = comp
        self.view.show_comparison(comp)
        kept = " Kept in All runs." if getattr(comp, "run_id", None) is not None else ""
        self.tab.message(comparison_text(comp).replace("\n", "; ") + f" ({comp.seconds:.0f} s).{kept}")
        if getattr(comp, "run_id", None) is not None:
            self.tab.history_view.refresh(select=comp.run_id)
        self.tab.progress_panel.show_done()

    def _on_failed(self, message):
        self.tab.message(message, error=True)

    def _on_cancelled(self):
        self.tab.message("Comparison stopped.")
