import numpy as np
from PySide6.QtCore import QSettings
from gui.widgets.recorder import RecorderWidget

def digit_predictor(y, sr):
    rng = np.random.default_rng(len(y))
    p = rng.dirichlet(np.ones(10) * 0.3)
    p[7] += 2; p /= p.sum()
    labels = ["zero","one","two","three","four","five","six","seven","eight","nine"]
    return {"label": labels[int(np.argmax(p))], "probabilities": dict(zip(labels, map(float, p)))}

def test_shot(qtbot, virtual_mic, espeak_wav, tmp_path):
    w = RecorderWidget(device=virtual_mic.device, settings=QSettings(str(tmp_path/"s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(w)
    w.resize(1000, 640); w.show()
    w.set_predictor(digit_predictor)
    w.set_default_seconds(1.5)
    with qtbot.waitSignal(w.prediction_made, timeout=5000):
        w.record_button.click()
        virtual_mic.play(espeak_wav("seven"), wait=False)
    qtbot.wait(200)
    w.grab().save('/tmp/recorder_widget.png')
    w.shutdown()

def test_shot2(qtbot, tmp_path):
    import soundfile
    w = RecorderWidget(device="nope", settings=QSettings(str(tmp_path/"s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(w)
    w.resize(1000, 640); w.show()
    w.set_predictor(lambda y, sr: {"label": "quiet", "probabilities": {"loud": 0.45, "quiet": 0.55}})
    y = 0.003*np.sin(np.arange(16000)/5).astype(np.float32)
    soundfile.write(tmp_path/"q.wav", y, 16000)
    with qtbot.waitSignal(w.prediction_made, timeout=5000):
        w.open_file(tmp_path/"q.wav")
    qtbot.wait(200)
    w.grab().save('/tmp/recorder_widget_nodevice.png')
    w.shutdown()
