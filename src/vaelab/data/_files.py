"""Reading data files: plain or gzip, with a checksum check for files whose digest is known.

A checksum is written ``"<algorithm>:<hex digest>"`` (``"md5:f68b..."``,
``"sha256:ad69..."``), so a registry stays a plain, JSON-friendly dict of strings.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import os
import zlib
from collections.abc import Mapping
from pathlib import Path

from vaelab.errors import DataError, DataNotFoundError

GZIP_MAGIC = b"\x1f\x8b"


def check_path(path: str | Path, what: str = "path") -> Path:
    """``path`` (user-expanded) after refusing one that cannot even be looked up.

    A missing path is fine here (callers say what they expected); a symlink loop
    anywhere along it, or a lookup the system refuses (no permission), is a
    `DataError` naming ``what``. Without this, the first ``resolve()`` or ``open``
    raises a bare ``RuntimeError`` or ``OSError`` (ELOOP).

    Parameters
    ----------
    path : str or Path
        The path to check.
    what : str
        How the user named it (``"data"``, ``"data_dir"``), for the message.

    Returns
    -------
    Path
        ``path`` with ``~`` expanded.

    Raises
    ------
    DataError
        For a symlink loop or a path the system will not look up.

    Examples
    --------
    >>> import tempfile
    >>> loop = Path(tempfile.mkdtemp()) / "loop"
    >>> loop.symlink_to(loop)
    >>> check_path(loop / "x.npy", "data")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    vaelab.errors.DataError: data=.../loop/x.npy: the path runs into a symlink loop ...
    """
    path = Path(path).expanduser()
    try:
        os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        pass
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise DataError(
                f"{what}={path}: the path runs into a symlink loop (a link that leads back "
                f"to itself), so it names no file or directory"
            ) from None
        raise DataError(f"{what}={path}: cannot be looked up ({err.strerror})") from None
    return path


def resolve_path(path: str | Path, what: str = "path") -> Path:
    """`check_path`, then the absolute path with symlinks resolved.

    Parameters
    ----------
    path : str or Path
        The path to resolve.
    what : str
        How the user named it, for the message.

    Returns
    -------
    Path
        The absolute, resolved path.

    Raises
    ------
    DataError
        For a symlink loop or a path the system will not look up.

    Examples
    --------
    >>> resolve_path("/tmp/../tmp").as_posix()
    '/tmp'
    """
    path = check_path(path, what)
    try:
        return path.resolve()
    except (OSError, RuntimeError) as err:  # RuntimeError: Python < 3.13 on a loop
        raise DataError(f"{what}={path}: cannot be resolved ({err})") from None


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
    except OSError as err:  # a symlink loop, a directory, no permission
        check_path(path, "file")
        raise DataError(f"{path}: cannot be read ({err.strerror or err})") from None
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
        if (directory / name).is_symlink():  # a link that does not lead to a file
            check_path(directory / name, "file")
    raise DataNotFoundError(f"{stem} (or {stem}.gz) not found in {directory}")
