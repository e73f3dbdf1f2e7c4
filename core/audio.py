"""Reading audio files into float32 mono arrays, resampling and trimming.

One path for every file and every live take: :func:`load_audio` decodes,
mono-mixes and resamples; :func:`check_signal` rejects what cannot be used.
Resampling uses soxr (the same high-quality resampler librosa uses by default,
without librosa's per-call overhead).
"""
from __future__ import annotations

import errno
import os
import pathlib
import stat
import struct

import numpy as np

from .errors import AudioFileError

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".au")

# A clip whose peak never rises above this (about -80 dBFS) holds no usable sound.
SILENCE_PEAK = 1e-4
# Float files may overshoot full scale a little; 60 dB above it is not audio.
MAX_PEAK = 1000.0
# The shortest sound (after trimming) any feature set is computed on: one 25 ms analysis window. A 1-sample
# file or a lone click is no word; its features would come from zero padding. FeatureConfig.min_seconds
# may ask for more, never for less.
MIN_CLIP_SECONDS = 0.025


def resample(y, *, sr_from, sr_to):
    """Resample a mono signal with soxr's high-quality filter.

    Parameters
    ----------
    y : np.ndarray, shape (n,)
    sr_from, sr_to : int

    Returns
    -------
    np.ndarray, shape (round(n * sr_to / sr_from),), float32
    """
    y = np.asarray(y, dtype=np.float32)
    if sr_from == sr_to or y.size == 0:
        return y
    import soxr  # here, not at import: the GUI's start-up does not need it

    return soxr.resample(y, sr_from, sr_to, quality="HQ").astype(np.float32, copy=False)


def to_mono(y):
    """Average the channels of a (n, channels) array; a 1-D array is returned as is."""
    y = np.asarray(y, dtype=np.float32)
    if y.ndim == 2:
        y = y.mean(axis=1) if y.shape[1] > 1 else y[:, 0]
    return np.ascontiguousarray(y)


# Sample rates a file may declare; outside this range the header is wrong or hostile
# (a WAV that says 1 Hz would be resampled 16,000-fold).
MIN_RATE, MAX_RATE = 1000, 384000
# A plain WAV whose data chunk holds less than this share of what its header
# declares is a cut-off copy and is skipped (it would be used as if whole).
TRUNCATED_SHARE = 0.9


def _check_rate(path, sr):
    if not MIN_RATE <= sr <= MAX_RATE:
        raise AudioFileError(path, f"sample rate {sr} Hz is outside {MIN_RATE // 1000}–{MAX_RATE // 1000} kHz "
                                   "(a damaged header?)")


def _read_plain_wav(path, max_seconds=None):
    """Fast path for the commonest dataset file: an uncompressed 16-bit PCM or
    32-bit float WAV. Returns (y, sr) or None when the file is anything else
    (then libsndfile decodes it, and reports damage).

    Only the header and the samples that will be used are read (``max_seconds``).
    Parsing the RIFF chunks and viewing the samples with NumPy costs a tenth
    of opening the file through libsndfile, which matters for 30,000 clips.
    """
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        fmt = None
        while True:
            chunk = fh.read(8)
            if len(chunk) < 8:
                return None
            cid, size = chunk[:4], int.from_bytes(chunk[4:8], "little")
            if cid == b"fmt ":
                if size < 16:
                    return None
                body = fh.read(size + (size & 1))
                if len(body) < 16:
                    raise AudioFileError(path, "damaged WAV header (the format chunk is cut off)")
                fmt = struct.unpack("<HHIIHH", body[:16])
            elif cid == b"data":
                break
            else:
                fh.seek(size + (size & 1), os.SEEK_CUR)
        if fmt is None:
            return None
        tag, channels, sr, _, _, bits = fmt
        if channels < 1 or (tag, bits) not in ((1, 16), (3, 32)):
            return None
        _check_rate(path, sr)
        frame_bytes = channels * bits // 8
        declared = size // frame_bytes
        wanted = declared if max_seconds is None else min(declared, int(round(max_seconds * sr)))
        data = fh.read(wanted * frame_bytes)
    held = len(data) // frame_bytes
    if held < wanted and held < TRUNCATED_SHARE * declared:
        raise AudioFileError(path, f"truncated: the header says {declared / sr:.3g} s, the file holds "
                                   f"{held / sr:.3g} s (a cut-off copy?)")
    data = data[: held * frame_bytes]
    if tag == 1:
        y = np.frombuffer(data, dtype="<i2").astype(np.float32) * (1.0 / 32768.0)
    else:
        y = np.frombuffer(data, dtype="<f4").astype(np.float32)
    if channels > 1:
        y = y.reshape(-1, channels)
    return y, int(sr)


def _decode(path, max_seconds=None):
    """Decode with libsndfile (only the part that will be used); fall back to
    librosa/audioread for what it cannot read."""
    if str(path).lower().endswith(".wav"):
        fast = _read_plain_wav(path, max_seconds)
        if fast is not None:
            return fast
    import soundfile as sf  # here, not at import: the GUI's start-up does not need it

    try:
        with sf.SoundFile(str(path)) as f:
            _check_rate(path, int(f.samplerate))
            frames = f.frames if max_seconds is None else min(f.frames, int(round(max_seconds * f.samplerate)))
            y = f.read(frames=frames, dtype="float32", always_2d=False)
            return y, int(f.samplerate)
    except sf.LibsndfileError as exc:
        sndfile_error = exc
    except RuntimeError as exc:  # older soundfile versions raise RuntimeError
        sndfile_error = exc
    if pathlib.Path(path).suffix.lower() in (".mp3", ".m4a", ".aac", ".wma"):
        try:
            import librosa

            y, sr = librosa.load(str(path), sr=None, mono=False, duration=max_seconds)
        except Exception as exc:  # any decoder failure means: not readable
            raise AudioFileError(path, f"cannot be decoded ({exc.__class__.__name__}: {exc})") from exc
        _check_rate(path, int(sr))
        return (y.T if y.ndim == 2 else y), int(sr)
    raise AudioFileError(path, f"not a readable audio file ({_short(sndfile_error)})")


def _short(exc):
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
    return text[:160]


def check_signal(y, *, path="<signal>"):
    """Raise :class:`AudioFileError` if a decoded signal is empty, non-finite or silent."""
    if y.size == 0:
        raise AudioFileError(path, "empty (no audio samples)")
    if not np.all(np.isfinite(y)):
        raise AudioFileError(path, "contains invalid samples (NaN or infinity)")
    peak = float(np.max(np.abs(y)))
    if peak > MAX_PEAK:
        raise AudioFileError(path, f"samples out of range (peak {peak:.3g}; audio lies within about ±1)")
    if float(np.max(np.abs(y))) < SILENCE_PEAK:
        raise AudioFileError(path, "silent (peak below -80 dBFS)")


def load_audio(path, *, sr=None, max_seconds=None):
    """Load an audio file as float32 mono, resampled to ``sr``.

    Parameters
    ----------
    path : str or Path
    sr : int or None
        Target sample rate; None keeps the file's own rate.
    max_seconds : float or None
        Keep at most this many seconds from the start.

    Returns
    -------
    y : np.ndarray, shape (n,), float32
    sr : int

    Raises
    ------
    AudioFileError
        When the file is missing, empty, not audio, undecodable or silent;
        the message names the file and the reason.
    """
    try:
        st = os.stat(path)
    except OSError as exc:
        raise AudioFileError(path, f"cannot be opened ({exc.strerror or exc})") from exc
    if stat.S_ISDIR(st.st_mode):
        raise AudioFileError(path, "is a folder, not an audio file")
    if not stat.S_ISREG(st.st_mode):
        raise AudioFileError(path, "is not a regular file (a pipe or a device?)")
    if st.st_size == 0:
        raise AudioFileError(path, "empty file (0 bytes)")
    if not os.access(path, os.R_OK):
        raise AudioFileError(path, "cannot be opened (permission denied)")
    try:
        y, file_sr = _decode(path, max_seconds)
    except PermissionError as exc:
        raise AudioFileError(path, "cannot be opened (permission denied)") from exc
    except OSError as exc:
        raise AudioFileError(path, f"cannot be read ({exc.strerror or exc})") from exc
    y = to_mono(y)
    if max_seconds is not None:
        y = y[: int(round(max_seconds * file_sr))]
    check_signal(y, path=str(path))
    if sr is not None and sr != file_sr:
        y = resample(y, sr_from=file_sr, sr_to=sr)
        file_sr = sr
    return y, file_sr


def trim_silence(y, *, top_db=30.0, frame_length=None, hop_length=None, sr=16000):
    """Cut leading and trailing parts quieter than ``top_db`` below the peak.

    The same function runs on dataset files and on microphone takes, so a take
    is cut exactly as the training clips were.

    Returns
    -------
    y_trimmed : np.ndarray
    (start, end) : tuple of int, sample indices of the kept part in ``y``
    """
    frame_length = frame_length or max(64, int(0.025 * sr))
    hop_length = hop_length or max(16, int(0.010 * sr))
    n = y.size
    if n < frame_length:
        return y, (0, n)
    n_frames = 1 + (n - frame_length) // hop_length
    # Frame energies from a running sum of squares: O(n), no frame copies.
    csum = np.concatenate([[0.0], np.cumsum(np.square(y, dtype=np.float64))])
    starts = hop_length * np.arange(n_frames)
    rms = np.sqrt(np.maximum(csum[starts + frame_length] - csum[starts], 0.0) / frame_length)
    peak = rms.max()
    if peak <= 0:
        return y, (0, n)
    loud = np.flatnonzero(rms > peak * 10.0 ** (-top_db / 20.0))
    start = int(loud[0] * hop_length)
    end = int(min(n, loud[-1] * hop_length + frame_length))
    return y[start:end], (start, end)


_WAV_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"  # KSDATAFORMAT_SUBTYPE_*


def _plain_wav_facts(path):
    """(duration, rate, channels) of a plain PCM or float WAV read from its chunk headers in the first 4 KB
    (one read), or None for anything else or anything unusual (another container, a compressed codec, a
    streaming size, chunks that push the data past 4 KB, odd numbers): :func:`audio_info` then asks
    libsndfile. Frames are counted as libsndfile counts them: the data chunk, cut to what the file holds."""
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            head = os.read(fd, 4096)
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
    except OSError:
        return None
    if len(head) < 44 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    fmt = data = None
    pos = 12
    while pos + 8 <= len(head) and data is None:  # chunks before the data: fmt, fact, LIST, JUNK, ...
        cid = head[pos:pos + 4]
        clen = int.from_bytes(head[pos + 4:pos + 8], "little")
        if cid == b"fmt ":
            if not 16 <= clen <= 256 or pos + 8 + clen > len(head):
                return None
            fmt = head[pos + 8:pos + 8 + clen]
        elif cid == b"data":
            data = (pos + 8, clen)
        pos += 8 + clen + (clen & 1)
    if fmt is None or data is None:
        return None
    tag, channels, rate, _, block, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == 0xFFFE:  # WAVE_FORMAT_EXTENSIBLE: the real format in its sub-format GUID
        if len(fmt) < 40 or fmt[26:40] != _WAV_GUID_TAIL:
            return None
        tag = struct.unpack("<H", fmt[24:26])[0]
    if not ((tag == 1 and bits in (8, 16, 24, 32)) or (tag == 3 and bits in (32, 64))):
        return None
    if not (1 <= channels <= 64 and 1 <= rate <= 768_000 and block == channels * bits // 8):
        return None
    offset, length = data
    if length in (0, 0xFFFFFFFF) or offset > size:
        return None
    frames = min(length, size - offset) // block
    if frames <= 0:
        return None
    return frames / rate, rate, channels


def audio_info(path):
    """Header facts without decoding: (duration seconds, sample rate, channels).

    Raises AudioFileError when the header cannot be read.
    """
    import soundfile as sf

    if str(path).lower().endswith(".wav"):
        facts = _plain_wav_facts(path)
        if facts is not None:
            return facts
    try:
        info = sf.info(str(path))
        return float(info.duration), int(info.samplerate), int(info.channels)
    except Exception as exc:  # libsndfile error types vary by version
        raise AudioFileError(path, f"not a readable audio file ({_short(exc)})") from exc


def write_new_wavs(items, *, subtype="PCM_16"):
    """Write ``[(path, y, sr)]`` as WAV files, all or nothing, never replacing a file.

    Each file is encoded in memory (soundfile never touches the disk, so a failing disk raises here
    instead of being printed and ignored inside its callbacks), written to a hidden temporary file
    beside its target, flushed to disk and only then given its name, if that name is still free. When
    anything fails, every file this call wrote is removed again and the error is raised:
    ``FileExistsError`` for a name taken meanwhile, ``OSError`` for a full disk and the like.

    Returns
    -------
    list of pathlib.Path, the files written
    """
    import io

    import soundfile as sf

    written, made = [], []
    try:
        for path, y, sr in items:
            buf = io.BytesIO()
            sf.write(buf, np.asarray(y, dtype=np.float32), int(sr), format="WAV", subtype=subtype)
            path = pathlib.Path(path)
            missing = [d for d in (path.parent, *path.parent.parents) if not d.exists()]
            path.parent.mkdir(parents=True, exist_ok=True)
            made += reversed(missing)
            _write_new_file(path, buf.getbuffer())
            written.append(path)
    except BaseException:
        for path in written:
            try:
                os.unlink(path)
            except OSError:
                pass
        for folder in reversed(made):  # the folders this call made, deepest first, if nothing else is in them
            try:
                os.rmdir(folder)
            except OSError:
                pass
        raise
    return written


def _write_new_file(path, data):
    """``data`` into a new file ``path`` through a temporary file and a link: a reader (a dataset scan)
    never sees a partial file, and an existing file is never replaced."""
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=".take-", suffix=".part", dir=str(path.parent))
    try:
        with os.fdopen(fd, "wb") as fh:
            mask = os.umask(0)
            os.umask(mask)
            os.fchmod(fh.fileno(), 0o666 & ~mask)  # mkstemp makes 0600; a take is an ordinary file
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # fails with FileExistsError when the name was taken meanwhile
        except FileExistsError:
            raise
        except OSError as exc:  # a file system without hard links (FAT, some shares): check, then rename
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS):
                raise
            if os.path.lexists(path):
                raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path)) from None
            os.rename(tmp, path)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
