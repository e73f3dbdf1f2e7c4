"""Names of model settings, defined once for core, the CLI and the GUI (importing this is cheap:
no scikit-learn, no TensorFlow), and the user-facing settings a model type declares (:class:`Setting`)."""
import dataclasses


@dataclasses.dataclass(frozen=True)
class Setting:
    """One user-facing setting of a model type: a keyword argument of its class, how to show and bound it.

    A model class lists its settings as the class attribute ``settings`` (a tuple of Setting); a tab
    without a dedicated page for the model builds its settings page from them (gui/widgets/model_form.py).
    """

    name: str  # the constructor keyword argument
    kind: str  # "int", "float", "choice", "bool" or "sizes" (positive integers, e.g. hidden layer sizes)
    label: str  # in the user's words
    tooltip: str = ""
    minimum: float | None = None  # int / float / sizes: the smallest value accepted
    maximum: float | None = None
    step: float | None = None  # int / float: one step of the arrows (a float with ``log`` steps 1-2-5)
    log: bool = False  # a float that spans decades (a learning rate, a regularisation strength)
    choices: tuple = ()  # "choice": the values offered (strings)
    when: tuple = ()  # ((keyword, value), ...): shown only for models whose settings hold these (kind="sgd")

    KINDS = ("int", "float", "choice", "bool", "sizes")

    def __post_init__(self):
        if self.kind not in self.KINDS:
            raise ValueError(f"Setting {self.name}: kind must be one of {', '.join(self.KINDS)}, not {self.kind!r}")
        if self.kind == "choice" and not self.choices:
            raise ValueError(f"Setting {self.name}: a choice needs its choices")

    def applies(self, params):
        """Whether this setting is shown for a model with keyword arguments ``params``."""
        return all(params.get(k) == v for k, v in self.when)


# NumPy MLP (core.models.mlp)
ACTIVATIONS = ("relu", "bipolar-sigmoid", "tanh", "logistic", "leaky-relu", "identity")
OUTPUTS = ("softmax", "mse", "mse-report")  # "mse-report": the course report's update rule
INITS = ("auto", "he", "xavier", "randn")
OPTIMIZERS = ("adam", "momentum", "sgd")
MAX_LAYER_SIZE = 8192  # units in one hidden layer (a typo of 2,000,000 must not exhaust memory)
# The whole network: 32 layers of 8192 units pass the per-layer bound with 2.1 billion parameters (Adam
# would need 50 GB). 100 million (any two layers of 8192) take about 2.4 GB to train.
MAX_PARAMETERS = 100_000_000
MAX_TRAINING_GB = 4.0  # the estimate of one training: weights, gradients and optimiser state, a batch's activations

# Linear models (core.models.linear)
KINDS = ("logreg", "sgd")
LOGREG_SOLVERS = ("lbfgs", "sag", "saga", "newton-cg")
SGD_LEARNING_RATES = ("optimal", "constant", "invscaling", "adaptive")

# The report's two models, exactly (Q4); "standardize" is its StandardScaler and
# validation_fraction=0 trains on the whole 80 % training split, as it did.
REPORT_MODELS = {
    "report-sgd": dict(kind="sgd", learning_rate="constant", eta0=0.01, max_iter=1000, alpha=1e-4, tol=1e-3,
                       n_iter_no_change=5, standardize=True, validation_fraction=0.0),
    "report-logreg": dict(kind="logreg", solver="sag", max_iter=1000, C=1.0, tol=1e-4, standardize=True,
                          validation_fraction=0.0),
}

# "Reproduce the report": its four Q4 experiments. Feature settings are plain
# keyword arguments of core.features.FeatureConfig (models never import features):
# part A is the three spectral means, part B 13 MFCC means with librosa's
# default 2048/512 STFT and 128 mel bands at 16 kHz; whole clips, random 80/20.
_PART_A = dict(name="spectral", sr=16000)
_PART_B = dict(name="mfcc-mean", sr=16000, n_mfcc=13, n_mels=128, n_fft=2048, hop_length=512)
REPORT_PRESETS = (
    dict(key="A-sgd", title="Part A (spectral) + SGD", feature=_PART_A, model="report-sgd", report_accuracy=66.5),
    dict(key="A-logreg", title="Part A (spectral) + logistic regression", feature=_PART_A, model="report-logreg",
         report_accuracy=71.6),
    dict(key="B-sgd", title="Part B (13 MFCC means) + SGD", feature=_PART_B, model="report-sgd",
         report_accuracy=96.5),
    dict(key="B-logreg", title="Part B (13 MFCC means) + logistic regression", feature=_PART_B,
         model="report-logreg", report_accuracy=97.7),
)


# The user-facing settings of the built-in model types (each class declares its tuple as ``settings``).
# They live here, not beside the classes, because those modules load scikit-learn: the window draws a
# settings page without loading it, and start-up stays light (core.models.model_settings reads SETTINGS).
_LOGREG, _SGD = (("kind", "logreg"),), (("kind", "sgd"),)
_VALIDATION = Setting("validation_fraction", "float", "Validation", "Share of the training clips held out for the "
                      "validation curve (and the best state kept on Stop)", minimum=0.0, maximum=0.5, step=0.05)
MLP_SETTINGS = (
    Setting("hidden_layer_sizes", "sizes", "Hidden layers", "Units per hidden layer, e.g. 128 or 256,128 "
            "(empty: no hidden layer)", minimum=1, maximum=MAX_LAYER_SIZE),
    Setting("activation", "choice", "Activation", "The hidden layers' activation", choices=ACTIVATIONS),
    Setting("learning_rate", "float", "Learning rate", minimum=1e-5, maximum=5.0, log=True),
    Setting("epochs", "int", "Epochs", minimum=1, maximum=5000),
    Setting("batch_size", "int", "Batch size", minimum=1, maximum=4096),
    Setting("l2", "float", "L2", "Weight decay", minimum=0.0, maximum=1.0, log=True),
    _VALIDATION,
    Setting("early_stopping", "bool", "Early stopping", "Stop when the validation loss stops improving and keep "
            "the best weights"),
)
LINEAR_SETTINGS = (
    Setting("C", "float", "C (1/L2)", "Inverse regularisation strength (smaller = simpler model)", minimum=1e-6,
            maximum=1e4, log=True, when=_LOGREG),
    Setting("solver", "choice", "Solver", "scikit-learn's solver (the report: sag)", choices=LOGREG_SOLVERS,
            when=_LOGREG),
    Setting("max_iter", "int", "Iterations", "The solver's iterations at most", minimum=1, maximum=100000,
            when=_LOGREG),
    Setting("alpha", "float", "alpha (L2)", "Regularisation strength", minimum=0.0, maximum=10.0, log=True,
            when=_SGD),
    Setting("learning_rate", "choice", "Schedule", "How the step size changes over the epochs",
            choices=SGD_LEARNING_RATES, when=_SGD),
    Setting("eta0", "float", "eta0", "The first step size (schedules other than 'optimal')", minimum=1e-4,
            maximum=10.0, log=True, when=_SGD),
    Setting("max_iter", "int", "Epochs", "Passes over the training clips at most", minimum=1, maximum=100000,
            when=_SGD),
    _VALIDATION,
    Setting("standardize", "bool", "Standardise", "z-score the features with the training data's mean and std"),
)
# model type -> its settings, for the types whose module is too heavy to import just to draw a page
SETTINGS = {"mlp": MLP_SETTINGS, "linear": LINEAR_SETTINGS}
