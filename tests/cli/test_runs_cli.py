"""``train`` records its run; ``runs``, ``runs show``, ``report`` and ``sweep`` as a user runs them
(real subprocesses, a private data folder per module so the history starts empty)."""
import base64
import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    e = os.environ.copy()
    e["SPEECHLAB_DATA_DIR"] = str(tmp_path_factory.mktemp("history-home"))
    return e


def run_cli(env, *args):
    proc = subprocess.run([sys.executable, "main.py", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env=env)  # the timeout only guards against a hang
    return proc


@pytest.fixture(scope="module")
def two_runs(env, tmp_path_factory):
    out = tmp_path_factory.mktemp("models")
    answers = []
    for hidden, act in (("32", "relu"), ("16", "tanh")):
        proc = run_cli(env, "train", "--hidden", hidden, "--activation", act, "--epochs", "4", "--features",
                       "mfcc-mean", "--out", out / f"{hidden}.slm", "--json")
        assert proc.returncode == 0, proc.stderr
        answers.append(json.loads(proc.stdout))
    return answers


def test_train_prints_its_run_id_and_runs_lists_it(env, two_runs):
    assert [a["run_id"] for a in two_runs] == [1, 2]
    proc = run_cli(env, "runs", "--json")
    assert proc.returncode == 0, proc.stderr
    runs = json.loads(proc.stdout)["runs"]
    assert [r["id"] for r in runs] == [2, 1]  # newest first
    assert runs[1]["accuracy"] == pytest.approx(two_runs[0]["accuracy"])
    assert runs[1]["task"] == "digits" and runs[1]["dataset"].endswith("demo/digits")
    assert "32" in runs[1]["model"] and "tanh" in runs[0]["model"]
    text = run_cli(env, "runs", "--task", "digits").stdout
    assert re.search(r"^\s+1\s.*demo.*mfcc-mean.*MLP 32 relu", text, re.M), text
    assert json.loads(run_cli(env, "runs", "--task", "genres", "--json").stdout)["runs"] == []


def test_runs_show_gives_the_whole_run(env, two_runs):
    proc = run_cli(env, "runs", "show", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    run = json.loads(proc.stdout)
    assert run["id"] == 1 and run["source"] == "cli"
    assert run["metrics"]["confusion"] == two_runs[0]["confusion"]
    assert [h["loss"] for h in run["history"]] == pytest.approx([h["loss"] for h in two_runs[0]["history"]])
    assert run["model"]["params"]["hidden_layer_sizes"] == [32] and run["feature_config"]["name"] == "mfcc-mean"
    assert pathlib.Path(run["model_path"]).is_file()
    missing = run_cli(env, "runs", "show", "99")
    assert missing.returncode == 1 and missing.stderr.startswith("error: No run 99")


def test_report_of_two_runs_holds_their_images_and_numbers(env, two_runs, tmp_path):
    out = tmp_path / "report.html"
    proc = run_cli(env, "report", "1", "2", "--out", out)
    assert proc.returncode == 0, proc.stderr
    page = out.read_text()
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "") and "<script" not in page
    images = re.findall(r'<img alt="([^"]+)" src="data:image/svg\+xml;base64,([^"]+)"', page)
    alts = [a for a, _ in images]
    assert "loss curves overlaid" in alts and "confusion matrix of run 1" in alts and "confusion matrix of run 2" in alts
    svg = base64.b64decode(dict(images)["confusion matrix of run 1"]).decode()
    assert svg.startswith("<svg") and svg.count("<rect") >= 100  # a 10 x 10 grid
    for answer in two_runs:
        assert f"{100 * answer['accuracy']:.1f} %" in page
    assert 'class="diff"><td>model.activation</td><td>relu</td><td>tanh</td>' in page
    csv_out = tmp_path / "m.csv"
    assert run_cli(env, "report", "1", "2", "--out", csv_out).returncode == 0
    lines = csv_out.read_text().splitlines()
    assert lines[0].startswith("id,created,task") and len(lines) == 3
    bad = run_cli(env, "report", "1", "--out", tmp_path / "x.pdf")
    assert bad.returncode == 1 and "html" in bad.stderr


def test_a_two_by_two_sweep_records_four_runs(env, two_runs):
    proc = run_cli(env, "sweep", "--grid", "hidden=16;32,16", "--grid", "activation=relu;bipolar-sigmoid",
                   "--features", "mfcc-mean", "--epochs", "3", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert [r["values"] for r in out["runs"]] == [
        {"hidden": "16", "activation": "relu"}, {"hidden": "16", "activation": "bipolar-sigmoid"},
        {"hidden": "32,16", "activation": "relu"}, {"hidden": "32,16", "activation": "bipolar-sigmoid"}]
    ids = [r["run_id"] for r in out["runs"]]
    assert sorted(ids) == [3, 4, 5, 6]
    for r in out["runs"]:
        shown = json.loads(run_cli(env, "runs", "show", r["run_id"], "--json").stdout)
        assert shown["source"] == "sweep" and shown["sweep"]["id"] == out["sweep"]
        assert shown["model"]["params"]["hidden_layer_sizes"] == [int(h) for h in r["values"]["hidden"].split(",")]
        assert shown["model"]["params"]["activation"] == r["values"]["activation"]
        assert shown["accuracy"] == pytest.approx(r["accuracy"])


def test_sweep_mistakes_are_one_line(env):
    for args, text in ((["--grid", "colour=red;blue"], "Cannot sweep 'colour'"),
                       (["--grid", "hidden"], "--grid needs NAME=VALUE"),
                       ([], "at least one --grid"),
                       (["--grid", "hidden=-5"], "at least 1"), (["--grid", "hidden=6;x"], "sizes such as")):
        proc = run_cli(env, "sweep", *args)
        assert proc.returncode != 0 and proc.stderr.startswith("error: ") and text in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1


def test_sweep_report_q4_puts_the_reports_numbers_beside_ours(env):
    proc = run_cli(env, "sweep", "--report", "q4", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert [r["reference"] for r in out["runs"]] == pytest.approx([0.665, 0.716, 0.965, 0.977])
    assert all(r["accuracy"] is not None and r["run_id"] for r in out["runs"])
    assert "16000_pcm_speeches" in out["report_data"]
    shown = json.loads(run_cli(env, "runs", "show", out["runs"][3]["run_id"], "--json").stdout)
    assert shown["task"] == "speakers" and shown["sweep"]["reference"] == pytest.approx(0.977)
