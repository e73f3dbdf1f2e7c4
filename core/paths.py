"""Where SpeechLab keeps files on the user's machine: the one home of these folders.

``SPEECHLAB_CACHE_DIR`` and ``SPEECHLAB_DATA_DIR`` override the platform's
folders (the tests point them at a scratch directory).
"""
from __future__ import annotations

import os
import pathlib

APP_NAME = "SpeechLab"

INT64_MAX = (1 << 63) - 1


def identity(st):
    """(size, mtime_ns, inode, ctime_ns) of an ``os.stat`` result, every number a signed 64-bit integer,
    as the caches store them (SQLite's INTEGER, NumPy's int64 rows). An inode number above that range
    (NTFS file IDs carry a sequence number in their top bits, an NFS file ID is any 64-bit value, ReFS's are
    128 bits) is folded into it, the same bits each time; SQLite and NumPy refused it before (OverflowError:
    the scan or the extraction of such a folder failed)."""
    return st.st_size, st.st_mtime_ns, fold_inode(st.st_ino), st.st_ctime_ns


def fold_inode(ino):
    """``ino`` as a signed 64-bit integer: unchanged when it fits, else folded (the same bits each time)."""
    if ino <= INT64_MAX:
        return ino
    ino = (ino ^ (ino >> 64)) & 0xFFFF_FFFF_FFFF_FFFF  # 128 bits: both halves kept
    return ino - (1 << 64) if ino > INT64_MAX else ino


def cache_dir() -> pathlib.Path:
    """The feature cache's folder: ``SPEECHLAB_CACHE_DIR``, else the platform's user cache folder."""
    env = os.environ.get("SPEECHLAB_CACHE_DIR")
    if env:
        return pathlib.Path(env)
    import platformdirs

    return pathlib.Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def data_dir() -> pathlib.Path:
    """Generated data (the genres demo): ``SPEECHLAB_DATA_DIR``, else the platform's user data folder."""
    env = os.environ.get("SPEECHLAB_DATA_DIR")
    if env:
        return pathlib.Path(env)
    import platformdirs

    return pathlib.Path(platformdirs.user_data_dir(APP_NAME))


# Characters that reorder or hide text: a name holding one can look like another ("rtl\u202eevil.wav"
# shows as "rtllive.wav"). Other invisible format characters (the zero-width joiner of emoji sequences,
# the zero-width non-joiner of Persian) are ordinary parts of names and are allowed.
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
MAX_NAME_BYTES = 255  # one file or folder name on every common file system (ext4, APFS, NTFS in UTF-16 units)


def name_problem(name):
    """Why ``name`` cannot be one file or folder name inside a chosen folder, or None when it can.

    Refused: empty, ``.`` or ``..``, a path separator (``/`` or ``\\``), control characters (NUL,
    newline, tab…), line separators, text-direction overrides, unpaired surrogates, and names over
    255 bytes in UTF-8. The one check of speaker names typed by a user and of labels read from a
    model file, both of which become file and folder names when takes are saved.

    Returns
    -------
    str or None: the reason, in words that follow the name ("'x' contains …")
    """
    import unicodedata

    if not isinstance(name, str) or not name.strip():
        return "is empty"
    if name in (".", ".."):
        return "is '.' or '..', not a name"
    if "/" in name or "\\" in name:
        return "contains a path separator (/ or \\)"
    for ch in name:
        category = unicodedata.category(ch)
        if category in ("Cc", "Cs", "Zl", "Zp") or ch in _BIDI_CONTROLS:
            kind = "a text-direction control" if ch in _BIDI_CONTROLS else "a control character"
            return f"contains {kind} (U+{ord(ch):04X})"
    size = len(name.encode("utf-8"))
    if size > MAX_NAME_BYTES:
        return f"is {size} bytes long in UTF-8; a file name holds at most {MAX_NAME_BYTES}"
    return None


def shown_name(name, limit=40):
    """``name`` as it can be shown in one line of a message: escaped (repr) and shortened."""
    text = repr(str(name))[1:-1]
    return text if len(text) <= limit else text[: limit - 1] + "…"
