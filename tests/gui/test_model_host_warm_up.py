"""A Keras model that becomes a tab's model is warmed up in the model host (gui.tabs.base.set_bundle): the host
starts and holds the network before any take asks, so the first prediction is not the one that waits 3-4 s."""
import numpy as np

from tests.gui.test_digits_tab import HANG_MS


def test_a_cnn_loaded_into_a_tab_is_in_the_model_host_before_its_first_prediction(make_genres_tab, qtbot,
                                                                                  tmp_path):
    from core import model_host
    from core.bundle import ModelBundle, save_bundle
    from core.features import FeatureConfig
    from core.models.cnn import KerasCNNClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(-40, 10, size=(30, 16, 16)).astype(np.float32)
    y = np.array(["blues", "jazz", "rock"] * 10)
    model = KerasCNNClassifier(conv_blocks=({"filters": 4, "kernel": 3, "pool": 2},), head="global-avg",
                               dense_units=(8,), epochs=1, batch_size=16, early_stopping=False,
                               validation_fraction=0.0, random_state=0).fit(X, y)
    cfg = FeatureConfig(name="logmel-128", sr=22050, n_mels=32, n_fft=512, hop_length=256, image_size=16,
                        window_seconds=1.0)
    path = save_bundle(ModelBundle(task="genres", model=model, feature_config=cfg,
                                   labels=[str(c) for c in model.classes_]), tmp_path / "tiny.slm")
    host = model_host.host()
    host.stop()
    model_host.use_host(True)  # as the app's window does
    try:
        tab = make_genres_tab()
        with qtbot.waitSignal(tab.model_load_finished, timeout=HANG_MS) as loaded:
            assert tab.load_model(str(path))
        assert loaded.args == [True]
        remote = tab.bundle.model
        assert isinstance(remote, model_host.RemoteKerasModel)
        # nothing has asked for a prediction, yet the host runs and holds the network
        qtbot.waitUntil(lambda: host.pid is not None and remote._key in host._loaded, timeout=HANG_MS)
        starts = host.starts
        np.testing.assert_allclose(remote.predict_proba(X), model.predict_proba(X), rtol=1e-5, atol=1e-6)
        assert host.starts == starts  # the first prediction found it ready
    finally:
        model_host.use_host(False)
        host.stop()
