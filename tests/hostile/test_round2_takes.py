"""Hostile input, round two (issue 17): saved takes and names.

Labels read from a model file and names typed by a user become file and folder names when takes are
saved ("Test my voice" → Save, Add speaker…, ``main.py enrol``). Everything here is real: generated
WAVs, a trained model saved and crafted on disk, real writes; a full disk is a real, tiny tmpfs where
the container allows mounting one (see :func:`full_disk`).
"""
import errno
import json
import os
import pathlib
import shutil
import subprocess
import sys
import uuid

import numpy as np
import pytest

from core.errors import SpeechLabError
from tests.core.datagen import class_signal, write_wav
from tests.helpers import write_npz_members

ROOT = pathlib.Path(__file__).resolve().parents[2]


def cli(*args, timeout=300):
    return subprocess.run([sys.executable, "main.py", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=os.environ.copy())


def error_lines(proc):
    return [line for line in proc.stderr.splitlines() if line.startswith("error:")]


def tree(folder):
    """Every path under ``folder``, relative, sorted."""
    return sorted(str(p.relative_to(folder)) for p in pathlib.Path(folder).rglob("*"))




def relabel(model, out, labels):
    """A copy of ``model`` whose labels (and the network's classes) are ``labels``: what a hand-edited or
    hostile model file holds; everything else is the real trained model."""
    with np.load(model, allow_pickle=False) as npz:
        payload = {k: npz[k] for k in npz.files}
    meta = json.loads(bytes(payload["meta"]).decode())
    meta["labels"] = list(labels)
    payload["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    payload["model/classes"] = np.asarray(list(labels))
    return write_npz_members(out, payload)


# ---------------------------------------------------------------- 4. path traversal when saving takes

HOSTILE_LABELS = ["../ESCAPED", "/tmp/speechlab-absolute-" + uuid.uuid4().hex, "a/b", "..", ".", "",
                  "x\ny", "nul\x00byte", "tab\tlabel", "rtl\u202eevil", "é" * 200]


@pytest.mark.parametrize("bad", HOSTILE_LABELS, ids=lambda s: repr(s)[:30])
def test_a_model_label_that_is_no_file_name_is_refused_at_load(model, tmp_path, bad):
    from core.bundle import load_bundle

    crafted = relabel(model, tmp_path / "crafted.slm", ["0", bad])
    with pytest.raises(SpeechLabError) as info:
        load_bundle(crafted)
    message = str(info.value)
    assert "\n" not in message and str(crafted) in message and "label" in message
    assert repr(bad)[:20].strip("'") in message  # names the label, escaped (no raw newline or bidi override)


def test_ordinary_labels_still_load(model, tmp_path):
    from core.bundle import load_bundle

    labels = ["zero", "Jens_Stoltenberg", "Magaret Tarcher", "naïve ünïcode", "家族"]
    crafted = relabel(model, tmp_path / "names.slm", labels[:2])
    assert load_bundle(crafted).labels == labels[:2]


@pytest.mark.parametrize("label", ["../ESCAPED", "/tmp/speechlab-absolute-" + uuid.uuid4().hex, "a/../../b"])
def test_test_my_voice_never_writes_outside_the_chosen_folder(tmp_path, label):
    """core.voice_test.save_takes gets its labels from a model (the GUI's Test my voice): a label that is a
    path must not take the write out of the folder, and nothing of the save may stay behind."""
    from core.voice_test import save_takes

    folder = tmp_path / "box" / "takes"
    y = class_signal(cls=1, sr=16000)
    try:
        with pytest.raises(SpeechLabError) as info:
            save_takes(folder, "ada", [("1", y, 16000), (label, y, 16000)])
    finally:  # before the fix the absolute label wrote into /tmp: never leave that behind
        if label.startswith("/") and os.path.exists(label + "_ada_0.wav"):
            os.unlink(label + "_ada_0.wav")
            pytest.fail(f"wrote {label}_ada_0.wav outside the chosen folder")
    assert "\n" not in str(info.value)
    assert tree(tmp_path) == []  # refused before anything was written, not even the good take or the folder
    if label.startswith("/"):
        assert not pathlib.Path(label + "_ada_0.wav").exists()


def test_takes_are_confined_even_through_a_symlinked_name(tmp_path):
    """A label that is a plain name but already exists in the folder as a link to elsewhere is not followed."""
    from core.voice_test import save_takes

    folder = tmp_path / "takes"
    folder.mkdir()
    outside = tmp_path / "outside.wav"
    (folder / "1_ada_0.wav").symlink_to(outside)  # an existing name is skipped, never written through
    paths = save_takes(folder, "ada", [("1", class_signal(cls=1, sr=8000), 8000)])
    assert [p.name for p in paths] == ["1_ada_1.wav"] and not outside.exists()
    assert all(p.resolve().parent == folder.resolve() for p in paths)


def test_predict_with_a_traversal_label_is_one_error_line(model, tmp_path, good):
    crafted = relabel(model, tmp_path / "escape.slm", ["0", "../ESCAPED"])
    proc = cli("predict", crafted, sorted(good.glob("*.wav"))[0])
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    errors = error_lines(proc)
    assert len(errors) == 1 and "escape.slm" in errors[0] and "../ESCAPED" in errors[0], proc.stderr


# ---------------------------------------------------------------- 21. speaker names that are no folder names

EMOJI_64 = "\U0001F600" * 64  # 64 characters, 256 bytes in UTF-8: one byte over a file name's limit
BAD_SPEAKER_NAMES = [EMOJI_64, "nul\x00byte", "two\nlines", "tab\tname", "rtl\u202eevil", "para\u2029sep", "a\\b"]


@pytest.mark.parametrize("bad", BAD_SPEAKER_NAMES, ids=lambda s: repr(s)[:20])
def test_add_speaker_refuses_a_name_that_is_no_folder_name(tmp_path, bad):
    from core.enrolment import check_speaker_name, save_takes

    with pytest.raises(SpeechLabError) as info:
        check_speaker_name(bad)
    assert "\n" not in str(info.value) and "\x00" not in str(info.value) and "\u202e" not in str(info.value)
    with pytest.raises(SpeechLabError):  # never an OSError ("File name too long") or ValueError ("embedded null byte")
        save_takes(tmp_path, bad, [(class_signal(cls=0, sr=16000), 16000)])
    assert tree(tmp_path) == []


def test_ordinary_speaker_names_are_still_accepted():
    from core.enrolment import check_speaker_name

    for name in ("Ada", "Jens Stoltenberg", "Margaret_Tarcher", "Zoë", "\U0001F600" * 63, "家族 \u200d ok",
                 "  padded  "):
        assert check_speaker_name(name) == name.strip()


@pytest.fixture(scope="module")
def speakers_model(tmp_path_factory):
    """A small speakers model trained for real (folder per speaker), and its data folder."""
    from core.bundle import save_bundle
    from core.datasets import scan_dataset
    from core.models import make_model
    from core.openset import OpenSetConfig
    from core.tasks import SPEAKERS
    from core.training import train_model
    from tests.core.datagen import speakers_tree

    data = speakers_tree(tmp_path_factory.mktemp("speakers"), per_speaker=4)
    result = train_model(scan_dataset(data), task="speakers", feature_config=SPEAKERS.feature_config(),
                         model=make_model("linear"), open_set=OpenSetConfig(), cache=False, n_jobs=1)
    return save_bundle(result.bundle, tmp_path_factory.mktemp("sm") / "speakers.slm"), data


@pytest.mark.parametrize("bad", [b for b in BAD_SPEAKER_NAMES if "\x00" not in b],  # argv cannot hold a NUL
                         ids=lambda s: repr(s)[:20])
def test_cli_enrol_refuses_a_name_that_is_no_folder_name(speakers_model, tmp_path, bad):
    model, data = speakers_model
    take = write_wav(tmp_path / "take.wav", class_signal(cls=4, sr=16000, seconds=1.0), sr=16000)
    before = tree(data)
    proc = cli("enrol", model, take, "--name", bad, "--out", tmp_path / "new.slm", "--no-cache")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    errors = error_lines(proc)
    assert len(errors) == 1 and "name" in errors[0].lower(), proc.stderr
    assert "features:" not in proc.stderr  # refused before any work
    assert tree(data) == before and not (tmp_path / "new.slm").exists()


@pytest.mark.parametrize("bad", BAD_SPEAKER_NAMES, ids=lambda s: repr(s)[:20])
def test_add_speaker_dialog_shows_the_same_refusal(qtbot, tmp_path, bad):
    from PySide6.QtWidgets import QDialogButtonBox

    from core.enrolment import check_speaker_name
    from gui.dialogs.enrol import EnrolDialog

    dlg = EnrolDialog(folder=str(tmp_path), seconds=1.0)
    qtbot.addWidget(dlg)
    dlg.add_files([str(write_wav(tmp_path / "take.wav", class_signal(cls=0, sr=16000), sr=16000))])
    dlg.name_edit.setText(bad)
    with pytest.raises(SpeechLabError) as info:
        check_speaker_name(dlg.name())
    assert dlg.status.text() == str(info.value)  # one validation function for the dialog, the tab and the CLI
    assert not dlg.box.button(QDialogButtonBox.StandardButton.Ok).isEnabled()


# ---------------------------------------------------------------- 7. a failed save leaves nothing behind

# Four takes: three of 1 s, one of 4 s (16 kHz, 16-bit: 32 KB and 128 KB). On the 160 KiB disk the first
# three fit and the fourth fails half-way, as on a disk that fills up during a save.
TAKE_SECONDS = (1.0, 1.0, 1.0, 4.0)
TINY_DISK = "160k"
FILE_SIZE_LIMIT = 100_000  # the fallback: no file may grow past 100 KB (the fourth take fails half-way)

_SAVE_IN_CHILD = r"""
import json, resource, signal, sys, traceback
sys.path.insert(0, sys.argv[1])
from core.errors import SpeechLabError
from tests.core.datagen import class_signal
kind, folder, name, limit = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
seconds = json.loads(sys.argv[6])
if limit:  # what a full disk does to a write, without a full disk: the write fails with EFBIG
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
takes = [class_signal(cls=i % 10, sr=16000, seconds=s, seed=i) for i, s in enumerate(seconds)]
try:
    if kind == "enrol":
        from core.enrolment import save_takes
        written = save_takes(folder, name, [(y, 16000) for y in takes])
    else:
        from core.voice_test import save_takes
        written = save_takes(folder, name, [(str(i % 10), y, 16000) for i, y in enumerate(takes)])
    print(json.dumps({"written": [str(p) for p in written]}))
except SpeechLabError as exc:
    print(json.dumps({"error": str(exc)}))
"""


@pytest.fixture
def full_disk(tmp_path):
    """(folder, file size limit): a folder on a real 160 KiB tmpfs when this machine lets the tests mount
    one (root, or a container that allows it), limit 0; otherwise an ordinary folder and a per-file size
    limit (RLIMIT_FSIZE) for the child that saves: either way a write fails half-way through a file."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = False
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("mount"):
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TINY_DISK}", "tmpfs", str(folder)],
                                 capture_output=True).returncode == 0
    try:
        yield folder, 0 if mounted else FILE_SIZE_LIMIT
    finally:
        if mounted:
            subprocess.run(["umount", str(folder)], check=True)


def save_in_child(kind, folder, name, limit, seconds=TAKE_SECONDS):
    proc = subprocess.run([sys.executable, "-c", _SAVE_IN_CHILD, str(ROOT), kind, str(folder), name, str(limit),
                           json.dumps(list(seconds))], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "Exception ignored" not in proc.stderr, proc.stderr  # soundfile's cffi callback complaints
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def test_a_failed_enrolment_save_leaves_no_partial_takes(full_disk):
    folder, limit = full_disk
    result, _ = save_in_child("enrol", folder, "Ada", limit)
    assert "error" in result and "\n" not in result["error"], result
    assert "Ada" in result["error"]
    assert tree(folder) == [], tree(folder)  # no 1.wav-3.wav, no truncated 4.wav, no empty Ada folder


def test_a_failed_enrolment_save_keeps_what_was_there(full_disk):
    folder, limit = full_disk
    existing = write_wav(folder / "Ada" / "1.wav", class_signal(cls=0, sr=8000, seconds=0.2), sr=8000)
    before = existing.read_bytes()
    result, _ = save_in_child("enrol", folder, "Ada", limit)
    assert "error" in result, result
    assert tree(folder) == ["Ada", "Ada/1.wav"] and existing.read_bytes() == before


def test_a_failed_voice_test_save_leaves_no_file(full_disk):
    folder, limit = full_disk
    result, _ = save_in_child("voice", folder / "takes", "ada", limit)
    assert "error" in result and "\n" not in result["error"], result
    assert tree(folder) == [], tree(folder)  # no 0-byte or truncated file, and not the folder it made


def test_a_voice_test_save_on_a_disk_with_no_room_at_all(full_disk):
    folder, limit = full_disk
    result, _ = save_in_child("voice", folder, "ada", limit, seconds=(8.0,))  # 256 KB: fails in the first take
    assert "error" in result, result
    assert tree(folder) == []


def test_takes_that_fit_are_all_saved(full_disk):
    folder, limit = full_disk
    result, _ = save_in_child("enrol", folder, "Ada", limit, seconds=(1.0, 1.0))
    assert [pathlib.Path(p).name for p in result["written"]] == ["1.wav", "2.wav"]
    assert tree(folder) == ["Ada", "Ada/1.wav", "Ada/2.wav"]  # no temporary file left beside them
    import soundfile as sf

    assert [sf.info(p).frames for p in result["written"]] == [16000, 16000]
