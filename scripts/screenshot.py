"""Screenshots of the main window at a given screen size, for the README and layout checks.

Run under a virtual screen of that size, e.g.::

    xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python scripts/screenshot.py --out shot.png
    xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python scripts/screenshot.py \
        --data ../shared/data/fsdd/recordings --train --lower Results --out digits.png

The window opens as the app opens it (sized to the screen), optionally
trains on ``--data`` (the demo data without it), then grabs itself.
Settings go to a scratch file, so the user's are untouched.
"""
from __future__ import annotations

import argparse
import atexit
import os
import pathlib
import shutil
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, type=pathlib.Path)
    parser.add_argument("--data", default="", help="dataset folder (default: the demo data)")
    parser.add_argument("--train", action="store_true", help="train before the screenshot")
    parser.add_argument("--tab", default="digits", help="digits, genres or speakers")
    parser.add_argument("--lower", default="Results", help="lower tab to show: Results, Runs, Microphone, Explore, Log")
    parser.add_argument("--explore-map", action="store_true",
                        help="with --lower Explore: compute the map, select its first outlier (or clip) and lasso a corner")
    parser.add_argument("--status", default=None, help="a status message to show (long-message check)")
    parser.add_argument("--split", default=None, help="random, speaker or loso")
    parser.add_argument("--open", default=None, help="an audio file to open in the microphone tab after training")
    parser.add_argument("--model", default=None, help="a model key of the tab (e.g. voice-cosine, encoder-logreg)")
    parser.add_argument("--while-scanning", action="store_true",
                        help="shoot while the scan of --data is under way (its progress bar; for big folders)")
    parser.add_argument("--while-training", action="store_true",
                        help="with --train: shoot once three epochs are plotted (the curves and the progress bar live)")
    parser.add_argument("--sweep", action="store_true",
                        help="run a 2x2 sweep (epochs x learning rate) from the tab and shoot its dialog when done")
    parser.add_argument("--why-wide", action="store_true", help="print the widgets that set the tab's minimum width")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args(argv)
    private = pathlib.Path(tempfile.mkdtemp(prefix="speechlab-screenshot-"))
    os.environ.setdefault("SPEECHLAB_SETTINGS", str(private / "settings.ini"))
    # its own run history and models too: a screenshot's trainings do not pile up in yours, and "All runs"
    # shows the same rows on every machine (the feature cache stays shared: it only saves time)
    os.environ.setdefault("SPEECHLAB_DATA_DIR", str(private / "data"))
    atexit.register(shutil.rmtree, private, ignore_errors=True)

    import pyqtgraph as pg
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from gui.main_window import MainWindow

    pg.setConfigOptions(antialias=True, background="w", foreground="k")
    app = QApplication([sys.argv[0]])
    window = MainWindow()
    window.show()
    tab = window.task_tab(args.tab)
    window.show_task(args.tab)
    tab.dataset_panel.folder_edit.setText(args.data)
    if args.model:
        combo = getattr(tab.model_panel, "model_combo", None) or getattr(tab.model_panel, "choice")
        combo.setCurrentIndex(combo.findData(args.model))  # as a user picks it: the panel follows
    state = {"phase": "scan"}

    def finish():
        for i in range(tab.lower_tabs.count()):
            if tab.lower_tabs.tabText(i).replace("&&", "&").startswith(args.lower):
                tab.lower_tabs.setCurrentIndex(i)
        if args.status:
            tab.message(args.status)
        if args.open:
            tab.recorder.open_file(args.open)
            wait_for_prediction()
        elif args.sweep:
            run_sweep()
        elif args.explore_map:
            tab.explorer.autoplay.setChecked(False)
            tab.explorer.compute_map()
            wait_for_map()
        else:
            QTimer.singleShot(300, shoot)

    def run_sweep():
        dialog = tab.sweep_dialog()
        state["dialog"] = dialog
        dialog.set_grid([("epochs", "3;6"), ("lr", "0.001;0.01")])
        dialog.finished_sweep.connect(lambda *_: QTimer.singleShot(500, shoot))
        dialog.start()

    def wait_for_prediction():
        if tab.recorder.jobs.pending:
            QTimer.singleShot(100, wait_for_prediction)
        else:
            QTimer.singleShot(300, shoot)

    def wait_for_map():
        explorer = tab.explorer
        if explorer.busy or explorer.drawing:
            QTimer.singleShot(100, wait_for_map)
            return
        if explorer.map is not None:
            import numpy as np

            outliers = np.flatnonzero(explorer.map.outliers)
            explorer.select_map_point(int(outliers[0]) if len(outliers) else 0)
        wait_for_clip()

    def wait_for_clip():  # the clip's waveform is decoded in the background
        if tab.explorer.jobs.pending:
            QTimer.singleShot(100, wait_for_clip)
        else:
            QTimer.singleShot(300, shoot)

    def shoot():
        args.out.parent.mkdir(parents=True, exist_ok=True)
        if state.get("dialog") is not None:  # --sweep: the dialog itself, as it sits over the window
            dialog = state["dialog"]
            dialog.grab().save(str(args.out))
            print(f"{args.out}: sweep dialog {dialog.width()}x{dialog.height()} (minimum "
                  f"{dialog.minimumSizeHint().width()}x{dialog.minimumSizeHint().height()})")
            dialog.close()
            window.shutdown()
            app.quit()
            return
        window.grab().save(str(args.out))
        screen = window.screen().availableGeometry()
        print(f"{args.out}: window {window.width()}x{window.height()} on a {screen.width()}x{screen.height()} screen; "
              f"minimum {window.minimumSizeHint().width()}x{window.minimumSizeHint().height()}; the tab needs "
              f"{tab.minimumSizeHint().width()}x{tab.minimumSizeHint().height()} of "
              f"{tab.parentWidget().width()}x{tab.parentWidget().height()} (more scrolls)")
        if args.why_wide:  # the chain of widgets that sets the tab's minimum width
            from PySide6.QtWidgets import QWidget

            def widest(w, depth=0):
                kids = [c for c in w.findChildren(QWidget, options=Qt.FindChildOption.FindDirectChildrenOnly)
                        if c.isVisible()]
                kids.sort(key=lambda c: -c.minimumSizeHint().width())
                for c in kids[:2]:
                    print("  " * depth + f"{type(c).__name__} {c.objectName()!r}: min {c.minimumSizeHint().width()}"
                          f" (minimumWidth {c.minimumWidth()})")
                    if depth < 14:
                        widest(c, depth + 1)

            widest(tab)
        window.shutdown()
        app.quit()

    def on_busy(busy):
        if busy:
            return
        if state["phase"] == "scan" and args.train:
            state["phase"] = "train"
            if args.split:
                combo = tab.dataset_panel.split_combo
                combo.setCurrentIndex(combo.findData(args.split))
            tab.train()
            if args.while_training:
                QTimer.singleShot(20, shoot_when_training)
        elif state["phase"] == "train" and args.while_training:
            pass  # shot already, or about to be
        else:
            state["phase"] = "done"
            finish()

    def shoot_when_scanning():
        bar = tab.progress_panel.bar
        if bar.format().startswith("Scanning files") and bar.value() > 0:
            shoot()
        else:
            QTimer.singleShot(20, shoot_when_scanning)

    def shoot_when_training():
        if tab.plot.point_count() >= 3:
            shoot()
        else:
            QTimer.singleShot(20, shoot_when_training)

    if args.while_scanning:
        QTimer.singleShot(0, shoot_when_scanning)
    else:
        tab.runner.busy_changed.connect(on_busy)
    QTimer.singleShot(0, lambda: tab.scan(args.data))
    QTimer.singleShot(int(args.timeout * 1000), lambda: (print("timed out", file=sys.stderr), app.exit(1)))
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
