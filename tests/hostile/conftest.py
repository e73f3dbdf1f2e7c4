"""Fixtures of the hostile-input tests: real clips and a real small model to craft variants from
(a module may define its own ``good`` or ``model``, which then replaces these)."""
import pytest

from tests.core.datagen import class_signal, write_wav


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """24 two-class digit clips in the FSDD naming."""
    root = tmp_path_factory.mktemp("good")
    for i in range(24):
        write_wav(root / f"{i % 2}_s{i % 3}_{i}.wav", class_signal(cls=i % 2, sr=8000, speaker=i % 3, seed=i), sr=8000)
    return root


@pytest.fixture(scope="module")
def model(good, tmp_path_factory):
    """A small digits model trained for real on ``good``."""
    from core.bundle import save_bundle
    from core.datasets import scan_dataset
    from core.models.mlp import MLPClassifier
    from core.tasks import DIGITS
    from core.training import train_model

    result = train_model(scan_dataset(good, label="digit"), task="digits", feature_config=DIGITS.feature_config(),
                         model=MLPClassifier(**{**DIGITS.model, "hidden_layer_sizes": (16,), "epochs": 3},
                                             random_state=0), cache=False, n_jobs=1)
    return save_bundle(result.bundle, tmp_path_factory.mktemp("model") / "digits.slm")
