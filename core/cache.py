"""On-disk feature cache keyed by file identity and feature configuration.

One SQLite file in the user's cache directory. A row holds one file's raw
features for one configuration, together with the file's size and
modification time: a file that changed (touched, rewritten) no longer matches
and is extracted again, alone. Failures are cached too, with their reason, so
a corrupt file is not decoded again on every run until it changes.

Values are stored as raw float32 bytes plus their shape: nothing is pickled,
so a tampered cache cannot execute code.
"""
from __future__ import annotations

import contextlib
import os
import pathlib
import sqlite3

import numpy as np

_SCHEMA = """
CREATE TABLE IF NOT EXISTS features (
    config TEXT NOT NULL,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    shape TEXT,
    data BLOB,
    reason TEXT,
    PRIMARY KEY (config, path)
)
"""


def cache_dir():
    """The user's cache directory for SpeechLab (``SPEECHLAB_CACHE_DIR`` overrides)."""
    env = os.environ.get("SPEECHLAB_CACHE_DIR")
    if env:
        return pathlib.Path(env)
    import platformdirs

    return pathlib.Path(platformdirs.user_cache_dir("SpeechLab", appauthor=False))


def _identity(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


class FeatureCache:
    """A feature store in one SQLite file."""

    def __init__(self, path):
        self.path = pathlib.Path(path)

    @classmethod
    def default(cls):
        return cls(cache_dir() / "features.sqlite")

    @contextlib.contextmanager
    def _connect(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(str(self.path), timeout=30)
        try:
            con.execute(_SCHEMA)
            yield con
            con.commit()
        finally:
            con.close()

    def get_many(self, config_key, paths):
        """Cached results for the paths whose size and mtime still match.

        Returns
        -------
        dict path -> (ok: bool, array or reason str)
        """
        if not self.path.exists():
            return {}
        wanted = {p: _identity(p) for p in paths}
        out = {}
        try:
            with self._connect() as con:
                rows = con.execute(
                    "SELECT path, size, mtime_ns, ok, shape, data, reason FROM features WHERE config = ?",
                    (config_key,),
                )
                for path, size, mtime, ok, shape, data, reason in rows:
                    ident = wanted.get(path)
                    if ident is None or ident != (size, mtime):
                        continue
                    if ok:
                        dims = tuple(int(s) for s in shape.split(",") if s)
                        out[path] = (True, np.frombuffer(data, dtype=np.float32).reshape(dims))
                    else:
                        out[path] = (False, reason)
        except sqlite3.DatabaseError:
            return {}  # a damaged cache is only a slower run, never an error
        return out

    def put_many(self, config_key, results):
        """Store ``{path: (ok, array or reason)}`` with each file's current identity."""
        rows = []
        for path, (ok, value) in results.items():
            ident = _identity(path)
            if ident is None:
                continue
            if ok:
                arr = np.ascontiguousarray(value, dtype=np.float32)
                rows.append((config_key, path, *ident, 1, ",".join(map(str, arr.shape)), arr.tobytes(), None))
            else:
                rows.append((config_key, path, *ident, 0, None, None, str(value)))
        if not rows:
            return
        try:
            with self._connect() as con:
                con.executemany("INSERT OR REPLACE INTO features VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        except sqlite3.DatabaseError:
            pass  # caching is an optimisation; a read-only or full disk must not fail extraction

    def size_bytes(self):
        total = 0
        for suffix in ("", "-journal", "-wal"):
            p = self.path.with_name(self.path.name + suffix)
            if p.exists():
                total += p.stat().st_size
        return total

    def entry_count(self):
        if not self.path.exists():
            return 0
        with self._connect() as con:
            return con.execute("SELECT COUNT(*) FROM features").fetchone()[0]

    def clear(self):
        """Delete every cached feature."""
        for suffix in ("", "-journal", "-wal"):
            p = self.path.with_name(self.path.name + suffix)
            if p.exists():
                p.unlink()
