"""Open set: thresholds from training data only, FRR/FAR/EER, "unknown" everywhere a model predicts,
model files keep it, enrolment never overwrites, and speaker folders in the layouts people have."""
import numpy as np
import pytest
import soundfile as sf

from core.bundle import load_bundle, save_bundle
from core.datasets import scan_dataset
from core.errors import SpeechLabError
from core.models import make_model
from core.enrolment import check_speaker_name, save_takes
from core.openset import (
    UNKNOWN, OpenSetConfig, choose_threshold, det_curve, rates, view_at,
)
from core.tasks import SPEAKERS
from core.training import evaluate_bundle, train_model
from tests.core import datagen


def test_rates_threshold_and_equal_error_rate_on_known_scores():
    known = np.linspace(0.5, 1.0, 101)
    never = np.linspace(0.0, 0.6, 61)
    t = choose_threshold(known, 0.05)
    frr, far = rates(known, never, t)
    assert frr == pytest.approx(0.05, abs=0.011)
    assert 0 < far < 0.2
    curve = det_curve(known, never)
    assert curve["eer"] == pytest.approx(0.09, abs=0.03)
    assert curve["frr"][0] == 0.0 and curve["far"][-1] <= 0.02  # lenient ... strict
    assert det_curve(known, [])["eer"] is None  # no never-heard voices: no EER


def test_view_at_builds_the_unknown_row_and_column():
    clips = {"truth": ["a", "a", "b", UNKNOWN], "predicted": ["a", "b", "b", "a"],
             "scores": {"distance": [0.9, 0.2, 0.8, 0.6]}}
    v = view_at(clips, ["a", "b"], "distance", 0.5)
    assert v["labels"] == ["a", "b", UNKNOWN]
    assert v["confusion"] == [[1, 0, 1], [0, 1, 0], [1, 0, 0]]
    assert v["false_reject_rate"] == pytest.approx(1 / 3) and v["false_accept_rate"] == 1.0
    strict = view_at(clips, ["a", "b"], "distance", 0.7)
    assert strict["false_accept_rate"] == 0.0 and strict["confusion"][2] == [0, 0, 1]


@pytest.fixture(scope="module")
def fsdd_model(fsdd_dir, tmp_path_factory):
    ds = scan_dataset(fsdd_dir, label="speaker")
    choice = SPEAKERS.model_choice("logreg")
    result = train_model(ds, task="speakers", feature_config=SPEAKERS.feature_config(),
                         model=make_model(choice.type, **choice.params, random_state=0),
                         open_set=OpenSetConfig(unknown_labels=("lucas",)), n_jobs=1)
    path = tmp_path_factory.mktemp("m") / "speakers.slm"
    save_bundle(result.bundle, path)
    return ds, result, path


def test_a_speaker_never_heard_is_mostly_answered_unknown(fsdd_model):
    ds, result, _ = fsdd_model
    os_ = result.metrics["open_set"]
    assert "lucas" not in result.bundle.labels
    assert result.metrics["accuracy"] >= 0.99  # closed set, three speakers
    assert os_["n_unknown"] == 500  # every lucas clip, none trained on
    assert os_["false_reject_rate"] <= 0.15 and os_["false_accept_rate"] <= 0.15
    assert os_["eer"] is not None and os_["eer"] <= 0.1
    # the threshold came from calibration clips, not from the test clips
    assert result.bundle.training["open_set"]["n_calibration"] > 0
    assert result.bundle.open_set["thresholds"]["combined"] == os_["threshold"]


def test_saved_model_answers_unknown_in_predict_and_evaluate(fsdd_model, fsdd_dir):
    ds, result, path = fsdd_model
    bundle = load_bundle(path)
    assert bundle.open_set["method"] == result.bundle.open_set["method"]
    lucas = [bundle.predict_file(f) for f in sorted(fsdd_dir.glob("*_lucas_*.wav"))[:20]]
    assert sum(p["label"] == UNKNOWN for p in lucas) >= 15
    assert all({"score", "threshold", "known_label"} <= set(p) for p in lucas)
    george = bundle.predict_file(sorted(fsdd_dir.glob("*_george_*.wav"))[3])
    assert george["label"] in ("george", UNKNOWN) and george["known_label"] == "george"
    metrics, _ = evaluate_bundle(bundle, ds, n_jobs=1)
    assert metrics["labels"][-1] == UNKNOWN and metrics["unknown_labels"] == ["lucas"]
    assert metrics["false_accept_rate"] <= 0.15 and metrics["false_reject_rate"] <= 0.15
    assert metrics["unknown_rate"] == pytest.approx(0.25, abs=0.1)


def test_damaged_open_set_in_a_model_file_is_one_line_naming_it(fsdd_model, tmp_path):
    import json

    _, _, path = fsdd_model
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(arrays["meta"].tobytes().decode())
    meta["open_set"]["arrays"]["precision"]["shape"] = [3, 3]
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    bad = tmp_path / "bad.slm"
    np.savez(bad, **arrays)
    with pytest.raises(SpeechLabError, match="open-set array 'precision'|open_set"):
        load_bundle(bad)


def test_takes_are_saved_without_overwriting(tmp_path):
    (tmp_path / "Ada").mkdir()
    sf.write(tmp_path / "Ada" / "1.wav", np.zeros(800, np.float32), 8000)
    before = (tmp_path / "Ada" / "1.wav").read_bytes()
    y = datagen.class_signal(cls=1, sr=16000)
    written = save_takes(tmp_path, "Ada", [(y, 16000), (y, 16000)])
    assert [p.rsplit("/", 1)[1] for p in written] == ["2.wav", "3.wav"]
    assert (tmp_path / "Ada" / "1.wav").read_bytes() == before
    for bad in ("", "../x", "unknown", "_background_noise_", "a/b"):
        with pytest.raises(SpeechLabError):
            check_speaker_name(bad)


def test_librispeech_nested_and_flat_speaker_folders(tmp_path):
    # <speaker>/<chapter>/<speaker>-<chapter>-<n>.flac: the class is the speaker, not the chapter
    for spk, chapters in (("103", ("1240", "1241")), ("1034", ("121119",))):
        for ch in chapters:
            (tmp_path / "libri" / spk / ch).mkdir(parents=True)
            for n in range(2):
                sf.write(tmp_path / "libri" / spk / ch / f"{spk}-{ch}-{n:04d}.flac",
                         datagen.class_signal(cls=int(spk) % 5, sr=16000, seconds=2.5), 16000)
    (tmp_path / "libri" / "_background_noise_").mkdir()
    sf.write(tmp_path / "libri" / "_background_noise_" / "hum.wav", np.zeros(16000, np.float32), 16000)
    ds = scan_dataset(tmp_path / "libri")
    assert ds.labels == ["103", "1034"]
    assert ds.class_counts() == {"103": 4, "1034": 2}
    assert ds.excluded_folders == ["_background_noise_"]
    # flat <speaker>/*.flac: the folder is the speaker
    flat = tmp_path / "flat" / "19"
    flat.mkdir(parents=True)
    sf.write(flat / "19-198-0001.flac", datagen.class_signal(cls=0, sr=16000), 16000)
    (tmp_path / "flat" / "26").mkdir()
    sf.write(tmp_path / "flat" / "26" / "a.flac", datagen.class_signal(cls=2, sr=16000), 16000)
    assert scan_dataset(tmp_path / "flat").labels == ["19", "26"]


def test_noise_folders_are_tested_as_never_heard(tmp_path):
    root = tmp_path / "16000_pcm_speeches"
    datagen.speakers_tree(root, per_speaker=8)
    ds = scan_dataset(root)
    assert ds.excluded_folders  # _background_noise_ and other
    choice = SPEAKERS.model_choice("logreg")
    result = train_model(ds, task="speakers", feature_config=SPEAKERS.feature_config(),
                         model=make_model(choice.type, **choice.params, random_state=0),
                         open_set=OpenSetConfig(), n_jobs=1)
    os_ = result.metrics["open_set"]
    assert os_["n_unknown"] > 0 and os_["false_accept_rate"] is not None
    assert set(os_["clips"]["never_heard_labels"]) <= set(ds.excluded_folders)


def test_a_long_recording_cut_into_windows_keeps_the_unknown_decision(fsdd_dir):
    from core.features import FeatureConfig
    from core.models.linear import REPORT_MODELS
    from core.prediction import predict_long

    ds = scan_dataset(fsdd_dir, label="speaker")
    report_b = FeatureConfig(name="mfcc-mean", sr=16000, n_mfcc=13, n_mels=128, n_fft=2048, hop_length=512)
    result = train_model(ds, task="speakers", feature_config=report_b, n_jobs=1,
                         model=make_model("linear", **REPORT_MODELS["report-logreg"]),
                         open_set=OpenSetConfig(unknown_labels=("lucas",)))
    for speaker, expected in (("lucas", UNKNOWN), ("george", "george")):
        y = np.concatenate([sf.read(f)[0] for f in sorted(fsdd_dir.glob(f"*_{speaker}_4*.wav"))[:12]])
        p = predict_long(result.bundle, y, 8000, clip_seconds=2.0)  # a whole-clip model slides over 6 s
        assert len(p["windows"]) > 2 and p["label"] == expected and "threshold" in p


def test_deciding_over_several_words_pools_names_and_scores():
    from core.openset import decide_over, evidence_rates

    words = [{"known_label": "a", "score": 0.8, "threshold": 0.6}, {"known_label": "b", "score": 0.5, "threshold": 0.6},
             {"known_label": "a", "score": 0.7, "threshold": 0.6}]
    d = decide_over(words)
    assert (d["label"], d["words"]) == ("a", 3) and d["score"] == pytest.approx(2 / 3)
    assert decide_over(words[1:2])["label"] == "unknown"
    # a: right, right, misnamed; b: right, right; four strangers, the first and last pairs scoring high
    clips = {"truth": ["a", "a", "a", "b", "b", "unknown", "unknown", "unknown", "unknown"],
             "predicted": ["a", "a", "b", "b", "b", "a", "b", "a", "a"],
             "scores": {"cosine": [0.9, 0.8, 0.5, 0.7, 0.9, 0.7, 0.3, 0.4, 0.5]}}
    one = evidence_rates(clips, "cosine", 0.6, 1)
    assert (one["false_reject_rate"], one["false_accept_rate"]) == (0.2, 0.25)
    two = evidence_rates(clips, "cosine", 0.6, 2)
    assert (two["false_reject_rate"], two["false_accept_rate"], two["decisions"]) == (0.0, 0.0, 4)


def test_a_decision_over_several_words_gets_its_own_threshold():
    """Three words of a known voice average out: their pooled score spreads less than one word's, so the
    one-word threshold (5 % of single clips rejected) would reject almost no three-word decision of a known
    voice and let strangers in. The n-word threshold rejects the same 5 % of known voices' n-clip pools."""
    from core.openset import EVIDENCE_WORDS, decide_over, evidence_quantiles, random_chunks, words_threshold

    rng = np.random.default_rng(0)
    voices = np.repeat(["a", "b", "c"], 40)
    scores = 0.7 + 0.05 * (voices == "a") + rng.normal(0, 0.1, voices.size)  # one word's cosine
    one = choose_threshold(scores, 0.05)

    def pooled(n, **kw):
        return np.array([scores[c].mean() for c in random_chunks(voices, n, **kw)])

    quantiles = evidence_quantiles(scores, {n: pooled(n) for n in EVIDENCE_WORDS})
    open_set = {"method": "cosine", "arrays": {"words_cosine": quantiles}}
    assert quantiles.shape == (len(EVIDENCE_WORDS) + 1, 201)
    assert words_threshold(open_set, one, 1) == one
    three = words_threshold(open_set, one, 3)
    assert one + 0.03 < three < 0.7  # the mean of 3 has about 1/sqrt(3) of the spread
    other = pooled(3, draws=5000, random_state=1)
    assert np.mean(other < three) == pytest.approx(0.05, abs=0.025)
    assert np.mean(other < one) < 0.005  # the one-word threshold would reject (almost) none
    # outside the calibration scores a threshold means "accept all" / "reject all" for any number of words
    assert words_threshold(open_set, -1.0, 3) == -1.0 and words_threshold(open_set, 1.5, 3) == 1.5
    # continuous listening without the model: the words' own thresholds decide the mean score
    heard = [{"known_label": "a", "score": (one + three) / 2, "threshold": one,
              "word_thresholds": {3: three}} for _ in range(3)]
    assert decide_over(heard[:1])["label"] == "a"  # one word above the one-word threshold
    assert decide_over(heard)["label"] == UNKNOWN and decide_over(heard)["threshold"] == three


def test_three_words_of_a_voice_never_heard_are_pooled_and_judged_by_the_three_word_threshold(fsdd_model,
                                                                                                fsdd_dir):
    """A saved speakers model keeps its n-word thresholds; a prediction carries its evidence (the rows and
    their probabilities), and a decision over three words pools it into one score, judged by the threshold
    calibrated on three-clip pools of the known voices' calibration clips."""
    from core.openset import decide_over, evidence_rates, threshold_of, words_threshold

    _, result, path = fsdd_model
    bundle = load_bundle(path)
    method = bundle.open_set["method"]
    assert np.array_equal(bundle.open_set["arrays"][f"words_{method}"],
                          result.bundle.open_set["arrays"][f"words_{method}"])
    lucas = [bundle.predict_file(f) for f in sorted(fsdd_dir.glob("*_lucas_*.wav"))[:3]]
    assert all(len(p["evidence"]["rows"]) == len(p["evidence"]["proba"]) >= 1 for p in lucas)
    assert all(p["word_thresholds"][3] != p["threshold"] for p in lucas)
    pooled = decide_over(lucas, open_set=bundle.open_set, labels=list(bundle.labels))
    assert pooled["pooled"] and pooled["threshold"] == lucas[-1]["word_thresholds"][3]
    assert pooled["label"] == UNKNOWN  # a voice never heard, three words of it
    george = [bundle.predict_file(f) for f in sorted(fsdd_dir.glob("*_george_4*.wav"))[:3]]
    assert decide_over(george, open_set=bundle.open_set, labels=list(bundle.labels))["label"] == "george"
    # the microphone's n-word rates on the model's test clips, pooled the same way
    clips = result.metrics["open_set"]["clips"]
    assert set(clips["words"]) == {"2", "3", "4", "5"}
    t1 = threshold_of(bundle.open_set)
    one = evidence_rates(clips, method, t1, 1)
    three = evidence_rates(clips, method, words_threshold(bundle.open_set, t1, 3), 3)
    assert three["decisions"] == len(clips["words"]["3"]["truth"]) > 0
    assert three["false_accept_rate"] <= one["false_accept_rate"]
    assert three["false_reject_rate"] <= 0.2  # 13 % here (one word: 9 %)


def test_three_words_of_similar_voices_never_heard_are_mostly_refused(shared_data):
    """Many similar voices (AudioMNIST-AZ: 24 known, 6 never heard), the Speakers tab's default model and
    classifier-probability scoring: a decision over three of a stranger's words pools the words' evidence
    (core.openset.pool_words: a voice must be likely in every word) and is judged by the 3-word threshold
    from calibration clips. Averaging the words' probabilities instead let 36 % of these strangers' 3-word
    decisions in (and 53 % for another six strangers); pooled, 20 %."""
    from core.openset import evidence_rates, pool_words, words_threshold
    from core.training import SplitConfig

    one = np.array([[0.7, 0.2, 0.1]])
    assert np.allclose(pool_words(one), one)  # a single word is its own decision
    ds = scan_dataset(shared_data("audiomnist-az-dev/data"), label="speaker")
    choice = SPEAKERS.model_choice("logreg")
    result = train_model(ds, task="speakers", feature_config=SPEAKERS.feature_config(choice.feature),
                         model=make_model(choice.type, **choice.params, random_state=0),
                         split=SplitConfig(kind="random", test_size=0.2, random_state=42),
                         open_set=OpenSetConfig(unknown_labels=("03", "12", "27", "22", "11", "05")), n_jobs=2)
    os_ = result.metrics["open_set"]
    t = os_["methods"]["probability"]["threshold"]
    three = evidence_rates(os_["clips"], "probability",
                           words_threshold(result.bundle.open_set, t, 3, "probability"), 3)
    assert three["decisions"] > 100
    assert three["false_accept_rate"] <= 0.3  # 20 %; 36 % when the words' probabilities were averaged
    assert three["false_reject_rate"] <= 0.1  # 0 % here
