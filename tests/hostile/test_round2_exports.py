"""Hostile input, round two (issue 17): what the exports and the CLI write out.

Reports of real runs (the history of test_round2_history, copied per test) with class names,
notes and file names a user or a downloaded dataset can hold; the real CLI in a child process.
"""
import base64
import csv
import json
import re
import shutil
import sqlite3
import xml.etree.ElementTree as ET

from core.demo_digits import DEMO_DIGITS_DIR
from core.history import RunHistory
from core.report_html import confusion_svg
from tests.hostile.test_round2_history import (  # noqa: F401 - fixtures
    cli, demo, full_disk, home, one_error_line, pristine, result, set_column)

MARKUP_LABELS = ["R&B", 'say "hi"', "<script>", "ab&cd", "rock&roll&more&more", "x<y>z&w", "a'b", "0"]


def svgs_of(page):
    """The SVG images embedded in an HTML report, by their alt text."""
    found = re.findall(r'<img alt="([^"]+)" src="data:image/svg\+xml;base64,([^"]+)"', page)
    return {alt: base64.b64decode(data).decode("utf-8") for alt, data in found}


# ---------------------------------------------------------- 10: markup in class names


def test_confusion_svg_is_well_formed_xml_whatever_the_class_names():
    n = len(MARKUP_LABELS)
    matrix = [[(r * 3 + c) % 5 for c in range(n)] for r in range(n)]
    root = ET.fromstring(confusion_svg(matrix, MARKUP_LABELS))
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    # truncated before escaping: the picture shows the start of each name, never half an entity
    assert "rock&roll&mo" in texts and "rock&r" in texts and "say \"hi\"" in texts and "<script>" in texts
    assert not any("&am" in (t or "") or "&amp;" in (t or "") for t in texts)


def test_report_images_parse_as_xml_for_a_run_with_markup_in_its_class_names(home, tmp_path):
    db = home / "runs" / "history.sqlite"
    con = sqlite3.connect(db)
    doc = json.loads(con.execute("SELECT doc FROM runs WHERE id = 1").fetchone()[0])
    con.close()
    rename = dict(zip([str(d) for d in range(10)], MARKUP_LABELS + ["nine", "ten"]))
    m = doc["metrics"]
    m["labels"] = [rename[x] for x in m["labels"]]
    m["per_class"] = {rename.get(k, k): v for k, v in m["per_class"].items()}
    doc["labels"] = [rename[x] for x in doc["labels"]]
    set_column(home, 1, "doc", json.dumps(doc))
    out = tmp_path / "report.html"
    proc = cli(home, "report", "1", "--out", out)
    assert proc.returncode == 0, proc.stderr
    images = svgs_of(out.read_text(encoding="utf-8"))
    assert "confusion matrix of run 1" in images
    for alt, svg in images.items():
        ET.fromstring(svg)  # every picture renders


# -------------------------------------------------------------- 11: CSV formula injection

FORMULAS = ['=HYPERLINK("http://example.com/x","click")', "+1+1", "-2+3", "@SUM(A1:A2)", "\t=1+1", "\r=1+1"]


def test_csv_text_cells_never_start_a_formula(home, tmp_path):
    history = RunHistory(home / "runs")
    for rid, note in enumerate(FORMULAS, start=1):
        assert history.set_note(rid, note)
    set_column(home, 7, "model", "=cmd|' /C calc'!A0")
    out = tmp_path / "runs.csv"
    proc = cli(home, "report", *range(1, 8), "--out", out)
    assert proc.returncode == 0, proc.stderr
    with open(out, encoding="utf-8", newline="") as fh:  # newline="": a \r inside a cell stays a \r
        rows = list(csv.DictReader(fh))
    assert [r["note"] for r in rows[:6]] == ["'" + f for f in FORMULAS]
    assert rows[6]["model"] == "'=cmd|' /C calc'!A0"
    for r in rows:  # numbers stay numbers
        float(r["accuracy"])
        assert r["id"].isdigit()
        assert not any(v[:1] in ("=", "+", "-", "@", "\t", "\r") for v in r.values() if v)


# ---------------------------------------------------------------------- 19: report --out


def test_report_on_a_full_disk_is_one_line_and_keeps_the_old_report(home, tmp_path):
    with full_disk(tmp_path / "disk") as disk:
        old = disk.path / "report.html"
        old.write_text("the report from last week")
        disk.fill()
        for name in ("report.html", "new.html", "metrics.csv"):
            out = disk.path / name
            proc = cli(home, "report", "1", "2", "--out", out)
            one_error_line(proc, str(out))
            assert "Errno" not in proc.stderr
        assert old.read_text() == "the report from last week"
        assert sorted(p.name for p in disk.path.iterdir()) == ["filler", "report.html"]  # no temporary file left


def test_report_into_a_folder_suggests_a_report_file_name(home, tmp_path):
    line = one_error_line(cli(home, "report", "1", "--out", tmp_path), str(tmp_path))
    assert "report.html" in line and "model.slm" not in line
    line = one_error_line(cli(home, "report", "1", "--out", ""))
    assert "report.html" in line and "model.slm" not in line


def test_report_of_a_run_with_undecodable_names_is_written(home, tmp_path):
    """A dataset folder whose name is not UTF-8 (kept by Python as lone surrogates) never stops a report."""
    con = sqlite3.connect(home / "runs" / "history.sqlite")
    doc = json.loads(con.execute("SELECT doc FROM runs WHERE id = 1").fetchone()[0])
    con.close()
    doc["dataset"]["path"] = "/data/caf\udce9"
    set_column(home, 1, "doc", json.dumps(doc))
    for name in ("r.html", "r.csv", "r.json"):
        proc = cli(home, "report", "1", "--out", tmp_path / name)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr


# --------------------------------------------------------------- 22: file names printed raw


def test_predict_prints_file_names_escaped(home, tmp_path):
    model = sorted((home / "runs" / "models").glob("*.slm"))[0]
    clip = sorted(DEMO_DIGITS_DIR.glob("3_*.flac"))[0]
    coloured = tmp_path / "a\x1b[31mred\x1b[0m.flac"
    split = tmp_path / "two\nlines.flac"
    readable = tmp_path / "düsseldorf 東京.flac"
    for target in (coloured, split, readable):
        shutil.copy(clip, target)
    missing = tmp_path / "gone\x1b]0;title\x07.flac"
    proc = cli(home, "predict", model, coloured, split, readable, missing)
    assert "Traceback" not in proc.stderr, proc.stderr
    out = proc.stdout
    assert "\x1b" not in out and "\x1b" not in proc.stderr and "\x07" not in proc.stderr
    lines = out.splitlines()
    assert len(lines) == 3, out
    assert "\\x1b[31mred\\x1b[0m.flac: " in lines[0]
    assert "two\\nlines.flac: " in lines[1]
    assert "düsseldorf 東京.flac: " in lines[2]  # ordinary Unicode stays readable
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "\\x1b]0;title\\x07" in errors[0]
