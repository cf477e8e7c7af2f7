"""Generic .npy/.npz/.csv files: parsing, validation, scaling and kind inference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vaelab.data import array_dataset, load_array, load_dataset
from vaelab.errors import DataError, DataNotFoundError


def test_npy_uint8_is_scaled_and_shaped(tmp_path: Path, rng: np.random.Generator) -> None:
    x = rng.integers(0, 256, (10, 16), dtype=np.uint8)
    np.save(tmp_path / "x.npy", x)
    ds = load_array(tmp_path / "x.npy", shape=(4, 4))
    assert ds.sample_shape == (1, 4, 4) and ds.kind == "unit" and ds.meta["scaled_by"] == 255
    np.testing.assert_allclose(ds.x.reshape(10, 16), x / 255, rtol=1e-6)
    assert load_array(tmp_path / "x.npy", shape=(1, 4, 4)).sample_shape == (1, 4, 4)


def test_npy_mmap_float32_is_not_copied(tmp_path: Path, rng: np.random.Generator) -> None:
    np.save(tmp_path / "x.npy", rng.random((20, 6), dtype=np.float32))
    ds = load_array(tmp_path / "x.npy", mmap=True)
    assert isinstance(ds.x, np.memmap) and ds.kind == "unit" and ds.sample_shape == (6,)


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        ([[0, 1], [1, 1]], "binary"),
        ([[0.0, 0.5], [1.0, 0.25]], "unit"),
        ([[-1.0, 3.0], [2.0, 0.0]], "real"),
        ([[0, 300], [5, 7]], "real"),
        ([[0, 255], [255, 0]], "binary"),
        ([[True, False], [False, True]], "binary"),
    ],
)
def test_kind_inference(values: list, kind: str) -> None:
    ds = array_dataset(np.array(values))
    assert ds.kind == kind and ds.x.dtype == np.float32


def test_npz_key_variants(tmp_path: Path) -> None:
    x, y = np.eye(5, dtype=np.float32), np.arange(5)
    np.savez(tmp_path / "a.npz", images=x, targets=y)
    ds = load_array(tmp_path / "a.npz")
    assert ds.y.tolist() == [0, 1, 2, 3, 4] and ds.y.dtype == np.int64
    np.savez(tmp_path / "b.npz", X=x)
    assert load_array(tmp_path / "b.npz").y is None
    np.savez(tmp_path / "c.npz", pixels=x)
    with pytest.raises(DataError, match=r"arrays \['pixels'\], expected one of"):
        load_array(tmp_path / "c.npz")


def test_npz_with_train_test_splits(tmp_path: Path) -> None:
    np.savez(tmp_path / "s.npz", x_train=np.zeros((6, 4)), y_train=np.arange(6), x_test=np.ones((3, 4)))
    splits = load_dataset(tmp_path / "s.npz", shape=(2, 2))
    assert len(splits.train) == 6 and len(splits.test) == 3 and splits.test.y is None
    assert splits.train.sample_shape == (1, 2, 2)
    with pytest.raises(DataError, match="load_dataset"):
        load_array(tmp_path / "s.npz")


def test_npz_refuses_pickles(tmp_path: Path) -> None:
    np.savez(tmp_path / "o.npz", x=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(DataError, match="pickle"):
        load_array(tmp_path / "o.npz")
    np.save(tmp_path / "o.npy", np.array([[1], None], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="pickle"):
        load_array(tmp_path / "o.npy")


def test_csv_header_and_label_column(tmp_path: Path) -> None:
    (tmp_path / "h.csv").write_text("label,p0,p1,p2,p3\n3,0,255,10,20\n1,5,5,5,5\n2,0,0,0,0\n")
    ds = load_array(tmp_path / "h.csv", label_column="label", shape=(2, 2))
    assert ds.y.tolist() == [3, 1, 2] and ds.sample_shape == (1, 2, 2) and ds.kind == "unit"
    np.testing.assert_allclose(ds.x[0].ravel(), [0.0, 1.0, 10 / 255, 20 / 255], rtol=1e-6)
    by_index = load_array(tmp_path / "h.csv", label_column=0)
    np.testing.assert_array_equal(by_index.x.reshape(3, 4), ds.x.reshape(3, 4))
    with pytest.raises(DataError, match="no column 'target'; the header has"):
        load_array(tmp_path / "h.csv", label_column="target")


def test_csv_without_header(tmp_path: Path) -> None:
    (tmp_path / "n.csv").write_text("0.5,-1.5,1\n2.0,3.0,0\n")
    ds = load_array(tmp_path / "n.csv", label_column=-1)
    assert ds.kind == "real" and ds.x.tolist() == [[0.5, -1.5], [2.0, 3.0]]
    assert ds.y.tolist() == [1, 0]
    with pytest.raises(DataError, match="needs a header row"):
        load_array(tmp_path / "n.csv", label_column="y")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b\n1,2\n3\n", "row 3 has 1 columns, expected 2"),
        ("1,2\n3,4,5\n", "row 2 has 3 columns, expected 2"),
        ("a,b\n1,2\n3,x\n", "row 3, column 2: 'x' is not a number"),
        ("1,2\n,4\n", "row 2, column 1: '' is not a number"),
        ("1,2\nnan,4\n", "sample 1, value 0 is nan"),
        ("1,inf\n3,4\n", "sample 0, value 1 is inf"),
        ("a,b\n", "empty"),
        ("", "empty CSV"),
        ("1,2\n", "single sample"),
    ],
)
def test_bad_csv(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "bad.csv").write_text(text)
    with pytest.raises(DataError, match=message):
        load_array(tmp_path / "bad.csv")


def test_shape_mismatch_names_both_sizes() -> None:
    with pytest.raises(DataError, match=r"shape=\(3, 3\) holds 9 values but each sample has 8"):
        array_dataset(np.zeros((4, 8)), shape=(3, 3))


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        (np.zeros((0, 4)), None, "empty"),
        (np.zeros((1, 4)), None, "single sample"),
        (np.zeros(5), None, r"shape \(5,\), expected \(n_samples, n_features\)"),
        (np.zeros((3, 2)), np.arange(4), r"labels of shape \(4,\) for 3 samples"),
        (np.zeros((3, 2)), np.array([0.5, 1, 2]), "not all integers"),
        (np.array([["a", "b"], ["c", "d"]]), None, "expected numbers"),
        (np.array([[1.0, np.nan], [0.0, 0.0]]), None, "NaN and inf are not allowed"),
    ],
)
def test_invalid_arrays(x: np.ndarray, y: np.ndarray | None, message: str) -> None:
    with pytest.raises(DataError, match=message):
        array_dataset(x, y)


def test_missing_and_unknown_files(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="no such file"):
        load_dataset(tmp_path / "missing.npy")
    (tmp_path / "x.txt").write_text("1,2\n")
    with pytest.raises(DataError, match="unknown file type '.txt'"):
        load_array(tmp_path / "x.txt")


def test_single_file_split_is_seeded(tmp_path: Path, rng: np.random.Generator) -> None:
    np.save(tmp_path / "x.npy", rng.random((50, 3)))
    a = load_dataset(tmp_path / "x.npy", test_fraction=0.3, seed=1)
    b = load_dataset(tmp_path / "x.npy", test_fraction=0.3, seed=1)
    c = load_dataset(tmp_path / "x.npy", test_fraction=0.3, seed=2)
    assert (len(a.train), len(a.test)) == (35, 15)
    np.testing.assert_array_equal(a.test.x, b.test.x)
    assert not np.array_equal(a.test.x, c.test.x)
