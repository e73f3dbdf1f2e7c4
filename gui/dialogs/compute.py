"""Tools → Compute…: where feature extraction and sweeps run — this machine, or a Dask scheduler.

The choice is remembered (``gui.settings.COMPUTE``) and applied with
:func:`core.cluster.set_default`, so the extractions and sweeps this window
starts, and the training processes it spawns, send their work there. "Test
connection" asks the scheduler in a background job (a wrong address takes up
to ten seconds to give up): the window never waits for it.
"""
from __future__ import annotations

import functools

from PySide6.QtGui import QAction
from PySide6.QtWidgets import (QButtonGroup, QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QLineEdit, QPushButton,
                               QRadioButton, QVBoxLayout)

from gui import settings as app_settings

FIELD = "Compute"
_queue = [None]  # one job queue for connection tests, alive as long as the app (shut down with every other)


def saved():
    """The remembered choice: {"use_cluster": bool, "address": str}."""
    value = app_settings.get_json(app_settings.COMPUTE, {})
    value = value if isinstance(value, dict) else {}
    return {"use_cluster": bool(value.get("use_cluster")), "address": str(value.get("address") or "")}


def apply_saved():
    """Send work where the settings say (at start-up). A remembered address that is not valid any more
    means this machine."""
    from core.cluster import ClusterError, check_address, set_default

    choice = saved()
    address = None
    if choice["use_cluster"]:
        try:
            address = check_address(choice["address"], FIELD)
        except ClusterError:
            address = None
    set_default(address, FIELD)
    return address


def add_menu(window, menu):
    """The Tools menu's "Compute…" entry, and the remembered choice applied."""
    apply_saved()
    act = QAction("Co&mpute…", window)
    act.triggered.connect(functools.partial(show, window))
    menu.addAction(act)
    return act


def show(parent=None):
    dialog = ComputeDialog(parent)
    from PySide6.QtCore import Qt  # here, not at the top: the menu is built before the first paint

    dialog.setAttribute(Qt.WA_DeleteOnClose)
    dialog.open()
    return dialog


def _jobs():
    from gui.workers import JobQueue

    queue = _queue[0]
    if queue is None or not queue._thread.isRunning():
        queue = _queue[0] = JobQueue()
    return queue


def describe(address):
    """A connection test as plain data (runs in the job queue's thread)."""
    from core.cluster import describe as ask

    return ask(address, FIELD)


class ComputeDialog(QDialog):
    """"This machine" or "Dask scheduler at …", with Test connection; OK remembers and applies the choice."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Compute")
        choice = saved()
        self.local = QRadioButton("This machine (a process per core)")
        self.cluster = QRadioButton("Dask scheduler at:")
        group = QButtonGroup(self)
        group.addButton(self.local)
        group.addButton(self.cluster)
        self.address = QLineEdit(choice["address"])
        self.address.setPlaceholderText("tcp://10.0.0.5:8786")
        self.test_button = QPushButton("Test connection")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        from PySide6.QtCore import Qt

        self.status.setTextInteractionFlags(Qt.TextSelectableByMouse)
        note = QLabel("Feature extraction and sweep runs go to the cluster; features and runs come back into this "
                      "machine's cache and run history. The data folder must be at the same path on every worker. "
                      "Start a scheduler with <tt>dask scheduler</tt> and workers with "
                      "<tt>dask worker ADDRESS --nthreads 1 --nworkers N</tt>.")
        note.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.cluster)
        row.addWidget(self.address, 1)
        row.addWidget(self.test_button)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        layout = QVBoxLayout(self)
        layout.addWidget(self.local)
        layout.addLayout(row)
        layout.addWidget(self.status)
        layout.addWidget(note)
        layout.addWidget(buttons)
        (self.cluster if choice["use_cluster"] else self.local).setChecked(True)
        self._token = 0
        self._testing = None
        self.jobs = _jobs()
        self.jobs.done.connect(self._tested)
        self.jobs.failed.connect(self._test_failed)
        self.test_button.clicked.connect(self.test_connection)
        self.address.textEdited.connect(self._address_edited)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.resize(560, self.sizeHint().height())

    def _address_edited(self, _text):
        self.cluster.setChecked(True)
        self.status.setText("")

    def _checked_address(self):
        from core.cluster import ClusterError, check_address

        try:
            return check_address(self.address.text(), FIELD)
        except ClusterError as exc:
            self.status.setText(str(exc))
            return None

    def test_connection(self):
        """Ask the scheduler in the background; the answer (or one line why not) comes to :meth:`_tested`."""
        address = self._checked_address()
        if address is None:
            return
        self._token += 1
        self._testing = (self._token, address)
        self.status.setText(f"Connecting to {address}…")
        self.test_button.setEnabled(False)
        self.jobs.submit(functools.partial(describe, address), self._token)

    def _tested(self, request, info):
        if self._testing is None or request != self._testing[0]:
            return  # an older test, or another dialog's
        self._testing = None
        self.test_button.setEnabled(True)
        workers = info["workers"]
        text = (f"Connected to {info['address']}: {workers} worker{'' if workers == 1 else 's'}, "
                f"{info['threads']} thread{'' if info['threads'] == 1 else 's'}, {info['memory_gb']:.1f} GB")
        if not workers:
            text += " — no workers yet: start some with 'dask worker ADDRESS'"
        if info.get("dashboard"):
            text += f"; dashboard {info['dashboard']}"
        self.status.setText(text)

    def _test_failed(self, request, message):
        if self._testing is None or request != self._testing[0]:
            return
        self._testing = None
        self.test_button.setEnabled(True)
        self.status.setText(message)

    @property
    def testing(self):
        return self._testing is not None

    def accept(self):
        """Remember and apply the choice; a malformed address keeps the dialog open, with one line why."""
        from core.cluster import set_default

        if self.cluster.isChecked():
            address = self._checked_address()
            if address is None:
                return
        else:
            address = None
        app_settings.set_json(app_settings.COMPUTE, {"use_cluster": address is not None,
                                                     "address": address or self.address.text().strip()})
        set_default(address, FIELD)
        parent = self.parent()
        if parent is not None and hasattr(parent, "statusBar"):
            parent.statusBar().showMessage(f"Compute: Dask scheduler at {address}" if address
                                           else "Compute: this machine", 5000)
        super().accept()
