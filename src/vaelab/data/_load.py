"""One entry point, `load_dataset`: a dataset name or a file/folder path to its splits."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from vaelab.data._amat import read_amat
from vaelab.data._arrays import ARRAY_SUFFIXES, array_dataset, read_arrays
from vaelab.data._dataset import Dataset, DataSplits
from vaelab.data._download import REMOTE_DATASETS, locate
from vaelab.data._files import find_file, resolve_path
from vaelab.data._idx import read_idx_split
from vaelab.data._transforms import scale_to_unit, split_indices
from vaelab.errors import DataError, DataNotFoundError


def describe_source(
    source: str | Path,
    *,
    data_dir: str | Path | None = None,
    shape: tuple[int, ...] | list[int] | None = None,
    label_column: int | str | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> dict:
    """Everything needed to load the same data again, as a JSON-serialisable dict.

    ``load_dataset(**describe_source(...))`` reloads it; every loaded `Dataset`
    carries this dict as ``meta["source"]``. Paths are made absolute.

    Parameters
    ----------
    source, data_dir, shape, label_column, test_fraction, seed
        As for `load_dataset`.

    Returns
    -------
    dict
        Keys ``source``, ``data_dir``, ``shape``, ``label_column``, ``test_fraction``,
        ``seed``.

    Examples
    --------
    >>> desc = describe_source("digits", seed=3)
    >>> desc["source"], desc["data_dir"], desc["test_fraction"], desc["seed"]
    ('digits', None, 0.2, 3)
    """
    source = str(source)
    if source not in LOADERS:
        source = str(resolve_path(source, "data"))
    return {
        "source": source,
        "data_dir": None if data_dir is None else str(resolve_path(data_dir, "data_dir")),
        "shape": None if shape is None else [int(s) for s in shape],
        "label_column": label_column,
        "test_fraction": float(test_fraction),
        "seed": int(seed),
    }


def _meta(desc: dict, split: str, **extra: object) -> dict:
    return {"source": dict(desc), "split": split, **extra}


# what label i means, for the named datasets whose labels are not their own names (MNIST's are digits)
CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "fashion-mnist": (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ),
    "kmnist": ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
}  # fmt: skip


def _idx_splits(directory: Path, name: str, desc: dict, checksums: dict | None) -> DataSplits:
    parts = {}
    names = {"class_names": list(CLASS_NAMES[name])} if name in CLASS_NAMES else {}
    for split in ("train", "test"):
        images, labels = read_idx_split(directory, split, checksums)
        x = scale_to_unit(images)[:, None]  # (N, 1, H, W)
        parts[split] = Dataset(
            x, labels, x.shape[1:], "unit", f"{name}/{split}", _meta(desc, split, scaled_by=255, **names)
        )
    return DataSplits(parts["train"], parts["test"])


def _amat_splits(directory: Path, name: str, desc: dict, checksums: dict | None) -> DataSplits:
    parts = {
        split: Dataset(
            read_amat(directory, split, checksums),
            None,
            (1, 28, 28),
            "binary",
            f"{name}/{split}",
            _meta(desc, split),
        )
        for split in ("train", "valid", "test")
    }
    return DataSplits(parts["train"], parts["test"], parts["valid"])


def _named(reader: Callable[..., DataSplits], name: str) -> Callable[[dict, str | None], DataSplits]:
    def load(desc: dict, mirror: str | None) -> DataSplits:
        directory = locate(name, desc["data_dir"], mirror)
        return reader(directory, name, desc, REMOTE_DATASETS[name].checksums)

    return load


def _digits(desc: dict, mirror: str | None) -> DataSplits:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.data.astype(np.float32) / 16.0).reshape(-1, 1, 8, 8)  # (1797, 1, 8, 8)
    full = Dataset(x, bunch.target.astype(np.int64), (1, 8, 8), "unit", "digits")
    return _split(full, desc)


def _split(full: Dataset, desc: dict) -> DataSplits:
    train_idx, test_idx = split_indices(len(full), desc["test_fraction"], desc["seed"])
    base = full.name
    train, test = full.subset(train_idx, f"{base}/train"), full.subset(test_idx, f"{base}/test")
    train.meta, test.meta = _meta(desc, "train", **full.meta), _meta(desc, "test", **full.meta)
    return DataSplits(train, test)


def _path_splits(path: Path, desc: dict) -> DataSplits:
    if path.is_dir():
        for stem, reader in (
            ("train-images-idx3-ubyte", _idx_splits),
            ("binarized_mnist_train.amat", _amat_splits),
        ):
            try:
                find_file(path, stem)
            except DataNotFoundError:
                continue
            return reader(path, path.name, desc, None)
        raise DataNotFoundError(
            f"{path}: neither IDX files (train-images-idx3-ubyte[.gz], ...) nor "
            f"binarized_mnist_train.amat[.gz] found in this directory"
        )
    parts = read_arrays(path, label_column=desc["label_column"])
    if "train" in parts:
        _check_shapes(path.name, {s: parts[s][0].shape[1:] for s in ("train", "test")})
    shape = desc["shape"]
    if "all" in parts:
        x, y = parts["all"]
        return _split(array_dataset(x, y, shape=shape, name=path.stem), desc)
    return DataSplits(
        *(
            array_dataset(x, y, shape=shape, name=f"{path.stem}/{split}", meta=_meta(desc, split))
            for split, (x, y) in ((s, parts[s]) for s in ("train", "test"))
        )
    )


def _check_shapes(what: str, shapes: dict[str, tuple[int, ...]]) -> None:
    """DataError unless every split's samples have one shape (a model takes one input size)."""
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{split} {tuple(shape)}" for split, shape in shapes.items())
        raise DataError(
            f"{what}: the splits hold samples of different shapes ({listed}); a model "
            f"trained on one cannot be tested on another: every split needs the same "
            f"sample shape"
        )


def _check_splits(splits: DataSplits, what: str) -> DataSplits:
    parts = {"train": splits.train, "test": splits.test, "valid": splits.valid}
    _check_shapes(what, {k: ds.sample_shape for k, ds in parts.items() if ds is not None})
    return splits


LOADERS: dict[str, Callable[[dict, str | None], DataSplits]] = {
    "digits": _digits,
    "mnist": _named(_idx_splits, "mnist"),
    "fashion-mnist": _named(_idx_splits, "fashion-mnist"),
    "kmnist": _named(_idx_splits, "kmnist"),
    "binarized-mnist": _named(_amat_splits, "binarized-mnist"),
}


def load_dataset(
    source: str | Path,
    *,
    data_dir: str | Path | None = None,
    shape: tuple[int, ...] | list[int] | None = None,
    label_column: int | str | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
    mirror: str | None = None,
) -> DataSplits:
    """Load a dataset by name or path, split into train/test (and valid where published).

    Parameters
    ----------
    source : str or Path
        ``"digits"``, ``"mnist"``, ``"fashion-mnist"``, ``"kmnist"``,
        ``"binarized-mnist"``, or a path to a ``.npy``/``.npz``/``.csv`` file, a folder
        of IDX files or a folder of binarized-MNIST ``.amat`` files.
    data_dir : str or Path, optional
        For a named dataset: the folder holding its files (or a parent with a subfolder
        named like it). Default: ``$VAELAB_DATA``, else the cache, downloading.
    shape : tuple of int, optional
        For array files: ``(H, W)`` or ``(C, H, W)`` of one sample.
    label_column : int or str, optional
        For array files: the column holding labels (a header name for a CSV).
    test_fraction : float
        For ``digits`` and single array files: share of samples in the test split.
    seed : int
        Seed of that split.
    mirror : str, optional
        Base URL to download named datasets from (also ``VAELAB_MIRROR``).

    Returns
    -------
    DataSplits
        float32 samples; each dataset's ``meta["source"]`` is `describe_source`'s dict.

    Raises
    ------
    DataError
        For an unknown name, invalid data, a checksum mismatch, splits whose samples
        differ in shape, or a path through a symlink loop.
    DataNotFoundError
        For a missing file or folder.

    Examples
    --------
    >>> splits = load_dataset("digits", seed=0)
    >>> len(splits.train), len(splits.test), splits.train.sample_shape, splits.train.kind
    (1438, 359, (1, 8, 8), 'unit')
    """
    desc = describe_source(
        source,
        data_dir=data_dir,
        shape=shape,
        label_column=label_column,
        test_fraction=test_fraction,
        seed=seed,
    )
    loader = LOADERS.get(desc["source"])
    if loader is not None:
        if shape is not None or label_column is not None:
            raise DataError(f"shape and label_column apply to array files, not to dataset {source!r}")
        return _check_splits(loader(desc, mirror), str(source))
    path = Path(desc["source"])
    if not path.exists():
        if Path(str(source)).suffix.lower() in ARRAY_SUFFIXES or "/" in str(source):
            raise DataNotFoundError(f"{source}: no such file or directory")
        raise DataError(
            f"unknown dataset {str(source)!r}: expected one of {sorted(LOADERS)} or a path "
            f"to a {'/'.join(ARRAY_SUFFIXES)} file or a folder of IDX/.amat files"
        )
    return _check_splits(_path_splits(path, desc), str(source))
