"""Hostile cases of round two (issue 17): the run history, reports and what the CLI prints.

The benchmark runs every case with one environment, ``SPEECHLAB_DATA_DIR=<tmp>/data`` (main.py has no
flag for the data folder; ``core.paths.data_dir`` reads only that variable), so every case shares one
run history, and other modules' cases record their trainings in it. This module therefore only *adds*
runs to that history, with negative ids (the ids other cases' trainings get stay 1, 2, ...); it never
damages the database itself.

Not expressible here, tested in tests/hostile/test_round2_history.py and test_round2_exports.py:

* a damaged or truncated ``history.sqlite`` (defect 5): it would be the history of every case;
* a full disk under the history or under ``report --out`` (defects 12, 19): needs a mount;
* ``runs | head -1`` (defect 23): the benchmark reads the whole of stdout, there is no pipe to close.

For three cases the benchmark's "handled" (no traceback) was true before the fix too, since the
defect is in what is written, not in how the command ends: the confusion-matrix SVG with ``& " < >``
in class names (10), the CSV cell starting a formula (11) and file names printed raw by predict (22);
the tests check the written SVG, CSV and output.
"""
from __future__ import annotations

import json
import shutil
import sqlite3

# Ids of the rows added here (negative: see above).
DAMAGED_DOCS = {-1: "{not json", -2: "[1,2,3]", -3: '{"metrics": 5}'}
MARKUP_RUN, OUTSIDE_RUN = -4, -5
MARKUP_LABELS = ["R&B", 'say "hi"', "<script>", "ab&cd", "rock&roll&more&more"]
_SUMMARY = ("created", "task", "source", "status", "dataset", "dataset_name", "fingerprint", "n_files", "features",
            "model", "split", "accuracy", "train_accuracy", "balanced_accuracy", "macro_f1", "epochs", "seconds",
            "model_file", "note", "doc")


def _document(labels):
    n = len(labels)
    confusion = [[3 if r == c else (1 if c == (r + 1) % n else 0) for c in range(n)] for r in range(n)]
    per_class = {lab: {"accuracy": 0.75, "precision": 0.75, "recall": 0.75, "f1": 0.75, "support": 4}
                 for lab in labels}
    return {"schema": 1, "created": "2025-01-01T00:00:00", "task": "speakers", "source": "benchmark",
            "status": "finished", "dataset": {"path": "/data/voices", "name": "voices", "n_files": 4 * n,
                                              "fingerprint": "0" * 16},
            "feature_config": {"name": "mfcc-stats"}, "model": {"type": "linear", "params": {"kind": "logreg"},
                                                                "text": "logreg C 1.0"},
            "split": {"kind": "random", "test_size": 0.2}, "seeds": {"split": 42}, "labels": labels,
            "history": [{"epoch": 1, "loss": 1.0, "accuracy": 0.5}, {"epoch": 2, "loss": 0.5, "accuracy": 0.75}],
            "metrics": {"accuracy": 0.75, "train_accuracy": 0.9, "balanced_accuracy": 0.75, "macro_f1": 0.75,
                        "labels": labels, "confusion": confusion, "per_class": per_class},
            "training": {}, "seconds": 1.0, "versions": {}}


def _add_runs(history_folder, model):
    """The benchmark's rows, added to the shared history (created with the project's own schema)."""
    from core.history import _SCHEMA

    history_folder.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(history_folder / "history.sqlite")
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.executescript(_SCHEMA)
        rows = {rid: (doc, None, "") for rid, doc in DAMAGED_DOCS.items()}
        rows[MARKUP_RUN] = (json.dumps(_document(MARKUP_LABELS)), None, '=HYPERLINK("http://example.com","x")')
        rows[OUTSIDE_RUN] = (json.dumps(_document(["a", "b"])), str(model), "")  # a file outside the models folder
        with con:
            for rid, (doc, model_file, note) in rows.items():
                values = ("2025-01-01T00:00:00", "speakers", "benchmark", "finished", "/data/voices", "voices",
                          "0" * 16, 8, "mfcc-stats", "logreg C 1.0", "random 20%", 0.75, 0.9, 0.75, 0.75, 2, 1.0,
                          model_file, note, doc)
                con.execute(f"INSERT OR REPLACE INTO runs (id, {', '.join(_SUMMARY)}) "
                            f"VALUES (?, {', '.join('?' * len(_SUMMARY))})", (rid, *values))
    finally:
        con.close()


def make_cases(tmp, good, clip, model):
    data = tmp.parent / "data"  # the benchmark's SPEECHLAB_DATA_DIR
    _add_runs(data / "runs", model)
    out = tmp / "out"
    out.mkdir()
    huge = str(2**63)
    cases = [
        ("runs --limit 0", ["runs", "--limit", "0"], "error"),
        ("runs show of run id 2**63", ["runs", "show", huge], "error"),
        ("report of run id 2**63", ["report", huge, "--out", out / "huge.html"], "error"),
    ]
    for rid, doc in DAMAGED_DOCS.items():
        cases.append((f"runs show of a run whose stored document is {doc}", ["runs", "show", str(rid)], "error"))
        cases.append((f"report of a run whose stored document is {doc}",
                      ["report", str(rid), "--out", out / f"damaged{-rid}.html"], "error"))
    cases += [
        ("report --out an existing folder", ["report", str(MARKUP_RUN), "--out", out], "error"),
        ("report of a run with & \" < > in class names (SVG checked by the tests)",
         ["report", str(MARKUP_RUN), "--out", out / "markup.html"], "ok"),
        ("report .csv of a run whose note is =HYPERLINK(...) (CSV checked by the tests)",
         ["report", str(MARKUP_RUN), "--out", out / "formula.csv"], "ok"),
        ("runs show of a run whose model file is outside the models folder", ["runs", "show", str(OUTSIDE_RUN)],
         "ok"),
    ]
    coloured = tmp / "a\x1b[31mred\nline.wav"  # an ESC sequence and a newline in a file name
    shutil.copy(clip, coloured)
    cases.append(("predict of a file named with ESC and newline (output checked by the tests)",
                  ["predict", model, coloured, tmp / "gone\x1b[2J.wav"], "error"))
    return cases
