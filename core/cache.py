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
import math
import os
import pathlib
import sqlite3
import stat
import threading

import numpy as np

from .paths import cache_dir, identity

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
    return identity(st)


def cache_path(path):
    """The key a file is cached under: its resolved absolute path."""
    return os.path.realpath(path)


def _keys_and_identities(paths):
    """{cache key: (given path, identity)} for the files that exist, like ``cache_path`` and ``_identity``
    for each, at one ``lstat`` per file and one ``realpath`` per folder (100,000 files in a few folders:
    a fraction of a second instead of a ``realpath`` walk up every path)."""
    folders = {}
    out = {}
    for p in paths:
        folder, name = os.path.split(p)
        real = folders.get(folder)
        if real is None:
            real = folders[folder] = os.path.realpath(folder or ".")
        key = os.path.join(real, name)
        try:
            st = os.lstat(key)
            if stat.S_ISLNK(st.st_mode):  # the file itself is a link: follow it as realpath does
                key = os.path.realpath(key)
                st = os.stat(key)
        except OSError:
            continue
        out[key] = (p, identity(st))
    return out


def _stat_identities(paths):
    """{path: (size, mtime_ns, inode, ctime_ns, is a link)} as a scan's probe takes them (a link: its
    target's), for the paths that exist."""
    out = {}
    for p in paths:
        try:
            st = os.lstat(p)
            link = stat.S_ISLNK(st.st_mode)
            if link:
                st = os.stat(p)
        except OSError:
            continue
        out[p] = (*identity(st), link)
    return out


def _key_parts(paths, identities):
    """What :meth:`MatrixCache.key` hashes: a line per path (the path and its cache key: its folder's real
    path and its name, or for a link its target's real path, as :func:`cache_path`) and an int64 row per
    path (its identity, -1s where the file is missing), from :func:`_stat_identities` or a scan's
    identities: one ``realpath`` per folder, none per file unless the file is a link."""
    sep, prefixes, lines, rows = os.sep, {}, [], []
    missing = (-1, -1, -1, -1, 0)
    for p in paths:
        known = identities.get(p)
        if known is None:
            lines.append(f"{p}\0\n")
            rows.append(missing)
            continue
        cut = p.rfind(sep)  # os.path.split/join per file were most of this function's time
        folder = p[:cut] if cut > 0 else (sep if cut == 0 else "")
        prefix = prefixes.get(folder)
        if prefix is None:
            prefix = prefixes[folder] = os.path.join(os.path.realpath(folder or "."), "")
        key = prefix + p[cut + 1:]
        if known[4]:  # the file itself is a link: keyed by its target, as realpath does
            key = os.path.realpath(key)
        lines.append(f"{p}\0{key}\n")
        rows.append(known)
    return "".join(lines), np.array(rows, dtype=np.int64).reshape(-1, 5)[:, :4]


def _prefix_range(keys):
    """(low, high): every key lies in [low, high), so that one indexed range query reads only this data's rows."""
    low = os.path.commonprefix([min(keys), max(keys)])  # of all keys: they sort between these two
    try:
        low.encode("utf-8")
    except UnicodeEncodeError:  # a name that is not UTF-8 (its bytes kept as surrogates): read every row
        return "", "\U0010ffff"
    return low, low + "\U0010ffff"


_BATCH = 4096  # rows per bulk decode: the rows' bytes and their arrays coexist for one batch only


def _decode(found, batch=_BATCH):
    """``[(path, dims, float32 bytes)]`` -> {path: (True, array)} in bulk: a buffer and one finiteness check
    per batch of rows (a row holding NaN or inf, which only tampering can put there, is left out: extracted
    again). Batches keep the extra memory to a few MB whatever the number of rows."""
    out = {}
    for first in range(0, len(found), batch):
        part = found[first : first + batch]
        flat = np.frombuffer(b"".join(data for _, _, data in part), dtype=np.float32)
        finite = bool(np.isfinite(flat).all())
        start = 0
        for path, dims, data in part:
            count = len(data) // 4
            value = flat[start : start + count].reshape(dims)
            start += count
            if finite or np.isfinite(value).all():
                out[path] = (True, value)
    return out


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
        wanted = _keys_and_identities(paths)
        if not wanted:
            return {}
        low, high = _prefix_range(wanted)
        out = {}
        try:
            with self._connect() as con:
                rows = con.execute(
                    f"SELECT path, size, mtime_ns, inode, ctime_ns, ok, shape, data, reason FROM {_TABLE} "
                    "WHERE config = ? AND path >= ? AND path < ?", (config_key, low, high),
                )
                found = []  # (given path, dims, bytes) of usable feature rows, decoded a batch at a time
                for path, size, mtime, inode, ctime, ok, shape, data, reason in rows:
                    given, ident = wanted.get(path, (None, None))
                    if ident is None or ident != (size, mtime, inode, ctime):
                        continue
                    if not ok:
                        out[given] = (False, str(reason))
                        continue
                    try:
                        dims = tuple(int(s) for s in str(shape).split(",") if s)
                    except ValueError:  # a tampered row: extract that file again
                        continue
                    if isinstance(data, bytes) and len(data) == 4 * math.prod(dims):
                        found.append((given, dims, data))
                        if len(found) >= _BATCH:
                            out.update(_decode(found))
                            found = []
            out.update(_decode(found))
        except (sqlite3.Error, OSError) as exc:
            self._broken(exc)  # a damaged cache is only a slower run, never an error
            return {}
        return out

    def put_many(self, config_key, results):
        """Store ``{path: (ok, array or reason)}`` with each file's current identity."""
        if self._disabled:
            return
        rows = []
        known = {given: (key, ident) for key, (given, ident) in _keys_and_identities(results).items()}
        for path, (ok, value) in results.items():
            key, ident = known.get(path, (None, None))
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
        total = MatrixCache.beside(self).size_bytes() + MatrixCache(self.path.with_name("scans")).size_bytes()
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
        """Delete every cached feature (and the finished matrices made of them)."""
        for p in MatrixCache.beside(self).clear() + MatrixCache(self.path.with_name("scans")).clear():
            self._note(f"could not delete {p}")  # the matrices, and the scans' snapshots (core.datasets)
        # scan.sqlite beside it: what core.datasets' scans remember of unchanged files' headers
        names = [self.path.name + suffix for suffix in ("", "-journal", "-wal", ".damaged")] + ["scan.sqlite"]
        for name in names:
            p = self.path.with_name(name)
            try:
                if p.is_file():
                    p.unlink()
            except OSError as exc:
                self._note(f"could not delete {p}: {exc.strerror or exc}")


class MatrixCache:
    """The finished feature matrix of a whole list of files, read back in one piece.

    The feature cache above keeps each file's raw features; turning 100,000 of them back into a model's
    input matrix means 100,000 rows read, decoded and resized (5 s). When the same files, unchanged
    (path, size, mtime, inode, ctime), are asked for again with the same settings, which is what every
    retraining, sweep run and re-run does, this cache answers with one ``.npz`` file instead.

    A file holds ``X`` (float32), ``keep`` (the indices of the usable files), ``skipped`` (indices) with
    their ``reasons`` and ``n_frames``; it is read with ``allow_pickle=False`` (never runs code). Only the
    :attr:`KEEP` most recently used matrices stay; a damaged one is deleted and the matrix made again.
    """

    KEEP = 6

    def __init__(self, folder):
        self.folder = pathlib.Path(folder)

    @classmethod
    def beside(cls, store):
        """The matrices of a :class:`FeatureCache` (a ``matrices`` folder next to its file)."""
        return cls(store.path.with_name("matrices"))

    @staticmethod
    def key(paths, settings, identities=None):
        """A name for ``paths`` (in this order, each with its current identity) under ``settings`` (str).

        ``identities``: {path: (size, mtime_ns, inode, ctime_ns, is a link)} that a scan has just taken
        (:attr:`core.datasets.Dataset.identities`), used instead of a second ``lstat`` per file when it
        covers every path; the name is the same either way (for files unchanged since)."""
        import hashlib

        if not identities or any(p not in identities for p in paths):
            identities = _stat_identities(paths)
        text, rows = _key_parts(paths, identities)
        h = hashlib.sha256(settings.encode("utf-8", "surrogatepass"))
        h.update(text.encode("utf-8", "surrogatepass"))  # whole texts and arrays: no call or format per file
        h.update(np.ascontiguousarray(rows).tobytes())
        return h.hexdigest()[:40]

    def _file(self, key):
        return self.folder / f"{key}.npz"

    def get(self, key):
        """``{"X", "keep", "skipped", "reasons", "n_frames"}`` or None (not there, or unreadable)."""
        path = self._file(key)
        if not path.is_file():
            return None
        try:
            with open(path, "rb") as f:  # our own handle: closed on errors
                out = self._read(f)
            if out["X"].dtype != np.float32 or len(out["X"]) != len(out["keep"]) \
                    or len(out["skipped"]) != len(out["reasons"]) or not np.isfinite(out["X"]).all():
                raise ValueError("inconsistent arrays, or values no extraction makes (NaN, inf)")
            os.utime(path)  # most recently used
            return out
        except Exception:  # damaged or tampered (a bad zip, a pickle refused, a short file): made again
            with contextlib.suppress(OSError):
                path.unlink()
            return None

    @staticmethod
    def _read(f):
        """The arrays of an open ``.npz``; ``X`` read straight from its stored (uncompressed) member into
        a copy-on-write map (NumPy's reader of an ``.npz`` member copies it in chunks and checks its CRC:
        25-55 ms for a 67 MB matrix, against 1 ms). Never unpickles: ``allow_pickle=False``, and an object ``X`` is refused."""
        import struct
        import zipfile

        from numpy.lib import format as npy

        names = ("keep", "skipped", "reasons", "n_frames")
        with zipfile.ZipFile(f) as zf:
            out = {}
            for name in names:
                with zf.open(name + ".npy") as member:
                    out[name] = npy.read_array(member, allow_pickle=False)
            info = zf.getinfo("X.npy")
            if info.compress_type != zipfile.ZIP_STORED:  # not written by put(): NumPy's own reader
                with zf.open("X.npy") as member:
                    out["X"] = npy.read_array(member, allow_pickle=False)
                return out
        f.seek(info.header_offset)
        local = f.read(30)  # the member's local header: signature, ..., name and extra field lengths
        if len(local) != 30 or local[:4] != b"PK\x03\x04":
            raise ValueError("not a zip member")
        name_len, extra_len = struct.unpack("<HH", local[26:30])
        f.seek(info.header_offset + 30 + name_len + extra_len)
        version = npy.read_magic(f)
        if version not in ((1, 0), (2, 0)):
            raise ValueError(f"npy format {version}")
        read_header = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
        shape, fortran, dtype = read_header(f)
        if dtype.hasobject or fortran or len(shape) != 2:
            raise ValueError("not a feature matrix")
        offset = f.tell()
        if offset + shape[0] * shape[1] * dtype.itemsize > os.fstat(f.fileno()).st_size:
            raise ValueError("short file")
        # a private (copy-on-write) map of the file: no copy, and pages come from the page cache as they are
        # read (copying 67 MB into fresh memory cost 25-30 ms of page faults; NumPy's huge pages are off,
        # core/__init__.py). Writing to X changes only this process's copy. The file is only ever replaced
        # whole (put) or unlinked, never cut short in place, so the map stays valid while X lives.
        out["X"] = np.asarray(np.memmap(f, mode="c", dtype=dtype, shape=shape, offset=offset))
        return out

    def put(self, key, X, keep, skipped, reasons, n_frames):
        """Store a matrix (atomically: a reader sees the old state or the new file, never half of it);
        trouble writing is only a slower next run."""
        path = self._file(key)
        tmp = path.with_name(path.name + f".{os.getpid()}.{threading.get_ident()}.tmp")  # per thread too
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as f:
                np.savez(f, X=np.asarray(X, dtype=np.float32), keep=np.asarray(keep, dtype=np.int64),
                         skipped=np.asarray(skipped, dtype=np.int64), reasons=np.asarray(reasons, dtype=str),
                         n_frames=np.asarray(-1 if n_frames is None else n_frames, dtype=np.int64))
            os.replace(tmp, path)
            self._evict()
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()

    def _evict(self):
        files = sorted(self.folder.glob("*.npz"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in files[self.KEEP:]:
            with contextlib.suppress(OSError):
                old.unlink()

    def size_bytes(self):
        return sum(p.stat().st_size for p in self.folder.glob("*.npz")) if self.folder.is_dir() else 0

    def clear(self):
        """Delete every matrix; returns the paths that could not be deleted."""
        left = []
        if self.folder.is_dir():
            for p in self.folder.iterdir():
                try:
                    p.unlink()
                except OSError:
                    left.append(p)
        return left
