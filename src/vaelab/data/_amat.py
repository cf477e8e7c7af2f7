"""Larochelle & Murray's statically binarized MNIST: ``.amat`` text, one image a line.

Each line holds 784 space-separated 0/1 values. The canonical files (every line exactly
``"v v ... v\\n"``) are parsed in one vectorised pass; anything else (CRLF, extra spaces)
goes through a per-line pass that also finds the line of any error.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from vaelab.data._files import find_file, read_data_file
from vaelab.errors import DataError

N_PIXELS = 784
SPLITS = ("train", "valid", "test")
_ZERO, _ONE, _SPACE, _NEWLINE = (ord(c) for c in "01 \n")


def _parse_canonical(buf: np.ndarray) -> np.ndarray | None:
    """``(n, 784)`` uint8 0/1 from canonical lines, or None when the layout differs."""
    width = 2 * N_PIXELS  # 784 values, 783 spaces, one newline
    if buf.size == 0 or buf.size % width:
        return None
    grid = buf.reshape(-1, width)  # (n, 1568)
    values = grid[:, 0::2]  # (n, 784)
    if not (
        (grid[:, 1:-1:2] == _SPACE).all()
        and (grid[:, -1] == _NEWLINE).all()
        and ((values == _ZERO) | (values == _ONE)).all()
    ):
        return None
    return values == _ONE


def _parse_lines(content: bytes, what: str) -> np.ndarray:
    """``(n, 784)`` bool from any whitespace layout, naming the first bad line."""
    lines = content.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    out = np.empty((len(lines), N_PIXELS), np.uint8)
    for number, line in enumerate(lines, start=1):
        tokens = line.split()
        if len(tokens) != N_PIXELS:
            raise DataError(f"{what}: line {number} has {len(tokens)} values, expected {N_PIXELS}")
        joined = b"".join(tokens)
        row = np.frombuffer(joined, np.uint8)
        if len(joined) != N_PIXELS or not ((row == _ZERO) | (row == _ONE)).all():
            bad = next(t for t in tokens if t not in (b"0", b"1"))
            raise DataError(
                f"{what}: line {number} holds {bad.decode(errors='replace')!r}, expected only 0 and 1"
            )
        out[number - 1] = row
    return out == _ONE


def parse_amat(content: bytes, what: str = "amat data") -> np.ndarray:
    """Parse binarized-MNIST ``.amat`` text into float32 images.

    Parameters
    ----------
    content : bytes
        The uncompressed text.
    what : str
        The file's name, for error messages.

    Returns
    -------
    ndarray of float32, shape (n, 1, 28, 28)
        Values 0.0 and 1.0.

    Raises
    ------
    DataError
        For an empty file, or a line without exactly 784 values of 0 or 1 (naming it).

    Examples
    --------
    >>> line = " ".join(["1"] * 10 + ["0"] * 774).encode() + b"\\n"
    >>> x = parse_amat(line * 2)
    >>> x.shape, x.dtype, float(x.sum())
    ((2, 1, 28, 28), dtype('float32'), 20.0)
    """
    buf = np.frombuffer(content, np.uint8)
    bits = _parse_canonical(buf)
    if bits is None:
        bits = _parse_lines(content, what)
    if len(bits) == 0:
        raise DataError(f"{what}: no images (the file is empty)")
    return bits.astype(np.float32).reshape(-1, 1, 28, 28)


def read_amat(directory: Path, split: str, checksums: Mapping[str, str] | None = None) -> np.ndarray:
    """Read ``binarized_mnist_<split>.amat`` (plain or ``.gz``) from ``directory``.

    Parameters
    ----------
    directory : Path
        The folder holding the files.
    split : {"train", "valid", "test"}
        Which file.
    checksums : mapping of str to str, optional
        Known ``"<algorithm>:<hex digest>"`` per file name; a ``.gz`` copy of a known
        ``.amat`` is checked after decompression.

    Returns
    -------
    ndarray of float32, shape (n, 1, 28, 28)

    Raises
    ------
    DataNotFoundError
        Naming the missing file.
    DataError
        For a checksum mismatch or malformed content.

    Examples
    --------
    >>> read_amat(Path("/nonexistent"), "valid")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    vaelab.errors.DataNotFoundError: binarized_mnist_valid.amat ... not found in /nonexistent
    """
    if split not in SPLITS:
        raise DataError(f"split={split!r} must be one of {SPLITS}")
    path = find_file(directory, f"binarized_mnist_{split}.amat")
    return parse_amat(read_data_file(path, checksums), path.name)
