"""IDX reader: real MNIST-family files and every way a file can be broken."""

from __future__ import annotations

import gzip
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_data

from vaelab.data import REMOTE_DATASETS, load_dataset, parse_idx, read_idx_split
from vaelab.data._idx import IMAGES_MAGIC, LABELS_MAGIC
from vaelab.errors import DataError, DataNotFoundError


def idx_bytes(magic: int, dims: tuple[int, ...], data: bytes | None = None) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims)
    if data is None:
        data = bytes(i % 10 for i in range(int(np.prod(dims))))
    return header + data


def write_split(directory: Path, prefix: str, images: bytes, labels: bytes, gz: bool) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for kind, body in (("images-idx3", images), ("labels-idx1", labels)):
        name = f"{prefix}-{kind}-ubyte"
        if gz:
            (directory / f"{name}.gz").write_bytes(gzip.compress(body))
        else:
            (directory / name).write_bytes(body)


def good_dir(tmp_path: Path, gz: bool, n_train: int = 6, n_test: int = 4) -> Path:
    d = tmp_path / "idx"
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_split(d, prefix, idx_bytes(IMAGES_MAGIC, (n, 3, 2)), idx_bytes(LABELS_MAGIC, (n,)), gz)
    return d


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_real_files(name: str) -> None:
    root = shared_data(name.replace("-", "_"))
    for file_name, checksum in REMOTE_DATASETS[name].checksums.items():
        algo, digest = checksum.split(":")
        assert hashlib.new(algo, (root / file_name).read_bytes()).hexdigest() == digest
    splits = load_dataset(name, data_dir=root)  # verifies every MD5 again while reading
    for ds, n in ((splits.train, 60000), (splits.test, 10000)):
        assert len(ds) == n and ds.x.shape == (n, 1, 28, 28)
        assert ds.x.dtype == np.float32 and ds.kind == "unit"
        assert ds.x.min() == 0.0 and ds.x.max() == 1.0
        assert ds.y.dtype == np.int64 and set(np.unique(ds.y)) == set(range(10))
    assert splits.valid is None


def test_real_mnist_corrupted_local_copy_fails_md5(tmp_path: Path) -> None:
    root = shared_data("mnist")
    for f in root.iterdir():
        (tmp_path / f.name).symlink_to(f)
    (tmp_path / "train-labels-idx1-ubyte.gz").unlink()
    labels = bytearray(gzip.decompress((root / "train-labels-idx1-ubyte.gz").read_bytes()))
    labels[100] = (labels[100] + 1) % 10  # a valid file, but not the published one
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes(labels)))
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte.gz: MD5 .* published d53e"):
        load_dataset("mnist", data_dir=tmp_path)


@pytest.mark.parametrize("gz", [False, True])
def test_synthetic_directory_loads(tmp_path: Path, gz: bool) -> None:
    splits = load_dataset(good_dir(tmp_path, gz))
    assert splits.train.x.shape == (6, 1, 3, 2) and len(splits.test) == 4
    assert splits.train.y.tolist() == [0, 1, 2, 3, 4, 5]
    assert splits.train.x.max() == pytest.approx(9 / 255)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize(
    ("images", "labels", "message"),
    [
        (
            idx_bytes(LABELS_MAGIC, (6,)),
            idx_bytes(LABELS_MAGIC, (6,)),
            "train-images-idx3-ubyte.*magic number 2049, expected 2051",
        ),
        (
            idx_bytes(IMAGES_MAGIC, (6, 3, 2)),
            idx_bytes(IMAGES_MAGIC, (6, 3, 2)),
            "train-labels-idx1-ubyte.*magic number 2051, expected 2049",
        ),
        (
            idx_bytes(IMAGES_MAGIC, (6, 3, 2))[:-5],
            idx_bytes(LABELS_MAGIC, (6,)),
            "truncated: header .* promises 36 data bytes, the file has 31",
        ),
        (idx_bytes(IMAGES_MAGIC, (6, 3, 2)) + b"\0", idx_bytes(LABELS_MAGIC, (6,)), "trailing bytes"),
        (idx_bytes(IMAGES_MAGIC, (6, 3, 2))[:10], idx_bytes(LABELS_MAGIC, (6,)), "truncated header"),
        (b"\x00\x00", idx_bytes(LABELS_MAGIC, (6,)), "too short"),
        (
            b"\x00\x00\x0d\x03" + idx_bytes(IMAGES_MAGIC, (6, 3, 2))[4:],
            idx_bytes(LABELS_MAGIC, (6,)),
            "element type 0x0d, expected 0x08",
        ),
        (idx_bytes(IMAGES_MAGIC, (6, 3, 2)), idx_bytes(LABELS_MAGIC, (5,)), "6 images but .* 5 labels"),
        (
            idx_bytes(IMAGES_MAGIC, (6, 3, 2)),
            idx_bytes(LABELS_MAGIC, (6,), bytes([0, 1, 2, 10, 4, 5])),
            "label 10 at index 3 .* outside 0-9",
        ),
    ],
    ids=[
        "wrong-magic-images",
        "wrong-magic-labels",
        "truncated",
        "trailing",
        "short-header",
        "tiny",
        "wrong-type",
        "count-mismatch",
        "label-out-of-range",
    ],
)
def test_broken_files(tmp_path: Path, gz: bool, images: bytes, labels: bytes, message: str) -> None:
    d = good_dir(tmp_path, gz)
    write_split(d, "train", images, labels, gz)
    with pytest.raises(DataError, match=message):
        read_idx_split(d, "train")
    with pytest.raises(DataError):
        load_dataset(d)


def test_truncated_gzip_stream(tmp_path: Path) -> None:
    d = good_dir(tmp_path, gz=True)
    path = d / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-12])
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz: not a readable gzip"):
        load_dataset(d)


def test_missing_file_is_named(tmp_path: Path) -> None:
    d = good_dir(tmp_path, gz=True)
    (d / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataNotFoundError, match="t10k-labels-idx1-ubyte .*not found in"):
        load_dataset(d)
    shutil.rmtree(d)
    d.mkdir()
    with pytest.raises(DataNotFoundError, match="neither IDX files"):
        load_dataset(d)


def test_named_dataset_missing_in_data_dir(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="train-images-idx3-ubyte .*not found"):
        load_dataset("kmnist", data_dir=tmp_path)


def test_parse_idx_is_a_view() -> None:
    content = idx_bytes(IMAGES_MAGIC, (2, 2, 2))
    arr = parse_idx(content, IMAGES_MAGIC)
    assert arr.shape == (2, 2, 2) and arr.dtype == np.uint8 and not arr.flags.writeable
