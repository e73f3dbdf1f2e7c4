"""Hostile input, round two (issue 17): the run history and the ``runs`` / ``report`` commands.

Every test works on a copy of one real history (real trainings recorded in a real SQLite file,
with their model files), damaged the way a disk, a crash or a hand edit damages it, and runs the
real CLI in a child process with ``SPEECHLAB_DATA_DIR`` pointing at the copy.
"""
import contextlib
import json
import os
import pathlib
import shutil
import sqlite3
import subprocess
import sys

import pytest

from core.datasets import scan_dataset
from core.demo_digits import DEMO_DIGITS_DIR
from core.errors import SpeechLabError
from core.history import RunHistory, settings_of
from core.models.mlp import MLPClassifier
from core.report_html import render_html
from core.tasks import DIGITS
from core.training import SplitConfig, train_model

ROOT = pathlib.Path(__file__).resolve().parents[2]
N_RUNS = 30


def cli(home, *args, **kw):
    env = dict(os.environ, SPEECHLAB_DATA_DIR=str(home))
    kw.setdefault("stdout", subprocess.PIPE)
    return subprocess.run([sys.executable, "main.py", *map(str, args)], cwd=ROOT, stderr=subprocess.PIPE, text=True,
                          timeout=300, env=env, **kw)  # the timeout only guards against a hang


def one_error_line(proc, *fragments):
    """Non-zero exit, no traceback, exactly one ``error:`` line holding every fragment; returns the line."""
    assert proc.returncode != 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    for f in fragments:
        assert f in errors[0], errors[0]
    return errors[0]


@pytest.fixture(scope="module")
def demo():
    return scan_dataset(DEMO_DIGITS_DIR, label="digit")


@pytest.fixture(scope="module")
def result(demo):
    model = MLPClassifier(**{**DIGITS.model, "hidden_layer_sizes": (8,), "epochs": 2, "early_stopping": False,
                             "random_state": 0})
    return train_model(demo, task="digits", feature_config=DIGITS.feature_config("mfcc-mean"), model=model,
                       split=SplitConfig(random_state=7))


@pytest.fixture(scope="module")
def pristine(tmp_path_factory, demo, result):
    """A data folder whose run history holds N_RUNS real runs (ids 1..N_RUNS), each with its model file."""
    home = tmp_path_factory.mktemp("pristine")
    history = RunHistory(home / "runs")
    ids = [history.record_result(result, dataset=demo, source="test") for _ in range(N_RUNS)]
    assert ids == list(range(1, N_RUNS + 1)) and not history.notes
    return home


@pytest.fixture
def home(tmp_path, pristine):
    """A private copy of the pristine data folder (the history closed cleanly: no -wal, no -shm)."""
    copy = tmp_path / "data"
    shutil.copytree(pristine, copy)
    return copy


def set_column(home, run_id, column, value):
    con = sqlite3.connect(home / "runs" / "history.sqlite")
    with con:
        con.execute(f"UPDATE runs SET {column} = ? WHERE id = ?", (value, run_id))
    con.close()


@contextlib.contextmanager
def full_disk(where):
    """A full disk at ``where``: a 2 MiB tmpfs mounted there, then filled to the last byte.

    Mounting needs root (the test machines run as root); elsewhere the test is skipped. The
    tmpfs is a real file system that answers ENOSPC, as a full disk does; nothing is mocked.
    ``fill()`` on the yielded object fills it (call it after putting files there).
    """
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("simulating a full disk needs root to mount a tiny tmpfs")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(where)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode(errors='replace').strip()}")

    class Disk:
        path = where

        @staticmethod
        def fill():
            with open(where / "filler", "wb", buffering=0) as fh, contextlib.suppress(OSError):
                while True:
                    fh.write(b"\0" * 4096)
            probe = where / "probe"
            with pytest.raises(OSError), open(probe, "wb", buffering=0) as fh:  # really full
                fh.write(b"x")
            probe.unlink(missing_ok=True)

    try:
        yield Disk
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


# ------------------------------------------------------------------ 5: damaged databases


def test_a_second_damaged_history_never_replaces_the_first_backup(tmp_path, demo, result):
    folder = tmp_path / "runs"
    folder.mkdir()
    db = folder / "history.sqlite"
    db.write_bytes(b"first damaged database " * 200)
    assert RunHistory(folder).record_result(result, dataset=demo, keep_model=False) == 1
    for extra in ("history.sqlite-wal", "history.sqlite-shm"):
        (folder / extra).unlink(missing_ok=True)
    db.write_bytes(b"second damaged database " * 200)
    again = RunHistory(folder)
    assert again.record_result(result, dataset=demo, keep_model=False) == 1
    assert any("damaged" in n for n in again.notes)
    backups = sorted(p for p in folder.iterdir() if p.name.startswith("history.sqlite.damaged"))
    assert len(backups) == 2, [p.name for p in folder.iterdir()]
    assert {p.read_bytes()[:6] for p in backups} == {b"first ", b"second"}


def test_listing_a_damaged_history_says_so_and_moves_nothing(home):
    db = home / "runs" / "history.sqlite"
    garbage = b"this is not a database " * 300
    db.write_bytes(garbage)
    before = sorted(p.name for p in db.parent.iterdir())
    for args in (["runs"], ["runs", "--json"], ["runs", "show", "1"]):
        proc = cli(home, *args)
        one_error_line(proc, str(db), "damaged")
        assert "no runs recorded yet" not in proc.stdout
    assert db.read_bytes() == garbage  # a read never moves the database aside
    assert sorted(p.name for p in db.parent.iterdir()) == before
    # in the core too: a read reports, only a write sets the database aside
    history = RunHistory(home / "runs")
    assert history.runs() == [] and history.get(1) is None and history.count() == 0
    assert any("damaged" in n for n in history.notes)
    assert db.read_bytes() == garbage


def test_a_truncated_history_gives_the_runs_it_still_holds_to_the_new_one(home, demo, result):
    db = home / "runs" / "history.sqlite"
    size = db.stat().st_size
    assert size > 100 * 4096 // 2
    with open(db, "r+b") as fh:  # a disk that lost the second half of the file
        fh.truncate(size // 2 // 4096 * 4096)
    cut = db.read_bytes()
    history = RunHistory(home / "runs")
    new_id = history.record_result(result, dataset=demo)
    assert new_id == N_RUNS + 1  # never reuses the id of a run that was lost
    assert any("damaged" in n and "kept" in n for n in history.notes), history.notes
    kept = sorted(r["id"] for r in history.runs() if r["id"] != new_id)
    assert set(kept) <= set(range(1, N_RUNS + 1)), kept
    whole = []
    for rid in kept:  # a salvaged run is whole, or (its document on a lost page) its summary alone
        run = history.get(rid)
        if run.get("document_damaged"):
            assert any(f"run {rid}" in n for n in history.notes) and run["model"]["text"]
            continue
        whole.append(rid)
        assert run["metrics"]["labels"] == [str(d) for d in range(10)]
        assert history.load_model(rid).labels == [str(d) for d in range(10)]
    assert len(whole) >= 5, (kept, whole)
    [backup] = [p for p in db.parent.iterdir() if p.name.startswith("history.sqlite.damaged")]
    assert backup.read_bytes() == cut
    assert history.integrity() == "ok"


# ---------------------------------------------------- 8: model files outside the models folder


def test_a_model_file_outside_the_models_folder_is_never_deleted_or_loaded(home, tmp_path):
    """What "delete run" and "bring back" in the All runs view call (RunHistory.delete / load_model)."""
    models = home / "runs" / "models"
    a_model = sorted(models.glob("*.slm"))[0]
    escaped = home / "victim.slm"  # a real model file, so that loading it would succeed
    absolute = tmp_path / "elsewhere" / "victim.slm"
    linked = tmp_path / "linked-victim.slm"
    absolute.parent.mkdir()
    for victim in (escaped, absolute, linked):
        shutil.copy(a_model, victim)
    (models / "link.slm").symlink_to(linked)
    set_column(home, 1, "model_file", "../../victim.slm")
    set_column(home, 2, "model_file", str(absolute))
    set_column(home, 3, "model_file", "link.slm")
    history = RunHistory(home / "runs")
    for rid in (1, 2, 3):
        assert history.model_path(rid) is None
        with pytest.raises(SpeechLabError, match=f"[Rr]un {rid}.*outside"):
            history.load_model(rid)
        assert history.delete(rid)
        assert history.get(rid) is None
    assert escaped.is_file() and absolute.is_file() and linked.is_file()
    assert any("outside" in n for n in history.notes)
    # a run whose model file is where it belongs is still deleted with its model
    path = history.model_path(4)
    assert path.is_file() and history.delete(4) and not path.exists()
    # runs show names no file outside the folder
    set_column(home, 5, "model_file", str(absolute))
    proc = cli(home, "runs", "show", "5")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert str(absolute) not in proc.stdout and "outside" in proc.stderr


# ------------------------------------------------------------ 12: history on a full disk


@contextlib.contextmanager
def read_only_folder(folder):
    """``folder`` made read-only: as root (whom permissions do not stop) a read-only bind mount of it,
    a real read-only file system; otherwise its permissions (0555), what a user without write access
    to the folder has. Either way nothing new can be created in it."""
    if os.geteuid() != 0:
        os.chmod(folder, 0o555)
        try:
            yield
        finally:
            os.chmod(folder, 0o755)
        return
    for command in (["mount", "--bind", str(folder), str(folder)], ["mount", "-o", "remount,ro,bind", str(folder)]):
        done = subprocess.run(command, capture_output=True)
        if done.returncode != 0:
            subprocess.run(["umount", str(folder)], capture_output=True)
            pytest.skip(f"cannot bind-mount read-only here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


@pytest.mark.parametrize("simulated", ["full disk", "read-only folder"])
def test_runs_that_cannot_open_the_history_say_it_could_not_be_read_and_why(home, tmp_path, simulated):
    """SQLite cannot create the history's ``-shm`` file (its WAL index) beside the database.
    Simulated for real: a full disk is a 2 MiB tmpfs filled to the last byte (root only); a
    read-only folder is a read-only bind mount (root) or a folder without write permission."""
    where = tmp_path / "disk"
    with contextlib.ExitStack() as stack:
        if simulated == "full disk":
            disk = stack.enter_context(full_disk(where))
            shutil.copytree(home / "runs", where / "runs")
            disk.fill()
        else:
            shutil.copytree(home / "runs", where / "runs")
            stack.enter_context(read_only_folder(where / "runs"))
        assert not (where / "runs" / "history.sqlite-shm").exists()
        proc = cli(where, "runs")
        line = one_error_line(proc, "could not be read", str(where / "runs" / "history.sqlite"))
        assert "no runs recorded yet" not in proc.stdout + proc.stderr
        assert "-shm" in line and ("disk is full" in line if simulated == "full disk" else "read-only" in line
                                   or "not writable" in line), line  # and why
        proc = cli(where, "runs", "--json")
        one_error_line(proc, "could not be read")
        assert proc.stdout == ""


# ------------------------------------------------------------------------ 15: --limit 0


@pytest.mark.parametrize("limit", ["0", "-3"])
def test_runs_limit_below_one_is_refused(home, limit):
    proc = cli(home, "runs", "--limit", limit)
    one_error_line(proc, "--limit", "at least 1")
    assert proc.returncode == 2 and proc.stdout == ""  # like --jobs: refused by the argument parser
    proc = cli(home, "runs", "--limit", "2", "--json")
    assert [r["id"] for r in json.loads(proc.stdout)["runs"]] == [N_RUNS, N_RUNS - 1]


# ------------------------------------------------------------ 17: damaged run documents

DAMAGED_DOCS = ["{not json", "[1,2,3]", '{"metrics": 5}', "{}", '{"metrics": {"confusion": "x", "labels": [1]}}',
                '{"history": [1, 2]}', '{"seconds": "long"}']


@pytest.mark.parametrize("doc", DAMAGED_DOCS)
def test_a_damaged_run_document_is_one_line_naming_the_run(home, tmp_path, doc):
    set_column(home, 7, "doc", doc)
    one_error_line(cli(home, "runs", "show", "7"), "run 7", "damaged")
    one_error_line(cli(home, "runs", "show", "7", "--json"), "run 7", "damaged")
    out = tmp_path / "r.html"
    one_error_line(cli(home, "report", "6", "7", "--out", out), "run 7", "damaged")
    assert not out.exists()
    assert cli(home, "runs").returncode == 0  # the list still shows it
    # the GUI's lenient read gets a run it can show and compare without crashing
    history = RunHistory(home / "runs")
    run = history.get(7)
    assert run["id"] == 7 and any("run 7" in n and "damaged" in n for n in history.notes)
    settings_of(run)
    render_html([run, history.get(6)])


# ------------------------------------------------------------------ 18: huge run ids


@pytest.mark.parametrize("rid", [str(2**63), str(2**64 + 5), str(-(2**63) - 1)])
def test_run_ids_beyond_sqlite_integers_are_one_line(home, tmp_path, rid):
    one_error_line(cli(home, "runs", "show", rid), f"No run {rid}")
    one_error_line(cli(home, "report", rid, "--out", tmp_path / "r.html"), f"No run {rid}")
    history = RunHistory(home / "runs")
    assert history.get(int(rid)) is None and history.model_path(int(rid)) is None
    assert not history.delete(int(rid)) and not history.set_note(int(rid), "x")


# ------------------------------------------------------------------------ 23: a closed pipe


def test_runs_into_a_closed_pipe_exits_quietly(home):
    """``runs | head -1``: the reader has gone before the output is written (the read end is
    closed before the command starts, so the broken pipe happens every time, not by timing)."""
    read, write = os.pipe()
    os.close(read)
    try:
        proc = cli(home, "runs", stdout=write)
    finally:
        os.close(write)
    assert proc.returncode == 141, proc.stderr
    assert proc.stderr == ""
