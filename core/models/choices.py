"""Names of model settings, defined once for core, the CLI and the GUI (importing this is cheap:
no scikit-learn, no TensorFlow)."""

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
