"""Names of model settings, defined once for core, the CLI and the GUI (importing this is cheap:
no scikit-learn, no TensorFlow)."""

# NumPy MLP (core.models.mlp)
ACTIVATIONS = ("relu", "bipolar-sigmoid", "tanh", "logistic", "leaky-relu", "identity")
OUTPUTS = ("softmax", "mse", "mse-report")  # "mse-report": the course report's update rule
INITS = ("auto", "he", "xavier", "randn")
OPTIMIZERS = ("adam", "momentum", "sgd")
MAX_LAYER_SIZE = 8192  # units in one hidden layer (a typo of 2,000,000 must not exhaust memory)
