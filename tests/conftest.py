"""Shared fixtures: seeded RNGs and the path of the real benchmark data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_data(sub: str) -> Path:
    """Path of ``../shared/data/<sub>``; skips the test with the reason when absent."""
    path = SHARED_DATA / sub
    if not path.exists():
        pytest.skip(f"real data not found at {path} (../shared/data is absent on this machine)")
    return path


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's 8×8 digits as vaelab splits (train 1438, test 359); do not mutate."""
    from vaelab.data import load_dataset

    return load_dataset("digits", seed=0)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _seed_torch() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def shape_matrix_files(tmp_path_factory) -> dict[str, Path]:
    """Array files of shapes the explainer must draw, written once per session.

    ``crop``: Fashion-MNIST cropped to 28×20 (3000 samples, labels; absent without the
    shared data); ``table``: scikit-learn's wine, standardized (13 features, labels);
    ``rgb``: the 8×8 digits tinted one colour per class, as 3×8×8.
    """
    from sklearn.datasets import load_digits, load_wine

    out = tmp_path_factory.mktemp("shape-matrix")
    files = {}
    w = load_wine()
    x = (w.data - w.data.mean(0)) / w.data.std(0)
    np.savez(out / "wine.npz", x=x.astype(np.float32), y=w.target)
    files["table"] = out / "wine.npz"
    d = load_digits()
    colours = np.random.default_rng(0).uniform(0.2, 1.0, size=(10, 3))  # (classes, RGB)
    rgb = (d.images / 16.0)[:, None] * colours[d.target][:, :, None, None]  # (N, 3, 8, 8)
    np.savez(out / "digits_rgb.npz", x=rgb.reshape(len(rgb), -1).astype(np.float32), y=d.target)
    files["rgb"] = out / "digits_rgb.npz"
    if (SHARED_DATA / "fashion_mnist").exists():
        from vaelab.data import load_dataset

        s = load_dataset("fashion-mnist", data_dir=SHARED_DATA / "fashion_mnist")
        crop = s.train.x[:3000].reshape(-1, 28, 28)[:, :, 4:24]  # (N, 28, 20)
        np.savez(out / "fashion_28x20.npz", x=crop.reshape(len(crop), -1), y=s.train.y[:3000])
        files["crop"] = out / "fashion_28x20.npz"
    return files
