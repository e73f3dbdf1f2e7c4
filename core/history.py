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
when the database cannot be written; a damaged database is moved aside
(``history.sqlite.damaged``) and a new one started. Nothing is pickled.
"""
from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import pathlib
import sqlite3
import sys
import uuid

import numpy as np

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
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_task ON runs (task, id);
"""
#: Columns of :meth:`RunHistory.runs` (the list: cheap, no JSON document).
SUMMARY_COLUMNS = ("id", "created", "task", "source", "status", "dataset", "dataset_name", "fingerprint", "n_files",
                   "features", "model", "split", "accuracy", "train_accuracy", "balanced_accuracy", "macro_f1",
                   "epochs", "seconds", "sweep", "model_file", "starred", "note")


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
    return f"random {float(split.get('test_size', 0.2)):.0%}"


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
        self.folder.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(str(self.path), timeout=30)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a kill never corrupts; a power cut may lose the last run
            con.executescript(_SCHEMA)
            con.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            yield con
            con.commit()
        finally:
            con.close()

    def _query(self, fn, default):
        """Run ``fn(con)``; a damaged database is moved aside once and retried, other errors give ``default``."""
        for attempt in (0, 1):
            try:
                with self._connect() as con:
                    return fn(con)
            except sqlite3.DatabaseError as exc:
                if attempt == 0 and not isinstance(exc, sqlite3.OperationalError) and self._move_aside():
                    continue
                self._note(f"run history unavailable ({self.path}: {exc})")
                return default
            except OSError as exc:
                self._note(f"run history unavailable ({self.path}: {exc.strerror or exc})")
                return default
        return default

    def _move_aside(self):
        if not self.path.exists():
            return False
        aside = self.path.with_name(self.path.name + ".damaged")
        try:
            os.replace(self.path, aside)
            for suffix in ("-wal", "-shm"):
                p = self.path.with_name(self.path.name + suffix)
                if p.exists():
                    p.unlink()
        except OSError:
            return False
        self._note(f"the run history {self.path} was damaged; moved it to {aside.name} and started a new one")
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
            from .errors import SpeechLabError

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
            "split": describe_split(split, test_speakers=training.get("test_speakers") or ()),
            "accuracy": _num(clean_metrics.get("accuracy")), "train_accuracy": _num(clean_metrics.get("train_accuracy")),
            "balanced_accuracy": _num(clean_metrics.get("balanced_accuracy")),
            "macro_f1": _num(clean_metrics.get("macro_f1")), "epochs": epochs, "seconds": float(seconds),
            "sweep": (sweep or {}).get("id"),
        }
        return doc, row

    # ------------------------------------------------------------------ reading

    def runs(self, task=None, *, search=None, starred=None, sweep=None, limit=None):
        """Summaries (dicts with :data:`SUMMARY_COLUMNS`), newest first."""
        if not self.path.exists():
            return []
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
        sql = f"SELECT {', '.join(SUMMARY_COLUMNS)} FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return self._query(lambda con: [dict(zip(SUMMARY_COLUMNS, r)) for r in con.execute(sql, args)], [])

    def get(self, run_id):
        """One run in full: the summary columns plus the stored document's fields; None if unknown."""
        if not self.path.exists():
            return None

        def fetch(con):
            r = con.execute(f"SELECT {', '.join(SUMMARY_COLUMNS)}, doc FROM runs WHERE id = ?", (int(run_id),)).fetchone()
            return r

        r = self._query(fetch, None)
        if r is None:
            return None
        summary = dict(zip(SUMMARY_COLUMNS, r[:-1]))
        try:
            doc = json.loads(r[-1])
        except (TypeError, ValueError):
            doc = {}
            self._note(f"run {run_id}: its stored document is damaged; only the summary is shown")
        # The document's structured fields win (model, split, dataset are dicts there); the list's
        # texts stay under "summary"; the star and the note live only in the columns (they are edited).
        return {**summary, **doc, "summary": summary, "id": summary["id"], "starred": bool(summary["starred"]),
                "note": summary["note"], "model_file": summary["model_file"]}

    def count(self, task=None):
        if not self.path.exists():
            return 0
        sql, args = ("SELECT COUNT(*) FROM runs WHERE task = ?", (task,)) if task else ("SELECT COUNT(*) FROM runs", ())
        return self._query(lambda con: con.execute(sql, args).fetchone()[0], 0)

    def model_path(self, run_id):
        """The kept model file of a run, or None (deleted, never kept, or missing)."""
        r = self._query(lambda con: con.execute("SELECT model_file FROM runs WHERE id = ?", (int(run_id),)).fetchone(),
                        None)
        if not r or not r[0]:
            return None
        path = self.models_dir / r[0]
        return path if path.is_file() else None

    def load_model(self, run_id):
        """The run's model (``core.bundle.load_bundle``: no code from the file runs)."""
        from .bundle import load_bundle
        from .errors import SpeechLabError

        path = self.model_path(run_id)
        if path is None:
            raise SpeechLabError(f"Run {run_id} has no model file any more")
        return load_bundle(path)

    # ------------------------------------------------------------------ editing

    def set_note(self, run_id, text):
        return self._query(lambda con: con.execute("UPDATE runs SET note = ? WHERE id = ?",
                                                   (str(text), int(run_id))).rowcount == 1, False)

    def set_starred(self, run_id, starred=True):
        return self._query(lambda con: con.execute("UPDATE runs SET starred = ? WHERE id = ?",
                                                   (1 if starred else 0, int(run_id))).rowcount == 1, False)

    def delete(self, run_id):
        """Forget a run and delete its model file. Returns True if the run existed."""
        def remove(con):
            r = con.execute("SELECT model_file FROM runs WHERE id = ?", (int(run_id),)).fetchone()
            if r is None:
                return None
            con.execute("DELETE FROM runs WHERE id = ?", (int(run_id),))
            return r[0] or ""

        model_file = self._query(remove, None)
        if model_file is None:
            return False
        if model_file:
            with contextlib.suppress(OSError):
                (self.models_dir / model_file).unlink()
        return True

    def orphans(self):
        """Model files no run names (left by a process killed between saving and recording)."""
        if not self.models_dir.is_dir():
            return []
        named = set(self._query(lambda con: [r[0] for r in con.execute("SELECT model_file FROM runs")], []))
        return sorted(p for p in self.models_dir.glob("*.slm") if p.name not in named)

    def integrity(self):
        """SQLite's own check: "ok" for a sound database."""
        return self._query(lambda con: con.execute("PRAGMA integrity_check").fetchone()[0], "unavailable")


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
