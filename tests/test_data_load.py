"""load_dataset: names, digits, errors and reloading from the stored description."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vaelab.data import KNOWN_DATASETS, describe_source, load_dataset
from vaelab.errors import DataError


def test_digits() -> None:
    splits = load_dataset("digits", test_fraction=0.25, seed=1)
    assert (len(splits.train), len(splits.test)) == (1348, 449)
    for ds in (splits.train, splits.test):
        assert ds.sample_shape == (1, 8, 8) and ds.kind == "unit" and ds.x.dtype == np.float32
        assert 0.0 <= ds.x.min() and ds.x.max() == 1.0 and set(np.unique(ds.y)) == set(range(10))
    again = load_dataset("digits", test_fraction=0.25, seed=1)
    np.testing.assert_array_equal(splits.test.x, again.test.x)
    other = load_dataset("digits", test_fraction=0.25, seed=2)
    assert not np.array_equal(splits.test.y, other.test.y)


def test_unknown_name_lists_known_names() -> None:
    with pytest.raises(DataError, match="unknown dataset 'cifar'.*'binarized-mnist', 'digits'"):
        load_dataset("cifar")
    assert set(KNOWN_DATASETS) == {"digits", "mnist", "fashion-mnist", "kmnist", "binarized-mnist"}


def test_array_options_rejected_for_named_datasets() -> None:
    with pytest.raises(DataError, match="apply to array files"):
        load_dataset("digits", shape=(8, 8))


def test_meta_reloads_the_same_data(tmp_path: Path, rng: np.random.Generator) -> None:
    (tmp_path / "d.csv").write_text(
        "y,a,b,c,d\n" + "".join(f"{i % 3},{i},{i * 2},{i * 3},1\n" for i in range(20))
    )
    splits = load_dataset(tmp_path / "d.csv", label_column="y", shape=(2, 2), test_fraction=0.3, seed=4)
    stored = json.loads(json.dumps(splits.train.meta))  # as config.json would keep it
    assert stored["source"] == describe_source(
        tmp_path / "d.csv", label_column="y", shape=(2, 2), test_fraction=0.3, seed=4
    )
    assert stored["split"] == "train" and Path(stored["source"]["source"]).is_absolute()
    reloaded = load_dataset(**stored["source"])
    np.testing.assert_array_equal(reloaded.train.x, splits.train.x)
    np.testing.assert_array_equal(reloaded.test.y, splits.test.y)
    assert splits.test.meta["source"] == stored["source"]


def test_test_fraction_validated() -> None:
    with pytest.raises(DataError, match="test_fraction=1.5 must be between 0 and 1"):
        load_dataset("digits", test_fraction=1.5)


def test_fashion_mnist_names_its_labels_and_mnist_keeps_digits() -> None:
    from conftest import shared_data

    fashion = load_dataset("fashion-mnist", data_dir=shared_data("fashion_mnist"))
    for split in (fashion.train, fashion.test):
        names = split.class_names
        assert names is not None and len(names) == 10 and int(split.y.max()) == 9
        assert (names[0], names[5], names[9]) == ("T-shirt/top", "Sandal", "Ankle boot")
    assert fashion.train.subset(np.arange(5)).class_names == fashion.train.class_names
    assert load_dataset("mnist", data_dir=shared_data("mnist")).train.class_names is None
    assert load_dataset("digits").train.class_names is None  # its labels are the digits
