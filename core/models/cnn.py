"""A Keras CNN on log-mel images: the Genres tab's model, scikit-learn style.

The architecture is plain data (JSON-able dicts), so the GUI can edit it, count
its parameters and save it without TensorFlow; TensorFlow is imported only
when a network is built (``fit``) or rebuilt from a model file
(``from_state``).

``KerasCNNClassifier(conv_blocks=REPORT_BLOCKS, head="flatten", dense_units=(),
dropout=0.0, learning_rate=1e-4, epochs=30, early_stopping=False,
standardize=False, freq_mask=0, time_mask=0)`` is the course report's network
(Conv2D 32 3×3 ReLU → MaxPooling 3×3 stride 2 → BatchNormalization → Flatten
→ Dense softmax, 1,230,538 parameters on 128×128 inputs); the defaults are the
smaller network measured best on GTZAN windows (``benchmarks/genres_accuracy.py``).

Training uses Keras ``fit`` one epoch at a time, so that every epoch gets
freshly augmented data (SpecAugment-style frequency and time masks, random
circular time shifts) and a validation pass SpeechLab controls; a Keras
callback polls ``should_stop()`` after every mini-batch and sets
``model.stop_training`` (Keras 3 checks it between batches), reports batch
progress and catches a non-finite loss. The best weights by validation loss
are kept and restored, whatever ends the training.

After every epoch, BatchNormalization's moving statistics are recomputed on
the (unaugmented) training images, and the epoch's training loss and accuracy
are measured on those images in inference mode: the curve's training accuracy
is the results card's, not Keras' running mean over the epoch in training
mode (batch statistics, dropout, augmented images), which the epoch report
keeps as ``running_loss`` / ``running_accuracy``.

Model files hold the network as its Keras JSON architecture plus one array per
weight. Loading checks every class named in that JSON against a list of plain
Keras layers, initialisers, regularisers and constraints, and deserialises
with ``safe_mode=True``: a file naming a Lambda layer or any class outside the
list is refused before Keras sees it.
"""
from __future__ import annotations

import json
import math
import os
import time

import numpy as np

from ..errors import SpeechLabError

# The report's Q3 network: one conv block, flattened.
REPORT_BLOCKS = ({"filters": 32, "kernel": 3, "padding": "valid", "pool": 3, "pool_stride": 2,
                  "batch_norm": True, "dropout": 0.0},)
# The default: measured best of the candidates in benchmarks/genres_accuracy.py.
DEFAULT_BLOCKS = (
    {"filters": 16, "kernel": 3, "padding": "same", "pool": 2, "pool_stride": None, "batch_norm": True, "dropout": 0.1},
    {"filters": 32, "kernel": 3, "padding": "same", "pool": 2, "pool_stride": None, "batch_norm": True, "dropout": 0.1},
    {"filters": 64, "kernel": 3, "padding": "same", "pool": 2, "pool_stride": None, "batch_norm": True, "dropout": 0.1},
)
HEADS = ("global-avg", "global-max", "flatten")
OPTIMIZERS = ("adam", "rmsprop", "sgd")
PADDINGS = ("same", "valid")
BLOCK_KEYS = ("filters", "kernel", "padding", "pool", "pool_stride", "batch_norm", "dropout")

# Keras classes a model file may name (everything else, Lambda first, is refused).
_SAFE_LAYERS = frozenset({
    "Sequential", "InputLayer", "Conv2D", "MaxPooling2D", "AveragePooling2D", "BatchNormalization", "Dropout",
    "SpatialDropout2D", "Flatten", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "Dense", "Activation", "Reshape",
    "ReLU", "Softmax",
})
_SAFE_MODULES = ("keras.initializers", "keras.regularizers", "keras.constraints")
_SAFE_KERAS = frozenset({"DTypePolicy", "FloatDTypePolicy", "Sequential", "Functional"})
# An epoch whose mean loss is this many times the first batch's has blown up
# (Keras clips probabilities, so a wrecked network rarely reaches nan).
_MAX_LOSS_GROWTH = 100
# Training rows measured in inference mode after every epoch (the curve's training loss and accuracy), and
# how many of them (evenly spaced) BatchNorm's statistics are recomputed on: a per-channel mean and variance
# over 128 images × every pixel is settled, and costs a fraction of an epoch.
_MEASURE_ROWS = 2048
_BN_ROWS = 128


def tf_threads():
    """Threads TensorFlow may use for one op: all cores but one (at least one), so the GUI keeps a core.

    ``SPEECHLAB_TF_THREADS`` overrides it (benchmarks on an idle machine)."""
    env = os.environ.get("SPEECHLAB_TF_THREADS")
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, min(4, (os.cpu_count() or 2) - 1))


_TF_READY = False


def keras_module():
    """Import TensorFlow's Keras once, with its thread pools capped (see :func:`tf_threads`)."""
    global _TF_READY
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # no C++ info lines on every start
    import tensorflow as tf

    if not _TF_READY:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(tf_threads())
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # TensorFlow already ran an op in this process: keep its pools
            pass
        _TF_READY = True
    import keras

    return keras


# ----------------------------------------------------------------------------- architecture as data


def normalize_block(block):
    """A conv block dict with every key, values checked; raises ValueError naming the bad field."""
    if not isinstance(block, dict):
        raise ValueError(f"a conv block must be a dict of {', '.join(BLOCK_KEYS)}, not {block!r}")
    unknown = set(block) - set(BLOCK_KEYS)
    if unknown:
        raise ValueError(f"unknown conv block setting(s) {', '.join(sorted(unknown))}; known: {', '.join(BLOCK_KEYS)}")
    b = {"filters": 32, "kernel": 3, "padding": "same", "pool": 2, "pool_stride": None, "batch_norm": True,
         "dropout": 0.0, **block}
    for key in ("filters", "kernel"):
        if int(b[key]) != b[key] or not 1 <= int(b[key]) <= 1024:
            raise ValueError(f"conv block '{key}' must be an integer from 1 to 1024, not {b[key]!r}")
        b[key] = int(b[key])
    if b["padding"] not in PADDINGS:
        raise ValueError(f"conv block 'padding' must be one of {', '.join(PADDINGS)}, not {b['padding']!r}")
    b["pool"] = int(b["pool"] or 0)
    if not 0 <= b["pool"] <= 16:
        raise ValueError(f"conv block 'pool' must be 0 (none) to 16, not {b['pool']!r}")
    if b["pool_stride"] is not None:
        b["pool_stride"] = int(b["pool_stride"])
        if b["pool_stride"] < 1:
            raise ValueError("conv block 'pool_stride' must be at least 1 (or None: the pool size)")
    b["batch_norm"] = bool(b["batch_norm"])
    b["dropout"] = float(b["dropout"])
    if not 0.0 <= b["dropout"] < 1.0:
        raise ValueError(f"conv block 'dropout' must be at least 0 and below 1, not {b['dropout']!r}")
    return b


def layer_plan(input_shape, *, conv_blocks, head, dense_units, n_classes):
    """Every layer with its output shape and parameter count, without TensorFlow.

    Parameters
    ----------
    input_shape : (height, width)
    conv_blocks : sequence of block dicts (see :func:`normalize_block`)
    head : one of HEADS
    dense_units : sequence of int

    Returns
    -------
    list of (description, output shape tuple, n_params); raises ValueError when
    the image shrinks to nothing (too many or too large pools/kernels).
    """
    h, w = (int(s) for s in input_shape)
    c = 1
    plan = []
    for i, raw in enumerate(conv_blocks, 1):
        b = normalize_block(raw)
        k = b["kernel"]
        if b["padding"] == "valid":
            h, w = h - k + 1, w - k + 1
        if h < 1 or w < 1:
            raise ValueError(f"conv block {i}: a {k}×{k} kernel does not fit the {h + k - 1}×{w + k - 1} image left")
        plan.append((f"Conv2D {b['filters']} {k}×{k} ReLU", (h, w, b["filters"]), k * k * c * b["filters"] + b["filters"]))
        c = b["filters"]
        if b["pool"] > 1:
            p, s = b["pool"], b["pool_stride"] or b["pool"]
            h, w = (h - p) // s + 1, (w - p) // s + 1
            if h < 1 or w < 1:
                raise ValueError(f"conv block {i}: pooling leaves nothing of the image; use fewer blocks, "
                                 "smaller pools or a larger image")
            plan.append((f"MaxPooling {p}×{p}" + (f" stride {s}" if s != p else ""), (h, w, c), 0))
        if b["batch_norm"]:
            plan.append(("BatchNormalization", (h, w, c), 4 * c))
        if b["dropout"]:
            plan.append((f"Dropout {b['dropout']:g}", (h, w, c), 0))
    if head not in HEADS:
        raise ValueError(f"head must be one of {', '.join(HEADS)}, not {head!r}")
    n = h * w * c if head == "flatten" else c
    plan.append(({"flatten": "Flatten", "global-avg": "GlobalAveragePooling", "global-max": "GlobalMaxPooling"}[head],
                 (n,), 0))
    for u in dense_units:
        if int(u) != u or u < 1:
            raise ValueError(f"dense layer sizes must be positive integers, not {u!r}")
        plan.append((f"Dense {int(u)} ReLU", (int(u),), n * int(u) + int(u)))
        n = int(u)
    plan.append((f"Dense {n_classes} softmax", (n_classes,), n * n_classes + n_classes))
    return plan


def count_params(input_shape, *, conv_blocks, head, dense_units, n_classes):
    """Total parameters (trainable and BatchNorm statistics), as Keras' ``count_params``."""
    return sum(p for _, _, p in layer_plan(input_shape, conv_blocks=conv_blocks, head=head,
                                           dense_units=dense_units, n_classes=n_classes))


def check_architecture_json(text):
    """Raise SpeechLabError unless every class the Keras JSON names is a plain, known Keras class.

    This runs before Keras deserialises anything: a Lambda layer (which would
    run code from the file) or any custom class is refused with one line. The
    JSON is walked without recursion, so any depth of nesting is one line too.
    """
    try:
        config = json.loads(text)
    except RecursionError:
        raise SpeechLabError("the network architecture is nested too deeply to be a SpeechLab network") from None
    except (TypeError, ValueError) as exc:
        raise SpeechLabError(f"the network architecture is not valid JSON ({str(exc)[:160]})") from None
    if isinstance(config, dict):
        config.pop("compile_config", None)  # never used: SpeechLab compiles its own networks
    refused = []
    stack = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            name = node.get("class_name")
            if isinstance(name, str):
                module = str(node.get("module") or "")
                ok = node.get("registered_name") in (None, name) and (
                    (module == "keras.layers" and name in _SAFE_LAYERS)
                    or (module == "keras" and name in _SAFE_KERAS)
                    or module in _SAFE_MODULES)
                if not ok:
                    refused.append(name if module.startswith("keras") else f"{module or '?'}.{name}")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    if not isinstance(config, dict) or config.get("class_name") != "Sequential":
        raise SpeechLabError("the network is not a Keras Sequential model; SpeechLab loads only its own networks")
    if refused:
        names = ", ".join(sorted(set(refused)))
        raise SpeechLabError(f"the network contains {names}, which SpeechLab refuses to load "
                             "(only plain Keras layers; a Lambda or custom layer could run code)")
    return config


# What a model file's network may make SpeechLab build. SpeechLab's own CNNs have 0.05-1.3 M parameters
# (the report's network on 128×128 images: 1,230,538); a file claiming more is refused before Keras runs.
MAX_PARAMS = 64_000_000
MAX_LAYERS = 256


class _Refuse(Exception):
    """A field of one layer that does not fit (turned into one SpeechLabError line)."""


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _pair(cfg, key, default=None):
    """A 2-D size setting (``kernel_size``, ``strides``, ...): an int or a list of two positive ints."""
    v = cfg.get(key, default)
    if _is_int(v):
        v = [v, v]
    if not isinstance(v, (list, tuple)) or len(v) != 2 or not all(_is_int(x) and x >= 1 for x in v):
        raise _Refuse(f"{key}={v!r} must be one or two positive integers")
    return int(v[0]), int(v[1])


def _positive(cfg, key):
    v = cfg.get(key)
    if not _is_int(v) or v < 1:
        raise _Refuse(f"{key}={v!r} must be a positive integer")
    return int(v)


def _out_len(n, k, s, padding, dilation=1):
    """Keras' output length of a convolution or pooling along one axis."""
    if padding == "same":
        return -(-n // s)
    if padding == "valid":
        return (n - (k - 1) * dilation - 1) // s + 1
    raise _Refuse(f"padding={padding!r} must be 'valid' or 'same'")


def _channels_last(cfg):
    if cfg.get("data_format", "channels_last") not in (None, "channels_last"):
        raise _Refuse(f"data_format={cfg.get('data_format')!r} (SpeechLab networks are channels_last)")


def network_weight_plan(arch, input_shape, weight_shapes=None):
    """Every weight the network ``arch`` (a checked Keras Sequential config) would create on
    ``input_shape`` images, computed from its layers' settings without TensorFlow.

    Parameters
    ----------
    arch : dict, from :func:`check_architecture_json`
    input_shape : (height, width)
    weight_shapes : list of shape tuples or None
        The stored weights: each layer's weights are compared with them as the layer is reached, so
        the first layer that does not fit is the one named.

    Returns
    -------
    weights : list of (shape tuple, layer name, class name, names of the fields behind each axis)
    output_shape : tuple, the network's output per image

    Raises SpeechLabError naming the layer and the field that cannot be built as stated (an unknown
    option, an image shrunk to nothing, a ``build_config`` that disagrees with the layers before it,
    a size that is not the stored weights' size).
    """
    layers = (arch.get("config") or {}).get("layers") if isinstance(arch.get("config"), dict) else None
    if not isinstance(layers, list) or not 2 <= len(layers) <= MAX_LAYERS:
        raise SpeechLabError(f"the network must list 2 to {MAX_LAYERS} layers")
    h, w = input_shape
    batch = [None, h, w, 1]
    for key in ("build_input_shape",):
        if key in arch["config"] and arch["config"][key] != batch:
            raise SpeechLabError(f"the network's '{key}' {arch['config'][key]!r} is not the model's input "
                                 f"{batch!r}")
    top = arch.get("build_config")
    if top is not None and (not isinstance(top, dict) or top.get("input_shape") != batch):
        raise SpeechLabError(f"the network's 'build_config' is not the model's input {batch!r}")
    first = layers[0] if isinstance(layers[0], dict) else {}
    first_cfg = first.get("config") if isinstance(first.get("config"), dict) else {}
    if first.get("class_name") != "InputLayer" or first_cfg.get("batch_shape") != batch:
        raise SpeechLabError(f"the network's first layer must be an InputLayer with batch_shape {batch!r} "
                             f"(the model's input_shape), not {first_cfg.get('batch_shape')!r}")
    shape = (h, w, 1)
    weights = []
    for i, layer in enumerate(layers[1:], 1):
        cfg = layer.get("config") if isinstance(layer, dict) else None
        cls = layer.get("class_name") if isinstance(layer, dict) else None
        if not isinstance(cfg, dict):
            raise SpeechLabError(f"the network's layer {i} has no config")
        name = cfg.get("name") if isinstance(cfg.get("name"), str) else f"#{i}"
        try:
            built = layer.get("build_config")
            if built is not None and (not isinstance(built, dict) or built.get("input_shape") != [None, *shape]):
                got = built.get("input_shape") if isinstance(built, dict) else built
                raise _Refuse(f"build_config input_shape={got!r} but the layers before it give "
                              f"{[None, *shape]!r}")
            done = len(weights)
            shape = _layer_step(cls, cfg, shape, name, weights)
        except _Refuse as why:
            raise SpeechLabError(f"the network's layer '{name}' ({cls}): {why}") from None
        if weight_shapes is not None:
            for j in range(done, min(len(weights), len(weight_shapes))):
                _compare(j, tuple(weight_shapes[j]), *weights[j])
    return weights, shape


def _compare(index, stored, expected, name, cls, fields):
    if stored == expected:
        return
    axis = next((a for a in range(min(len(stored), len(expected))) if stored[a] != expected[a]), None)
    what = f"{fields[axis]}={expected[axis]}" if axis is not None else f"weights of shape {expected}"
    raise SpeechLabError(f"the network's layer '{name}' ({cls}) has {what}, but its stored weights w{index} "
                         f"have shape {stored}")


def _layer_step(cls, cfg, shape, name, weights):
    """The output shape of one layer on ``shape``; its weights appended to ``weights``."""
    def image():
        if len(shape) != 3:
            raise _Refuse(f"needs an image (height, width, channels), gets {list(shape)}")
        _channels_last(cfg)
        return shape

    if cls == "Conv2D":
        h, w, c = image()
        filters = _positive(cfg, "filters")
        kh, kw = _pair(cfg, "kernel_size")
        sh, sw = _pair(cfg, "strides", 1)
        dh, dw = _pair(cfg, "dilation_rate", 1)
        if cfg.get("groups", 1) != 1 or cfg.get("lora_rank"):
            raise _Refuse("groups and lora_rank are not used by SpeechLab networks")
        weights.append(((kh, kw, c, filters), name, cls, ("kernel_size", "kernel_size", "input channels", "filters")))
        if cfg.get("use_bias", True):
            weights.append(((filters,), name, cls, ("filters",)))
        out = (_out_len(h, kh, sh, cfg.get("padding"), dh), _out_len(w, kw, sw, cfg.get("padding"), dw), filters)
    elif cls in ("MaxPooling2D", "AveragePooling2D"):
        h, w, c = image()
        ph, pw = _pair(cfg, "pool_size")
        sh, sw = _pair(cfg, "strides") if cfg.get("strides") is not None else (ph, pw)
        out = (_out_len(h, ph, sh, cfg.get("padding", "valid")), _out_len(w, pw, sw, cfg.get("padding", "valid")), c)
    elif cls == "BatchNormalization":
        if cfg.get("axis", -1) not in (-1, len(shape), [-1], [len(shape)]) or cfg.get("renorm"):
            raise _Refuse(f"axis={cfg.get('axis')!r} / renorm: SpeechLab normalises the last axis only")
        n = 2 + bool(cfg.get("scale", True)) + bool(cfg.get("center", True))
        weights.extend([((shape[-1],), name, cls, ("channels of the layer before",))] * n)
        out = shape
    elif cls in ("Dropout", "Activation", "ReLU", "Softmax"):
        out = shape
    elif cls == "SpatialDropout2D":
        out = image()
    elif cls == "Flatten":
        out = (math.prod(shape),)
    elif cls in ("GlobalAveragePooling2D", "GlobalMaxPooling2D"):
        c = image()[2]
        out = (1, 1, c) if cfg.get("keepdims") else (c,)
    elif cls == "Dense":
        units = _positive(cfg, "units")
        if cfg.get("lora_rank") or cfg.get("quantization_config") is not None:
            raise _Refuse("lora_rank and quantization_config are not used by SpeechLab networks")
        weights.append(((shape[-1], units), name, cls, ("input size (the layers before)", "units")))
        if cfg.get("use_bias", True):
            weights.append(((units,), name, cls, ("units",)))
        out = (*shape[:-1], units)
    elif cls == "Reshape":
        target = cfg.get("target_shape")
        if not isinstance(target, (list, tuple)) or not target or not all(
                _is_int(x) and (x >= 1 or x == -1) for x in target) or list(target).count(-1) > 1:
            raise _Refuse(f"target_shape={target!r} must be positive integers (one may be -1)")
        known = math.prod(x for x in target if x != -1)
        total = math.prod(shape)
        if total % known or (-1 not in target and known != total):
            raise _Refuse(f"target_shape={list(target)} does not hold the {total} values of {list(shape)}")
        out = tuple(total // known if x == -1 else x for x in target)
    else:
        raise _Refuse("this layer cannot be part of a SpeechLab network here")
    if any(n < 1 for n in out):
        raise _Refuse(f"leaves nothing of the {list(shape)} input (output {list(out)})")
    return out


def check_network(arch, *, input_shape, weight_shapes, n_classes):
    """Refuse a network whose layers do not match the weights stored beside it, before anything is built.

    Every layer's ``units``, ``filters``, ``kernel_size`` (and the sizes they imply for the
    layers after it) must give exactly the stored weight shapes, the total must stay within
    :data:`MAX_PARAMS`, and the output must be one probability per class.

    Parameters
    ----------
    arch : dict, from :func:`check_architecture_json`
    input_shape : (height, width)
    weight_shapes : list of shape tuples, the stored ``w0``, ``w1``, ... in order
    n_classes : int

    Returns the number of parameters. Raises SpeechLabError naming the layer and the field.
    """
    plan, out = network_weight_plan(arch, input_shape, weight_shapes)
    if len(weight_shapes) != len(plan):
        raise SpeechLabError(f"the network's layers hold {len(plan)} weight arrays; the file stores "
                             f"{len(weight_shapes)} ('n_weights')")
    n_params = sum(math.prod(shape) for shape, *_ in plan)
    if n_params > MAX_PARAMS:
        raise SpeechLabError(f"the network claims {n_params:,} parameters; SpeechLab loads at most {MAX_PARAMS:,}")
    if out != (n_classes,):
        raise SpeechLabError(f"the network gives outputs of shape {list(out)} for {n_classes} classes")
    return n_params


def _architecture_json(network):
    """The network's Keras JSON without its compile settings (optimiser state is not saved)."""
    config = json.loads(network.to_json())
    config.pop("compile_config", None)
    return json.dumps(config)


def _stratified_groups(y_first, *, fraction, rng):
    """Indices (into the clips) held out for validation: ``fraction`` of each class, at least one
    per class with two or more clips."""
    val = []
    for c in np.unique(y_first):
        idx = rng.permutation(np.flatnonzero(y_first == c))
        n_val = min(max(int(round(fraction * len(idx))), 1), len(idx) - 1)
        val.extend(idx[:n_val].tolist())
    return np.asarray(sorted(val), dtype=int)


class KerasCNNClassifier:
    """A 2-D CNN over (height, width) feature images, with the SpeechLab model contract.

    Parameters
    ----------
    conv_blocks : sequence of dict
        One dict per block, keys ``filters``, ``kernel`` (square), ``padding``
        ("same"/"valid"), ``pool`` (max-pool size, 0 or 1 = none),
        ``pool_stride`` (None = the pool size), ``batch_norm``, ``dropout``.
        A block is Conv2D+ReLU → MaxPooling → BatchNormalization → Dropout
        (the report's order).
    head : {"global-avg", "global-max", "flatten"}
        How the last feature maps become a vector.
    dense_units : sequence of int
        Hidden dense layers (ReLU) before the softmax output.
    dropout : float
        Dropout before each dense layer and the output.
    optimizer : {"adam", "rmsprop", "sgd"}
    learning_rate, epochs, batch_size : training settings
    early_stopping : bool
        Stop after ``patience`` epochs without a lower validation loss; the
        best weights (by validation loss) are restored in any case when there
        is validation data.
    validation_fraction : float
        Share of the training clips (whole clips, by ``groups``) held out for
        validation; 0 = none.
    patience : int
    standardize : bool
        Scale inputs by the training data's mean and standard deviation (two numbers).
    freq_mask, time_mask : float
        SpecAugment: each training image gets one band of up to this fraction
        of its rows (frequency) / columns (time) set to its mean; 0 = off.
    time_shift : float
        Roll each training image in time by up to this fraction (a random
        window offset); 0 = off.
    bn_momentum : float
        Momentum of the BatchNormalization running statistics during an
        epoch. Keras' 0.99 needs hundreds of steps before they match the
        data, so 0.9 by default (the report's preset keeps 0.99). Either way,
        after every epoch the statistics are recomputed on the training
        images in inference mode (:meth:`_recalibrate_batch_norm`), so what
        the model predicts never depends on how many steps there were.
    random_state : int or None
        Seeds weights, shuffling, the validation split and augmentation.
    report_every : int
        If > 0, ``on_epoch`` also gets a report every this many mini-batches.
    """

    def __init__(self, *, conv_blocks=DEFAULT_BLOCKS, head="global-avg", dense_units=(64,), dropout=0.3,
                 optimizer="adam", learning_rate=1e-3, epochs=40, batch_size=32, early_stopping=True,
                 validation_fraction=0.15, patience=10, standardize=True, freq_mask=0.15, time_mask=0.15,
                 time_shift=0.0, bn_momentum=0.9, random_state=None, report_every=1):
        self.conv_blocks = conv_blocks
        self.head = head
        self.dense_units = dense_units
        self.dropout = dropout
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.standardize = standardize
        self.freq_mask = freq_mask
        self.time_mask = time_mask
        self.time_shift = time_shift
        self.bn_momentum = bn_momentum
        self.random_state = random_state
        self.report_every = report_every

    # ------------------------------------------------------------------ settings

    _PARAMS = ("conv_blocks", "head", "dense_units", "dropout", "optimizer", "learning_rate", "epochs", "batch_size",
               "early_stopping", "validation_fraction", "patience", "standardize", "freq_mask", "time_mask",
               "time_shift", "bn_momentum", "random_state", "report_every")

    def get_params(self, deep=True):
        return {k: getattr(self, k) for k in self._PARAMS}

    def set_params(self, **params):
        for k, v in params.items():
            if k not in self._PARAMS:
                raise ValueError(f"unknown setting {k!r} for KerasCNNClassifier")
            setattr(self, k, v)
        return self

    def check_params(self):
        """Raise ValueError naming a bad setting (no TensorFlow needed)."""
        blocks = [normalize_block(b) for b in self.conv_blocks]
        if self.head not in HEADS:
            raise ValueError(f"head must be one of {', '.join(HEADS)}, not {self.head!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, not {self.optimizer!r}")
        for u in self.dense_units:
            if int(u) != u or u < 1:
                raise ValueError(f"dense layer sizes must be positive integers, not {u!r}")
        checks = (
            ("learning_rate", 0 < float(self.learning_rate) <= 10),
            ("epochs", int(self.epochs) == self.epochs and self.epochs >= 1),
            ("batch_size", int(self.batch_size) == self.batch_size and self.batch_size >= 1),
            ("patience", int(self.patience) >= 1),
            ("validation_fraction", 0 <= float(self.validation_fraction) < 1),
            ("dropout", 0 <= float(self.dropout) < 1),
            ("freq_mask", 0 <= float(self.freq_mask) < 1),
            ("time_mask", 0 <= float(self.time_mask) < 1),
            ("time_shift", 0 <= float(self.time_shift) <= 1),
            ("bn_momentum", 0 <= float(self.bn_momentum) < 1),
            ("report_every", int(self.report_every) >= 0),
        )
        for field, ok in checks:
            if not ok:
                raise ValueError(f"{field}={getattr(self, field)!r} is out of range")
        return blocks

    def count_params(self, input_shape, n_classes):
        return count_params(input_shape, conv_blocks=self.conv_blocks, head=self.head,
                            dense_units=self.dense_units, n_classes=n_classes)

    # ------------------------------------------------------------------ network

    def _build_network(self, input_shape, n_classes):
        keras = keras_module()
        layers = keras.layers
        blocks = self.check_params()
        # also raises ValueError with a readable message when the image is too small
        layer_plan(input_shape, conv_blocks=blocks, head=self.head, dense_units=self.dense_units, n_classes=n_classes)
        if self.random_state is not None:
            keras.utils.set_random_seed(int(self.random_state))
        net = [layers.Input(shape=(*input_shape, 1))]
        for i, b in enumerate(blocks, 1):
            net.append(layers.Conv2D(b["filters"], b["kernel"], padding=b["padding"], activation="relu",
                                     name=f"conv{i}"))
            if b["pool"] > 1:
                net.append(layers.MaxPooling2D(b["pool"], strides=b["pool_stride"] or b["pool"], name=f"pool{i}"))
            if b["batch_norm"]:
                net.append(layers.BatchNormalization(momentum=float(self.bn_momentum), name=f"bn{i}"))
            if b["dropout"]:
                net.append(layers.Dropout(b["dropout"], name=f"drop{i}"))
        net.append({"flatten": layers.Flatten, "global-avg": layers.GlobalAveragePooling2D,
                    "global-max": layers.GlobalMaxPooling2D}[self.head](name="head"))
        for j, u in enumerate(self.dense_units, 1):
            if self.dropout:
                net.append(layers.Dropout(float(self.dropout), name=f"dense_drop{j}"))
            net.append(layers.Dense(int(u), activation="relu", name=f"dense{j}"))
        if self.dropout and self.dense_units:
            net.append(layers.Dropout(float(self.dropout), name="out_drop"))
        net.append(layers.Dense(n_classes, activation="softmax", name="output"))
        return keras.Sequential(net, name="speechlab_cnn")

    def _compile(self, network):
        keras = keras_module()
        opt = {"adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop,
               "sgd": keras.optimizers.SGD}[self.optimizer](learning_rate=float(self.learning_rate))
        network.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"])

    # ------------------------------------------------------------------ data

    def _as_images(self, X):
        X = np.asarray(X, dtype=np.float32)
        if X.ndim == 4 and X.shape[-1] == 1:
            X = X[..., 0]
        if X.ndim != 3:
            raise ValueError(f"the CNN needs feature images (n, height, width); got an array of shape {X.shape} "
                             "(choose the log-mel image features)")
        return X

    def _scale(self, X):
        out = (X - self.mean_) / self.scale_ if self.standardize else X
        return out[..., None].astype(np.float32, copy=False)

    def _augment(self, X, rng):
        """SpecAugment masks and circular time shifts on a copy of (n, h, w) images."""
        if not (self.freq_mask or self.time_mask or self.time_shift):
            return X
        X = X.copy()
        n, h, w = X.shape
        fill = X.mean(axis=(1, 2))
        for i in range(n):
            if self.time_shift:
                X[i] = np.roll(X[i], int(rng.integers(-int(self.time_shift * w), int(self.time_shift * w) + 1)), axis=1)
            if self.freq_mask:
                f = int(rng.integers(0, int(self.freq_mask * h) + 1))
                f0 = int(rng.integers(0, h - f + 1))
                X[i, f0:f0 + f, :] = fill[i]
            if self.time_mask:
                t = int(rng.integers(0, int(self.time_mask * w) + 1))
                t0 = int(rng.integers(0, w - t + 1))
                X[i, :, t0:t0 + t] = fill[i]
        return X

    # ------------------------------------------------------------------ training

    def fit(self, X, y, *, groups=None, on_epoch=None, should_stop=None):
        """Train from scratch.

        Parameters
        ----------
        X : array (n, height, width)
            Feature images (log-mel windows).
        y : array (n,) of labels
        groups : array (n,) or None
            The clip each row came from: validation holds out whole clips.
        on_epoch : callable(dict) or None
            Gets one dict per epoch (``epoch``, ``epochs``, ``loss``,
            ``accuracy``, ``val_loss``, ``val_accuracy``, ``per_class``,
            ``seconds``, ``batch`` None) and, every ``report_every`` batches,
            one with ``batch`` set (running loss/accuracy of the epoch).
        should_stop : callable() -> bool or None
            Polled after every mini-batch; True ends training within that
            batch and keeps the best completed epoch's weights.

        Returns
        -------
        self
        """
        self.check_params()
        X = self._as_images(X)
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(X):
            raise ValueError(f"y must hold one label per image ({len(X)}); got shape {y.shape}")
        classes, y_idx = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"y holds one class only ({classes[0]!r}); training needs at least two classes")
        rng = np.random.default_rng(self.random_state)
        groups = np.arange(len(X)) if groups is None else np.asarray(groups)
        tr, va = np.arange(len(X)), np.zeros(0, dtype=int)
        if self.validation_fraction > 0:
            uniq, first = np.unique(groups, return_index=True)
            if len(uniq) >= 2 * len(classes):
                val_clips = uniq[_stratified_groups(y_idx[first], fraction=float(self.validation_fraction), rng=rng)]
                is_val = np.isin(groups, val_clips)
                if is_val.any() and not is_val.all():
                    tr, va = np.flatnonzero(~is_val), np.flatnonzero(is_val)
        self.classes_ = classes
        self.input_shape_ = tuple(int(s) for s in X.shape[1:])
        if self.standardize:
            self.mean_ = float(X[tr].mean())
            self.scale_ = float(X[tr].std()) or 1.0
        else:
            self.mean_, self.scale_ = 0.0, 1.0
        self.history_, self.best_epoch_, self.stop_reason_, self.diverged_ = [], 0, None, False
        network = self._build_network(self.input_shape_, len(classes))
        self._compile(network)
        self.model_ = network
        self._train(X[tr], y_idx[tr], X[va] if va.size else None, y_idx[va] if va.size else None, rng,
                    on_epoch=on_epoch, should_stop=should_stop)
        return self

    def _train(self, X, y, X_val, y_val, rng, *, on_epoch, should_stop):
        keras = keras_module()
        network = self.model_
        n, epochs, size = len(X), int(self.epochs), int(self.batch_size)
        n_batches = math.ceil(n / size)
        started = time.perf_counter()
        state = {"stopped": False, "bad_loss": None, "epoch": 0}
        report_every = int(self.report_every)
        owner = self

        class Watch(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                logs = logs or {}
                loss = float(logs.get("loss", 0.0))
                if not math.isfinite(loss):
                    state["bad_loss"] = "the loss became " + ("nan" if math.isnan(loss) else "inf")
                    self.model.stop_training = True
                    return
                if state.get("initial") is None:
                    state["initial"] = loss
                if should_stop is not None and should_stop():
                    state["stopped"] = True
                    self.model.stop_training = True
                    return
                if on_epoch is not None and report_every and (batch + 1) % report_every == 0 and batch + 1 < n_batches:
                    on_epoch(owner._report(state["epoch"], loss, float(logs.get("accuracy", 0.0)), None, None, None,
                                           time.perf_counter() - started, batch + 1))

        watch = Watch()
        X_val_s = None if X_val is None else self._scale(X_val)
        # The training data as the finished model sees it: unaugmented, in inference mode (evenly spaced rows,
        # so the training's random numbers are untouched). BatchNorm's statistics are recomputed on it and the
        # curve's training loss and accuracy are measured on it after every epoch, as the results card does.
        measure = np.unique(np.linspace(0, n - 1, min(n, _MEASURE_ROWS)).astype(int))
        X_meas_s, y_meas = self._scale(X[measure]), y[measure]
        best_weights, best_loss, stale = network.get_weights(), math.inf, 0
        for epoch in range(1, epochs + 1):
            state["epoch"] = epoch
            if should_stop is not None and should_stop():
                state["stopped"] = True
            if state["stopped"]:
                break
            order = rng.permutation(n)
            Xe = self._scale(self._augment(X[order], rng))
            hist = network.fit(Xe, y[order], batch_size=size, epochs=1, shuffle=False, verbose=0, callbacks=[watch])
            if state["stopped"]:
                break  # half an epoch: neither reported nor kept
            loss = float(hist.history["loss"][-1])
            running_acc = float(hist.history["accuracy"][-1])
            start = state.get("initial")
            if not state["bad_loss"] and not math.isfinite(loss):
                state["bad_loss"] = "the loss became " + ("nan" if math.isnan(loss) else "inf")
            elif not state["bad_loss"] and start is not None and loss > _MAX_LOSS_GROWTH * max(start, 1e-2):
                state["bad_loss"] = f"the loss grew from {start:.3g} to {loss:.3g}"
            if state["bad_loss"]:
                network.set_weights(best_weights)
                self.diverged_ = True
                self.stop_reason_ = (f"Training diverged at epoch {epoch} ({state['bad_loss']}): lower the "
                                     f"learning rate (now {float(self.learning_rate):g}); kept the weights of "
                                     f"epoch {self.best_epoch_}.")
                return
            # Keras' numbers above are running means over the epoch in training mode (batch statistics,
            # dropout, augmented images, weights still moving); the curve shows the finished epoch's network.
            self._recalibrate_batch_norm(X_meas_s[np.unique(np.linspace(0, len(X_meas_s) - 1, _BN_ROWS).astype(int))])
            proba = self._proba_scaled(X_meas_s)
            train_loss = float(-np.mean(np.log(np.clip(proba[np.arange(len(y_meas)), y_meas], 1e-7, 1.0))))
            acc = float((proba.argmax(axis=1) == y_meas).mean())
            val_loss = val_acc = None
            if X_val_s is not None:
                proba = self._proba_scaled(X_val_s)
                val_loss = float(-np.mean(np.log(np.clip(proba[np.arange(len(y_val)), y_val], 1e-7, 1.0))))
                pred = proba.argmax(axis=1)
                val_acc = float((pred == y_val).mean())
                per_class = self._per_class(y_val, pred == y_val)
            else:
                per_class = None
            stats = self._report(epoch, train_loss, acc, val_loss, val_acc, per_class, time.perf_counter() - started,
                                 None)
            stats.update(running_loss=loss, running_accuracy=running_acc)
            self.history_.append(stats)
            if on_epoch is not None:
                on_epoch(dict(stats))
            monitored = train_loss if val_loss is None else val_loss
            if monitored < best_loss:
                best_loss, stale, self.best_epoch_ = monitored, 0, epoch
                best_weights = network.get_weights()
            else:
                stale += 1
            if self.early_stopping and stale >= int(self.patience):
                network.set_weights(best_weights)
                what = "training" if val_loss is None else "validation"
                self.stop_reason_ = (f"Early stopping after epoch {epoch}: the {what} loss has not improved for "
                                     f"{int(self.patience)} epochs; kept the weights of epoch {self.best_epoch_}.")
                return
        done = len(self.history_)
        if state["stopped"]:
            if self.best_epoch_:
                network.set_weights(best_weights)
            self.stop_reason_ = f"stopped by user after epoch {done}; kept the weights of epoch {self.best_epoch_}"
        elif X_val_s is not None or self.early_stopping:
            network.set_weights(best_weights)
        else:
            self.best_epoch_ = done

    def _recalibrate_batch_norm(self, Xs, chunk=128):
        """Set every BatchNormalization layer's moving mean and variance to the statistics of its input
        over ``Xs`` (scaled images), layer after layer, with the layers before it in inference mode.

        Training never reads these statistics (a training batch is normalised by its own), but
        prediction does: with Keras' momentum of 0.99 they need hundreds of updates to forget their
        start (mean 0, variance 1), and the report's network on 40 tracks (2 batches an epoch) then
        predicted at chance while its training batches scored 100 %. One pass: the images go through
        the network a stage at a time (chunks of ``chunk`` rows), each BatchNorm set from the stage
        before it before the next stage runs."""
        layers = self.model_.layers
        acts = [Xs[i:i + chunk] for i in range(0, len(Xs), chunk)]
        done = 0  # layers[:done] already applied to acts
        for i, bn in enumerate(layers):
            if bn.__class__.__name__ != "BatchNormalization" or not acts:
                continue
            stage = layers[done:i]
            for k, a in enumerate(acts):
                for layer in stage:
                    a = layer(a, training=False)
                acts[k] = np.asarray(a, dtype=np.float32)
            done = i
            axes = tuple(range(acts[0].ndim - 1))
            count = sum(int(np.prod([a.shape[d] for d in axes])) for a in acts)
            mean = sum(a.sum(axis=axes, dtype=np.float64) for a in acts) / count
            var = sum(((a - mean.astype(np.float32)) ** 2).sum(axis=axes, dtype=np.float64) for a in acts) / count
            bn.moving_mean.assign(mean.astype(np.float32))
            bn.moving_variance.assign(var.astype(np.float32))

    def _per_class(self, y, correct):
        k = len(self.classes_)
        totals = np.bincount(y, minlength=k)
        hits = np.bincount(y, weights=correct, minlength=k)
        return {str(c): (float(h / t) if t else None) for c, h, t in zip(self.classes_.tolist(), hits, totals)}

    def _report(self, epoch, loss, accuracy, val_loss, val_accuracy, per_class, seconds, batch):
        return {"epoch": int(epoch), "epochs": int(self.epochs), "loss": float(loss), "accuracy": float(accuracy),
                "val_loss": val_loss, "val_accuracy": val_accuracy, "per_class": per_class,
                "seconds": float(seconds), "batch": batch}

    # ------------------------------------------------------------------ prediction

    def _check_fitted(self):
        if getattr(self, "model_", None) is None:
            raise ValueError("This KerasCNNClassifier is not trained yet: call fit(X, y) first")

    def _proba_scaled(self, Xs, chunk=256):
        out = [np.asarray(self.model_(Xs[i:i + chunk], training=False), dtype=np.float64)
               for i in range(0, len(Xs), chunk)]
        return np.concatenate(out) if out else np.zeros((0, len(self.classes_)))

    def predict_proba(self, X):
        """Class probabilities, (n, n_classes), columns in ``classes_`` order."""
        self._check_fitted()
        X = self._as_images(X)
        if X.shape[1:] != self.input_shape_:
            raise SpeechLabError(f"The CNN was trained on {self.input_shape_[0]}×{self.input_shape_[1]} images; "
                                 f"got {X.shape[1]}×{X.shape[2]}")
        return self._proba_scaled(self._scale(X))

    def predict(self, X):
        proba = self.predict_proba(X)  # first: an unfitted model says so (not an AttributeError on classes_)
        return self.classes_[proba.argmax(axis=1)]

    # ------------------------------------------------------------------ persistence

    def get_state(self):
        """(config, arrays): the settings, the Keras JSON architecture and one array per weight (no pickle)."""
        self._check_fitted()
        params = self.get_params()
        params["conv_blocks"] = [normalize_block(b) for b in self.conv_blocks]
        params["dense_units"] = [int(u) for u in self.dense_units]
        rs = params["random_state"]
        params["random_state"] = int(rs) if isinstance(rs, (int, np.integer)) else None
        classes = np.asarray(self.classes_.tolist())
        if classes.dtype.kind not in "biuU":
            raise TypeError(f"Labels of type {self.classes_.dtype} cannot be saved without pickle")
        weights = self.model_.get_weights()
        arrays = {"classes": classes, **{f"w{i}": np.asarray(w) for i, w in enumerate(weights)}}
        config = {
            "format": "speechlab-keras-cnn/1",
            "params": params,
            "architecture": _architecture_json(self.model_),
            "n_weights": len(weights),
            "input_shape": list(self.input_shape_),
            "mean": float(self.mean_),
            "scale": float(self.scale_),
            "best_epoch": int(self.best_epoch_),
            "stop_reason": self.stop_reason_,
            "diverged": bool(self.diverged_),
        }
        return config, arrays

    @classmethod
    def from_state(cls, config, arrays):
        """Rebuild a saved CNN: the architecture is checked (see :func:`check_architecture_json`), every
        layer's sizes against the stored weights and every fitted field (:func:`check_state`) before Keras
        sees anything; then it is deserialised with ``safe_mode=True`` and the weights are set.

        With the model host switched on (:func:`core.model_host.use_host`, the GUI does), the checked
        state becomes a :class:`core.model_host.RemoteKerasModel` instead: the network is rebuilt, and
        TensorFlow imported, in the host process, never in this one."""
        arch = check_architecture_json(config["architecture"])
        check_state(config, arrays, arch)
        from .. import model_host

        if model_host.host_enabled():
            return model_host.RemoteKerasModel(config, arrays)
        params = dict(config["params"])
        params["conv_blocks"] = tuple(params["conv_blocks"])
        params["dense_units"] = tuple(params["dense_units"])
        model = cls(**{k: v for k, v in params.items() if k in cls._PARAMS})
        keras = keras_module()
        try:
            network = keras.saving.deserialize_keras_object(arch, safe_mode=True)
        except Exception as exc:  # Keras raises many types for a bad config
            raise SpeechLabError(f"the network could not be rebuilt ({exc.__class__.__name__}: {str(exc)[:160]})") from None
        weights = [np.asarray(arrays[f"w{i}"]) for i in range(int(config["n_weights"]))]
        try:
            network.set_weights(weights)
        except ValueError as exc:
            raise SpeechLabError(f"the network's weights do not fit its architecture ({str(exc)[:160]})") from None
        model.model_ = network
        restore_fitted(model, config, arrays)
        return model


def check_state(config, arrays, arch):
    """Check a saved CNN's fields against each other before anything is built (no TensorFlow).

    ``input_shape`` (two positive sizes), ``n_weights`` and the stored ``w0``, ``w1``, ... (finite
    floats whose shapes the layers give exactly: :func:`check_network`), ``classes``, the settings in
    ``params`` and the standardisation (:func:`restore_fitted`). Raises SpeechLabError naming the field.
    """
    shape = config.get("input_shape")
    if not isinstance(shape, list) or len(shape) != 2 or not all(_is_int(n) and 1 <= n <= 4096 for n in shape):
        raise SpeechLabError(f"the CNN's 'input_shape' {shape!r} must be two sizes from 1 to 4096")
    n_weights = config.get("n_weights")
    if not _is_int(n_weights) or not 0 <= n_weights <= 4 * MAX_LAYERS:
        raise SpeechLabError(f"the CNN's 'n_weights' {n_weights!r} must be a number of weight arrays")
    missing = [f"w{i}" for i in range(n_weights) if f"w{i}" not in arrays]
    if missing:
        raise SpeechLabError(f"the network's weights are incomplete ({', '.join(missing[:5])} missing)")
    classes = np.asarray(arrays["classes"])
    if classes.ndim != 1 or classes.dtype.kind not in "biuU":
        raise SpeechLabError("the CNN's 'classes' must be a list of names or numbers")
    shapes = [np.shape(arrays[f"w{i}"]) for i in range(n_weights)]
    check_network(arch, input_shape=tuple(shape), weight_shapes=shapes, n_classes=len(classes))
    for i in range(n_weights):
        w = np.asarray(arrays[f"w{i}"])
        if w.dtype.kind != "f" or not np.all(np.isfinite(w)):
            raise SpeechLabError(f"the network's weights w{i} must be finite floating-point numbers")
    params = config.get("params")
    if not isinstance(params, dict):
        raise SpeechLabError("the CNN's 'params' are missing")
    try:
        probe = KerasCNNClassifier(**{k: v for k, v in params.items() if k in KerasCNNClassifier._PARAMS})
        probe.conv_blocks, probe.dense_units = tuple(probe.conv_blocks), tuple(probe.dense_units)
        probe.check_params()
    except (TypeError, ValueError, RecursionError) as exc:
        raise SpeechLabError(f"the CNN's settings in 'params' are damaged ({str(exc)[:160]})") from None
    _check_scaling(config)


def _check_scaling(config):
    for key in ("mean", "scale"):
        v = config.get(key)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise SpeechLabError(f"the CNN's standardisation '{key}' is {v!r}; it must be a finite number")
    if config["scale"] <= 0:
        raise SpeechLabError(f"the CNN's standardisation 'scale' is {config['scale']!r}; it must be positive")


def restore_fitted(model, config, arrays):
    """Set a saved CNN's fitted attributes (classes, input shape, scaling, training outcome) on ``model``;
    a non-finite ``mean`` or a ``scale`` that is not positive raises SpeechLabError."""
    _check_scaling(config)
    model.classes_ = np.asarray(arrays["classes"])
    model.input_shape_ = tuple(int(s) for s in config["input_shape"])
    model.mean_, model.scale_ = float(config["mean"]), float(config["scale"])
    model.history_ = []
    model.best_epoch_ = int(config.get("best_epoch", 0))
    model.stop_reason_ = config.get("stop_reason")
    model.diverged_ = bool(config.get("diverged", False))
