"""IDX files (the MNIST family's format), parsed and validated with numpy.

IDX layout: big-endian; bytes 0-1 zero, byte 2 the element type (0x08 = uint8), byte 3
the number of dimensions; one 4-byte size per dimension; then the data. Images have
magic 2051 (0x00000803, 3 dims), labels 2049 (0x00000801, 1 dim).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from vaelab.data._files import find_file, read_data_file
from vaelab.errors import DataError

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
_KIND = {IMAGES_MAGIC: "an IDX image file", LABELS_MAGIC: "an IDX label file"}
_NDIM = {IMAGES_MAGIC: 3, LABELS_MAGIC: 1}
SPLIT_PREFIXES = {"train": "train", "test": "t10k"}
N_CLASSES = 10


def parse_idx(content: bytes, magic: int, what: str = "IDX data") -> np.ndarray:
    """Parse the bytes of an uncompressed IDX file of uint8 values.

    Parameters
    ----------
    content : bytes
        The whole file, uncompressed.
    magic : {2051, 2049}
        The expected magic number: 2051 for images, 2049 for labels.
    what : str
        The file's name, for error messages.

    Returns
    -------
    ndarray of uint8
        Shape ``(n, rows, cols)`` for images, ``(n,)`` for labels. A read-only view
        of ``content``.

    Raises
    ------
    DataError
        For a wrong magic number, element type or dimension count, or a byte count that
        does not match the header (a truncated file).

    Examples
    --------
    >>> header = bytes([0, 0, 8, 1]) + (3).to_bytes(4, "big")
    >>> parse_idx(header + bytes([7, 0, 9]), LABELS_MAGIC)
    array([7, 0, 9], dtype=uint8)
    """
    if len(content) < 4:
        raise DataError(f"{what}: {len(content)} bytes, too short for an IDX header")
    found = int.from_bytes(content[:4], "big")
    if content[:2] != b"\x00\x00" or content[3] != _NDIM[magic]:
        raise DataError(f"{what}: magic number {found}, expected {magic} ({_KIND[magic]})")
    if content[2] != 0x08:
        raise DataError(f"{what}: element type 0x{content[2]:02x}, expected 0x08 (unsigned bytes)")
    ndim = content[3]
    header = 4 + 4 * ndim
    if len(content) < header:
        raise DataError(f"{what}: truncated header ({len(content)} of {header} bytes)")
    dims = tuple(int(d) for d in np.frombuffer(content, ">u4", count=ndim, offset=4))
    if magic == IMAGES_MAGIC and (dims[1] < 1 or dims[2] < 1):
        raise DataError(f"{what}: image size {dims[1]}x{dims[2]}, expected positive sizes")
    expected = int(np.prod(dims, dtype=np.int64))
    actual = len(content) - header
    if actual != expected:
        problem = "truncated" if actual < expected else "has trailing bytes"
        raise DataError(
            f"{what}: {problem}: header {dims} promises {expected} data bytes, the file has {actual}"
        )
    return np.frombuffer(content, np.uint8, offset=header).reshape(dims)


def read_idx(path: Path, magic: int, checksums: Mapping[str, str] | None = None) -> np.ndarray:
    """Read an IDX file, plain or gzip, checking its checksum when its name is known.

    Parameters
    ----------
    path : Path
        The file.
    magic : {2051, 2049}
        The expected magic number: 2051 for images, 2049 for labels.
    checksums : mapping of str to str, optional
        Known ``"<algorithm>:<hex digest>"`` per file name.

    Returns
    -------
    ndarray of uint8
        Images ``(n, rows, cols)`` or labels ``(n,)``.

    Raises
    ------
    DataError
        For a corrupt, truncated or mismatching file.
    DataNotFoundError
        When the file does not exist.

    Examples
    --------
    >>> import gzip, tempfile
    >>> p = Path(tempfile.mkdtemp()) / "labels.gz"
    >>> body = bytes([0, 0, 8, 1]) + (2).to_bytes(4, "big") + bytes([3, 4])
    >>> _ = p.write_bytes(gzip.compress(body))
    >>> read_idx(p, LABELS_MAGIC)
    array([3, 4], dtype=uint8)
    """
    return parse_idx(read_data_file(Path(path), checksums), magic, Path(path).name)


def read_idx_split(
    directory: Path, split: str, checksums: Mapping[str, str] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Read one split's images and labels from ``directory``.

    Parameters
    ----------
    directory : Path
        Holds ``{train,t10k}-{images-idx3,labels-idx1}-ubyte``, plain or ``.gz``.
    split : {"train", "test"}
        Which split; ``"test"`` reads the ``t10k`` files.
    checksums : mapping of str to str, optional
        Known ``"<algorithm>:<hex digest>"`` per file name.

    Returns
    -------
    images : ndarray of uint8, shape (n, rows, cols)
    labels : ndarray of int64, shape (n,)

    Raises
    ------
    DataError
        When a file is invalid, the counts differ or a label is outside 0-9.
    DataNotFoundError
        Naming a missing file.

    Examples
    --------
    >>> read_idx_split(Path("/nonexistent"), "train")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    vaelab.errors.DataNotFoundError: train-images-idx3-ubyte ... not found in /nonexistent
    """
    prefix = SPLIT_PREFIXES[split]
    image_file = find_file(directory, f"{prefix}-images-idx3-ubyte")
    label_file = find_file(directory, f"{prefix}-labels-idx1-ubyte")
    images = read_idx(image_file, IMAGES_MAGIC, checksums)
    labels = read_idx(label_file, LABELS_MAGIC, checksums)
    if len(images) != len(labels):
        raise DataError(
            f"{image_file.name} has {len(images)} images but {label_file.name} has "
            f"{len(labels)} labels: the counts must match"
        )
    bad = np.flatnonzero(labels >= N_CLASSES)
    if bad.size:
        raise DataError(
            f"{label_file.name}: label {int(labels[bad[0]])} at index {int(bad[0])} "
            f"({bad.size} in all) is outside 0-{N_CLASSES - 1}"
        )
    return images, labels.astype(np.int64)
