"""Safe loading: a pickle payload planted under every file name vaelab reads never runs."""

from __future__ import annotations

import pickle
import shutil

import numpy as np
import pytest

from vaelab.core.config import ModelConfig
from vaelab.core.models import build_model
from vaelab.data import load_dataset
from vaelab.errors import VaelabError
from vaelab.runs.files import load_model, read_json, read_metrics, read_summary
from vaelab.runs.run import load_run, resume_run
from vaelab.training.batches import NpySource
from vaelab.training.checkpoint import CHECKPOINT, PREVIOUS, load_checkpoint


class Payload:
    """Unpickling this creates the marker file (what an attack would do)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture
def marker(tmp_path):
    return tmp_path / "PWNED"


@pytest.fixture
def run(tmp_path):
    from vaelab.runs.files import save_model
    from vaelab.runs.run import DataSpec
    from vaelab.training.config import TrainConfig

    d = tmp_path / "run"
    save_model(
        d,
        build_model(ModelConfig(input_shape=(4,), latent_dim=2, hidden=(3,))),
        train=TrainConfig(epochs=1).to_dict(),
        data=DataSpec().to_dict(),
    )
    return d


def _plant(path, marker):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(Payload(marker), protocol=2))


def _refused(call, marker, allow_empty=False):
    try:
        result = call()
    except VaelabError as err:
        assert str(err)  # a clear message
    else:
        assert allow_empty and not result, f"a pickle payload was accepted: {result!r}"
    assert not marker.exists(), "the payload ran"


@pytest.mark.parametrize(
    "name",
    [
        "model.safetensors",
        "config.json",
        CHECKPOINT,
        PREVIOUS,
        "summary.json",
        "evaluation.json",
        "metrics.jsonl",
    ],
)
def test_run_directory_files(run, marker, name):
    _plant(run / name, marker)
    calls = {
        "model.safetensors": [lambda: load_model(run), lambda: load_run(run)],
        "config.json": [lambda: load_model(run), lambda: load_run(run)],
        CHECKPOINT: [lambda: load_checkpoint(run), lambda: resume_run(run, progress=False)],
        PREVIOUS: [lambda: load_checkpoint(run)],
        "summary.json": [lambda: read_summary(run)],
        "evaluation.json": [lambda: read_json(run / "evaluation.json")],
        "metrics.jsonl": [lambda: read_metrics(run)],
    }[name]
    for call in calls:
        _refused(call, marker, allow_empty=name == "metrics.jsonl")


def test_pickled_safetensors_header_is_refused(run, marker):
    # a safetensors-looking file whose body is a pickle
    blob = pickle.dumps(Payload(marker))
    (run / "model.safetensors").write_bytes(len(blob).to_bytes(8, "little") + blob)
    _refused(lambda: load_model(run), marker)


def test_numpy_files_with_object_arrays(tmp_path, marker):
    evil = np.array([Payload(marker), 1], dtype=object)
    np.save(tmp_path / "x.npy", evil, allow_pickle=True)
    np.savez(tmp_path / "x.npz", x=evil, y=evil)
    _plant(tmp_path / "raw.npy", marker)  # a bare pickle named .npy
    shards = tmp_path / "shards"
    shards.mkdir()
    shutil.copy(tmp_path / "x.npy", shards / "a.npy")
    for call in (
        lambda: load_dataset(tmp_path / "x.npy"),
        lambda: load_dataset(tmp_path / "x.npz"),
        lambda: load_dataset(tmp_path / "raw.npy"),
        lambda: NpySource(tmp_path / "x.npy"),
        lambda: NpySource(shards),
    ):
        _refused(call, marker)


@pytest.mark.parametrize(
    "name",
    [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ],
)
def test_idx_files(tmp_path, marker, name):
    d = tmp_path / "mnist"
    d.mkdir()
    for other in (
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ):
        _plant(d / other, marker) if other == name else (d / other).write_bytes(b"")
    _refused(lambda: load_dataset("mnist", data_dir=d), marker)


def test_csv_and_amat(tmp_path, marker):
    _plant(tmp_path / "x.csv", marker)
    _refused(lambda: load_dataset(tmp_path / "x.csv"), marker)
    d = tmp_path / "bm"
    for split in ("train", "valid", "test"):
        _plant(d / f"binarized_mnist_{split}.amat", marker)
    _refused(lambda: load_dataset("binarized-mnist", data_dir=d), marker)


def test_no_pickle_in_the_source():
    """No loader in vaelab can unpickle: no torch.load, pickle or allow_pickle=True."""
    from pathlib import Path

    import vaelab

    root = Path(vaelab.__file__).parent
    for path in root.rglob("*.py"):
        text = path.read_text()
        for banned in ("torch.load(", "pickle.load", "allow_pickle=True", "broadcast_object"):
            assert banned not in text, f"{path}: {banned}"
