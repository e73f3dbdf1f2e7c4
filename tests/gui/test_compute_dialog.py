"""Tools → Compute…: this machine or a Dask scheduler, Test connection in the background against a real
``LocalCluster``, the choice remembered and applied to extraction and sweeps."""
import os

import pytest

from core import cluster
from tests.core.test_cluster import local_cluster, need_dask


@pytest.fixture(scope="module")
def address():
    with local_cluster() as lc:
        yield lc.scheduler_address


@pytest.fixture(autouse=True)
def this_machine_afterwards():
    yield
    cluster.set_default(None)


def _dialog(qtbot):
    from gui.dialogs.compute import ComputeDialog

    dialog = ComputeDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_the_tools_menu_has_compute_and_this_machine_is_the_default(qtbot):
    from gui.main_window import MainWindow

    window = MainWindow(deferred=True)
    qtbot.addWidget(window)
    tools = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Tools")
    compute = next(a for a in tools.actions() if a.text() == "Co&mpute…")
    compute.trigger()
    from gui.dialogs.compute import ComputeDialog

    dialog = next(w for w in window.findChildren(ComputeDialog))
    assert dialog.isVisible() and dialog.local.isChecked()
    dialog.reject()
    assert cluster.configured() is None
    window.shutdown()


def test_test_connection_runs_in_the_background_and_names_the_workers(qtbot, address):
    dialog = _dialog(qtbot)
    dialog.address.setText(address)
    dialog.test_connection()
    # Answered later, by the job queue's thread: the click returns at once with "Connecting …".
    assert dialog.testing and dialog.status.text().startswith("Connecting to")
    assert not dialog.test_button.isEnabled()
    qtbot.waitUntil(lambda: not dialog.testing, timeout=120000)
    assert dialog.status.text().startswith(f"Connected to {address}: 2 workers, 2 threads")
    assert dialog.test_button.isEnabled()


def test_a_wrong_address_is_one_line_naming_compute(qtbot):
    import socket

    need_dask()
    dialog = _dialog(qtbot)
    dialog.address.setText("localhost")  # no port: refused at once, without a connection attempt
    dialog.test_connection()
    assert not dialog.testing and dialog.status.text().startswith("Compute 'localhost' has no port")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dialog.address.setText(f"127.0.0.1:{port}")
    dialog.test_connection()
    qtbot.waitUntil(lambda: not dialog.testing, timeout=120000)
    text = dialog.status.text()
    assert "\n" not in text and text.startswith(f"Compute tcp://127.0.0.1:{port}: no Dask scheduler answers there")


def test_ok_remembers_and_applies_the_choice(qtbot, address):
    from gui.dialogs import compute

    dialog = _dialog(qtbot)
    dialog.cluster.setChecked(True)
    dialog.address.setText("not an address")
    dialog.accept()  # refused: the dialog stays, with one line naming the field
    assert dialog.isVisible() and dialog.status.text().startswith("Compute 'not an address'")
    assert compute.saved()["use_cluster"] is False and cluster.configured() is None
    dialog.address.setText(address)
    dialog.accept()
    assert not dialog.isVisible()
    assert compute.saved() == {"use_cluster": True, "address": address}
    assert cluster.configured() == address and os.environ[cluster.ENV] == address  # children inherit it
    # Extraction now goes there, as the training children the tabs spawn do.
    from core.datasets import scan_dataset
    from core.demo import demo_dataset
    from core.extraction import extract
    from core.tasks import get_task

    ds = scan_dataset(demo_dataset("digits"))
    seen = []
    extract(ds.paths()[:20], get_task("digits").feature_config("mfcc-mean"), cache=False, progress=seen.append)
    assert sum(n for _, n in seen[-1].workers) == 20
    again = _dialog(qtbot)  # reopened: the remembered choice
    assert again.cluster.isChecked() and again.address.text() == address
    again.local.setChecked(True)
    again.accept()
    assert compute.saved() == {"use_cluster": False, "address": address} and cluster.configured() is None
    assert compute.apply_saved() is None
