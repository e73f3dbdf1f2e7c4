"""Your takes weigh like a speaker (issue 20, record into a class): a Digits training on a dataset plus a small
folder of takes of a new voice (``TrainRequest.data = [dataset, takes]``, what "Add my takes to training" and
``train --data A --data B`` send) repeats each take so that the new voice weighs like an average speaker of
the dataset, the takes count when the "not a digit" threshold is set, the request records the weights so a
re-run does the same, and the new voice's other clips are recognised better than by the same training with
every clip weighing once. Real FSDD recordings, used in place through symbolic links."""
import os

import numpy as np
import pytest

from core.datasets import scan_dataset
from core.errors import SpeechLabError
from core.openset import choose_threshold, voice_threshold
from core.request import TrainRequest, resolve, train_and_record
from core.training import evaluate_bundle

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def _link(folder, paths):
    folder.mkdir(parents=True)
    for p in paths:
        os.symlink(p, folder / p.name)
    return folder


@pytest.fixture(scope="module")
def folders(fsdd_dir, tmp_path_factory):
    """dataset: george, lucas and nicolas, 15 clips of every digit each (450); takes: one take of every digit
    by jackson (10); test: 30 other clips of every digit by jackson (300)."""
    root = tmp_path_factory.mktemp("takes-weight")

    def clips(speakers, indices):
        return [fsdd_dir / f"{d}_{s}_{i}.wav" for s in speakers for d in range(10) for i in indices]

    data = _link(root / "data", clips(("george", "lucas", "nicolas"), range(15)))
    takes = _link(root / "takes", clips(("jackson",), [0]))
    test = _link(root / "test", clips(("jackson",), range(10, 40)))
    _link(root / "one-take", clips(("jackson",), [1])[:1])  # one take of "0"
    for d in range(10):  # the dataset in a folder per digit, its files named without speakers
        (root / "by-digit" / str(d)).mkdir(parents=True)
        for k, p in enumerate(clips(("george", "lucas"), range(15))[d * 15:(d + 1) * 15]):
            os.symlink(p, root / "by-digit" / str(d) / f"clip-{k}.wav")
    return data, takes, test


def request(data, takes, **kw):
    return TrainRequest(task="digits", data=[str(data), str(takes)], test_size=0.1, model_params={"epochs": 40},
                        **kw)


def test_takes_weigh_like_an_average_speaker_and_the_request_keeps_it(folders):
    data, takes, test = folders
    r = resolve(request(data, takes))
    assert r.folder_weights == [1, 15]  # 150 clips per speaker in the dataset, 10 takes: each trains 15 times
    again = TrainRequest.from_dict(r.to_dict())
    assert again == r and resolve(again) == r  # a re-run trains with the same weights
    # one folder, or a second folder that is not smaller than a speaker: nothing is weighed
    assert resolve(TrainRequest(task="digits", data=str(data))).folder_weights is False
    assert resolve(request(takes, test)).folder_weights is False
    assert resolve(request(data, takes.parent / "one-take")).folder_weights == [1, 15]  # a digit's take: as its
    # speaker's clips of that digit
    assert resolve(request(takes.parent / "by-digit", takes)).folder_weights is False  # no voices to weigh by
    assert resolve(request(data, takes, folder_weights=False)).folder_weights is False
    assert resolve(request(data, takes, folder_weights=[1, 3])).folder_weights == [1, 3]
    with pytest.raises(SpeechLabError, match="one weight per data folder"):
        resolve(request(data, takes, folder_weights=[2]))
    with pytest.raises(SpeechLabError, match="folder_weights must be whole numbers"):
        resolve(request(data, takes, folder_weights=[1, 0.5]))


def test_weighed_takes_recognise_the_new_voice_better_than_the_same_training_without(folders):
    data, takes, test = folders
    test_ds = scan_dataset(test, label="digit")
    accuracy = {True: [], False: []}
    for seed in (1, 2):
        weighed = train_and_record(request(data, takes, seed=seed), record=False)
        plain = train_and_record(request(data, takes, seed=seed, folder_weights=False), record=False)
        assert weighed.request.folder_weights == [1, 15] and plain.request.folder_weights is False
        training = weighed.bundle.training
        assert training["repeat"] == {"clips": 10, "times": {"15": 10}}  # every take trains, none is tested
        # every take trains 15 times, each time with the augmentation's 2 copies: 45 rows, not 3
        assert training["n_train_augmented"] == 3 * (weighed.n_train - 10) + 45 * 10
        assert "repeat" not in plain.bundle.training
        m_weighed, _ = evaluate_bundle(weighed.bundle, test_ds)
        m_plain, _ = evaluate_bundle(plain.bundle, test_ds)
        assert m_weighed["closed_set_accuracy"] >= m_plain["closed_set_accuracy"]
        assert m_weighed["unknown_rate"] <= 0.1  # the new voice is rarely refused as "not a digit"
        accuracy[True].append(m_weighed["accuracy"])
        accuracy[False].append(m_plain["accuracy"])
    # jackson's other clips ("unknown" counts as wrong): the weighed takes win by a clear margin
    assert np.mean(accuracy[True]) >= np.mean(accuracy[False]) + 0.05, accuracy


def test_a_weighed_clip_counts_as_many_clips_in_the_threshold():
    scores = np.array([-5.0, -1.0, -0.9, -0.8, -0.7, -0.6, -0.5, -0.4, -0.3, -0.2])
    assert choose_threshold(scores, 0.2) == -1.0
    w = np.ones(10)
    assert choose_threshold(scores, 0.2, w) == -1.0  # weights of 1: the plain quantile
    w[0] = 10  # the far clip is a take weighing 10: the threshold lets it in
    assert choose_threshold(scores, 0.2, w) == -5.0
    assert choose_threshold(scores, 0.2, w) == np.quantile(np.repeat(scores, w.astype(int)), 0.2, method="lower")


def test_a_few_takes_set_where_one_percent_of_their_voice_lies():
    rng = np.random.default_rng(0)
    takes = rng.normal(-1.0, 0.2, size=10)
    t = voice_threshold(takes, 0.01)
    assert t < takes.min()  # the lowest of ten takes is about the voice's 10 % point, not its 1 %
    assert t == pytest.approx(takes.mean() - 2.326 * takes.std(ddof=1), abs=1e-3)
    assert voice_threshold(takes[:2], 0.01) == float("inf")  # two takes say nothing about the spread


def test_takes_as_templates_name_the_new_voice_better_and_leave_the_other_voices_alone(folders, fsdd_dir, tmp_path):
    """Your takes are also matched directly (core.templates): the same trained network, with and without
    them as templates, on the new voice's other clips and on other clips of the dataset's voices."""
    from core.bundle import load_bundle, save_bundle
    from core.extraction import build_features

    data, takes, test = folders
    others = _link(tmp_path / "others", [fsdd_dir / f"{d}_{s}_{i}.wav" for s in ("george", "lucas", "nicolas")
                                         for d in range(10) for i in range(15, 25)])
    result = train_and_record(request(data, takes, seed=1, augment=False), record=False)
    model = result.bundle.model
    assert result.bundle.training["take_templates"] == 10 and model.templates_ is not None
    new_voice = build_features(scan_dataset(test, label="digit"), result.bundle.feature_config)
    known = build_features(scan_dataset(others, label="digit"), result.bundle.feature_config)

    def accuracy(fs, templates):
        kept, model.templates_ = model.templates_, templates
        try:
            return float(np.mean(model.predict(fs.X) == fs.labels))
        finally:
            model.templates_ = kept

    with_takes, without = accuracy(new_voice, model.templates_), accuracy(new_voice, None)
    assert with_takes >= without + 0.02, (with_takes, without)  # jackson's 300 other clips (measured +3.7 points)
    assert accuracy(known, model.templates_) >= accuracy(known, None) - 0.02  # 300 clips of the dataset's voices
    # "not a digit": a clip near one of the takes is a digit in that voice and is not refused; a whistle still is
    test_ds = scan_dataset(test, label="digit")
    with_near, _ = evaluate_bundle(result.bundle, test_ds)
    kept, model.templates_ = model.templates_, None
    try:
        without_near, _ = evaluate_bundle(result.bundle, test_ds)
    finally:
        model.templates_ = kept
    assert with_near["unknown_rate"] <= without_near["unknown_rate"]
    assert with_near["accuracy"] >= without_near["accuracy"] + 0.02
    t = np.arange(8000) / 8000
    whistle = (0.3 * np.sin(2 * np.pi * (1500 + 800 * t) * t)).astype(np.float32)
    assert result.bundle.predict_signal(whistle, 8000)["label"] == "unknown"
    # saved with the model, and back: the same answers
    path = save_bundle(result.bundle, tmp_path / "with-takes.slm")
    loaded = load_bundle(path)
    np.testing.assert_allclose(loaded.model.predict_proba(new_voice.X), model.predict_proba(new_voice.X), atol=1e-6)
    # the same request without templates trains without them (and says nothing about them)
    plain = train_and_record(request(data, takes, seed=1, augment=False, take_templates=False), record=False)
    assert "take_templates" not in plain.bundle.training and plain.bundle.model.templates_ is None


def test_a_model_file_whose_templates_name_a_class_it_lacks_is_refused(folders, tmp_path):
    from core.bundle import load_bundle, save_bundle

    data, takes, _ = folders
    r = request(data, takes, seed=3, augment=False, open_set=False)
    r.model_params["epochs"] = 3
    result = train_and_record(r, record=False)
    path = save_bundle(result.bundle, tmp_path / "m.slm")
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["model/templates_y"] = arrays["model/templates_y"] + 10  # classes 10..19 of a 10-class model
    bad = tmp_path / "bad.slm"
    with open(bad, "wb") as fh:
        np.savez(fh, **arrays)
    with pytest.raises(SpeechLabError, match="bad.slm") as info:
        load_bundle(bad)
    assert "templates" in str(info.value)
