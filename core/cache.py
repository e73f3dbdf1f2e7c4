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

from .paths import cache_dir

# v2: rows are keyed by the resolved path and identified by size, mtime, inode
# and ctime, so two folders with equal names, sizes and mtimes never share rows.
_TABLE = "features_v2"
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {_TABLE} (
    config TEXT NOT NULL,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    shape TEXT,
    data BLOB,
    reason TEXT,
    PRIMARY KEY (config, path)
)
"""


def _identity(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns


def cache_path(path):
    """The key a file is cached under: its resolved absolute path."""
    return os.path.realpath(path)


class FeatureCache:
    """A feature store in one SQLite file.

    Caching is an optimisation: no method raises because of the cache. A
    folder that cannot be created or a read-only disk turns caching off for
    the run; a damaged database is moved aside and a fresh one started. Each
    such event leaves one line in :attr:`notes` for the user.
    """

    def __init__(self, path):
        self.path = pathlib.Path(path)
        self.notes = []
        self._disabled = False

    def _note(self, text):
        if text not in self.notes:
            self.notes.append(text)

    def _broken(self, exc):
        """React to an error from the database: move a damaged file aside, else stop caching."""
        if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError) \
                and self.path.exists():
            aside = self.path.with_name(self.path.name + ".damaged")
            try:
                os.replace(self.path, aside)
                self._note(f"the feature cache {self.path} was damaged; moved it to {aside.name} and started a new one")
                return
            except OSError:
                pass
        self._disabled = True
        self._note(f"feature cache off for this run ({self.path}: {getattr(exc, 'strerror', None) or exc})")

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
        if self._disabled or not self.path.exists():
            return {}
        keys = {cache_path(p): p for p in paths}
        wanted = {k: _identity(k) for k in keys}
        out = {}
        try:
            with self._connect() as con:
                rows = con.execute(
                    f"SELECT path, size, mtime_ns, inode, ctime_ns, ok, shape, data, reason FROM {_TABLE} "
                    "WHERE config = ?", (config_key,),
                )
                for path, size, mtime, inode, ctime, ok, shape, data, reason in rows:
                    ident = wanted.get(path)
                    if ident is None or ident != (size, mtime, inode, ctime):
                        continue
                    try:
                        if ok:
                            dims = tuple(int(s) for s in str(shape).split(",") if s)
                            value = np.frombuffer(data, dtype=np.float32).reshape(dims)
                            if not np.all(np.isfinite(value)):
                                continue
                            out[keys[path]] = (True, value)
                        else:
                            out[keys[path]] = (False, str(reason))
                    except (TypeError, ValueError):  # a tampered row: extract that file again
                        continue
        except (sqlite3.Error, OSError) as exc:
            self._broken(exc)  # a damaged cache is only a slower run, never an error
            return {}
        return out

    def put_many(self, config_key, results):
        """Store ``{path: (ok, array or reason)}`` with each file's current identity."""
        if self._disabled:
            return
        rows = []
        for path, (ok, value) in results.items():
            key = cache_path(path)
            ident = _identity(key)
            if ident is None:
                continue
            if ok:
                arr = np.ascontiguousarray(value, dtype=np.float32)
                if not np.all(np.isfinite(arr)):
                    continue  # never cache what would poison later runs
                rows.append((config_key, key, *ident, 1, ",".join(map(str, arr.shape)), arr.tobytes(), None))
            else:
                rows.append((config_key, key, *ident, 0, None, None, str(value)))
        if not rows:
            return
        try:
            with self._connect() as con:
                con.executemany(f"INSERT OR REPLACE INTO {_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        except (sqlite3.Error, OSError) as exc:
            self._broken(exc)  # caching is an optimisation; a read-only or full disk must not fail extraction

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
        try:
            with self._connect() as con:
                return con.execute(f"SELECT COUNT(*) FROM {_TABLE}").fetchone()[0]
        except (sqlite3.Error, OSError) as exc:
            self._broken(exc)
            return 0

    def clear(self):
        """Delete every cached feature."""
        for suffix in ("", "-journal", "-wal", ".damaged"):
            p = self.path.with_name(self.path.name + suffix)
            try:
                if p.is_file():
                    p.unlink()
            except OSError as exc:
                self._note(f"could not delete {p}: {exc.strerror or exc}")
