"""Statically binarized MNIST (.amat): real files, tolerant layouts and broken lines."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_data

from vaelab.data import load_dataset, parse_amat, read_amat
from vaelab.errors import DataError, DataNotFoundError


def line(ones: int = 3, sep: str = " ") -> str:
    return sep.join(["1"] * ones + ["0"] * (784 - ones))


def test_real_files() -> None:
    root = shared_data("binarized_mnist")
    splits = load_dataset("binarized-mnist", data_dir=root)  # checks each SHA-256
    for ds, n in ((splits.train, 50000), (splits.valid, 10000), (splits.test, 10000)):
        assert ds.x.shape == (n, 1, 28, 28) and ds.x.dtype == np.float32
        assert ds.kind == "binary" and ds.y is None
        assert set(np.unique(ds.x)) == {0.0, 1.0}
    assert 0.1 < splits.train.x.mean() < 0.2


def test_real_file_checksum_mismatch(tmp_path: Path) -> None:
    root = shared_data("binarized_mnist")
    for split in ("train", "test"):
        (tmp_path / f"binarized_mnist_{split}.amat.gz").symlink_to(root / f"binarized_mnist_{split}.amat.gz")
    (tmp_path / "binarized_mnist_valid.amat").write_text((line() + "\n") * 3)
    with pytest.raises(DataError, match="binarized_mnist_valid.amat: SHA256 .* published 1de3"):
        load_dataset("binarized-mnist", data_dir=tmp_path)


@pytest.mark.parametrize(
    "text",
    [
        (line(3) + "\n") * 2,  # canonical
        (line(3) + "\r\n") * 2,  # CRLF
        (line(3, "  ") + " \n") * 2 + "\n\n",  # extra spaces, blank lines at the end
        line(3) + "\n" + line(3),  # no final newline
    ],
    ids=["canonical", "crlf", "spaces", "no-final-newline"],
)
def test_layouts(text: str) -> None:
    x = parse_amat(text.encode())
    assert x.shape == (2, 1, 28, 28) and x.dtype == np.float32
    assert x.reshape(2, -1)[:, :3].all() and x.sum() == 6


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (line(3)[:-2], "line 2 has 783 values, expected 784"),
        (line(3) + " 1", "line 2 has 785 values"),
        (line(3).replace("1", "2", 1), "line 2 holds '2', expected only 0 and 1"),
        (line(3).replace("1", "0.5", 1), "line 2 holds '0.5'"),
    ],
    ids=["short", "long", "two", "fraction"],
)
def test_bad_lines_are_named(bad: str, message: str) -> None:
    text = "\n".join([line(), bad, line()]) + "\n"
    with pytest.raises(DataError, match=message):
        parse_amat(text.encode(), "f.amat")


def test_empty() -> None:
    with pytest.raises(DataError, match="no images"):
        parse_amat(b"")


def test_directory_source_plain_and_gz(tmp_path: Path) -> None:
    for split, n in (("train", 4), ("valid", 2), ("test", 3)):
        body = ((line(n) + "\n") * n).encode()
        if split == "valid":
            (tmp_path / f"binarized_mnist_{split}.amat.gz").write_bytes(gzip.compress(body))
        else:
            (tmp_path / f"binarized_mnist_{split}.amat").write_bytes(body)
    splits = load_dataset(tmp_path)
    assert (len(splits.train), len(splits.valid), len(splits.test)) == (4, 2, 3)
    assert splits.valid.kind == "binary" and splits.valid.name.endswith("/valid")
    (tmp_path / "binarized_mnist_test.amat").unlink()
    with pytest.raises(DataNotFoundError, match="binarized_mnist_test.amat .*not found"):
        read_amat(tmp_path, "test")
