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
