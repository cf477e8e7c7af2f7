"""Transforms: binarization (static and dynamic), standardization, splitting."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from vaelab.data import (
    Dataset,
    binarize_static,
    dynamic_binarize_batch,
    scale_to_unit,
    standardize,
    train_valid_split,
)
from vaelab.errors import DataError


@pytest.fixture
def unit(rng: np.random.Generator) -> Dataset:
    x = rng.random((400, 1, 4, 4), dtype=np.float32)
    return Dataset(x, rng.integers(0, 10, 400), (1, 4, 4), "unit", "u", {"source": {"s": 1}})


def test_scale_to_unit() -> None:
    assert scale_to_unit(np.array([0, 255], np.int64)).tolist() == [0.0, 1.0]
    with pytest.raises(DataError, match=r"values span \[-1, 3\], expected grey levels"):
        scale_to_unit(np.array([-1, 3]))


def test_static_binarization_is_reproducible(unit: Dataset) -> None:
    a, b, c = binarize_static(unit, 3), binarize_static(unit, 3), binarize_static(unit, 4)
    assert a.kind == "binary" and set(np.unique(a.x)) == {0.0, 1.0}
    np.testing.assert_array_equal(a.x, b.x)
    assert not np.array_equal(a.x, c.x)
    assert abs(a.x.mean() - unit.x.mean()) < 0.02
    assert a.meta["transforms"] == [{"name": "binarize_static", "seed": 3}]
    assert a.meta["source"] == {"s": 1} and "transforms" not in unit.meta
    np.testing.assert_array_equal(a.y, unit.y)


def test_static_binarization_refuses_real(unit: Dataset) -> None:
    real = Dataset(unit.x - 0.5, None, unit.sample_shape, "real", "r")
    with pytest.raises(DataError, match="cannot be binarized"):
        binarize_static(real, 0)


def test_dynamic_binarization_differs_each_call_with_right_mean() -> None:
    probs = torch.full((200, 784), 0.3)
    g = torch.Generator().manual_seed(0)
    first, second = dynamic_binarize_batch(probs, g), dynamic_binarize_batch(probs, g)
    assert not torch.equal(first, second)
    assert set(first.unique().tolist()) <= {0.0, 1.0} and first.dtype == probs.dtype
    assert abs(first.mean().item() - 0.3) < 0.01 and abs(second.mean().item() - 0.3) < 0.01
    again = dynamic_binarize_batch(probs, torch.Generator().manual_seed(0))
    assert torch.equal(first, again)


def test_standardize(unit: Dataset, rng: np.random.Generator) -> None:
    unit.x[:, 0, 0, 0] = 0.25  # a constant pixel: std 0, divided by 1
    other = Dataset(rng.random((50, 1, 4, 4), dtype=np.float32), None, (1, 4, 4), "unit")
    train, test = standardize(unit, other)
    flat = train.x.reshape(len(train), -1)
    np.testing.assert_allclose(flat.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(flat[:, 1:].std(0), 1, atol=1e-4)
    assert np.all(flat[:, 0] == 0) and train.kind == test.kind == "real"
    assert test.x.dtype == np.float32 and abs(test.x.mean()) < 0.2
    stats = train.meta["standardize"]
    assert np.asarray(stats["std"]).shape == (1, 4, 4)
    json.dumps(train.meta)
    with pytest.raises(DataError, match="sample_shape"):
        standardize(unit, Dataset(np.zeros((2, 3), np.float32), None, (3,), "unit"))


def test_train_valid_split(unit: Dataset) -> None:
    tr, va = train_valid_split(unit, 0.25, seed=5)
    tr2, va2 = train_valid_split(unit, 0.25, seed=5)
    assert (len(tr), len(va)) == (300, 100)
    np.testing.assert_array_equal(va.x, va2.x)
    np.testing.assert_array_equal(tr.y, tr2.y)
    both = np.concatenate([tr.x, va.x]).reshape(400, -1)
    assert len(np.unique(both, axis=0)) == 400  # disjoint, and nothing lost
    assert np.allclose(np.sort(both.sum(1)), np.sort(unit.x.reshape(400, -1).sum(1)))
    _, va3 = train_valid_split(unit, 0.25, seed=6)
    assert not np.array_equal(va.x, va3.x)
    for fraction in (0.0, 1.0, 0.001):
        with pytest.raises(DataError, match="valid_fraction"):
            train_valid_split(unit, fraction, seed=0)
