"""Run history: every training kept, across sessions, in one SQLite file.

``<data folder>/runs/history.sqlite`` holds one row per finished training
(GUI, CLI ``train``, sweeps): when, which task, which data (folder, file
count and a fingerprint of names, sizes and mtimes), feature and model
settings, split and random seeds, the curves, the metrics (overall, per
class, confusion, open-set numbers), the test clips with their predictions,
how long it took, the versions of SpeechLab and its main libraries, and a
note and a star the user edits. The model itself is kept beside it as
``runs/models/<uid>.slm`` (written first, atomically; deleted with the run).

Crash and kill safety: the model file is complete before the row that names
it is committed, and the row is one SQLite transaction (WAL journal), so a
process killed at any moment leaves either no run or a whole one. A killed
process can leave a model file without a row; :meth:`RunHistory.orphans`
lists those.

Like the feature cache, history is never a reason for a training to fail:
:meth:`RunHistory.record` returns None and adds a line to :attr:`notes`
when the database cannot be written. A damaged database is set aside by the
next write only (``history.sqlite.damaged-<time>``, never replacing an
earlier one) and a new one started with every run still readable from it;
reading never moves or changes the file: a damaged or unreadable history is
a note, or a :class:`HistoryError` for a caller that must tell "cannot read"
from "nothing recorded". A run's model file is only ever deleted or loaded
inside ``runs/models``. Nothing is pickled.
"""
from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import math
import os
import pathlib
import sqlite3
import sys
import uuid

import numpy as np

from .errors import SpeechLabError
from .paths import data_dir

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created TEXT NOT NULL,
    task TEXT NOT NULL,
    source TEXT NOT NULL,
    status TEXT NOT NULL,
    dataset TEXT NOT NULL,
    dataset_name TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    n_files INTEGER NOT NULL,
    features TEXT NOT NULL,
    model TEXT NOT NULL,
    split TEXT NOT NULL,
    accuracy REAL,
    train_accuracy REAL,
    balanced_accuracy REAL,
    macro_f1 REAL,
    epochs INTEGER NOT NULL,
    seconds REAL NOT NULL,
    sweep TEXT,
    model_file TEXT,
    starred INTEGER NOT NULL DEFAULT 0,
    note TEXT NOT NULL DEFAULT '',
    doc TEXT NOT NULL,
    accuracy_std REAL
);
CREATE INDEX IF NOT EXISTS runs_task ON runs (task, id);
"""
#: Columns added after the first schema: (name, SQL type). A history written before them gets them
#: at its next write (ALTER TABLE); reading an older file gives NULL for them.
_ADDED_COLUMNS = (("accuracy_std", "REAL"),)
#: Columns of :meth:`RunHistory.runs` (the list: cheap, no JSON document).
SUMMARY_COLUMNS = ("id", "created", "task", "source", "status", "dataset", "dataset_name", "fingerprint", "n_files",
                   "features", "model", "split", "accuracy", "train_accuracy", "balanced_accuracy", "macro_f1",
                   "epochs", "seconds", "sweep", "model_file", "starred", "note", "accuracy_std")


def versions():
    """SpeechLab's and its main libraries' versions (TensorFlow only when already imported)."""
    from importlib import metadata

    out = {"python": sys.version.split()[0]}
    for dist, key in (("speechlab", "speechlab"), ("numpy", "numpy"), ("scikit-learn", "scikit-learn"),
                      ("librosa", "librosa"), ("soundfile", "soundfile")):
        try:
            out[key] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    if "tensorflow" in sys.modules:  # never import TensorFlow just to name its version
        out["tensorflow"] = getattr(sys.modules["tensorflow"], "__version__", "?")
        if "keras" in sys.modules:
            out["keras"] = getattr(sys.modules["keras"], "__version__", "?")
    return out


def fingerprint(ds):
    """(file count, hash of the files' names, sizes and mtimes): the same folder with
    the same files gives the same fingerprint; a file added, removed or rewritten changes it."""
    h = hashlib.sha1()
    root = str(ds.root)
    rows = []
    for it in ds.items:
        try:
            st = os.stat(it.path)
            rows.append((os.path.relpath(it.path, root), st.st_size, st.st_mtime_ns))
        except (OSError, ValueError):
            rows.append((str(it.path), -1, -1))
    for name, size, mtime in sorted(rows):
        h.update(f"{name}\0{size}\0{mtime}\n".encode("utf-8", "surrogateescape"))
    return len(rows), h.hexdigest()[:16]


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (set, tuple)):
        return list(o)
    if isinstance(o, pathlib.Path):
        return str(o)
    return str(o)  # a history entry never fails over an odd value


def _dumps(doc):
    return json.dumps(doc, default=_json_default, allow_nan=True)


def describe_features(cfg):
    """A short text for a feature configuration (FeatureConfig or its dict)."""
    d = cfg if isinstance(cfg, dict) else cfg.to_dict()
    text = d.get("name", "?")
    if str(text).startswith("mfcc"):
        text += f" {d.get('n_mfcc')} coef"
    if d.get("name") == "mfcc-full" and d.get("frames"):
        text += f", {d.get('frames')} {d.get('n_frames')} frames"
    if d.get("window_seconds"):
        text += f", {d['window_seconds']:g} s windows"
    return text


def describe_model(model_type, params):
    """A short text for a model's settings, from plain values (works on a stored run)."""
    p = params or {}
    if model_type == "mlp":
        hidden = p.get("hidden_layer_sizes") or ()
        act = p.get("activation")
        act = "/".join(act) if isinstance(act, (list, tuple)) else act
        return (f"MLP {'-'.join(str(h) for h in hidden) or 'no hidden'} {act}, {p.get('output')}, "
                f"{p.get('optimizer')} lr {p.get('learning_rate')}")
    if model_type == "linear":
        return f"{p.get('kind')} " + (f"C {p.get('C')}" if p.get("kind") == "logreg" else f"alpha {p.get('alpha')}")
    if model_type == "keras-cnn":
        blocks = p.get("conv_blocks") or ()
        return f"CNN {'-'.join(str(b.get('filters')) for b in blocks)} {p.get('head')}, lr {p.get('learning_rate')}"
    return str(model_type)


def describe_split(split, *, test_speakers=()):
    kind = (split or {}).get("kind", "random")
    if kind == "speaker":
        text = "speaker-independent"
        if test_speakers:
            text += f" (test: {', '.join(map(str, test_speakers))})"
        return text
    if kind == "leave-one-speaker-out":
        return "leave one speaker out"
    if kind == "kfold":
        from .kfold import GROUPING_TEXT

        return f"{split.get('folds')}-fold {GROUPING_TEXT.get(split.get('grouping'), '')}".strip()
    if kind == "unknown":  # a run whose stored document is damaged: the list's text
        return str(split.get("text") or "unknown")
    return f"random {float(split.get('test_size', 0.2)):.0%}"


def describe_comparison(compare):
    """The Split column of a "same voices vs new voices" run: both accuracies (Test acc is the random split's)."""
    return (f"same vs new voices: new voices {float(compare['speaker_accuracy']):.1%} "
            f"({len(compare.get('folds') or ())} folds by speaker)")


class RunHistory:
    """Every training's record, in ``folder/history.sqlite`` with models in ``folder/models``.

    Safe to use from several processes at once (a sweep's workers record in
    parallel): each write is one short transaction, readers never block.
    """

    def __init__(self, folder=None):
        self.folder = pathlib.Path(folder) if folder is not None else data_dir() / "runs"
        self.path = self.folder / "history.sqlite"
        self.models_dir = self.folder / "models"
        self.notes = []

    @classmethod
    def default(cls):
        return cls()

    # ---------------------------------------------------------------- plumbing

    def _note(self, text):
        if text not in self.notes:
            self.notes.append(text)

    @contextlib.contextmanager
    def _connect(self):
        """A connection for writing: creates the folder, the database and its table when missing."""
        self.folder.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(str(self.path), timeout=30)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a kill never corrupts; a power cut may lose the last run
            con.executescript(_SCHEMA)
            have = _table_columns(con)
            for name, kind in _ADDED_COLUMNS:
                if name not in have:
                    con.execute(f"ALTER TABLE runs ADD COLUMN {name} {kind}")
            con.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            yield con
            con.commit()
        finally:
            con.close()

    def _read(self, fn, default, *, strict=False):
        """Run ``fn(con)`` on the database as it is: never creates, changes or moves it.

        A history that cannot be read gives ``default`` and a note, or with ``strict`` raises
        :class:`HistoryError` with one line saying why; a missing history is simply empty.
        """
        if not self.path.exists():
            return default
        try:
            con = sqlite3.connect(_uri(self.path, "rw"), uri=True, timeout=30)
            try:
                return fn(con)
            finally:
                con.close()
        except sqlite3.DatabaseError as exc:
            if _damaged(exc):
                why = (f"the run history {self.path} is damaged ({exc}); it was left as it is: the next "
                       "training sets it aside and keeps the runs it still holds")
            elif "no such table" in str(exc):
                return default  # an empty database: nothing recorded yet
            else:
                why = f"the run history {self.path} could not be read: {_explain(exc, self.path)}"
        except OSError as exc:
            why = f"the run history {self.path} could not be read: {exc.strerror or exc}"
        if strict:
            raise HistoryError(why)
        self._note(why)
        return default

    def _query(self, fn, default):
        """Run ``fn(con)`` and commit; a damaged database is set aside (its readable runs copied into a
        new one) once and retried; other errors give ``default`` and a note."""
        for attempt in (0, 1):
            try:
                with self._connect() as con:
                    return fn(con)
            except sqlite3.DatabaseError as exc:
                if attempt == 0 and _damaged(exc) and self._move_aside(exc):
                    continue
                self._note(f"run history unavailable ({self.path}: {_explain(exc)})")
                return default
            except OSError as exc:
                self._note(f"run history unavailable ({self.path}: {exc.strerror or exc})")
                return default
        return default

    def _move_aside(self, exc):
        """Set a damaged database aside under a name of its own (a backup is never replaced) and start
        a new one holding every run that can still be read from it."""
        if not self.path.exists():
            return False
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        for n in range(1000):
            aside = self.path.with_name(f"{self.path.name}.damaged-{stamp}" + (f"-{n}" if n else ""))
            try:
                os.link(self.path, aside)  # fails when the name is taken: never overwrites
            except FileExistsError:
                continue
            except OSError:  # a file system without hard links
                if aside.exists() or aside.is_symlink():
                    continue
                try:
                    os.rename(self.path, aside)
                except OSError:
                    return False
            break
        else:
            return False
        try:
            if self.path.exists():
                if not os.path.samefile(self.path, aside):
                    return True  # another process set it aside first and started a new one: use that
                os.unlink(self.path)
            wal = self.path.with_name(self.path.name + "-wal")
            if wal.exists():  # committed runs may still be in the log: it goes with the database
                os.replace(wal, aside.with_name(aside.name + "-wal"))
            self.path.with_name(self.path.name + "-shm").unlink(missing_ok=True)
        except OSError:
            return False
        kept, last_id = _salvage(aside)
        saved = 0
        if kept or last_id:
            cols = SUMMARY_COLUMNS + ("doc",)

            def copy(con):
                n = 0
                for row in kept:
                    n += con.execute(f"INSERT OR IGNORE INTO runs ({', '.join(cols)}) "
                                     f"VALUES ({', '.join('?' * len(cols))})", row).rowcount
                if last_id:  # new runs never take the id of a run that was lost
                    con.execute("UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'runs'", (last_id,))
                    con.execute("INSERT INTO sqlite_sequence (name, seq) SELECT 'runs', ? WHERE NOT EXISTS "
                                "(SELECT 1 FROM sqlite_sequence WHERE name = 'runs')", (last_id,))
                return n

            try:
                with self._connect() as con:
                    saved = copy(con)
            except (sqlite3.Error, OSError):
                saved = 0
        self._note(f"the run history {self.path} was damaged ({exc}); moved it to {aside.name} and kept "
                   f"{saved} run{'' if saved == 1 else 's'} it still held in a new one")
        return True

    # ------------------------------------------------------------------ writing

    def record(self, bundle, *, metrics, history, seconds, stop_reason=None, diverged=False, test_files=None,
               dataset=None, source="gui", model_text=None, sweep=None, keep_model=True, extra=None):
        """Keep one finished training. Returns its id, or None when the history cannot be written.

        Parameters
        ----------
        bundle : ModelBundle, the trained model (saved into the history's models folder)
        metrics : dict, the test metrics (``test_files`` inside are moved to their own field)
        dataset : core.datasets.Dataset or None (its fingerprint is computed here)
        sweep : dict or None, {"id", "label", "values"} for a run of a sweep
        """
        try:
            doc, row = self._document(bundle, metrics=metrics, history=history, seconds=seconds,
                                      stop_reason=stop_reason, diverged=diverged, test_files=test_files,
                                      dataset=dataset, source=source, model_text=model_text, sweep=sweep,
                                      extra=extra)
        except Exception as exc:  # noqa: BLE001 - history must never break a training
            self._note(f"run not recorded ({exc.__class__.__name__}: {exc})")
            return None
        model_file = None
        if keep_model:
            from .bundle import save_bundle

            name = f"{datetime.datetime.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:8]}.slm"
            try:
                save_bundle(bundle, self.models_dir / name)  # complete (temp + rename) before the row names it
                model_file = name
            except (SpeechLabError, OSError, TypeError) as exc:
                self._note(f"run recorded without its model file ({exc})")
        row["model_file"] = model_file
        doc["model_file"] = model_file
        row["doc"] = _dumps(doc)
        cols = list(row)

        def insert(con):
            # Every leaf of the table read first: a damaged database is found (and set aside, its
            # readable runs kept) by the training that writes, not only where the new row lands.
            con.execute("SELECT COUNT(*) FROM runs NOT INDEXED").fetchone()
            cur = con.execute(f"INSERT INTO runs ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                              [row[c] for c in cols])
            return int(cur.lastrowid)

        run_id = self._query(insert, None)
        if run_id is None and model_file:
            with contextlib.suppress(OSError):
                (self.models_dir / model_file).unlink()
        return run_id

    def record_result(self, result, **kw):
        """:meth:`record` for a ``core.training.TrainResult``."""
        return self.record(result.bundle, metrics=result.metrics, history=result.history, seconds=result.seconds,
                           stop_reason=result.stop_reason, diverged=result.diverged,
                           test_files=result.metrics.get("test_files"), **kw)

    def record_rotations(self, rot, **kw):
        """:meth:`record` for leave-one-speaker-out: the final model with the pooled metrics
        (None when stopped before the final model)."""
        if rot.final is None:
            return None
        files = [f for r in rot.results for f in r.metrics.get("test_files", [])]
        extra = {"per_speaker": rot.per_speaker, **(kw.pop("extra", None) or {})}
        return self.record(rot.final, metrics=rot.metrics, history=rot.final.history, seconds=rot.seconds,
                           stop_reason=rot.final.training.get("stop_reason"), test_files=files, extra=extra, **kw)

    def record_comparison(self, comp, **kw):
        """:meth:`record` for "same voices vs new voices" (core.honest.SplitComparison): the random split's model
        and metrics, with both numbers, the speaker folds and each voice never heard on its own (``compare``);
        its Split column gives both accuracies."""
        extra = {"compare": {"random_accuracy": comp.random_accuracy, "speaker_accuracy": comp.speaker_accuracy,
                             "gap": comp.gap, "folds": [list(f) for f in comp.folds],
                             "fold_accuracies": list(comp.fold_accuracies), "n_speakers": comp.n_speakers,
                             "per_speaker": {str(s): {"accuracy": a, "clips": n}
                                             for s, (a, n) in comp.per_speaker.items()}},
                 **(kw.pop("extra", None) or {})}
        return self.record_result(comp.random_result, extra=extra, **kw)

    def record_kfold(self, result, **kw):
        """:meth:`record` for k-fold (core.kfold.KFoldResult): the model kept (trained on all the data, or
        the last finished fold's when stopped) with the folds' pooled metrics, accuracy = their mean."""
        extra = {"kfold": result.kfold, **(kw.pop("extra", None) or {})}
        return self.record(result.bundle, metrics=result.metrics, history=result.bundle.history,
                           seconds=result.seconds, stop_reason=result.stop_reason,
                           test_files=result.metrics.get("test_files"), extra=extra, **kw)

    def _document(self, bundle, *, metrics, history, seconds, stop_reason, diverged, test_files, dataset, source,
                  model_text, sweep, extra):
        from .models import model_type_of

        training = dict(bundle.training or {})
        model_type = model_type_of(bundle.model)
        params = bundle.model.get_params() if hasattr(bundle.model, "get_params") else {}
        params = json.loads(_dumps(params))
        feature_config = bundle.feature_config.to_dict()
        root = str(dataset.root) if dataset is not None else str(training.get("dataset", ""))
        if dataset is not None:
            n_files, fp = fingerprint(dataset)
        else:
            n_files, fp = int(training.get("n_train", 0)) + int(training.get("n_test", 0)), ""
        split = training.get("split") or {}
        clean_metrics = {k: v for k, v in (metrics or {}).items() if k != "test_files"}
        status = "diverged" if diverged else ("stopped" if (stop_reason or "").startswith("stopped") else "finished")
        now = datetime.datetime.now().isoformat(timespec="seconds")
        doc = {
            "schema": SCHEMA_VERSION,
            "created": now,
            "task": bundle.task,
            "source": source,
            "status": status,
            "dataset": {"path": root, "name": dataset_name(root), "layout": training.get("layout"),
                        "label_kind": training.get("label_kind"), "n_files": n_files, "fingerprint": fp},
            "feature_config": feature_config,
            "model": {"type": model_type, "params": params, "text": model_text or describe_model(model_type, params)},
            "split": split,
            "test_speakers": training.get("test_speakers", []),
            "seeds": {"split": split.get("random_state"), "model": params.get("random_state")},
            "labels": [str(x) for x in bundle.labels],
            "history": [{k: v for k, v in h.items() if k != "per_class" or isinstance(v, dict)} for h in history or []],
            "metrics": clean_metrics,
            "test_files": list(test_files or []),
            "training": training,
            "seconds": float(seconds),
            "stop_reason": stop_reason,
            "diverged": bool(diverged),
            "versions": versions(),
            "sweep": sweep,
        }
        if extra:
            doc.update(extra)
        epochs = sum(1 for h in history or [] if h.get("batch") is None)
        row = {
            "created": now, "task": bundle.task, "source": source, "status": status, "dataset": root,
            "dataset_name": doc["dataset"]["name"], "fingerprint": fp, "n_files": n_files,
            "features": describe_features(feature_config), "model": doc["model"]["text"],
            "split": (describe_comparison(extra["compare"]) if extra and extra.get("compare")
                      else describe_split(split, test_speakers=training.get("test_speakers") or ())),
            "accuracy": _num(clean_metrics.get("accuracy")), "train_accuracy": _num(clean_metrics.get("train_accuracy")),
            "balanced_accuracy": _num(clean_metrics.get("balanced_accuracy")),
            "macro_f1": _num(clean_metrics.get("macro_f1")), "epochs": epochs, "seconds": float(seconds),
            "sweep": (sweep or {}).get("id"),
            "accuracy_std": _num((clean_metrics.get("kfold") or {}).get("std_accuracy")),
        }
        return doc, row

    # ------------------------------------------------------------------ reading

    def runs(self, task=None, *, search=None, starred=None, sweep=None, limit=None, strict=False):
        """Summaries (dicts with :data:`SUMMARY_COLUMNS`), newest first.

        A history that cannot be read gives [] and a note, or with ``strict`` raises
        :class:`HistoryError` (so that "nothing recorded" and "cannot read" are told apart).
        """
        where, args = [], []
        if task:
            where.append("task = ?")
            args.append(task)
        if starred:
            where.append("starred = 1")
        if sweep:
            where.append("sweep = ?")
            args.append(sweep)
        if search:
            like = f"%{search}%"
            where.append("(dataset LIKE ? OR features LIKE ? OR model LIKE ? OR split LIKE ? OR note LIKE ? "
                         "OR created LIKE ? OR status LIKE ? OR CAST(id AS TEXT) = ?)")
            args += [like] * 7 + [search.strip()]
        sql = "SELECT {columns} FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(max(0, min(int(limit), _MAX_ID)))
        return self._read(lambda con: [dict(zip(SUMMARY_COLUMNS, r)) for r in con.execute(
            sql.format(columns=_select(con)), args)], [], strict=strict)

    def get(self, run_id, *, strict=False):
        """One run in full: the summary columns plus the stored document's fields; None if unknown.

        A stored document that is not what :meth:`record` wrote (hand-edited, damaged) makes a note
        and gives a run built from the summary alone, with the same shape, or with ``strict`` raises
        :class:`HistoryError` naming the run. So does a history that cannot be read.
        """
        rid = _run_id(run_id)
        if rid is None:
            return None

        def fetch(con):
            return con.execute(f"SELECT {_select(con)}, doc FROM runs WHERE id = ?", (rid,)).fetchone()

        r = self._read(fetch, None, strict=strict)
        if r is None:
            return None
        summary = dict(zip(SUMMARY_COLUMNS, r[:-1]))
        try:
            doc = json.loads(r[-1])
        except (TypeError, ValueError, RecursionError) as exc:
            doc, why = None, f"not JSON: {exc}"
        else:
            why = document_problem(doc)
        if why is not None:
            text = f"run {rid}: its stored document is damaged ({why})"
            if strict:
                raise HistoryError(f"{text}; 'python main.py runs' still lists its summary")
            self._note(f"{text}; only its summary is shown")
            doc = _summary_document(summary)
        # The document's structured fields win (model, split, dataset are dicts there); the list's
        # texts stay under "summary"; the star and the note live only in the columns (they are edited).
        return {**summary, **doc, "summary": summary, "id": summary["id"], "starred": bool(summary["starred"]),
                "note": summary["note"], "model_file": summary["model_file"]}

    def count(self, task=None):
        sql, args = ("SELECT COUNT(*) FROM runs WHERE task = ?", (task,)) if task else ("SELECT COUNT(*) FROM runs", ())
        return self._read(lambda con: con.execute(sql, args).fetchone()[0], 0)

    def _model_file(self, run_id, name):
        """The path of a run's model file inside the models folder; None (and a note) for a name that
        leads anywhere else (``..``, an absolute path, a symbolic link, a sub-folder): a history row
        must never make the app delete or load another file."""
        path = self.models_dir / str(name)
        try:
            inside = (isinstance(name, str) and not path.is_symlink()
                      and path.resolve().parent == self.models_dir.resolve())
        except (OSError, ValueError, RuntimeError):
            inside = False
        if inside:
            return path
        self._note(f"run {run_id}: its model file {str(name)!r} is outside the history's models folder "
                   f"({self.models_dir}); it is left alone")
        return None

    def _model_name(self, rid):
        r = self._read(lambda con: con.execute("SELECT model_file FROM runs WHERE id = ?", (rid,)).fetchone(), None)
        return r[0] if r and r[0] else None

    def model_path(self, run_id):
        """The kept model file of a run, or None (deleted, never kept, missing, or not in the models folder)."""
        rid = _run_id(run_id)
        name = None if rid is None else self._model_name(rid)
        path = None if name is None else self._model_file(rid, name)
        return path if path is not None and path.is_file() else None

    def load_model(self, run_id):
        """The run's model (``core.bundle.load_bundle``: no code from the file runs)."""
        from .bundle import load_bundle

        rid = _run_id(run_id)
        name = None if rid is None else self._model_name(rid)
        path = None if name is None else self._model_file(rid, name)
        if name is not None and path is None:
            raise SpeechLabError(f"Run {rid}: its model file {str(name)!r} is outside the history's models "
                                 f"folder ({self.models_dir}); not loaded")
        if path is None or not path.is_file():
            raise SpeechLabError(f"Run {run_id} has no model file any more")
        return load_bundle(path)

    # ------------------------------------------------------------------ editing

    def set_note(self, run_id, text):
        rid = _run_id(run_id)
        return rid is not None and self._query(lambda con: con.execute(
            "UPDATE runs SET note = ? WHERE id = ?", (str(text), rid)).rowcount == 1, False)

    def set_starred(self, run_id, starred=True):
        rid = _run_id(run_id)
        return rid is not None and self._query(lambda con: con.execute(
            "UPDATE runs SET starred = ? WHERE id = ?", (1 if starred else 0, rid)).rowcount == 1, False)

    def delete(self, run_id):
        """Forget a run and delete its model file (only one inside the models folder). Returns True if
        the run existed."""
        rid = _run_id(run_id)
        if rid is None:
            return False

        def remove(con):
            r = con.execute("SELECT model_file FROM runs WHERE id = ?", (rid,)).fetchone()
            if r is None:
                return None
            con.execute("DELETE FROM runs WHERE id = ?", (rid,))
            return r[0] or ""

        model_file = self._query(remove, None)
        if model_file is None:
            return False
        path = self._model_file(rid, model_file)
        if path is not None:
            with contextlib.suppress(OSError):
                path.unlink()
        return True

    def orphans(self):
        """Model files no run names (left by a process killed between saving and recording)."""
        if not self.models_dir.is_dir():
            return []
        named = self._read(lambda con: {r[0] for r in con.execute("SELECT model_file FROM runs")},
                           None if self.path.exists() else set())
        if named is None:  # the history cannot be read: no file is known to be an orphan
            return []
        return sorted(p for p in self.models_dir.glob("*.slm") if p.name not in named)

    def integrity(self):
        """SQLite's own check: "ok" for a sound database."""
        return self._read(lambda con: con.execute("PRAGMA integrity_check").fetchone()[0], "unavailable")


_MAX_ID = 2**63 - 1  # SQLite's largest integer


def _run_id(run_id):
    """A run id SQLite can hold, or None (no run has any other id)."""
    try:
        rid = int(run_id)
    except (TypeError, ValueError, OverflowError):
        return None
    return rid if -_MAX_ID - 1 <= rid <= _MAX_ID else None


_NONE = type(None)
_NUMBER = (int, float)
# The stored document's fields and their JSON types, as record() writes them.
_DOC_FIELDS = {
    "created": str, "task": str, "source": str, "status": str, "dataset": dict, "feature_config": dict,
    "model": dict, "split": dict, "test_speakers": list, "seeds": dict, "labels": list, "history": list,
    "metrics": dict, "test_files": list, "training": dict, "seconds": _NUMBER, "stop_reason": (str, _NONE),
    "diverged": (bool, _NONE), "versions": dict, "sweep": (dict, _NONE), "per_speaker": dict,
    "request": (dict, _NONE), "kfold": (dict, _NONE),
}
_DOC_REQUIRED = ("dataset", "model", "split", "metrics")
_PER_CLASS_NUMBERS = ("train_accuracy", "accuracy", "precision", "recall", "f1")
_EPOCH_NUMBERS = ("epoch", "batch", "loss", "accuracy", "val_loss", "val_accuracy")


def _kind(v):
    return {dict: "an object", list: "a list", str: "a text", bool: "true/false", _NONE: "null"}.get(
        type(v), "a number" if isinstance(v, _NUMBER) else type(v).__name__)


def _scalar(v):
    return isinstance(v, (str, int, float, bool, _NONE))


def document_problem(doc):
    """What makes a stored run document unusable, in a few words, or None when it has the shape
    :meth:`RunHistory.record` writes (the fields every view and report reads, with their types)."""
    if not isinstance(doc, dict):
        return f"{_kind(doc)} where an object was expected"
    for key, kinds in _DOC_FIELDS.items():
        if key in doc and not isinstance(doc[key], kinds):
            return f"'{key}' is {_kind(doc[key])}"
    for key in _DOC_REQUIRED:
        if key not in doc:
            return f"no '{key}'"
    ds, model, split, m = doc["dataset"], doc["model"], doc["split"], doc["metrics"]
    for where, d, keys, ok in (
            ("dataset", ds, ("path", "name", "fingerprint", "n_files", "layout", "label_kind"), _scalar),
            ("model", model, ("type", "text"), _scalar),
            ("model", model, ("params",), lambda v: isinstance(v, (dict, _NONE))),
            ("split", split, ("kind",), _scalar),
            ("split", split, ("test_size",), lambda v: isinstance(v, (*_NUMBER, _NONE))),
            ("metrics", m, ("accuracy", "train_accuracy", "balanced_accuracy", "macro_f1", "window_accuracy",
                            "n_windows", "n_clips"), lambda v: isinstance(v, (*_NUMBER, _NONE))),
            ("metrics", m, ("labels",), lambda v: isinstance(v, (list, _NONE)) and all(map(_scalar, v or []))),
            ("metrics", m, ("per_class", "open_set"), lambda v: isinstance(v, (dict, _NONE, bool))),
            ("metrics", m, ("report",), lambda v: isinstance(v, (str, _NONE)))):
        for key in keys:
            if key in d and not ok(d[key]):
                return f"'{where}.{key}' is {_kind(d[key])}"
    if not all(isinstance(x, str) for x in doc.get("labels") or []):
        return "'labels' holds something else than names"
    for lab, st in (m.get("per_class") or {}).items():
        if not isinstance(st, dict) or not all(isinstance(st.get(k), (*_NUMBER, _NONE)) for k in _PER_CLASS_NUMBERS):
            return f"'metrics.per_class.{lab}' is not a set of numbers"
    if m.get("confusion") is not None:
        n, rows = len(m.get("labels") or []), m["confusion"]
        if not (isinstance(rows, list) and len(rows) >= n and all(
                isinstance(row, list) and len(row) >= n and all(
                    isinstance(v, _NUMBER) and math.isfinite(v) for v in row) for row in rows)):
            return f"'metrics.confusion' is not a {n} x {n} table of counts"
    for h in doc.get("history") or []:
        if not isinstance(h, dict) or not all(isinstance(h.get(k), (*_NUMBER, _NONE)) for k in _EPOCH_NUMBERS):
            return "'history' holds something else than epochs"
    if not all(isinstance(v, (*_NUMBER, _NONE)) for v in (doc.get("per_speaker") or {}).values()):
        return "'per_speaker' holds something else than accuracies"
    if not all(isinstance(f, dict) for f in doc.get("test_files") or []):
        return "'test_files' holds something else than files"
    request = doc.get("request") or {}
    if not isinstance(request.get("open_set"), (dict, _NONE, bool)):
        return f"'request.open_set' is {_kind(request['open_set'])}"
    return None


def _summary_document(s):
    """A run document made of the summary columns alone, for a run whose stored document is damaged."""
    return {"dataset": {"path": s["dataset"], "name": s["dataset_name"], "n_files": s["n_files"],
                        "fingerprint": s["fingerprint"]},
            "feature_config": {}, "model": {"type": "", "params": {}, "text": s["model"]},
            "split": {"kind": "unknown", "text": s["split"]}, "labels": [], "history": [],
            "metrics": {k: s[k] for k in ("accuracy", "train_accuracy", "balanced_accuracy", "macro_f1")},
            "test_files": [], "training": {}, "seeds": {}, "versions": {}, "document_damaged": True}


class HistoryError(SpeechLabError):
    """The run history could not be read (a one-line message saying which file and why)."""


# SQLite's primary result codes that mean the file itself is damaged (not busy, full or read-only).
_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26
_WHY = {
    "SQLITE_FULL": "the disk is full",
    "SQLITE_IOERR_SHMOPEN": "SQLite cannot create its shared-memory file beside it (-shm): is the disk full?",
    "SQLITE_IOERR_SHMSIZE": "SQLite cannot create its shared-memory file beside it (-shm): is the disk full?",
    "SQLITE_IOERR_SHMMAP": "SQLite cannot map its shared-memory file beside it (-shm): is the disk full?",
    "SQLITE_READONLY_DIRECTORY": "its folder is read-only, so SQLite cannot create its -shm file there",
    "SQLITE_CANTOPEN": "the file cannot be opened",
    "SQLITE_BUSY": "another program holds it locked",
}


def _damaged(exc):
    """True when SQLite says the file is not a sound database (as opposed to locked, full, read-only)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    return not isinstance(exc, sqlite3.OperationalError)


def _explain(exc, path=None):
    """SQLite's message and, in words, why: the state of the folder (full, read-only) when that
    explains it, else what SQLite's error code means."""
    name = getattr(exc, "sqlite_errorname", None) or ""
    why = _folder_state(path, name) if path is not None else None
    if why is None:
        why = _WHY.get(name) or next((text for key, text in _WHY.items() if name.startswith(key)), None)
    if why is None and name.startswith("SQLITE_READONLY"):
        why = "it is read-only"
    return f"{exc} ({why})" if why else str(exc)


def _folder_state(path, sqlite_error=""):
    """Why SQLite cannot write beside ``path`` (its -shm and -wal files), or None."""
    folder = path.parent
    try:
        st = os.statvfs(folder)
    except OSError:
        return None
    if st.f_flag & os.ST_RDONLY:
        why = "its folder is on a read-only file system"
    elif st.f_bavail == 0:
        why = "the disk is full"
    elif not os.access(folder, os.W_OK):
        why = "its folder is not writable"
    else:
        return None
    if sqlite_error.startswith("SQLITE_IOERR_SHM") or not path.with_name(path.name + "-shm").exists():
        why += f", so SQLite cannot make its {path.name}-shm file beside it"
    return why


def _table_columns(con):
    return {row[1] for row in con.execute("PRAGMA table_info(runs)")}


def _select(con, columns=SUMMARY_COLUMNS):
    """The select list of ``columns``, with NULL for a column an older history does not have."""
    have = _table_columns(con)
    return ", ".join(c if c in have else f"NULL AS {c}" for c in columns)


def _uri(path, mode):
    from urllib.parse import quote

    return f"file:{quote(str(path))}?mode={mode}"


def _salvage(path):
    """The rows still readable in a damaged database, and the last id it gave (0 if unknown).

    A truncated file is refused whole by SQLite (its header counts more pages than there are)
    unless the schema is writable; with that on, the pages still there are read. The table is
    scanned, then each id up to the last one given is looked up on its own, so that one lost page
    costs only the runs on it. A run whose document cannot be read keeps its summary (its
    document then reads as damaged).
    """
    cols = SUMMARY_COLUMNS + ("doc",)
    rows, last_id = {}, 0
    wal, shm = (path.with_name(path.name + suffix) for suffix in ("-wal", "-shm"))
    has_wal = wal.is_file() and wal.stat().st_size > 0
    # Without a log to replay, read the file as it is (immutable: no -shm or -wal made beside it).
    uri = _uri(path, "ro") + ("" if has_wal else "&immutable=1")
    try:
        con = sqlite3.connect(uri, uri=True, timeout=5)
    except sqlite3.Error:
        return [], 0
    try:
        with contextlib.suppress(sqlite3.Error):
            con.execute("PRAGMA writable_schema=ON")
        with contextlib.suppress(sqlite3.Error):
            r = con.execute("SELECT seq FROM sqlite_sequence WHERE name = 'runs'").fetchone()
            last_id = int(r[0]) if r and isinstance(r[0], int) else 0
        select = ", ".join(cols)
        with contextlib.suppress(sqlite3.Error):
            select = _select(con, cols)
        with contextlib.suppress(sqlite3.Error):
            for row in con.execute(f"SELECT {select} FROM runs ORDER BY id"):
                rows[row[0]] = row
        last_id = max([last_id, *rows])
        for rid in range(1, min(last_id, 1_000_000) + 1):
            if rid in rows:
                continue
            try:
                row = con.execute(f"SELECT {select} FROM runs WHERE id = ?", (rid,)).fetchone()
            except sqlite3.Error:
                try:  # the summary without the document (its overflow pages may be the lost ones)
                    row = con.execute(f"SELECT {select.rsplit(', ', 1)[0]} FROM runs WHERE id = ?",
                                      (rid,)).fetchone()
                    row = None if row is None else (*row, "")
                except sqlite3.Error:
                    row = None
            if row is not None:
                rows[rid] = row
    finally:
        con.close()
        with contextlib.suppress(OSError):
            shm.unlink(missing_ok=True)  # an index SQLite rebuilds; the backup stays the file and its log
            if not has_wal and wal.is_file() and wal.stat().st_size == 0:
                wal.unlink()
    return [rows[k] for k in sorted(rows)], last_id


def _num(v):
    try:
        return None if v is None else float(v)
    except (TypeError, ValueError):
        return None


def dataset_name(root):
    """A short name for a dataset folder: its name, or "demo" for the built-in demo data."""
    p = pathlib.Path(str(root))
    if "demo" in p.parts[-3:]:
        return "demo"
    return p.name or str(p)


# ------------------------------------------------------------- comparing runs


def settings_of(run):
    """A run's settings as one flat, ordered dict of texts (for comparison tables):
    ``dataset``, ``features.<key>``, ``model``, ``model.<param>``, ``split``, ``seed.<what>``."""
    out = {}
    ds = run.get("dataset") or {}
    out["dataset"] = ds.get("path", "")
    out["dataset.files"] = str(ds.get("n_files", ""))
    out["dataset.fingerprint"] = ds.get("fingerprint", "")
    for k, v in sorted((run.get("feature_config") or {}).items()):
        out[f"features.{k}"] = _text(v)
    model = run.get("model") or {}
    out["model"] = model.get("type", "")
    for k, v in sorted((model.get("params") or {}).items()):
        if k != "random_state":
            out[f"model.{k}"] = _text(v)
    split = run.get("split") or {}
    out["split"] = describe_split(split, test_speakers=run.get("test_speakers") or ())
    for k, v in sorted((run.get("seeds") or {}).items()):
        out[f"seed.{k}"] = _text(v)
    training = run.get("training") or {}
    request = run.get("request") or {}
    augment = request.get("augment", training.get("augment")) or False
    out["augment"] = "off" if not augment else _text(augment)
    open_set = request.get("open_set") if request else (run.get("metrics") or {}).get("open_set")
    if not open_set:
        out["open set"] = "off"
    else:
        out["open set"] = f"{open_set.get('method', '')}, target {_text(open_set.get('target_frr', ''))}"
        if open_set.get("unknown_labels"):
            out["open set.unknown"] = _text(open_set["unknown_labels"])
    if training.get("open_set_off"):
        out["open set"] = "off (stopped before its threshold was set)"
    return out


def differing(settings_list):
    """The keys whose values are not the same in every dict (missing counts as different)."""
    keys = list(dict.fromkeys(k for s in settings_list for k in s))
    return [k for k in keys if len({s.get(k) for s in settings_list}) > 1]


def _text(v):
    if isinstance(v, (list, tuple)):
        return ",".join(_text(x) for x in v) if all(not isinstance(x, (dict, list)) for x in v) else json.dumps(v)
    if isinstance(v, dict):
        return json.dumps(v, sort_keys=True)
    if isinstance(v, float):
        return f"{v:g}"
    return "none" if v is None else str(v)


def curves(run):
    """(epochs, {series name: values}) of a run's per-epoch history; None values kept as None."""
    epochs = [h for h in run.get("history") or [] if h.get("batch") is None]
    xs = [h.get("epoch", i + 1) for i, h in enumerate(epochs)]
    series = {}
    for key in ("loss", "val_loss", "accuracy", "val_accuracy"):
        values = [h.get(key) for h in epochs]
        if any(v is not None for v in values):
            series[key] = values
    return xs, series
