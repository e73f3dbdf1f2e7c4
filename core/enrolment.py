"""Enrolment: a new speaker's takes saved into the dataset and a speakers model retrained with them.

Above training in the layers (it trains), so core.openset (scoring and thresholds, used by
training and by model files) never imports training.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .errors import SpeechLabError
from .models import make_model, model_type_of
from .openset import DEFAULT_METHOD, TARGET_FRR, UNKNOWN, OpenSetConfig
from .training import SplitConfig, train_model

def check_speaker_name(name):
    """The name of a new speaker as its folder will be called; raises SpeechLabError for an unusable one.

    The one check of Add speaker (the dialog and the tab), ``main.py enrol`` and :func:`save_takes`.
    """
    import re

    from .datasets import _NOISE_FOLDER
    from .paths import name_problem, shown_name

    name = (name or "").strip()
    if not name:
        raise SpeechLabError("Speaker name is empty: type a name")
    problem = name_problem(name)  # NUL, newline, tab, U+202E, over 255 bytes: not a folder name anywhere
    if problem:
        raise SpeechLabError(f"Speaker name '{shown_name(name)}' {problem}; choose another")
    if re.search(r"[\\/:*?\"<>|]", name) or name in (".", "..") or name.startswith("."):
        raise SpeechLabError(f"Speaker name '{name}' cannot be a folder name (no / \\ : * ? \" < > | or leading dot)")
    if name.lower() == UNKNOWN or _NOISE_FOLDER.search(name):
        raise SpeechLabError(f"Speaker name '{name}' is reserved for noise or unknown voices; choose another")
    if len(name) > 100:
        raise SpeechLabError("Speaker name is longer than 100 characters")
    return name


def free_take_paths(folder, name, count):
    """``count`` new paths ``<folder>/<name>/<n>.wav`` that do not exist yet (n continues after the last)."""
    import pathlib

    d = pathlib.Path(folder) / name
    used = {p.stem for p in d.glob("*")} if d.is_dir() else set()
    out, n = [], 1
    while len(out) < count:
        if str(n) not in used and not (d / f"{n}.wav").exists():
            out.append(d / f"{n}.wav")
        n += 1
    return out


def save_takes(folder, name, takes):
    """Write takes (float arrays, rate) as 16-bit WAVs ``<folder>/<name>/<n>.wav``; never overwrites a file.

    All or nothing: when a take cannot be written (a full disk), every file of this save and the
    speaker's folder, if this save made it, are removed again, so a later scan never finds a speaker
    with a truncated take.

    Returns
    -------
    list of str, the paths written
    """
    import pathlib

    from .audio import write_new_wavs

    name = check_speaker_name(name)
    paths = free_take_paths(folder, name, len(takes))
    root = pathlib.Path(folder).resolve() / name
    if any(p.resolve().parent != root for p in paths):  # the name is one folder name (checked), so never
        raise SpeechLabError(f"Refusing to save takes outside {folder}/{name}")
    try:
        written = write_new_wavs([(path, y, sr) for path, (y, sr) in zip(paths, takes)])
    except OSError as exc:
        what = "a take's name was taken meanwhile" if isinstance(exc, FileExistsError) else exc.strerror or exc
        raise SpeechLabError(f"Could not save the takes into {folder}/{name}: {what}; no take was saved") from exc
    return [str(p) for p in written]


def with_enrolled(ds, enrolled):
    """``ds`` with the enrolled files {speaker: [paths]} labelled as their speaker.

    A scan of the folder may already hold them (takes saved as ``<name>/<n>.wav``
    in a folder-per-speaker set): the enrolled label wins, each file once.
    """
    import os

    from .datasets import Item

    label_of = {os.path.abspath(str(p)): str(name) for name, paths in (enrolled or {}).items() for p in paths}
    items = [it for it in ds.items if os.path.abspath(it.path) not in label_of]
    items += [Item(p, name, name) for p, name in label_of.items()]
    return dataclasses.replace(ds, items=items, skipped=list(ds.skipped))


def retrain_settings(bundle):
    """How to train ``bundle``'s model again: (model_type, params, SplitConfig, OpenSetConfig)."""

    params = bundle.model.get_params()
    if "hidden_layer_sizes" in params:
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
    split = bundle.training.get("split") or {}
    split = SplitConfig(kind="random", test_size=float(split.get("test_size", 0.2)),
                        random_state=int(split.get("random_state", 42)))
    osd = bundle.training.get("open_set") or {}
    method = (bundle.open_set or {}).get("method", DEFAULT_METHOD)
    config = OpenSetConfig(unknown_labels=tuple(osd.get("unknown_labels", ())),
                           use_other_folders=bool(osd.get("use_other_folders", True)),
                           calibration_fraction=float(osd.get("calibration_fraction", 0.2)),
                           target_frr=float((bundle.open_set or {}).get("target_frr", TARGET_FRR)), method=method)
    return model_type_of(bundle.model), params, split, config


def enrolled_weights(ds, enrolled):
    """{path: times}: each enrolled speaker's takes weigh so that the speaker counts like an average speaker
    of the rest of ``ds`` (ten takes beside speakers of a hundred clips each train ten times each), as
    your takes do in Digits (core.request.TAKES_WEIGHT); None when no enrolled speaker has fewer clips."""
    import os

    mine = {os.path.abspath(str(p)) for paths in (enrolled or {}).values() for p in paths}
    counts = {}
    for it in ds.items:
        if os.path.abspath(it.path) not in mine:
            counts[it.label] = counts.get(it.label, 0) + 1
    if not counts:
        return None
    average = sum(counts.values()) / len(counts)
    repeat = {}
    for paths in (enrolled or {}).values():
        times = int(round(average / max(len(paths), 1)))
        if times > 1:
            repeat.update({os.path.abspath(str(p)): min(times, 100) for p in paths})
    return repeat or None


# Enrolled takes weigh (enrolled_weights) for a model that learns a boundary between speakers from the
# pretrained voice embedding: ten takes of a 3rd voice beside two voices of 100 clips, that voice's other
# words named 33/40 instead of 9/40 and strangers still refused 18/20 (20/20 before). With MFCC statistics
# alone the weighed takes also set the threshold where strangers pass (named 40/40, but strangers refused
# 3/20 instead of 18/20), and cosine to centroids does not need it (34 → 36/40); both stay unweighed.
WEIGHED_FEATURES = ("voice-embedding", "voice-mfcc")


def weighs_takes(bundle):
    """Whether :func:`enrol` weighs the new speaker's takes for this model (see WEIGHED_FEATURES)."""
    return bundle.feature_config.name in WEIGHED_FEATURES and model_type_of(bundle.model) != "centroid"


def enrol(bundle, *, name, files, ds, on_epoch=None, should_stop=None, on_progress=None, n_jobs=None, cache=True,
          weigh=None):
    """Add a speaker from audio files and train the model again with the same settings.

    Parameters
    ----------
    bundle : the current speakers ModelBundle
    name : the new speaker's name
    files : paths of the new speaker's clips (already on disk; nothing is copied or changed)
    ds : the dataset the model is retrained on (e.g. its training folder, scanned again)
    weigh : each enrolled speaker's takes weigh like an average speaker's clips (:func:`enrolled_weights`);
        None: when :func:`weighs_takes` says so for this model

    Returns
    -------
    core.training.TrainResult; its bundle records every enrolled speaker's files
    (``training["enrolled"]``) so a later enrolment keeps them.
    """
    import os


    name = check_speaker_name(name)
    files = [os.path.abspath(str(f)) for f in files]
    if not files:
        raise SpeechLabError(f"No files given for speaker '{name}'")
    for f in files:
        if not os.path.isfile(f):
            raise SpeechLabError(f"Enrolment file not found: {f}")
    enrolled = {k: list(v) for k, v in (bundle.training.get("enrolled") or {}).items()}
    enrolled[name] = sorted(set(enrolled.get(name, [])) | set(files))
    data = with_enrolled(ds, enrolled)
    model_type, params, split, config = retrain_settings(bundle)
    if name in config.unknown_labels:
        config = dataclasses.replace(config, unknown_labels=tuple(x for x in config.unknown_labels if x != name))
    feature_config = dataclasses.replace(bundle.feature_config, n_frames=None) \
        if bundle.feature_config.frames == "pad" else bundle.feature_config
    result = train_model(data, task=bundle.task, feature_config=feature_config, model=make_model(model_type, **params),
                         split=split, open_set=config, on_epoch=on_epoch, should_stop=should_stop,
                         on_progress=on_progress, n_jobs=n_jobs, cache=cache,
                         repeat=enrolled_weights(data, enrolled) if (weighs_takes(bundle) if weigh is None
                                                                     else weigh) else None)
    result.bundle.training["enrolled"] = enrolled
    return result
