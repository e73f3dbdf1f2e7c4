"""Test my voice: the user's own takes of every digit as a small test set.

The GUI prompts for each digit (``prompts``), records one take per prompt,
and asks the model (:func:`score_takes`). The takes can be saved as a dataset
folder in the FSDD/AudioMNIST naming, ``{digit}_{speaker}_{index}.wav``
(:func:`save_takes`), so they can be evaluated again later or added to a
training folder. Nothing here imports Qt.
"""
from __future__ import annotations

import pathlib
import re

import numpy as np

from .errors import SpeechLabError

DIGITS = tuple(str(d) for d in range(10))
_SPEAKER = re.compile(r"^[A-Za-z0-9-]{1,40}$")


def prompts(labels=DIGITS, *, repeats=1, seed=None):
    """The order in which to ask for the labels: each ``repeats`` times, shuffled within each round
    (``seed`` None: the plain order 0..9 per round, easiest to follow).

    Returns
    -------
    list of str
    """
    if not 1 <= int(repeats) <= 5:
        raise SpeechLabError("Each digit can be recorded 1 to 5 times")
    rng = None if seed is None else np.random.default_rng(seed)
    out = []
    for _ in range(int(repeats)):
        round_ = list(labels)
        if rng is not None:
            rng.shuffle(round_)
        out.extend(round_)
    return out


def check_speaker(name):
    """A speaker name usable in ``{digit}_{speaker}_{index}.wav``: letters, digits and '-' (no '_')."""
    name = (name or "").strip()
    if not _SPEAKER.match(name):
        raise SpeechLabError("The speaker name must be 1-40 letters, digits or '-' (it goes into the file names "
                             "{digit}_{speaker}_{index}.wav, where '_' separates the parts)")
    return name


def save_takes(folder, speaker, takes, *, layout="filename"):
    """Save ``[(label, y, sr)]`` as ``folder/{label}_{speaker}_{index}.wav``, never overwriting.

    ``layout="folders"`` (a dataset of one folder per class) writes ``folder/{label}/{speaker}-{index}.wav``
    instead, so the takes are read the way the dataset is. Each label's index continues after the highest
    one already there.

    Returns
    -------
    list of pathlib.Path, the files written, in the order of ``takes``
    """
    from .audio import write_new_wavs
    from .paths import name_problem, shown_name

    speaker = check_speaker(speaker)
    for label, _, _ in takes:  # labels come from a model file: never a path (checked before anything is written)
        problem = name_problem(str(label))
        if problem:
            raise SpeechLabError(f"Cannot save a take labelled '{shown_name(label)}': the label {problem}")
    folder = pathlib.Path(folder)
    try:
        root = folder.resolve()
    except OSError as exc:
        raise SpeechLabError(f"Cannot use {folder}: {exc.strerror or exc}") from exc
    if layout not in ("filename", "folders"):
        raise SpeechLabError(f"Unknown layout '{layout}' for the takes: choose filename or folders")
    used = {}
    if layout == "folders":
        for p in folder.glob(f"*/{speaker}-*.wav"):
            m = re.match(rf"^{re.escape(speaker)}-(\d+)$", p.stem)
            if m:
                used[p.parent.name] = max(used.get(p.parent.name, -1), int(m.group(1)))
    else:
        for p in folder.glob(f"*_{speaker}_*.wav"):
            m = re.match(rf"^(.+)_{re.escape(speaker)}_(\d+)$", p.stem)
            if m:
                used[m.group(1)] = max(used.get(m.group(1), -1), int(m.group(2)))
    planned = []
    for label, y, sr in takes:
        index = used.get(str(label), -1) + 1
        used[str(label)] = index
        if layout == "folders":
            path = folder / str(label) / f"{speaker}-{index}.wav"
            inside = path.resolve().parent.parent == root and path.parent.name == str(label)
        else:
            path = folder / f"{label}_{speaker}_{index}.wav"
            inside = path.resolve().parent == root
        if not inside:  # confined to the chosen folder, whatever the name
            raise SpeechLabError(f"Refusing to save {path}: it is not inside {folder}")
        planned.append((path, y, sr))
    try:  # all or nothing: a failure removes every file (and folder) this save made
        return write_new_wavs(planned)
    except FileExistsError as exc:
        raise SpeechLabError(f"{exc.filename} appeared while saving; nothing was overwritten and no take "
                             "was saved") from None
    except OSError as exc:
        raise SpeechLabError(f"Cannot save the takes into {folder}: {exc.strerror or exc}; no take was "
                             "saved") from exc


def score_takes(predict, takes):
    """The model's answer for every take and the accuracy on this voice.

    Parameters
    ----------
    predict : callable(y, sr) -> dict with ``label`` (e.g. ``bundle.predict_signal``)
    takes : list of (label, y, sr)

    Returns
    -------
    dict: ``accuracy`` (an "unknown" answer or an unusable take counts as wrong),
    ``n``, ``per_take`` [{label, predicted, ok, note}], ``per_label`` {label: share right}
    """
    per_take = []
    for label, y, sr in takes:
        try:
            p = predict(np.asarray(y, dtype=np.float32), int(sr))
            predicted, note = str(p["label"]), ""
        except SpeechLabError as exc:  # a silent take: no answer
            predicted, note = "", str(exc)
        per_take.append({"label": str(label), "predicted": predicted, "note": note})
    return summarize(per_take)


def summarize(per_take):
    """Accuracy of answered takes ``[{label, predicted[, note]}]`` (see :func:`score_takes`)."""
    per_take = [{**t, "note": t.get("note", ""), "ok": t["predicted"] == t["label"]} for t in per_take]
    per_label = {}
    for t in per_take:
        per_label.setdefault(t["label"], []).append(t["ok"])
    n = len(per_take)
    return {"accuracy": sum(t["ok"] for t in per_take) / n if n else None, "n": n, "per_take": per_take,
            "per_label": {k: float(np.mean(v)) for k, v in per_label.items()}}


def takes_folder(dataset_root, speaker="me"):
    """Where "Add my takes to training" suggests saving: a new folder beside the dataset, never inside it
    (``<dataset>-takes-<speaker>``, numbered when that name is taken by a file)."""
    root = pathlib.Path(dataset_root).expanduser()
    base = root.parent / f"{root.name}-takes-{speaker}"
    path, n = base, 1
    while path.exists() and not path.is_dir():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def is_inside(folder, dataset_root):
    """True when ``folder`` is the dataset's folder or below it."""
    try:
        f, r = pathlib.Path(folder).expanduser().resolve(), pathlib.Path(dataset_root).expanduser().resolve()
    except OSError:
        return False
    return f == r or r in f.parents


def before_after(before, after):
    """One line comparing two :func:`summarize` results on the same takes (accuracy on *your* voice)."""
    def pct(r):
        return "—" if r is None or r.get("accuracy") is None else f"{r['accuracy']:.0%}"
    n = (after or before or {}).get("n", 0)
    return f"Accuracy on your voice ({n} takes): before {pct(before)} → after {pct(after)}"
