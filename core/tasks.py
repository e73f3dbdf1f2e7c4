"""One TaskSpec per task: its defaults, where they come from, and its demo data."""
from __future__ import annotations

import dataclasses

from .augment import AugmentConfig
from .features import FeatureConfig
from .openset import OpenSetConfig


@dataclasses.dataclass(frozen=True)
class ModelChoice:
    """One model a task offers: its name (CLI ``--model``), registered type and default settings."""

    key: str  # e.g. "mlp", "cnn", "logreg"
    type: str  # a key of core.models.MODEL_TYPES
    title: str  # shown in the GUI
    params: dict = dataclasses.field(default_factory=dict)  # constructor keyword arguments (the app's best)
    feature: str | None = None  # the feature set this model needs (None: the task's default)
    note: str = ""  # what the model is, in a sentence or two, shown under its settings


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """What a tab (and the CLI's ``--task``) needs to know about a task."""

    key: str
    title: str
    label_kind: str  # default label kind for filename-coded data: "digit" or "speaker"
    features: dict  # feature name -> default FeatureConfig for this task
    default_feature: str
    record_seconds: float  # microphone take length
    description: str
    models: tuple = ()  # ModelChoice, the first is the default
    augment: object = None  # core.augment.AugmentConfig applied to training clips by default (None: off)
    open_set: object = None  # core.openset.OpenSetConfig: answer "unknown" (not one of these) by default
    # hear takes in the training files' bandwidth (core.features.bandwidth_of): Digits, where a full-band take
    # on an 8 kHz-trained model was refused as "not a digit" (benchmarks/bandwidth.py); not Speakers, where
    # the second band edge of a take cut to FSDD's 4 kHz cost enrolment (RESULTS.md, the bandwidth section)
    match_bandwidth: bool = False

    @property
    def model_keys(self):
        return [m.key for m in self.models]

    def model_choice(self, key=None):
        """The ModelChoice named ``key`` (None: the task's default)."""
        from .errors import SpeechLabError

        if not self.models:
            raise SpeechLabError(f"The {self.title} task has no models yet")
        if key is None:
            return self.models[0]
        for m in self.models:
            if m.key == key:
                return m
        raise SpeechLabError(f"Unknown model '{key}' for the {self.title} task: choose one of {', '.join(self.model_keys)}")

    @property
    def model(self):
        """The default model's settings."""
        return dict(self.models[0].params) if self.models else {}

    def feature_config(self, name=None, **overrides):
        """The task's default config for feature ``name`` with ``overrides`` applied."""
        name = name or self.default_feature
        base = self.features.get(name) or FeatureConfig(name=name)
        return dataclasses.replace(base, **{k: v for k, v in overrides.items() if v is not None})


# Digits: the seed's MFCC setup at 16 kHz (25 ms window, 10 ms hop, 24 mels,
# 12 MFCCs). Trimming silence at 30 dB makes clips from a microphone (word
# somewhere in a longer take) look like the dataset's tightly cut clips.
# Every digits feature set removes a DC offset (and rumble below 60 Hz) before
# trimming: every clip of AudioMNIST_AZ sits at -21 dBFS of offset, which
# defeated trimming and cost 20 points on voices never heard (73.7 → 95.1 %,
# benchmarks/digits_accuracy.py); a clean clip is unchanged.
_DIGIT_MFCC = dict(sr=16000, n_mfcc=12, n_mels=24, win_ms=25.0, hop_ms=10.0, trim_db=30.0, highpass_hz=60.0)
# The default digits features stretch every clip to 32 frames, trim at 15 dB
# below the peak (only the word's loud core is kept, so its timing lines up
# across speakers) and keep 13 MFCCs from 32 mel bands. On FSDD
# (benchmarks/digits_accuracy.py) speaker-independent accuracy goes from 56 %
# (the seed's pad to the longest clip) to 66 % (resize, 30 dB) to 75-77 % (these),
# with random-split accuracy unchanged at about 98 %.
_DIGIT_FULL = dict(_DIGIT_MFCC, n_mfcc=13, n_mels=32, trim_db=15.0, frames="resize", n_frames=32)

DIGITS = TaskSpec(
    key="digits",
    title="Digits",
    label_kind="digit",
    features={
        "mfcc-full": FeatureConfig(name="mfcc-full", **_DIGIT_FULL),
        "mfcc-mean": FeatureConfig(name="mfcc-mean", **_DIGIT_MFCC),
        "mfcc-stats": FeatureConfig(name="mfcc-stats", **_DIGIT_MFCC),
        "spectral": FeatureConfig(name="spectral", sr=16000, trim_db=30.0, highpass_hz=60.0),
        # the CNN's input: 40 log-mel bands (25 ms / 10 ms) of the trimmed word, resized to 32×32
        "logmel-128": FeatureConfig(name="logmel-128", sr=16000, n_mels=40, n_fft=400, hop_length=160, trim_db=15.0,
                                    image_size=32, highpass_hz=60.0),
    },
    default_feature="mfcc-full",
    record_seconds=1.5,
    description="Spoken digits (AudioMNIST / FSDD layout: {digit}_{speaker}_{index}.wav)",
    # MLPClassifier keyword arguments; benchmarks/digits_accuracy.py measures them.
    models=(ModelChoice("mlp", "mlp", "MLP (NumPy, from scratch)", dict(
        hidden_layer_sizes=(256, 128), activation="relu", output="softmax", init="auto",
        optimizer="adam", learning_rate=1e-3, batch_size=32, epochs=60, l2=1e-4,
        early_stopping=True, validation_fraction=0.1, patience=10, standardize=True)),
        # The Genres tab's Keras CNN on 32×32 log-mel images of the trimmed word, a flattened head so it
        # keeps where in time each sound is; benchmarks/digits_accuracy.py ("logmel32-hp:cnn-flat").
        ModelChoice("cnn", "keras-cnn", "CNN on log-mel images (Keras)", dict(
            conv_blocks=(
                dict(filters=16, kernel=3, padding="same", pool=2, pool_stride=None, batch_norm=True, dropout=0.1),
                dict(filters=32, kernel=3, padding="same", pool=2, pool_stride=None, batch_norm=True, dropout=0.1),
                dict(filters=64, kernel=3, padding="same", pool=2, pool_stride=None, batch_norm=True, dropout=0.1),
            ),
            head="flatten", dense_units=(64,), dropout=0.4, optimizer="adam", learning_rate=1e-3, epochs=40,
            batch_size=32, early_stopping=True, validation_fraction=0.15, patience=8, standardize=True,
            freq_mask=0.1, time_mask=0.1, time_shift=0.1, bn_momentum=0.9), feature="logmel-128"),
    ),
    # "not a digit": a fifth of the training clips set the threshold, scored by the distance to the digit's
    # training data (the classifier's own probability is near 1 for a whistle). At a 1 % target, a voice
    # never heard is rarely rejected while whistles, noise, hum and other words are. The model kept is then
    # trained on every training clip (refit): held out, the fifth cost FSDD 2.7 points on new voices and
    # its 98 % random split.
    open_set=OpenSetConfig(method="distance", target_frr=0.01, use_other_folders=False, refit=True),
    # Two perturbed copies of every training clip (speed ±15 %, a synthetic room in 30 %, ±6 dB, noise at
    # 15-40 dB SNR): over FSDD and audiomnist-az-dev with speaker-grouped folds, 2 seeds, voices never heard
    # 85.7 → 86.2 % mean (FSDD 76.3 → 78.6, az 95.0 → 93.8), random split unchanged.
    augment=AugmentConfig(),
    match_bandwidth=True,
)

# Genres: the seed's log-mel image at the file's own rate with librosa's
# default 2048/512 STFT, 128 mels, resized to 128×128.
# Every clip is cut into 3 s windows (half a window apart in training): a 30 s
# GTZAN clip gives 19 examples, and a track's genre is the mean of its windows'
# probabilities. window_seconds=None is the report's one image per whole clip.
# The CNN sees 64×64 log-mel images: on gtzan-dev as accurate as 128×128 and
# three times faster to train (benchmarks/genres_accuracy.py).
_GENRE_WINDOWS = dict(window_seconds=3.0, window_overlap=0.5)

GENRES = TaskSpec(
    key="genres",
    title="Genres",
    label_kind="digit",
    features={
        "logmel-128": FeatureConfig(name="logmel-128", sr=22050, n_mels=128, n_fft=2048, hop_length=512, max_seconds=30.0,
                                    image_size=64, **_GENRE_WINDOWS),
        "music-stats": FeatureConfig(name="music-stats", sr=22050, n_mfcc=20, n_mels=128, n_fft=2048, hop_length=512,
                                     max_seconds=30.0, **_GENRE_WINDOWS),
        "mfcc-stats": FeatureConfig(name="mfcc-stats", sr=22050, n_mfcc=20, n_mels=128, n_fft=2048, hop_length=512, max_seconds=30.0),
        "mfcc-mean": FeatureConfig(name="mfcc-mean", sr=22050, n_mfcc=20, n_mels=128, n_fft=2048, hop_length=512, max_seconds=30.0),
        "spectral": FeatureConfig(name="spectral", sr=22050, max_seconds=30.0),
        # the pretrained musicnn encoder on 3 s windows: each window is exactly one of its patches
        "music-embedding": FeatureConfig(name="music-embedding", sr=16000, max_seconds=30.0, **_GENRE_WINDOWS),
    },
    default_feature="music-embedding",
    record_seconds=5.0,
    description="Music genres (GTZAN layout: genres_original/<genre>/<genre>.000NN.wav)",
    # KerasCNNClassifier and LinearClassifier keyword arguments; benchmarks/genres_accuracy.py measures them.
    models=(
        # The default: musicnn (trained on the Million Song Dataset) turns each 3 s window into 200 numbers
        # and a logistic regression learns the user's genres from them. gtzan-dev, 5-fold CV by track
        # (benchmarks/genres_accuracy.py): 80 ± 11 % of tracks against 70 ± 11 % for the CNN below, trained
        # in a tenth of a second instead of 90 s per fold; on 50 GTZAN clips never heard, 90 % vs 78 %
        # (issue "Pretrained encoders").
        ModelChoice("encoder-logreg", "linear", "Pretrained music encoder (musicnn) + logistic regression", dict(
            kind="logreg", C=1.0, solver="lbfgs", max_iter=1000, standardize=True, validation_fraction=0.0),
            feature="music-embedding",
            note="musicnn, a CNN pretrained on the Million Song Dataset, turns each clip (or window) into 200 "
                 "numbers; a logistic regression learns your genres from them. Good with few tracks per genre; "
                 "the encoder itself is not trained."),
        ModelChoice("cnn", "keras-cnn", "CNN on log-mel windows (Keras)", dict(
            conv_blocks=(
                dict(filters=16, kernel=3, padding="same", pool=2, pool_stride=None, batch_norm=True, dropout=0.1),
                dict(filters=32, kernel=3, padding="same", pool=2, pool_stride=None, batch_norm=True, dropout=0.1),
                dict(filters=64, kernel=3, padding="same", pool=2, pool_stride=None, batch_norm=True, dropout=0.1),
            ),
            # with 40 training tracks a validation hold-out costs more than early stopping gains:
            # 30 epochs on every training track measured best (70 % vs 62 % track accuracy)
            head="global-avg", dense_units=(64,), dropout=0.3, optimizer="adam", learning_rate=1e-3, epochs=30,
            batch_size=32, early_stopping=False, validation_fraction=0.0, patience=10, standardize=True,
            freq_mask=0.15, time_mask=0.15, time_shift=0.0, bn_momentum=0.9), feature="logmel-128"),
        ModelChoice("features-logreg", "linear", "Summary features + logistic regression (scikit-learn)", dict(
            kind="logreg", C=1.0, solver="lbfgs", max_iter=1000, standardize=True, validation_fraction=0.0),
            feature="music-stats",
            note="Summary statistics of each window (MFCC, chroma, spectral centroid, roll-off and contrast, ZCR, "
                 "RMS: mean and std), standardised, with scikit-learn's logistic regression: the baseline the CNN "
                 "is measured against."),
    ),
)

# Speakers: the seed's part A (spectral) and part B (13 MFCC means with
# librosa's default 2048/512 STFT and 128 mels at 16 kHz).
_SPK_MFCC = dict(sr=16000, n_mfcc=13, n_mels=128, n_fft=2048, hop_length=512)
# The default: statistics of 20 MFCCs (25 ms / 10 ms, 40 mels) + deltas over
# windows of 2 s (a long utterance gives several examples, its decision is
# the mean of its windows'), silence trimmed at 30 dB so a microphone take
# looks like a cut clip. Chosen by benchmarks/speakers_accuracy.py.
_SPK_DEFAULT = dict(sr=16000, n_mfcc=20, n_mels=40, win_ms=25.0, hop_ms=10.0, trim_db=30.0, window_seconds=2.0,
                    window_overlap=0.5)

SPEAKERS = TaskSpec(
    key="speakers",
    title="Speakers",
    label_kind="speaker",
    features={
        "mfcc-stats": FeatureConfig(name="mfcc-stats", **_SPK_DEFAULT),
        "mfcc-mean": FeatureConfig(name="mfcc-mean", **_SPK_MFCC),
        "spectral": FeatureConfig(name="spectral", sr=16000),
        "mfcc-full": FeatureConfig(name="mfcc-full", sr=16000, n_mfcc=13, n_mels=40, trim_db=30.0),
        # the pretrained GE2E speaker encoder: 1.6 s partials of the whole clip (it cuts silences itself);
        # a DC offset removed first, as for digits (AudioMNIST-AZ sits at -21 dBFS of offset)
        "voice-embedding": FeatureConfig(name="voice-embedding", sr=16000, highpass_hz=60.0),
        # GE2E and the default's MFCC statistics of the same whole clip, side by side (DC offset removed,
        # silence trimmed at 30 dB; GE2E's own voice detection then cuts what is left)
        "voice-mfcc": FeatureConfig(name="voice-mfcc", sr=16000, n_mfcc=20, n_mels=40, win_ms=25.0, hop_ms=10.0,
                                    trim_db=30.0, highpass_hz=60.0),
    },
    default_feature="mfcc-stats",
    record_seconds=2.0,
    description="Speakers (one folder per speaker, or {digit}_{speaker}_{index}.wav with label = speaker)",
    # LinearClassifier / MLPClassifier keyword arguments; benchmarks/speakers_accuracy.py measures them.
    models=(
        ModelChoice("logreg", "linear", "Logistic regression (scikit-learn)", dict(
            kind="logreg", C=1.0, solver="lbfgs", max_iter=300, standardize=True, validation_fraction=0.1)),
        ModelChoice("sgd", "linear", "SGD, log loss (scikit-learn)", dict(
            kind="sgd", alpha=1e-4, learning_rate="optimal", max_iter=100, standardize=True,
            validation_fraction=0.1, patience=10)),
        ModelChoice("mlp", "mlp", "MLP (NumPy, from scratch)", dict(
            hidden_layer_sizes=(128,), activation="relu", output="softmax", init="auto", optimizer="adam",
            learning_rate=1e-3, batch_size=32, epochs=60, l2=1e-4, early_stopping=True, validation_fraction=0.1,
            patience=10, standardize=True)),
        # GE2E (trained on thousands of voices) embeds a clip; a speaker is the direction of the mean of
        # their clips' embeddings, so a few takes enrol a voice (benchmarks/speakers_accuracy.py).
        ModelChoice("voice-cosine", "centroid", "Pretrained voice encoder (GE2E) + cosine to each speaker",
                    dict(scale=10.0), feature="voice-embedding"),
        # On one short word of many similar voices GE2E alone and MFCC statistics alone each name and reject
        # poorly (AudioMNIST-AZ: equal error rates 30 % and 28 %); side by side, standardised, a logistic
        # regression halves that (benchmarks/voice_encoder.py).
        ModelChoice("voice-mfcc-logreg", "linear", "Pretrained voice encoder (GE2E) + MFCC statistics, "
                    "logistic regression", dict(kind="logreg", C=1.0, solver="lbfgs", max_iter=1000,
                                                 standardize=True, validation_fraction=0.1),
                    feature="voice-mfcc",
                    note="Each clip as the pretrained GE2E voice embedding beside the MFCC statistics of the "
                         "same clip, standardised, with scikit-learn's logistic regression. Best of the "
                         "Speakers models on short words of many similar voices; on long utterances the "
                         "voice encoder with cosine scoring enrols new voices from fewer takes."),
    ),
)

TASKS = {t.key: t for t in (DIGITS, GENRES, SPEAKERS)}


def get_task(key):
    from .errors import SpeechLabError

    try:
        return TASKS[key]
    except KeyError:
        raise SpeechLabError(f"Unknown task '{key}': choose one of {', '.join(TASKS)}") from None
