"""Named presets that reproduce the course report's spoken-digit experiments (its Q2 table).

"The report" is the course report SpeechLab grew out of ("the seed" in older
notes; ``seed`` in code now only means a random seed).

The report trained a hand-written NumPy MLP on AudioMNIST with per-sample SGD
on a mean squared error, five epochs, learning rate 0.001, and compared:
full MFCC+Δ+ΔΔ features against time-averaged MFCCs, one hidden layer against
two, bipolar sigmoid against ReLU, and ``randn`` weights against Xavier
weights with z-scored inputs. Each :class:`Preset` holds one of those runs as
:class:`~core.features.FeatureConfig` and
:class:`~core.models.mlp.MLPClassifier` keyword arguments; the GUI lists them
under "Reproduce the report" and ``benchmarks/seed_q2.py`` runs them all.

What the report did, read from its code:

* features: ``librosa.feature.mfcc(n_mfcc=12, n_fft=400, n_mels=24)`` at
  16 kHz. Its 10 ms hop never reached librosa, so librosa's default hop of
  512 samples was used (``hop_length=512`` here); no silence trimming; the full
  features padded to the longest clip (``frames="pad"``).
* hidden sizes from the input size, truncated with ``int()``: one layer of
  (in+out)/2; two layers of (in+out)/2 each (its ``W2`` is hidden×hidden), or
  2/3·in and 1/2·in, or 1/2·in and 1/3·in. Layer sizes are kept here as those
  formulas and turned into numbers by :func:`resolve_model` once the feature
  size is known (after extraction, for padded features).
* the activation on the hidden and the output layers, MSE against one-hot
  targets, plain SGD on single samples, no weight decay, no early stopping.
* first version: ``randn`` weights on raw features; the fix: Xavier weights
  (``randn * sqrt(1/fan_in)``) with z-scored features, kept for every run after
  it, the ReLU runs included (their smooth first-epoch errors rule out raw
  features with ``randn`` weights).

Run length: five epochs over AudioMNIST's 24,000 training clips are 120,000
single-sample updates. On a smaller dataset five epochs are far fewer updates,
so :func:`resolve_model` can stretch the epochs to the report's number of
updates (``n_train=``; 75 epochs for FSDD's 1,600 training clips).

Not reproduced: the report's gradient. Its output error was ``output - target``
without the output activation's derivative, and its hidden-layer derivative
was evaluated on the layer's output (for the bipolar sigmoid that applies the
sigmoid twice, so the derivative never falls below 0.39 and saturated units
keep learning). ``MLPClassifier(output="mse")`` back-propagates the exact
gradient of the mean squared error, so saturated (``randn``, raw features)
and dead (ReLU output) units stop learning where the report's kept moving.
``benchmarks/mlp_speed.py`` holds a faithful copy of the report's loop, and
``benchmarks/seed_q2.py`` runs it beside these presets.

``MLPClassifier(output="mse-report")`` trains with the report's update rule (a test
checks its steps against that copy), and the GUI and CLI offer it. The presets
keep the exact gradient because on FSDD it tells the report's story (the
``randn`` net does not learn; Xavier + standardisation repairs it), while the
report's rule lets even the ``randn`` net learn on FSDD's small features
(14-38 % on a 400-clip subset, seeds 0-2) — its numbers on the mean features come closer
to the report's, its story does not.
"""
from __future__ import annotations

import dataclasses

REPORT_LEARNING_RATE = 0.001
REPORT_EPOCHS = 5
# Five epochs over AudioMNIST's 24,000 training clips (80 % of 30,000).
REPORT_UPDATES = REPORT_EPOCHS * 24_000
#: The data behind the report's numbers.
REPORT_DATA = "AudioMNIST (30,000 clips, 60 speakers, 48 kHz)"

# Hidden-layer size formulas, written as in the report (int() truncates).
_SIZES = {
    "(in+out)/2": lambda n_in, n_out: int((n_in + n_out) / 2),
    "2/3·in": lambda n_in, n_out: int(2 * n_in / 3),
    "1/2·in": lambda n_in, n_out: int(n_in / 2),
    "1/3·in": lambda n_in, n_out: int(n_in / 3),
}

_REPORT_MFCC = dict(sr=16000, n_mfcc=12, n_mels=24, n_fft=400, hop_length=512, trim_db=None)
REPORT_FULL = dict(name="mfcc-full", frames="pad", n_frames=None, **_REPORT_MFCC)
REPORT_MEAN = dict(name="mfcc-mean", **_REPORT_MFCC)

_ONE = ("(in+out)/2",)
_TWO_SAME = ("(in+out)/2", "(in+out)/2")
_TWO_THIRDS = ("2/3·in", "1/2·in")
_HALF_THIRD = ("1/2·in", "1/3·in")


@dataclasses.dataclass(frozen=True)
class Preset:
    """One experiment of the report.

    Attributes
    ----------
    name : short label shown in the GUI
    description : what the run is and what the report saw
    report_accuracy : the report's test accuracy in percent (on AudioMNIST), None where it reported none
    fsdd_accuracy : this preset's test accuracy measured on FSDD with as many updates as the report's
        run (``benchmarks/seed_q2.py``), so the window can say what to expect on different data
    feature : FeatureConfig keyword arguments
    model : MLPClassifier keyword arguments, except that ``hidden_layer_sizes``
        holds size formulas (keys of the report's sizes, e.g. ``"(in+out)/2"``);
        use :func:`resolve_model` to get arguments MLPClassifier accepts
    """

    name: str
    description: str
    report_accuracy: float | None
    feature: dict
    model: dict
    fsdd_accuracy: float | None = None

    @property
    def data_note(self) -> str:
        """What the report's number was measured on, and what the same set-up gives on FSDD."""
        measured = "" if self.report_accuracy is None else f"The report measured {self.report_accuracy:.1f} % "
        text = (measured or "The report measured no test accuracy ") + f"on {REPORT_DATA}"
        if self.fsdd_accuracy is not None:
            text += (f"; on FSDD (2,000 clips, 4 speakers, 8 kHz) the same set-up measured {self.fsdd_accuracy:.1f} % "
                     "(benchmarks/RESULTS.md)")
        return text + ". Other data give other numbers."


def _model(layers, activation, *, fixed):
    """The report's training set-up; ``fixed`` = Xavier weights and z-scored features."""
    return dict(hidden_layer_sizes=layers, activation=activation, output="mse",
                init="xavier" if fixed else "randn", optimizer="sgd", learning_rate=REPORT_LEARNING_RATE,
                batch_size=1, epochs=REPORT_EPOCHS, l2=0.0, early_stopping=False, standardize=fixed)


REPORT_PRESETS: list[Preset] = [
    Preset("Full MFCC, 1 layer, bipolar sigmoid",
           "MFCC+Δ+ΔΔ padded to the longest clip, one hidden layer of (in+out)/2, bipolar sigmoid, "
           "randn weights on raw features. Report (AudioMNIST): 40.38 %, digits 3, 4, 5 and 7 never predicted.",
           40.38, REPORT_FULL, _model(_ONE, "bipolar-sigmoid", fixed=False), fsdd_accuracy=10.0),
    Preset("Mean MFCC, 1 layer, bipolar sigmoid",
           "12 time-averaged MFCCs, one hidden layer of (in+out)/2, bipolar sigmoid, randn weights "
           "on raw features. Report (AudioMNIST): 55.22 %.",
           55.22, REPORT_MEAN, _model(_ONE, "bipolar-sigmoid", fixed=False), fsdd_accuracy=10.0),
    Preset("Mean MFCC, 2 layers, bipolar sigmoid, randn",
           "Two hidden layers of (in+out)/2 with randn weights on raw features. Report (AudioMNIST): no learning "
           "(training accuracy about 10 % in every epoch; no test accuracy reported).",
           None, REPORT_MEAN, _model(_TWO_SAME, "bipolar-sigmoid", fixed=False), fsdd_accuracy=10.5),
    Preset("Mean MFCC, 2 layers, bipolar sigmoid, Xavier + standardised",
           "The same two layers with Xavier weights and z-scored features: the report's fix. Report (AudioMNIST): 69.98 %.",
           69.98, REPORT_MEAN, _model(_TWO_SAME, "bipolar-sigmoid", fixed=True), fsdd_accuracy=37.5),
    Preset("Mean MFCC, 2 layers 2/3·in and 1/2·in, bipolar sigmoid",
           "Hidden layers of 2/3 and 1/2 of the input size, Xavier + standardised. Report (AudioMNIST): 64.93 %.",
           64.93, REPORT_MEAN, _model(_TWO_THIRDS, "bipolar-sigmoid", fixed=True), fsdd_accuracy=31.5),
    Preset("Mean MFCC, 2 layers 1/2·in and 1/3·in, bipolar sigmoid",
           "Hidden layers of 1/2 and 1/3 of the input size, Xavier + standardised. Report (AudioMNIST): 58.92 %.",
           58.92, REPORT_MEAN, _model(_HALF_THIRD, "bipolar-sigmoid", fixed=True), fsdd_accuracy=26.0),
    Preset("Full MFCC, 1 layer, ReLU",
           "MFCC+Δ+ΔΔ padded to the longest clip, one hidden layer of (in+out)/2, ReLU, Xavier + "
           "standardised: the report's best. Report (AudioMNIST): 96.12 %.",
           96.12, REPORT_FULL, _model(_ONE, "relu", fixed=True), fsdd_accuracy=74.75),
    Preset("Mean MFCC, 1 layer, ReLU",
           "12 time-averaged MFCCs, one hidden layer of (in+out)/2, ReLU, Xavier + standardised. Report (AudioMNIST): 80.17 %.",
           80.17, REPORT_MEAN, _model(_ONE, "relu", fixed=True), fsdd_accuracy=38.75),
    Preset("Mean MFCC, 2 layers, ReLU",
           "Two hidden layers of (in+out)/2, ReLU, Xavier + standardised. Report (AudioMNIST): 65.47 %.",
           65.47, REPORT_MEAN, _model(_TWO_SAME, "relu", fixed=True), fsdd_accuracy=48.25),
    Preset("Mean MFCC, 2 layers 2/3·in and 1/2·in, ReLU",
           "Hidden layers of 2/3 and 1/2 of the input size, ReLU, Xavier + standardised. Report (AudioMNIST): 60.47 %.",
           60.47, REPORT_MEAN, _model(_TWO_THIRDS, "relu", fixed=True), fsdd_accuracy=40.0),
    Preset("Mean MFCC, 2 layers 1/2·in and 1/3·in, ReLU",
           "Hidden layers of 1/2 and 1/3 of the input size, ReLU, Xavier + standardised. Report (AudioMNIST): 60.88 %.",
           60.88, REPORT_MEAN, _model(_HALF_THIRD, "relu", fixed=True), fsdd_accuracy=31.75),
]


def resolve_model(preset, n_in, n_out, *, n_train=None):
    """MLPClassifier keyword arguments of a preset for a given input and output size.

    Parameters
    ----------
    preset : Preset
    n_in : int, the feature size (known after extraction for padded features)
    n_out : int, the number of classes
    n_train : int or None
        Training clips. When given, the epochs are set so that training makes
        as many single-sample updates as the report's five epochs on AudioMNIST
        (:data:`REPORT_UPDATES`), never fewer than five epochs.

    Returns
    -------
    dict, with ``hidden_layer_sizes`` as a tuple of positive ints

    Raises
    ------
    ValueError
        For sizes that are not positive or an unknown size formula.
    """
    if int(n_in) < 1 or int(n_out) < 1:
        raise ValueError(f"Input and output sizes must be positive; got {n_in} and {n_out}.")
    sizes = []
    for size in preset.model["hidden_layer_sizes"]:
        if isinstance(size, str):
            if size not in _SIZES:
                raise ValueError(f"Unknown layer size formula {size!r}; known: {', '.join(_SIZES)}.")
            size = _SIZES[size](int(n_in), int(n_out))
        sizes.append(max(1, int(size)))  # a tiny input must still leave one unit
    model = dict(preset.model, hidden_layer_sizes=tuple(sizes))
    if n_train is not None:
        if int(n_train) < 1:
            raise ValueError(f"n_train must be positive; got {n_train}.")
        model["epochs"] = max(model["epochs"], round(REPORT_UPDATES / int(n_train)))
    return model


# ----------------------------------------------------------------------------- the report's genre CNN (Q3)

#: The report's Q3 network and training: Conv2D 32 3×3 → MaxPool 3/2 → BatchNorm → Flatten → softmax,
#: Adam 1e-4, 30 epochs, batch 32, no early stopping, raw log-mel values. BatchNorm keeps Keras' default
#: momentum (0.99) as the report did; the CNN recomputes BatchNorm's statistics on the training data after
#: every epoch (core.models.cnn), so few updates no longer leave the network at chance in inference.
#: KerasCNNClassifier keyword arguments (the random seed apart: the report used 42).
REPORT_GENRES_CNN = dict(conv_blocks=({"filters": 32, "kernel": 3, "padding": "valid", "pool": 3, "pool_stride": 2,
                                       "batch_norm": True, "dropout": 0.0},),
                         head="flatten", dense_units=(), dropout=0.0, optimizer="adam", learning_rate=1e-4, epochs=30,
                         batch_size=32, early_stopping=False, validation_fraction=0.0, standardize=False,
                         freq_mask=0.0, time_mask=0.0, time_shift=0.0, bn_momentum=0.99)
#: The report's test accuracy (random 80/20 of 1,000 GTZAN tracks, seed 42) and the data behind it.
REPORT_GENRES_ACCURACY = 68.0
REPORT_GENRES_DATA = "GTZAN (1,000 tracks of 30 s; 800 for training)"
REPORT_GENRES_SEED = 42


def report_genres_features(config):
    """The report's Q3 features from the Genres task's ``logmel-128`` config: one 128×128 log-mel image
    (128 mels) per whole clip."""
    return dataclasses.replace(config, window_seconds=None, image_size=128, n_mels=128)
