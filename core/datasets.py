"""Scan a folder into labelled audio items; summaries; train/test splits.

Two layouts are understood:

``filename``
    clips named ``{digit}_{speaker}_{index}.ext`` anywhere below the folder
    (AudioMNIST ``data/NN/…``, FSDD flat). The label is the digit or the
    speaker, so the same data serves the Digits and the Speakers task.
``folders``
    one folder per class (GTZAN ``genres_original/<genre>/…``, speaker sets
    ``16000_pcm_speeches/<Name>/…``). Class folders are the folders that hold
    audio files directly, found at any depth, so the user may pick a parent
    folder. Noise folders (``_background_noise_``, ``other``…) are left out by
    default and reported in :attr:`Dataset.excluded_folders`.
"""
from __future__ import annotations

import collections
import dataclasses
import itertools
import os
import pathlib
import re
import stat
import threading
import time

import numpy as np

from .audio import AUDIO_EXTENSIONS, audio_info
from .errors import AudioFileError, SpeechLabError
from .paths import INT64_MAX, fold_inode

LAYOUTS = ("auto", "filename", "folders")
LABEL_KINDS = ("digit", "speaker")

_CODED = re.compile(r"^(\d+)_([^_]+)_(\d+)$")
# the same on a whole file name: the stem as above, then its (last) extension
_CODED_NAME = re.compile(r"^(\d+)_([^_]+)_(\d+)\.[^.]*$")
_NOISE_FOLDER = re.compile(r"^_|noise|^other$|^others$|^unknown$", re.IGNORECASE)
# Folders that hold metadata or pictures, never classes.
_NEVER_CLASS = {"__macosx", ".git", ".ipynb_checkpoints"}


@dataclasses.dataclass(frozen=True)
class Item:
    """One labelled clip."""

    path: str
    label: str
    speaker: str | None = None


@dataclasses.dataclass(frozen=True)
class Skipped:
    """A file left out, and why (shown to the user)."""

    path: str
    reason: str

    def as_dict(self):
        return {"path": self.path, "reason": self.reason}


@dataclasses.dataclass
class Dataset:
    """The result of scanning a folder."""

    root: str
    layout: str
    label_kind: str
    items: list
    skipped: list = dataclasses.field(default_factory=list)
    excluded_folders: list = dataclasses.field(default_factory=list)
    # path -> (duration s, sample rate, channels) from the scan's header probe (summaries need no second read)
    info: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)
    # path -> (size, mtime_ns, inode, ctime_ns, is a link) as the scan's probe found the file: the feature
    # matrix cache's key needs exactly this, so a command that scans and then extracts (``features``) stats
    # every file once, not twice (:func:`core.extraction.build_features`, ``identities``)
    identities: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)

    def __getstate__(self):
        """Pickled (sent to a training process) without :attr:`identities`: they are for the process that
        just scanned (a command's matrix key) and stale anywhere else; 100,000 of them are ~9 MB."""
        state = dict(self.__dict__)
        state["identities"] = {}
        return state

    def _facts(self):
        """(labels, speakers, every clip has a speaker), worked out once per list of items: with 100,000
        clips each is a pass over the list (tens of ms), asked for many times on the GUI thread. The scan
        job asks once in its worker thread (:meth:`warm`). A new or longer list of items is read again."""
        key = (id(self.items), len(self.items))
        memo = self.__dict__.get("_memo")
        if memo is None or memo[0] != key:
            speakers = {it.speaker for it in self.items}
            every = None not in speakers and bool(self.items)
            speakers.discard(None)
            memo = (key, sort_labels({it.label for it in self.items}), sorted(speakers), every)
            self.__dict__["_memo"] = memo
        return memo

    def warm(self):
        """Work out the facts the views ask for (call it off the GUI thread); returns self."""
        self._facts()
        return self

    @property
    def labels(self):
        """Sorted class names (digits sort numerically)."""
        return list(self._facts()[1])

    @property
    def speakers(self):
        return list(self._facts()[2])

    @property
    def has_speakers(self):
        return bool(self._facts()[2])

    @property
    def every_clip_has_speaker(self):
        return self._facts()[3]

    def class_counts(self):
        counts = collections.Counter(it.label for it in self.items)
        return {lab: counts[lab] for lab in self.labels}

    def paths(self):
        return [it.path for it in self.items]

    def subset(self, keep):
        """A copy holding only the items whose index is in ``keep``."""
        keep = list(keep)
        return dataclasses.replace(self, items=[self.items[i] for i in keep], skipped=list(self.skipped))


def sort_labels(labels):
    labels = list(labels)
    if all(str(lab).isdigit() for lab in labels):
        return sorted(labels, key=lambda s: (int(s), s))
    return sorted(labels)


def _walk_audio(root, tick=None, folders=None):
    """Yield (dirpath, [audio file names]) below root, sorted, skipping hidden dirs; ``tick(count)`` after
    each folder (:func:`_ticker`: Stop and progress while a big tree is listed). ``folders``: a list that
    gets (dirpath, mtime_ns) of every folder listed (:class:`ScanSnapshot`)."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d.lower() not in _NEVER_CLASS)
        audio = sorted(f for f in filenames if f.lower().endswith(AUDIO_EXTENSIONS) and not f.startswith("._"))
        if folders is not None:
            try:
                folders.append((dirpath, os.stat(dirpath).st_mtime_ns))
            except OSError:
                folders.append((dirpath, -1))  # gone already: never trusted
        if tick is not None:
            tick(len(audio))
        yield dirpath, audio


def _ticker(should_stop, progress):
    """``tick(count)`` for :func:`_walk_audio`: raises Cancelled when ``should_stop()``; reports
    ``progress(files found so far, 0)`` (0: the total is not known yet) at most ten times a second."""
    from .errors import Cancelled

    found, last = [0], [0.0]

    def tick(count):
        found[0] += count
        if should_stop is not None and should_stop():
            raise Cancelled("Dataset scan stopped")
        if progress is not None and time.monotonic() - last[0] >= 0.1:
            last[0] = time.monotonic()
            progress(found[0], 0)

    return tick


def detect_layout(root):
    """Guess the layout: ``filename`` when most audio files are digit-coded."""
    coded = total = 0
    for _, files in _walk_audio(root):
        for f in files:
            total += 1
            coded += bool(_CODED.match(os.path.splitext(f)[0]))  # the stem, without a Path per file
        if total >= 2000:
            break
    if total == 0:
        raise SpeechLabError(f"No audio files (.wav, .flac, .ogg, .mp3) found in {root}")
    return "filename" if coded >= 0.8 * total else "folders"


def scan_dataset(root, *, layout="auto", label="digit", exclude=None, probe=True, should_stop=None, trust=True,
                 progress=None):
    """Scan ``root`` into a :class:`Dataset`.

    Parameters
    ----------
    root : str or Path
    layout : {"auto", "filename", "folders"}
    label : {"digit", "speaker"}
        What the label is for the ``filename`` layout (ignored for folders,
        where the folder name is the label).
    exclude : list of str or None
        Folder names to leave out for the ``folders`` layout; None means the
        noise folders found automatically; ``[]`` keeps everything.
    probe : bool
        Read every file's header so that files that are not audio are listed
        in :attr:`Dataset.skipped` right away (cheap: no decoding).
    should_stop : callable() -> bool or None
        Polled while probing; True raises :class:`~core.errors.Cancelled`.
    progress : callable(done, total) or None
        At most ~10 times a second: while the folders are listed ``(files found, 0)``, then while the
        files are checked ``(files checked, files found)``, and once at the end.
    trust : bool
        Trust what an earlier scan read from a file's header while its size, mtime and inode are
        unchanged (remembered in the cache folder's ``scan.sqlite``): a rescan of a big unchanged folder
        then costs one ``stat`` per file. False: read every header again.

    Raises
    ------
    SpeechLabError
        The folder does not exist, holds no audio, or yields no classes.
    """
    root_path = pathlib.Path(root).expanduser()
    if not root_path.is_dir():
        raise SpeechLabError(f"Dataset folder not found: {root_path}")
    if layout not in LAYOUTS:
        raise SpeechLabError(f"Unknown layout '{layout}': choose one of {', '.join(LAYOUTS)}")
    if label not in LABEL_KINDS:
        raise SpeechLabError(f"Unknown label '{label}': choose digit or speaker")
    snapshot = ScanSnapshot.default() if (probe and trust) else None
    asked = (layout, label, exclude)
    found = snapshot.load(root_path, *asked) if snapshot is not None else None
    if found is not None:  # no folder changed since the last scan: its list of files, and what it read
        ds, known, folders = found
        taken, listed, listed_skipped = time.time_ns(), list(ds.items), list(ds.skipped)
        if _probe(ds, should_stop, trust=trust, progress=progress, known=known):  # headers read again
            snapshot.save(root_path, asked, ds, listed, listed_skipped, folders, taken)
    else:
        taken, folders = time.time_ns(), []
        if layout == "auto":
            layout = detect_layout(root_path)
        tick = _ticker(should_stop, progress) if (should_stop or progress) else None
        if layout == "filename":
            ds = _scan_filename(root_path, label, tick, folders)
        else:
            ds = _scan_folders(root_path, exclude, tick, folders)
        listed, listed_skipped = list(ds.items), list(ds.skipped)
        if probe:
            _probe(ds, should_stop, trust=trust, progress=progress)
        if snapshot is not None:
            snapshot.save(root_path, asked, ds, listed, listed_skipped, folders, taken)
    if not ds.items:
        reasons = "; ".join(f"{s.path}: {s.reason}" for s in ds.skipped[:3])
        raise SpeechLabError(f"No usable audio files in {root_path}" + (f" ({reasons})" if reasons else ""))
    return ds


def _scan_filename(root, label, tick=None, folders=None):
    items, skipped = [], []
    match = _CODED_NAME.match
    by_digit = label == "digit"
    for dirpath, files in _walk_audio(root, tick, folders):
        prefix = os.path.join(dirpath, "")  # path = prefix + name: os.path.join per file was a fifth of a rescan
        for f in files:
            m = match(f)  # the stem and its extension in one match (a Path per file cost a third of a rescan)
            if not m:
                skipped.append(Skipped(prefix + f, "file name is not {digit}_{speaker}_{index}"))
                continue
            speaker = m.group(2)
            items.append(Item(prefix + f, m.group(1) if by_digit else speaker, speaker))
    return Dataset(str(root), "filename", label, items, skipped)


def _scan_folders(root, exclude, tick=None, folders=None):
    class_dirs = [(d, files) for d, files in _walk_audio(root, tick, folders) if files]
    if not class_dirs:
        raise SpeechLabError(f"No audio files found below {root}")
    items, excluded = [], []
    exclude_set = None if exclude is None else {e.lower() for e in exclude}
    for d, files in class_dirs:
        name = pathlib.Path(d).name
        is_excluded = _NOISE_FOLDER.search(name) if exclude_set is None else name.lower() in exclude_set
        if is_excluded:
            excluded.append(name)
            continue
        label = _librispeech_speaker(d, files) or name
        items.extend(Item(os.path.join(d, f), label, None) for f in files)
    if len({it.label for it in items}) < 1:
        raise SpeechLabError(f"No class folders found below {root} (left out: {', '.join(excluded)})")
    return Dataset(str(root), "folders", "folder", items, [], sorted(set(excluded)))


def _librispeech_speaker(folder, files):
    """LibriSpeech's ``<speaker>/<chapter>/<speaker>-<chapter>-<n>.flac``: the class is the speaker
    (the folder above the chapter), so every chapter of a voice is one class. None otherwise."""
    chapter = pathlib.Path(folder)
    speaker = chapter.parent.name
    stem = pathlib.Path(files[0]).stem
    if speaker and re.fullmatch(rf"{re.escape(speaker)}-{re.escape(chapter.name)}-\d+", stem):
        return speaker
    return None


def _probe(ds, should_stop=None, *, trust=True, progress=None, known=None):
    """Check every item's file (one ``lstat``; its header read unless ``known`` or the probe memo holds
    what an earlier scan read while the file's size, mtime and inode were the same)."""
    from .errors import Cancelled

    if should_stop is not None and should_stop():
        raise Cancelled("Dataset scan stopped")
    memo = ProbeMemo.default() if trust else None
    if known is None:
        known = memo.load(ds.root) if memo is not None else {}
    kept, learnt, info, identities = [], [], {}, {}
    total, last = len(ds.items), 0.0
    lstat, is_link = os.lstat, stat.S_ISLNK
    for i, it in enumerate(ds.items):
        if i % 256 == 0:
            if should_stop is not None and should_stop():
                raise Cancelled("Dataset scan stopped")
            if progress is not None and time.monotonic() - last >= 0.1:
                last = time.monotonic()
                progress(i, total)
        path = it.path
        try:
            st = lstat(path)  # one call tells the identity and whether the file itself is a link
            link = is_link(st.st_mode)
            if link:
                st = os.stat(path)
        except OSError as exc:
            ds.skipped.append(Skipped(path, f"cannot be opened ({exc.strerror or exc})"))
            continue
        ino = st.st_ino if st.st_ino <= INT64_MAX else fold_inode(st.st_ino)  # as the caches store it
        ident = (st.st_size, st.st_mtime_ns, ino)
        identities[path] = (*ident, st.st_ctime_ns, link)
        seen = known.get(path)
        if seen is not None and seen[0] == ident:
            info[path] = seen[1]
            kept.append(it)
            continue
        try:
            if st.st_size == 0:
                raise AudioFileError(path, "empty file (0 bytes)")
            facts = audio_info(path)
        except AudioFileError as exc:  # never remembered: a file that failed is read again next time
            del identities[path]
            ds.skipped.append(Skipped(path, exc.reason))
            continue
        except OSError as exc:
            del identities[path]
            ds.skipped.append(Skipped(path, f"cannot be opened ({exc.strerror or exc})"))
            continue
        info[path] = facts
        learnt.append((path, *ident, *facts))
        kept.append(it)
    ds.items = kept
    ds.info = info
    ds.identities = identities
    if memo is not None and learnt:
        memo.save(learnt)
    if progress is not None:
        progress(total, total)
    return len(learnt)


def _is_utf8(text):
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


class ProbeMemo:
    """What scans read from audio headers, per path, with the file's size, mtime and inode then.

    One SQLite file beside the feature cache. Only an optimisation: any trouble with it (read-only
    disk, damage) means every header is read again, never an error.
    """

    _SCHEMA = ("CREATE TABLE IF NOT EXISTS probes_v1 (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, "
               "inode INTEGER, duration REAL, rate INTEGER, channels INTEGER)")

    def __init__(self, path):
        self.path = pathlib.Path(path)

    @classmethod
    def default(cls):
        from .paths import cache_dir

        return cls(cache_dir() / "scan.sqlite")

    def _connect(self):
        import sqlite3

        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(str(self.path), timeout=10)
        con.execute(self._SCHEMA)
        return con

    def load(self, root):
        """{path: ((size, mtime_ns, inode), (duration, rate, channels))} for every file below ``root``."""
        import sqlite3

        if not self.path.exists():
            return {}
        prefix = os.path.join(str(root), "")
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)  # every path that starts with prefix sorts below this
        try:
            con = self._connect()
            try:
                rows = con.execute("SELECT path, size, mtime_ns, inode, duration, rate, channels FROM probes_v1 "
                                   "WHERE path >= ? AND path < ?", (prefix, upper)).fetchall()
            finally:
                con.close()
        except (sqlite3.Error, OSError, UnicodeError):  # UnicodeError: a folder name that is not UTF-8
            return {}
        out = {}
        for path, size, mtime, inode, duration, rate, channels in rows:
            # SQLite hands back the types it stored; a tampered row (text, NULL) is left out and that
            # file's header read again (a type check per row: int()/float() conversions cost 2x as much)
            if type(size) is int and type(mtime) is int and type(inode) is int and type(rate) is int \
                    and type(channels) is int and type(duration) in (float, int):
                out[path] = ((size, mtime, inode), (float(duration), rate, channels))
        return out

    def save(self, rows):
        import sqlite3

        rows = [r for r in rows if _is_utf8(r[0])]  # a name that is not UTF-8 is probed every time
        try:
            con = self._connect()
            try:
                with con:
                    con.executemany("INSERT OR REPLACE INTO probes_v1 VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            finally:
                con.close()
        except (sqlite3.Error, OSError, UnicodeError):
            pass  # the next scan reads these headers again


class ScanSnapshot:
    """The last scan of a folder (with given settings): its folders' mtimes, its list of files and what the
    scan read from each, so that a rescan of an unchanged tree lists nothing and opens no SQLite file.

    A folder's mtime changes when a file in it is added, removed or renamed; when no folder of the tree
    changed, the list of files is the one the snapshot holds, and each file is still checked with one
    ``lstat`` (size, mtime, inode) as any rescan does: a changed file's header is read again. A folder
    modified in the two seconds before the snapshot's scan began is never trusted (a file system's mtime
    can be that coarse, so a later change could leave it the same: git's "racy" rule). One ``.npz`` per
    (folder, settings) in the cache folder's ``scans``, read with ``allow_pickle=False``; any trouble with
    it (damage, a read-only disk) means a full scan, never an error. Only :attr:`KEEP` snapshots stay.
    """

    VERSION = 2
    KEEP = 32
    RACY_NS = 2_000_000_000

    def __init__(self, folder):
        self.folder = pathlib.Path(folder)

    @classmethod
    def default(cls):
        from .paths import cache_dir

        return cls(cache_dir() / "scans")

    def _file(self, root, asked):
        import hashlib
        import json

        text = json.dumps([self.VERSION, str(root), os.path.abspath(str(root)), *asked[:2],
                           None if asked[2] is None else sorted(asked[2])])
        return self.folder / (hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:32] + ".npz")

    @staticmethod
    def _text(strings):
        return np.frombuffer("\0".join(strings).encode("utf-8", "surrogateescape"), dtype=np.uint8)

    @staticmethod
    def _strings(array):
        text = array.tobytes().decode("utf-8", "surrogateescape")
        return text.split("\0") if text else []

    def save(self, root, asked, ds, listed, listed_skipped, folders, taken):
        """Remember a scan (``listed``: its items before the probe; ``ds`` after it). Trouble writing only
        means a full scan next time."""
        import contextlib

        if not folders or any("\0" in p for p in (ds.root, *(d for d, _ in folders))):
            return
        ids, info = ds.identities, ds.info
        n = len(listed)
        ident = np.full((n, 3), -1, dtype=np.int64)
        durations, formats = np.zeros(n, dtype=np.float64), np.zeros((n, 2), dtype=np.int64)
        ok = np.zeros(n, dtype=bool)
        for i, it in enumerate(listed):
            got, fact = ids.get(it.path), info.get(it.path)
            if got is not None and fact is not None:
                ident[i], durations[i], formats[i], ok[i] = got[:3], fact[0], fact[1:], True
        labels, label_index = np.unique(np.asarray([it.label for it in listed] or [""], dtype=str),
                                        return_inverse=True)
        has_speaker = n > 0 and all(it.speaker is not None for it in listed)
        arrays = {
            "meta": np.asarray([self.VERSION, taken, n, int(has_speaker)], dtype=np.int64),
            "layout": self._text([ds.layout, ds.label_kind, ds.root]),
            "folders": self._text([d for d, _ in folders]),
            "folder_mtimes": np.asarray([m for _, m in folders], dtype=np.int64),
            "paths": self._text([it.path for it in listed]),
            "labels": self._text(list(labels)),
            "label_index": np.asarray(label_index[:n], dtype=np.int32),
            "speakers": self._text([it.speaker for it in listed] if has_speaker else []),
            "ident": ident, "durations": durations, "formats": formats, "ok": ok,
            "skipped": self._text([x for sk in listed_skipped for x in (sk.path, sk.reason)]),
            "excluded": self._text(list(ds.excluded_folders)),
        }
        path = self._file(root, asked)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")  # two scans may race
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, path)
            files = sorted(self.folder.glob("*.npz"), key=lambda p: p.stat().st_mtime, reverse=True)
            for old in files[self.KEEP:]:
                with contextlib.suppress(OSError):
                    old.unlink()
        except (OSError, ValueError, UnicodeError):
            with contextlib.suppress(OSError):
                tmp.unlink()

    def load(self, root, layout, label, exclude):
        """(Dataset before its probe, {path: ((size, mtime_ns, inode), (duration, rate, channels))}, the
        folders with their mtimes) when no folder of the last scan with these settings changed; else None."""
        import zipfile

        path = self._file(root, (layout, label, exclude))
        try:
            with open(path, "rb") as f, np.load(f, allow_pickle=False) as z:
                a = {k: z[k] for k in z.files}
            version, taken, n, has_speaker = (int(v) for v in a["meta"])
            if version != self.VERSION:
                return None
            folders, mtimes = self._strings(a["folders"]), a["folder_mtimes"]
            if not folders or len(folders) != len(mtimes):
                return None
            for folder, mtime in zip(folders, mtimes.tolist()):
                if mtime < 0 or mtime > taken - self.RACY_NS or os.stat(folder).st_mtime_ns != mtime:
                    return None
            ds_layout, label_kind, ds_root = self._strings(a["layout"])
            paths, labels = self._strings(a["paths"]), self._strings(a["labels"])
            index = a["label_index"].tolist()
            speakers = self._strings(a["speakers"]) if has_speaker else [None] * n
            ident, ok = a["ident"], a["ok"]
            durations, formats = a["durations"], a["formats"]
            skipped = self._strings(a["skipped"])
            if not (len(paths) == len(index) == len(speakers) == len(ident) == len(durations) == len(formats)
                    == len(ok) == n) or ident.shape[1:] != (3,) or formats.shape[1:] != (2,) \
                    or len(skipped) % 2 or (index and max(index) >= len(labels)):
                return None
        except (OSError, EOFError, ValueError, KeyError, UnicodeError, zipfile.BadZipFile):
            return None  # none yet, damaged or from another version: a full scan
        items = [Item(p, labels[i], s) for p, i, s in zip(paths, index, speakers)]
        # {path: ((size, mtime_ns, inode), (duration, rate, channels))} built at C speed (no per-row code)
        rates, channels = formats.T.tolist()
        known = dict(zip(paths, zip(map(tuple, ident.tolist()), zip(durations.tolist(), rates, channels))))
        if not ok.all():
            for p in itertools.compress(paths, (~ok).tolist()):
                del known[p]
        ds = Dataset(ds_root, ds_layout, label_kind, items,
                     [Skipped(skipped[k], skipped[k + 1]) for k in range(0, len(skipped), 2)],
                     self._strings(a["excluded"]))
        return ds, known, list(zip(folders, mtimes.tolist()))


def summarize(ds):
    """Class counts, speakers, durations and sample rates of a dataset.

    Returns
    -------
    dict with keys ``n_files``, ``classes`` {label: count}, ``speakers``
    [names], ``duration`` {min, mean, max, total} seconds, ``sample_rates``
    {rate: count}, ``channels`` {n: count}, ``n_skipped``, ``skipped`` [dicts],
    ``excluded_folders``.
    """
    durations, rates, channels = [], collections.Counter(), collections.Counter()
    for it in ds.items:
        try:
            dur, sr, ch = ds.info.get(it.path) or audio_info(it.path)
        except AudioFileError:
            continue
        durations.append(dur)
        rates[sr] += 1
        channels[ch] += 1
    d = np.asarray(durations) if durations else np.zeros(1)
    return {
        "root": ds.root,
        "layout": ds.layout,
        "n_files": len(ds.items),
        "classes": ds.class_counts(),
        "speakers": ds.speakers,
        "duration": {"min": float(d.min()), "mean": float(d.mean()), "max": float(d.max()), "total": float(d.sum())},
        "sample_rates": dict(sorted(rates.items())),
        "channels": dict(sorted(channels.items())),
        "n_skipped": len(ds.skipped),
        "skipped": [s.as_dict() for s in ds.skipped],
        "excluded_folders": list(ds.excluded_folders),
    }


# ----------------------------------------------------------------------------- splits

SPLITS = ("random", "speaker")


def split_random(labels, *, test_size=0.2, random_state=42):
    """Stratified random split (the seed's 80/20 with random_state=42).

    Returns
    -------
    train_idx, test_idx : np.ndarray of int
    """
    from sklearn.model_selection import train_test_split

    labels = np.asarray(labels)
    idx = np.arange(labels.size)
    counts = collections.Counter(labels.tolist())
    stratify = labels if min(counts.values()) >= 2 else None
    try:
        tr, te = train_test_split(idx, test_size=test_size, random_state=random_state, stratify=stratify)
    except ValueError as exc:
        raise SpeechLabError(f"Cannot split {labels.size} clips with test size {test_size}: {exc}") from exc
    return np.sort(tr), np.sort(te)


def split_by_speaker(labels, speakers, *, test_size=0.2, test_speakers=None, random_state=42):
    """Speaker-independent split: no speaker appears on both sides.

    Parameters
    ----------
    test_speakers : list of str or None
        Use exactly these speakers for testing; otherwise speakers are drawn
        (seeded) until about ``test_size`` of the clips are held out.

    Returns
    -------
    train_idx, test_idx : np.ndarray of int
    """
    speakers = np.asarray([s if s is not None else "" for s in speakers])
    labels = np.asarray(labels)
    if np.any(speakers == ""):
        raise SpeechLabError("Speaker-independent split needs the speaker of every clip; this dataset has none")
    unique = sorted(set(speakers.tolist()))
    if len(unique) < 2:
        raise SpeechLabError(f"Speaker-independent split needs at least 2 speakers; found {len(unique)}")
    if np.array_equal(labels, speakers):
        raise SpeechLabError("Speaker-independent split is impossible when the label is the speaker; use a random split")
    if test_speakers is None:
        rng = np.random.default_rng(random_state)
        order = rng.permutation(len(unique))
        counts = collections.Counter(speakers.tolist())
        chosen, held = [], 0
        for i in order:
            if held >= test_size * speakers.size and chosen:
                break
            if len(chosen) == len(unique) - 1:
                break
            chosen.append(unique[i])
            held += counts[unique[i]]
        test_speakers = chosen
    else:
        missing = sorted(set(test_speakers) - set(unique))
        if missing:
            raise SpeechLabError(f"Unknown test speaker(s): {', '.join(missing)}; known: {', '.join(unique)}")
    is_test = np.isin(speakers, list(test_speakers))
    if is_test.all():
        raise SpeechLabError("Every speaker is a test speaker; leave at least one for training")
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def make_split(ds, *, kind="random", test_size=0.2, random_state=42, test_speakers=None):
    """Split a dataset's items by ``kind`` ("random" or "speaker")."""
    labels = [it.label for it in ds.items]
    if kind == "random":
        return split_random(labels, test_size=test_size, random_state=random_state)
    if kind == "speaker":
        return split_by_speaker(labels, [it.speaker for it in ds.items], test_size=test_size,
                                test_speakers=test_speakers, random_state=random_state)
    raise SpeechLabError(f"Unknown split '{kind}': choose random or speaker")


def _label_sort(labels):
    """"digits" when every label is a whole number, else "names": two folders of one task agree on it."""
    return "digits" if labels and all(str(lab).isdigit() for lab in labels) else "names"


def merge_datasets(datasets):
    """One :class:`Dataset` of several scanned folders of the same task (``train --data A --data B``).

    Items keep their own paths; a file found in two folders (the same file, or one folder inside
    another) is counted once. The root is the first folder's; the layouts may differ.

    Raises
    ------
    SpeechLabError
        The folders' labels clash (one folder's are digits, another's are names), in one line.
    """
    datasets = list(datasets)
    if not datasets:
        raise SpeechLabError("No data folders given")
    if len(datasets) == 1:
        return datasets[0]
    sorts = [(_label_sort({it.label for it in ds.items}), ds) for ds in datasets]
    first_sort, first = sorts[0]
    for sort, ds in sorts[1:]:
        if sort != first_sort:
            def show(d):
                labels = sort_labels({it.label for it in d.items})
                return ", ".join(labels[:3]) + (", …" if len(labels) > 3 else "")
            raise SpeechLabError(f"Data folders' labels clash: {first.root} has {first_sort} ({show(first)}), "
                                 f"{ds.root} has {sort} ({show(ds)}); give folders of the same task")
    items, skipped, excluded, info, seen = [], [], [], {}, set()
    for ds in datasets:
        for it in ds.items:
            key = os.path.realpath(it.path)
            if key in seen:
                continue
            seen.add(key)
            items.append(it)
            if it.path in ds.info:
                info[it.path] = ds.info[it.path]
        skipped.extend(ds.skipped)
        excluded.extend(ds.excluded_folders)
    layouts = {ds.layout for ds in datasets}
    kinds = {ds.label_kind for ds in datasets}
    kind = kinds.pop() if len(kinds) == 1 else ("speaker" if "speaker" in kinds else
                                                "digit" if "digit" in kinds else first.label_kind)
    return Dataset(first.root, layouts.pop() if len(layouts) == 1 else first.layout, kind, items, skipped,
                   sorted(set(excluded)), info)


def scan_datasets(roots, **kwargs):
    """Scan one folder (a str or Path) or several (a list: :func:`merge_datasets` of each :func:`scan_dataset`)."""
    if isinstance(roots, (list, tuple)):
        return merge_datasets([scan_dataset(r, **kwargs) for r in roots])
    return scan_dataset(roots, **kwargs)
