"""Settings pages built from what a model type declares, so a new model type needs no GUI code.

A model class lists its user-facing settings as ``settings`` (:class:`core.models.choices.Setting`:
name, kind, bounds, label, tooltip). :class:`ModelForm` is the settings page of one of a task's
:class:`core.tasks.ModelChoice` built from them; :class:`ModelPages` holds one page per model a task
offers: the tab's own page where it has one (the MLP's and the CNN's rich pages), a ModelForm for
every other. Every page has ``params()``, ``set_params(p)`` and a one-line ``describe()``.

A ModelForm reads its model type's settings (and so may import the model's module) only when it is
first shown or read: the window starts without loading a model it does not show.
"""
from __future__ import annotations

import math

from PySide6.QtCore import QRect, Qt, Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDoubleSpinBox, QGridLayout, QLabel, QLineEdit, QSizePolicy, QSpinBox, QStackedWidget,
    QWidget,
)

#: settings side by side in a row (label, field; label, field): the left column stays short
COLUMNS = 2


class NoteLabel(QLabel):
    """A wrapped note as tall as its text at its current width: a scroll area (or a splitter) ignores
    height-for-width, so a crowded panel would otherwise squeeze lines off the note, and a roomy one
    would float it away from the fields it is about."""

    def __init__(self, text, parent=None):
        super().__init__(text, parent)
        self.setWordWrap(True)
        self.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)  # the text wraps, never widens the column
        self.setAlignment(Qt.AlignLeft | Qt.AlignTop)

    def resizeEvent(self, event):  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        width = event.size().width()
        if width == event.oldSize().width() or width <= 0:
            return
        # the text's own height (QLabel.heightForWidth never answers less than the minimum height set here)
        m = self.contentsMargins()
        rect = self.fontMetrics().boundingRect(QRect(0, 0, max(1, width - m.left() - m.right()), 100000),
                                               Qt.TextWordWrap, self.text())
        need = rect.height() + m.top() + m.bottom()
        if need != self.minimumHeight() or need != self.maximumHeight():
            self.setFixedHeight(need)


def shown_settings(choice):
    """The settings of ``choice``'s model type that apply to it (``when`` holds for its fixed settings)."""
    from core.models import model_settings

    return [s for s in model_settings(choice.type) if s.applies(choice.params)]


def format_value(setting, value):
    """A setting's value in a few characters ("0.001", "256, 128", "on")."""
    if setting.kind == "bool":
        return "on" if value else "off"
    if setting.kind == "sizes":
        return ", ".join(str(v) for v in value or ()) or "none"
    if setting.kind == "float" and isinstance(value, (int, float)):
        return f"{value:g}"
    return str(value)


def describe_settings(choice, params):
    """One line for a model of ``choice`` with keyword arguments ``params`` (a model's ``get_params()``)."""
    merged = {**choice.params, **params}
    parts = [f"{s.label} {format_value(s, merged.get(s.name))}" for s in shown_settings(choice) if s.name in merged]
    return f"{choice.title}: {', '.join(parts)}" if parts else choice.title


def choice_of_model(spec, model):
    """The ModelChoice of task ``spec`` that a trained ``model`` is (its type, its fixed settings), or None.

    Several choices can share a type (Speakers' logistic regression and SGD are both "linear"); the one
    whose settings the user cannot change (``kind``) match the model's is taken."""
    from core.errors import SpeechLabError
    from core.models import model_type_of

    try:
        kind = model_type_of(model)
    except SpeechLabError:
        return None
    params = model.get_params() if hasattr(model, "get_params") else {}
    candidates = [m for m in spec.models if m.type == kind]
    for m in candidates:
        settable = {s.name for s in shown_settings(m)}
        if all(params.get(k) == v for k, v in m.params.items() if k not in settable and k in params):
            return m
    return candidates[0] if candidates else None


class FloatBox(QDoubleSpinBox):
    """A float field that shows and accepts plain or scientific numbers (``0.001``, ``1e-4``); with
    ``log`` the arrows step along 1, 2, 5, 10, 20, … (a learning rate, a regularisation strength)."""

    def __init__(self, setting, parent=None):
        super().__init__(parent)
        self._log = setting.log
        self.setDecimals(12)  # the value is kept as given (1e-6), not rounded to the 2 decimals Qt shows
        self.setRange(-1e12 if setting.minimum is None else setting.minimum,
                      1e12 if setting.maximum is None else setting.maximum)
        if setting.step:
            self.setSingleStep(setting.step)
        self.setKeyboardTracking(False)

    def textFromValue(self, value):
        return f"{value:.10g}"

    def valueFromText(self, text):
        try:
            return float(text)
        except ValueError:
            return self.value()

    def validate(self, text, pos):
        t = text.strip()
        try:
            v = float(t)
        except ValueError:
            partial = t in ("", "-", "+", ".") or t[-1:] in ("e", "E", "-", "+", ".")
            return QValidator.State.Intermediate if partial else QValidator.State.Invalid
        inside = self.minimum() <= v <= self.maximum()
        return QValidator.State.Acceptable if inside else QValidator.State.Intermediate

    def stepBy(self, steps):
        if not self._log:
            super().stepBy(steps)
            return
        v = self.value()
        for _ in range(abs(steps)):
            v = _step_125(v, up=steps > 0, floor=self.minimum())
        self.setValue(min(max(v, self.minimum()), self.maximum()))


def _step_125(v, *, up, floor):
    """The next value of the series …, 0.1, 0.2, 0.5, 1, 2, 5, 10, … above (or below) ``v``."""
    if v <= 0:
        return max(floor, 1e-6) if up else v
    e = math.floor(math.log10(v))
    series = [m * 10.0 ** k for k in (e - 1, e, e + 1) for m in (1, 2, 5)]
    if up:
        return next(s for s in series if s > v * (1 + 1e-9))
    below = [s for s in series if s < v * (1 - 1e-9)]
    nxt = below[-1] if below else v / 2
    return 0.0 if floor == 0 and nxt < 1e-6 else nxt


class ModelForm(QWidget):
    """The settings page of one of a task's models, built from its model type's ``settings``.

    ``params()`` are the keyword arguments of the model's class: the choice's defaults, the settings
    last given to :meth:`set_params` (kept even where the page shows no field for them), and what the
    fields say; never ``random_state`` (the tab's model panel owns the seed). A field that cannot be
    read raises ValueError in one line naming it.

    Signals
    -------
    changed() : a field changed
    """

    changed = Signal()

    def __init__(self, choice, parent=None):
        super().__init__(parent)
        self.choice = choice
        self._defaults = {}  # the class's own defaults of settings the choice does not set (read when built)
        self._base = dict(choice.params)
        self._fields = None  # name -> (Setting, widget), built when first shown or read
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setHorizontalSpacing(6)
        self._grid.setVerticalSpacing(4)
        self.note = NoteLabel(getattr(choice, "note", "") or "", self)
        self.note.hide()  # shown with the fields, when it says something

    # ------------------------------------------------------------------ building

    def showEvent(self, event):
        self._build()
        super().showEvent(event)

    def _build(self):
        if self._fields is not None:
            return
        self._fields = {}
        settings = shown_settings(self.choice)
        missing = [s.name for s in settings if s.name not in self._base]
        if missing:  # a field shows what the model would use: its class's default (SGD's eta0)
            import inspect

            from core.models import model_class

            accepted = inspect.signature(model_class(self.choice.type).__init__).parameters
            self._defaults = {n: accepted[n].default for n in missing
                              if n in accepted and accepted[n].default is not inspect.Parameter.empty}
            self._base = {**self._defaults, **self._base}
        row = col = 0
        for setting in settings:
            widget = self._make_field(setting)
            widget.setObjectName(setting.name)
            if setting.tooltip:
                widget.setToolTip(setting.tooltip)
            self._fields[setting.name] = (setting, widget)
            if setting.kind == "bool":
                self._grid.addWidget(widget, row, 2 * col, 1, 2)
            else:
                label = QLabel(setting.label)
                label.setBuddy(widget)
                label.setToolTip(setting.tooltip)
                self._grid.addWidget(label, row, 2 * col)
                self._grid.addWidget(widget, row, 2 * col + 1)
                label.show()  # built on a page already on screen: shown now, not after the next event
            widget.show()
            col += 1
            if col == COLUMNS:
                row, col = row + 1, 0
        for c in range(COLUMNS):
            self._grid.setColumnStretch(2 * c + 1, 1)
        self._grid.addWidget(self.note, row + (col > 0), 0, 1, 2 * COLUMNS)
        self.note.setVisible(bool(self.note.text()))
        self._show(self._base)
        for setting, widget in self._fields.values():
            for signal in self._signals(widget):
                signal.connect(self.changed)
        self.updateGeometry()

    @staticmethod
    def _make_field(s):
        if s.kind == "int":
            w = QSpinBox()
            w.setRange(int(s.minimum if s.minimum is not None else 0),
                       int(s.maximum if s.maximum is not None else 2**31 - 1))
            if s.step:
                w.setSingleStep(int(s.step))
            return w
        if s.kind == "float":
            return FloatBox(s)
        if s.kind == "choice":
            w = QComboBox()
            for value in s.choices:
                w.addItem(str(value), value)
            w.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
            w.setMinimumContentsLength(4)
            return w
        if s.kind == "bool":
            return QCheckBox(s.label)
        w = QLineEdit()  # sizes
        w.setPlaceholderText("e.g. 128 or 256,128")
        return w

    @staticmethod
    def _signals(w):
        if isinstance(w, QCheckBox):
            return (w.toggled,)
        if isinstance(w, QComboBox):
            return (w.currentIndexChanged,)
        if isinstance(w, QLineEdit):
            return (w.textChanged,)
        return (w.valueChanged,)

    # ------------------------------------------------------------------ values

    def _show(self, params):
        for name, (s, w) in self._fields.items():
            if name not in params:
                continue
            v = params[name]
            w.blockSignals(True)
            if s.kind == "int":
                w.setValue(int(v))
            elif s.kind == "float":
                w.setValue(float(v))
            elif s.kind == "choice":
                i = w.findData(v)
                if i < 0:  # a value the list does not offer (a saved model's): shown as it is, kept as it is
                    w.addItem(str(v), v)
                    i = w.count() - 1
                w.setCurrentIndex(i)
            elif s.kind == "bool":
                w.setChecked(bool(v))
            else:
                sizes = (v,) if isinstance(v, (int, str)) else tuple(v or ())
                w.setText(",".join(str(n) for n in sizes))
            w.blockSignals(False)

    def _read(self, s, w):
        if s.kind in ("int", "float"):
            w.interpretText()  # a number typed but not yet confirmed counts
            return w.value()
        if s.kind == "choice":
            return w.currentData()
        if s.kind == "bool":
            return w.isChecked()
        text = w.text().strip()
        try:
            sizes = tuple(int(part) for part in text.replace(" ", "").split(",") if part)
        except ValueError:
            raise ValueError(f"{s.label}: sizes such as 128 or 256,128, not '{text}'") from None
        low, high = int(s.minimum or 1), int(s.maximum or 2**31 - 1)
        bad = [n for n in sizes if not low <= n <= high]
        if bad:
            raise ValueError(f"{s.label}: each size must be between {low} and {high}, not {bad[0]}")
        return sizes

    def set_params(self, p):
        """Show ``p`` (keyword arguments of the model's class; missing ones: the choice's defaults)."""
        given = {k: v for k, v in dict(p).items() if k != "random_state"}
        self._base = {**self._defaults, **self.choice.params, **given}
        if self._fields is not None:
            self._show(self._base)
            self.changed.emit()

    def params(self):
        """The model's keyword arguments (without ``random_state``); ValueError naming a bad field."""
        p = dict(self._base)
        if self._fields is not None:
            for name, (s, w) in self._fields.items():
                p[name] = self._read(s, w)
        return p

    def field(self, name):
        """The field of setting ``name`` (the page is built if it was not yet), or None."""
        self._build()
        entry = self._fields.get(name)
        return entry[1] if entry else None

    def describe(self):
        return describe_settings(self.choice, self.params())


class ModelPages(QStackedWidget):
    """One settings page per model of a task (``spec.models``): ``dedicated[key]`` where the tab has one,
    else a :class:`ModelForm`. Only the shown page takes room.

    Signals
    -------
    changed() : a setting of any page changed
    """

    changed = Signal()

    def __init__(self, spec, dedicated=None, parent=None):
        super().__init__(parent)
        self.spec = spec
        self._pages = {}
        for m in spec.models:
            page = (dedicated or {}).get(m.key) or ModelForm(m)
            self._pages[m.key] = page
            self.addWidget(page)
            if hasattr(page, "changed"):
                page.changed.connect(self.changed)

    def keys(self):
        return list(self._pages)

    def page(self, key):
        return self._pages[key]

    def is_generic(self, key):
        """Whether model ``key``'s page is built from its settings (no page of the tab's own)."""
        return isinstance(self._pages[key], ModelForm)

    def forms(self):
        """{key: ModelForm} of the models shown by generic pages."""
        return {k: p for k, p in self._pages.items() if isinstance(p, ModelForm)}

    def show_model(self, key):
        # Only the shown page counts for the stack's size: the column does not keep the tallest page's room.
        for k, page in self._pages.items():
            page.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Preferred if k == key else QSizePolicy.Ignored)
        self.setCurrentWidget(self._pages[key])
        self.updateGeometry()

    def params(self, key):
        return dict(self._pages[key].params())

    def set_params(self, key, p):
        self._pages[key].set_params(p)

    def describe(self, key):
        return self._pages[key].describe()
