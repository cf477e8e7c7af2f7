"""Transforms between datasets: scaling, binarization, standardization, splitting.

Each returns a new `Dataset` and appends a JSON-serialisable record of itself to
``meta["transforms"]``, so a run directory can say exactly how its data was made.
"""

from __future__ import annotations

import numpy as np
import torch

from vaelab.data._dataset import Dataset
from vaelab.errors import DataError

_MIN_STD = 1e-8


def _with(ds: Dataset, x: np.ndarray, kind: str, name: str, record: dict) -> Dataset:
    meta = dict(ds.meta)
    meta["transforms"] = [*ds.meta.get("transforms", []), record]
    return Dataset(x, ds.y, ds.sample_shape, kind, name, meta)  # type: ignore[arg-type]


def scale_to_unit(x: np.ndarray) -> np.ndarray:
    """Grey levels 0-255 as float32 in [0, 1].

    Parameters
    ----------
    x : ndarray
        Values in 0-255 (uint8, any integer type, or integral floats).

    Returns
    -------
    ndarray of float32
        ``x / 255``.

    Raises
    ------
    DataError
        When a value lies outside 0-255.

    Examples
    --------
    >>> scale_to_unit(np.array([0, 51, 255], np.uint8))
    array([0. , 0.2, 1. ], dtype=float32)
    """
    if x.dtype != np.uint8 and x.size and (x.min() < 0 or x.max() > 255):
        raise DataError(f"values span [{x.min()}, {x.max()}], expected grey levels in 0-255 to scale")
    return np.multiply(x, np.float32(1 / 255), dtype=np.float32)


def binarize_static(ds: Dataset, seed: int) -> Dataset:
    """Binarize once: each pixel becomes 1 with probability equal to its value.

    Parameters
    ----------
    ds : Dataset
        Values in [0, 1] (kind ``"unit"`` or ``"binary"``).
    seed : int
        Seed of the numpy Generator; the same seed gives the same draw.

    Returns
    -------
    Dataset
        Kind ``"binary"``.

    Raises
    ------
    DataError
        When ``ds`` holds real values outside [0, 1].

    Examples
    --------
    >>> ds = Dataset(np.full((2, 3), 0.5, np.float32), None, (3,), "unit")
    >>> binarize_static(ds, seed=0).x
    array([[1., 0., 1.],
           [1., 0., 0.]], dtype=float32)
    """
    if ds.kind == "real":
        raise DataError(f"{ds.name}: kind 'real' cannot be binarized, expected values in [0, 1]")
    rng = np.random.default_rng(seed)
    x = (rng.random(ds.x.shape, dtype=np.float32) < ds.x).astype(np.float32)
    return _with(ds, x, "binary", ds.name, {"name": "binarize_static", "seed": int(seed)})


def dynamic_binarize_batch(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """A fresh Bernoulli draw of a batch: call once per batch, every epoch.

    This is the dynamic binarization of Burda et al. (2015): the data seen by the model
    changes every epoch, while the test set is binarized once (`binarize_static`).

    Parameters
    ----------
    x : Tensor
        Probabilities in [0, 1], any shape, on any device.
    generator : torch.Generator, optional
        Source of randomness (on ``x``'s device); the global one when omitted.

    Returns
    -------
    Tensor
        Same shape, dtype and device as ``x``, values 0 and 1.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> dynamic_binarize_batch(torch.tensor([0.0, 1.0, 1.0]), g)
    tensor([0., 1., 1.])
    """
    return torch.bernoulli(x, generator=generator)


def standardize(train: Dataset, *others: Dataset) -> list[Dataset]:
    """Subtract the train mean and divide by the train std, per feature.

    Features with a std below 1e-8 (constant pixels) are divided by 1 instead.

    Parameters
    ----------
    train : Dataset
        The statistics come from here.
    *others : Dataset
        Further splits, transformed with the train statistics.

    Returns
    -------
    list of Dataset
        ``[train, *others]`` transformed, kind ``"real"``; ``meta["standardize"]``
        holds ``mean`` and ``std`` as nested lists of ``sample_shape``.

    Examples
    --------
    >>> tr = Dataset(np.array([[0.0], [2.0]], np.float32), None, (1,), "unit")
    >>> te = Dataset(np.array([[4.0]], np.float32), None, (1,), "real")
    >>> [d.x.ravel().tolist() for d in standardize(tr, te)]
    [[-1.0, 1.0], [3.0]]
    """
    mean = train.x.mean(axis=0, dtype=np.float64)
    std = train.x.std(axis=0, dtype=np.float64)
    std = np.where(std < _MIN_STD, 1.0, std)
    record = {"name": "standardize", "mean": mean.tolist(), "std": std.tolist()}
    out = []
    for ds in (train, *others):
        if ds.sample_shape != train.sample_shape:
            raise DataError(
                f"{ds.name}: sample_shape {ds.sample_shape} differs from the train "
                f"split's {train.sample_shape}"
            )
        x = ((ds.x - mean) / std).astype(np.float32)
        new = _with(ds, x, "real", ds.name, {"name": "standardize"})
        new.meta["standardize"] = record
        out.append(new)
    return out


def train_valid_split(ds: Dataset, valid_fraction: float = 0.1, seed: int = 0) -> tuple[Dataset, Dataset]:
    """Split off a validation set, deterministically by seed.

    Parameters
    ----------
    ds : Dataset
        The data to split.
    valid_fraction : float
        Share of samples in the validation set, in (0, 1).
    seed : int
        Seed of the permutation.

    Returns
    -------
    train, valid : Dataset
        Disjoint; together they hold every sample of ``ds``.

    Raises
    ------
    DataError
        When the fraction is out of range or either part would be empty.

    Examples
    --------
    >>> ds = Dataset(np.arange(10, dtype=np.float32)[:, None], None, (1,), "real")
    >>> tr, va = train_valid_split(ds, 0.2, seed=0)
    >>> len(tr), len(va)
    (8, 2)
    """
    train_idx, valid_idx = split_indices(len(ds), valid_fraction, seed, "valid_fraction")
    meta = {"name": "train_valid_split", "valid_fraction": valid_fraction, "seed": seed}
    tr = ds.subset(train_idx, f"{ds.name}/train")
    va = ds.subset(valid_idx, f"{ds.name}/valid")
    for part, split in ((tr, "train"), (va, "valid")):
        part.meta["transforms"] = [*ds.meta.get("transforms", []), {**meta, "part": split}]
    return tr, va


def split_indices(
    n: int, fraction: float, seed: int, what: str = "test_fraction"
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted indices of a seeded random split of ``n`` samples.

    Parameters
    ----------
    n : int
        Number of samples.
    fraction : float
        Share of the second part, in (0, 1).
    seed : int
        Seed of the permutation.
    what : str
        The option's name, for error messages.

    Returns
    -------
    first, second : ndarray of int64
        Disjoint sorted indices, ``second`` holding ``round(n * fraction)`` of them.

    Examples
    --------
    >>> split_indices(5, 0.4, seed=1)
    (array([1, 2, 3]), array([0, 4]))
    """
    if not 0.0 < fraction < 1.0:
        raise DataError(f"{what}={fraction} must be between 0 and 1 (exclusive)")
    n_second = round(n * fraction)
    if n_second < 1 or n_second >= n:
        raise DataError(
            f"{what}={fraction} of {n} samples leaves {n_second} in one part and "
            f"{n - n_second} in the other; both must be at least 1"
        )
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_second:]), np.sort(order[:n_second])
