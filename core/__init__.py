"""SpeechLab core: datasets, features, models, training and bundles.

Nothing in this package imports Qt (PySide6), pyqtgraph or ``gui``; a test
enforces it, so every computation can be scripted without a GUI.
"""

import os as _os
import sys as _sys

# NumPy asks the kernel for transparent huge pages on every large array. Where the kernel compacts memory
# for such requests (``defrag=madvise``, the usual default), the first touch of a big array stalls for
# seconds: turning 100,000 cached clips into a 500 MB matrix took 1.8–2.4 s with it, 0.64 s without.
# Set before NumPy loads (so also for every process started from here); a user's own setting wins.
_os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")
if "numpy" in _sys.modules and _os.environ["NUMPY_MADVISE_HUGEPAGE"] == "0":  # NumPy came first: tell it now
    try:
        from numpy._core.multiarray import _set_madvise_hugepage as _set

        _set(False)
    except (ImportError, AttributeError):  # another NumPy: its default stays
        pass
