"""Named presets that reproduce the seed's spoken-digit experiments (its Q2 table).

The seed trained a hand-written NumPy MLP on AudioMNIST with per-sample SGD
on a mean squared error, five epochs, learning rate 0.001, and compared:
full MFCC+Δ+ΔΔ features against time-averaged MFCCs, one hidden layer against
two, bipolar sigmoid against ReLU, and ``randn`` weights against Xavier
weights with z-scored inputs. Each :class:`Preset` holds one of those runs as
:class:`~core.features.FeatureConfig` and
:class:`~core.models.mlp.MLPClassifier` keyword arguments; the GUI lists them
under "Reproduce the seed" and ``benchmarks/seed_q2.py`` runs them all.

What the seed did, read from its code:

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
so :func:`resolve_model` can stretch the epochs to the seed's number of
updates (``n_train=``; 75 epochs for FSDD's 1,600 training clips).

Not reproduced: the seed's gradient. Its output error was ``output - target``
without the output activation's derivative, and its hidden-layer derivative
was evaluated on the layer's output (for the bipolar sigmoid that applies the
sigmoid twice, so the derivative never falls below 0.39 and saturated units
keep learning). ``MLPClassifier(output="mse")`` back-propagates the exact
gradient of the mean squared error, so saturated (``randn``, raw features)
and dead (ReLU output) units stop learning where the seed's kept moving.
``benchmarks/mlp_speed.py`` holds a faithful copy of the seed's loop, and
``benchmarks/seed_q2.py`` runs it beside these presets.

``MLPClassifier(output="mse-seed")`` trains with the seed's update rule (a test
checks its steps against that copy), and the GUI and CLI offer it. The presets
keep the exact gradient because on FSDD it tells the seed's story (the
``randn`` net does not learn; Xavier + standardisation repairs it), while the
seed's rule lets even the ``randn`` net learn on FSDD's small features
(14-38 % on a 400-clip subset, seeds 0-2) — its numbers on the mean features come closer
to the report's, its story does not.
"""
from __future__ import annotations

import dataclasses

SEED_LEARNING_RATE = 0.001
SEED_EPOCHS = 5
# Five epochs over AudioMNIST's 24,000 training clips (80 % of 30,000).
SEED_UPDATES = SEED_EPOCHS * 24_000

# Hidden-layer size formulas, written as in the seed (int() truncates).
_SIZES = {
    "(in+out)/2": lambda n_in, n_out: int((n_in + n_out) / 2),
    "2/3·in": lambda n_in, n_out: int(2 * n_in / 3),
    "1/2·in": lambda n_in, n_out: int(n_in / 2),
    "1/3·in": lambda n_in, n_out: int(n_in / 3),
}

_SEED_MFCC = dict(sr=16000, n_mfcc=12, n_mels=24, n_fft=400, hop_length=512, trim_db=None)
SEED_FULL = dict(name="mfcc-full", frames="pad", n_frames=None, **_SEED_MFCC)
SEED_MEAN = dict(name="mfcc-mean", **_SEED_MFCC)

_ONE = ("(in+out)/2",)
_TWO_SAME = ("(in+out)/2", "(in+out)/2")
_TWO_THIRDS = ("2/3·in", "1/2·in")
_HALF_THIRD = ("1/2·in", "1/3·in")


@dataclasses.dataclass(frozen=True)
class Preset:
    """One experiment of the seed.

    Attributes
    ----------
    name : short label shown in the GUI
    description : what the run is and what the seed saw
    seed_accuracy : the seed's test accuracy in percent, None where it reported none
    feature : FeatureConfig keyword arguments
    model : MLPClassifier keyword arguments, except that ``hidden_layer_sizes``
        holds size formulas (keys of the seed's sizes, e.g. ``"(in+out)/2"``);
        use :func:`resolve_model` to get arguments MLPClassifier accepts
    """

    name: str
    description: str
    seed_accuracy: float | None
    feature: dict
    model: dict


def _model(layers, activation, *, fixed):
    """The seed's training set-up; ``fixed`` = Xavier weights and z-scored features."""
    return dict(hidden_layer_sizes=layers, activation=activation, output="mse",
                init="xavier" if fixed else "randn", optimizer="sgd", learning_rate=SEED_LEARNING_RATE,
                batch_size=1, epochs=SEED_EPOCHS, l2=0.0, early_stopping=False, standardize=fixed)


SEED_PRESETS: list[Preset] = [
    Preset("Full MFCC, 1 layer, bipolar sigmoid",
           "MFCC+Δ+ΔΔ padded to the longest clip, one hidden layer of (in+out)/2, bipolar sigmoid, "
           "randn weights on raw features. Seed: 40.38 %, digits 3, 4, 5 and 7 never predicted.",
           40.38, SEED_FULL, _model(_ONE, "bipolar-sigmoid", fixed=False)),
    Preset("Mean MFCC, 1 layer, bipolar sigmoid",
           "12 time-averaged MFCCs, one hidden layer of (in+out)/2, bipolar sigmoid, randn weights "
           "on raw features. Seed: 55.22 %.",
           55.22, SEED_MEAN, _model(_ONE, "bipolar-sigmoid", fixed=False)),
    Preset("Mean MFCC, 2 layers, bipolar sigmoid, randn",
           "Two hidden layers of (in+out)/2 with randn weights on raw features. Seed: no learning "
           "(training accuracy about 10 % in every epoch; no test accuracy reported).",
           None, SEED_MEAN, _model(_TWO_SAME, "bipolar-sigmoid", fixed=False)),
    Preset("Mean MFCC, 2 layers, bipolar sigmoid, Xavier + standardised",
           "The same two layers with Xavier weights and z-scored features: the seed's fix. Seed: 69.98 %.",
           69.98, SEED_MEAN, _model(_TWO_SAME, "bipolar-sigmoid", fixed=True)),
    Preset("Mean MFCC, 2 layers 2/3·in and 1/2·in, bipolar sigmoid",
           "Hidden layers of 2/3 and 1/2 of the input size, Xavier + standardised. Seed: 64.93 %.",
           64.93, SEED_MEAN, _model(_TWO_THIRDS, "bipolar-sigmoid", fixed=True)),
    Preset("Mean MFCC, 2 layers 1/2·in and 1/3·in, bipolar sigmoid",
           "Hidden layers of 1/2 and 1/3 of the input size, Xavier + standardised. Seed: 58.92 %.",
           58.92, SEED_MEAN, _model(_HALF_THIRD, "bipolar-sigmoid", fixed=True)),
    Preset("Full MFCC, 1 layer, ReLU",
           "MFCC+Δ+ΔΔ padded to the longest clip, one hidden layer of (in+out)/2, ReLU, Xavier + "
           "standardised: the seed's best. Seed: 96.12 %.",
           96.12, SEED_FULL, _model(_ONE, "relu", fixed=True)),
    Preset("Mean MFCC, 1 layer, ReLU",
           "12 time-averaged MFCCs, one hidden layer of (in+out)/2, ReLU, Xavier + standardised. Seed: 80.17 %.",
           80.17, SEED_MEAN, _model(_ONE, "relu", fixed=True)),
    Preset("Mean MFCC, 2 layers, ReLU",
           "Two hidden layers of (in+out)/2, ReLU, Xavier + standardised. Seed: 65.47 %.",
           65.47, SEED_MEAN, _model(_TWO_SAME, "relu", fixed=True)),
    Preset("Mean MFCC, 2 layers 2/3·in and 1/2·in, ReLU",
           "Hidden layers of 2/3 and 1/2 of the input size, ReLU, Xavier + standardised. Seed: 60.47 %.",
           60.47, SEED_MEAN, _model(_TWO_THIRDS, "relu", fixed=True)),
    Preset("Mean MFCC, 2 layers 1/2·in and 1/3·in, ReLU",
           "Hidden layers of 1/2 and 1/3 of the input size, ReLU, Xavier + standardised. Seed: 60.88 %.",
           60.88, SEED_MEAN, _model(_HALF_THIRD, "relu", fixed=True)),
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
        as many single-sample updates as the seed's five epochs on AudioMNIST
        (:data:`SEED_UPDATES`), never fewer than five epochs.

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
        model["epochs"] = max(model["epochs"], round(SEED_UPDATES / int(n_train)))
    return model
