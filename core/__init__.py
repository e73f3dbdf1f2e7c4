"""SpeechLab core: datasets, features, models, training and bundles.

Nothing in this package imports Qt (PySide6), pyqtgraph or ``gui``; a test
enforces it, so every computation can be scripted without a GUI.
"""
