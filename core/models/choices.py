"""Names of model settings, defined once for core, the CLI and the GUI (importing this is cheap:
no scikit-learn, no TensorFlow)."""

# NumPy MLP (core.models.mlp)
ACTIVATIONS = ("relu", "bipolar-sigmoid", "tanh", "logistic", "leaky-relu", "identity")
OUTPUTS = ("softmax", "mse", "mse-report")  # "mse-report": the course report's update rule
INITS = ("auto", "he", "xavier", "randn")
OPTIMIZERS = ("adam", "momentum", "sgd")
