"""Your voice (issue 20, record into a class): does adding a few takes of a new speaker to training help on
that speaker's other clips?

For each held-out FSDD speaker S: a Digits model is trained (the tab's default request: features, MLP,
augmentation, "not a digit") on the 3 other speakers, then on those plus 1 and 3 takes per digit of S
(``TrainRequest.data`` = [the 3 speakers' folder, the takes' folder], as "Add my takes to training" and
``train --data A --data B`` do); each model is evaluated on S's other clips (indices 3..49 of every digit,
the same 470 clips for every condition; an "unknown" answer counts as wrong). The takes are S's clips 0
(1 per digit) or 0-2 (3 per digit). The no-takes baseline is trained in the same run.

The folders are symbolic links to the shared recordings in a temporary folder (nothing is copied). The
training request keeps its usual random 10 % check split of the other speakers' clips; the takes weigh as
the request resolves them (``folder_weights``: like an average speaker of the first folder) and always train,
as in the tab. Each model also answers ``benchmarks/digits_accuracy.py``'s non-digit sounds (whistles, noise,
other words): the share it rejects as "unknown" shows what weighing the takes in the threshold costs.

    .venv/bin/python benchmarks/your_voice.py [--speakers george,jackson,lucas,nicolas] [--no-write]
"""
import argparse
import json
import os
import pathlib
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._results import write_section  # noqa: E402
from benchmarks.digits_accuracy import non_digit_sounds  # noqa: E402
from core.datasets import scan_dataset  # noqa: E402
from core.request import TrainRequest, train_and_record  # noqa: E402
from core.training import evaluate_bundle  # noqa: E402

FSDD = ROOT.parent / "shared" / "data" / "fsdd" / "recordings"
SPEAKERS = ("george", "jackson", "lucas", "nicolas")
# --dataset az (a check on another language and 29 training voices): AudioMNIST layout, takes numbered from 1;
# the 5 held-out speakers with the most clips
AZ = ROOT.parent / "shared" / "data" / "audiomnist-az-dev" / "data"
DATASETS = {"fsdd": (FSDD, "*_*_*.wav", 0, SPEAKERS), "az": (AZ, "*/*_*_*.flac", 1, ("16", "10", "15", "28", "13"))}
TAKES = (0, 1, 3)
TARGETS = {1: 0.93, 3: 0.97}
HEADING = "## Your voice: takes of a new speaker added to training (issue 20)"


def link_folder(folder, paths):
    folder.mkdir(parents=True)
    for p in paths:
        os.symlink(p, folder / p.name)
    return folder


def non_digits_rejected(bundle, sounds):
    """Share of the non-digit sounds (whistles, noise, other words) the model answers "unknown"."""
    from core.prediction import predict_long
    from core.tasks import DIGITS

    answers = [predict_long(bundle, y, 16000, clip_seconds=DIGITS.record_seconds)["label"] for y in sounds.values()]
    return sum(a == "unknown" for a in answers) / len(answers)


def run_speaker(speaker, tmp, *, seed=42, sounds=None, override=None, takes_counts=TAKES, dataset="fsdd"):
    folder, pattern, first, _ = DATASETS[dataset]
    files = sorted(folder.glob(pattern))
    others = [p for p in files if p.stem.split("_")[1] != speaker]
    own = [p for p in files if p.stem.split("_")[1] == speaker]
    train3 = link_folder(tmp / f"without-{speaker}", others)
    test = scan_dataset(link_folder(tmp / f"test-{speaker}", [p for p in own if int(p.stem.split("_")[2]) >= first + 3]),
                        label="digit")
    rows = []
    for k in takes_counts:
        data = str(train3)
        if k:
            takes = link_folder(tmp / f"takes-{speaker}-{k}", [p for p in own if int(p.stem.split("_")[2]) < first + k])
            data = [str(train3), str(takes)]
        t0 = time.perf_counter()
        result = train_and_record(TrainRequest(task="digits", data=data, test_size=0.1, seed=seed,
                                                   **(override or {})), record=False)
        seconds = time.perf_counter() - t0
        metrics, _ = evaluate_bundle(result.bundle, test)
        rejected = non_digits_rejected(result.bundle, sounds) if sounds else None
        rows.append({"speaker": speaker, "takes": k, "n_train": result.n_train, "accuracy": metrics["accuracy"],
                     "unknown_rate": metrics.get("unknown_rate"), "n_test": metrics["n_clips"],
                     "weights": result.request.folder_weights, "non_digits_rejected": rejected,
                     "seconds": seconds})
        print(f"{speaker}: {k} take(s)/digit: {metrics['accuracy']:.1%} on {metrics['n_clips']} clips "
              f"(unknown {metrics.get('unknown_rate') or 0:.1%}; trained on {result.n_train} clips, folder weights "
              f"{result.request.folder_weights}, {seconds:.0f} s)", flush=True)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--speakers", default=None, help="held-out speakers (default: every FSDD speaker, or az's 5)")
    ap.add_argument("--dataset", choices=sorted(DATASETS), default="fsdd",
                    help="az: a check on audiomnist-az-dev (implies --no-write)")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--override", type=json.loads, default=None,
                    help='TrainRequest fields to change, as JSON, e.g. \'{"augment": {"vtlp": [0.9, 1.1]}}\' '
                         "(a trial: implies --no-write)")
    ap.add_argument("--takes", default=",".join(map(str, TAKES)), help="takes per digit to try, e.g. 1")
    args = ap.parse_args(argv)
    if args.override or args.dataset != "fsdd":
        args.no_write = True
    if args.speakers is None:
        args.speakers = ",".join(DATASETS[args.dataset][3])
    speakers = [s for s in args.speakers.split(",") if s]
    rows = []
    sounds = non_digit_sounds()
    with tempfile.TemporaryDirectory() as tmp:
        for s in speakers:
            rows += run_speaker(s, pathlib.Path(tmp), sounds=sounds, override=args.override,
                                takes_counts=tuple(int(k) for k in args.takes.split(",")), dataset=args.dataset)
    lines = [HEADING, "",
             "`benchmarks/your_voice.py`: a Digits model (the tab's default request: MLP, augmentation, "
             "\"not a digit\") trained on 3 FSDD speakers, then with 1 and 3 takes per digit of the 4th added "
             "as a second data folder; accuracy on that speaker's other 470 clips (\"unknown\" counts as wrong). "
             f"Held-out speakers: {', '.join(speakers)}. Same run, same machine (2 loaded cores). The takes weigh "
             "as the request resolves them by default (`TrainRequest.folder_weights`, column \"takes weigh\": each "
             "take trains ×N, with N new augmented copies, so that the new voice weighs like an average speaker "
             "of the first folder; the takes always train; held out to set the \"not a digit\" threshold they "
             "count ×N there) and, with the MLP, are also matched directly (`core/templates.py`: \"Your voice: "
             "takes as templates\").", "",
             "| held-out speaker | takes per digit | trained on | takes weigh | accuracy | unknown | "
             f"non-digit sounds rejected (of {len(sounds)}) | seconds |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        weigh = f"×{r['weights'][-1]}" if r["weights"] else "—"
        lines.append(f"| {r['speaker']} | {r['takes']} | {r['n_train']} | {weigh} | {r['accuracy']:.1%} | "
                     f"{r['unknown_rate'] or 0:.1%} | {r['non_digits_rejected']:.0%} | {r['seconds']:.0f} |")
    means = {}
    for k in sorted({r["takes"] for r in rows}):
        acc = [r["accuracy"] for r in rows if r["takes"] == k]
        means[k] = sum(acc) / len(acc)
    lines += ["", "Mean over the held-out speakers: " + "; ".join(
        f"{k} take(s): {means[k]:.1%}" + (f" (target ≥ {TARGETS[k]:.0%})" if k in TARGETS else " (baseline)")
        for k in means) + "."]
    rej = [r["non_digits_rejected"] for r in rows]
    lines += ["", f"Non-digit sounds (`benchmarks/digits_accuracy.py`'s whistles, noise, hum, clap and espeak-ng "
              f"words) answered \"unknown\": {min(rej):.0%}-{max(rej):.0%} of {len(sounds)} per model."]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section(HEADING, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
