"""Reading data files: plain or gzip, with a checksum check for files whose digest is known.

A checksum is written ``"<algorithm>:<hex digest>"`` (``"md5:f68b..."``,
``"sha256:ad69..."``), so a registry stays a plain, JSON-friendly dict of strings.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from collections.abc import Mapping
from pathlib import Path

from vaelab.errors import DataError, DataNotFoundError

GZIP_MAGIC = b"\x1f\x8b"


def hexdigest(data: bytes, algorithm: str) -> str:
    """Hex digest of ``data`` with the named hashlib algorithm.

    Parameters
    ----------
    data : bytes
        The bytes to hash.
    algorithm : str
        A hashlib algorithm name, such as ``"md5"`` or ``"sha256"``.

    Returns
    -------
    str
        The lowercase hex digest.

    Examples
    --------
    >>> hexdigest(b"", "md5")
    'd41d8cd98f00b204e9800998ecf8427e'
    """
    return hashlib.new(algorithm, data, usedforsecurity=False).hexdigest()


def check_digest(data: bytes, checksum: str, what: str) -> None:
    """Raise DataError when ``data`` does not have the expected ``checksum``.

    Parameters
    ----------
    data : bytes
        The bytes to check.
    checksum : str
        ``"<algorithm>:<hex digest>"``.
    what : str
        The file's name, for the error message.

    Raises
    ------
    DataError
        When the digests differ.

    Examples
    --------
    >>> check_digest(b"", "md5:d41d8cd98f00b204e9800998ecf8427e", "empty.bin")
    """
    algorithm, expected = checksum.split(":", 1)
    actual = hexdigest(data, algorithm)
    if actual != expected.lower():
        raise DataError(
            f"{what}: {algorithm.upper()} {actual} does not match the published {expected} "
            f"(the file is corrupted, truncated or a different version; delete it and "
            f"download it again)"
        )


def gunzip(raw: bytes, what: str) -> bytes:
    """Decompress gzip bytes, raising DataError for a truncated or corrupt stream.

    Parameters
    ----------
    raw : bytes
        The gzip-compressed bytes.
    what : str
        The file's name, for the error message.

    Returns
    -------
    bytes
        The decompressed bytes.

    Examples
    --------
    >>> gunzip(gzip.compress(b"abc"), "x.gz")
    b'abc'
    """
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"{what}: not a readable gzip file ({err}); it may be truncated") from err


def read_data_file(path: Path, checksums: Mapping[str, str] | None = None) -> bytes:
    """The content of a data file, decompressed when it is gzip.

    When the file's name is in ``checksums`` its bytes on disk are checked; when only
    its name without ``.gz`` is (a file published uncompressed, stored compressed), the
    decompressed content is checked instead.

    Parameters
    ----------
    path : Path
        The file to read.
    checksums : mapping of str to str, optional
        Known ``"<algorithm>:<hex digest>"`` per file name.

    Returns
    -------
    bytes
        The (decompressed) content.

    Raises
    ------
    DataNotFoundError
        When the file does not exist.
    DataError
        When a checksum differs or the gzip stream is broken.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "a.txt.gz"
    >>> _ = p.write_bytes(gzip.compress(b"0 1"))
    >>> read_data_file(p)
    b'0 1'
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError as err:
        raise DataNotFoundError(f"{path}: no such file") from err
    checksums = checksums or {}
    if path.name in checksums:
        check_digest(raw, checksums[path.name], str(path))
    content = gunzip(raw, str(path)) if raw[:2] == GZIP_MAGIC else raw
    if path.name.endswith(".gz") and path.name[:-3] in checksums:
        check_digest(content, checksums[path.name[:-3]], f"{path} (uncompressed)")
    return content


def find_file(directory: Path, stem: str) -> Path:
    """The file ``stem.gz`` or ``stem`` in ``directory`` (gzip preferred).

    Parameters
    ----------
    directory : Path
        Where to look.
    stem : str
        The uncompressed file name, such as ``"train-images-idx3-ubyte"``.

    Returns
    -------
    Path
        The file found.

    Raises
    ------
    DataNotFoundError
        Naming the missing file and the directory searched.

    Examples
    --------
    >>> find_file(Path("/nonexistent"), "x.amat")
    Traceback (most recent call last):
    ...
    vaelab.errors.DataNotFoundError: x.amat (or x.amat.gz) not found in /nonexistent
    """
    directory = Path(directory)
    for name in (stem + ".gz", stem):
        if (directory / name).is_file():
            return directory / name
    raise DataNotFoundError(f"{stem} (or {stem}.gz) not found in {directory}")
