"""Where the named datasets live: local folders, the user cache, and the published mirrors.

Resolution order for a named dataset:

1. an explicit ``data_dir`` (the files themselves, or a subfolder named like the
   dataset: ``mnist/``, ``fashion_mnist/`` or ``fashion-mnist/``, ``kmnist/``, ...);
2. the ``VAELAB_DATA`` environment variable, laid out the same way;
3. the user cache, ``$VAELAB_CACHE/<name>`` (default ``~/.cache/vaelab/<name>``),
   downloading missing files from the mirror (``mirror=`` or ``VAELAB_MIRROR``).

Downloads go to a temporary file in the cache folder, are checked against the published
checksum and only then renamed into place, so the cache never holds a partial file.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from vaelab.data._files import check_path
from vaelab.errors import DataError, DataNotFoundError

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RemoteDataset:
    """A published dataset: its mirror, files and their checksums."""

    base_url: str  # ends with "/"
    checksums: dict[str, str]  # file name -> "<algorithm>:<hex digest>" of the file served
    dirnames: tuple[str, ...] = field(default=())  # subfolder names it may sit in


_IDX_FILES = tuple(f"{p}-{k}-ubyte.gz" for p in ("train", "t10k") for k in ("images-idx3", "labels-idx1"))


def _idx(base_url: str, md5s: tuple[str, ...], *dirnames: str) -> RemoteDataset:
    sums = {name: f"md5:{md5}" for name, md5 in zip(_IDX_FILES, md5s, strict=True)}
    return RemoteDataset(base_url, sums, dirnames)


REMOTE_DATASETS: dict[str, RemoteDataset] = {
    "mnist": _idx(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        (
            "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "d53e105ee54ea40749a09fcbcd1e9432",
            "9fb629c4189551a2d022fa330f9573f3",
            "ec29112dd5afa0611ce80d1b7f02629c",
        ),
        "mnist",
    ),
    "fashion-mnist": _idx(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        (
            "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "25c81989df183df01b3e8a0aad5dffbe",
            "bef4ecab320f06d8554ea6380940ec79",
            "bb300cfdad3c16e7a12a480ee83cd310",
        ),
        "fashion_mnist",
        "fashion-mnist",
    ),
    "kmnist": _idx(  # the checksums torchvision's KMNIST class uses
        "http://codh.rois.ac.jp/kmnist/dataset/kmnist/",
        (
            "bdb82020997e1d708af4cf47b453dcf7",
            "e144d726b3acfaa3e44228e80efcd344",
            "5c965bf0a639b31b8f53240b1b52f4d7",
            "7320c461ea6c1c855c0b718fb2a4b134",
        ),
        "kmnist",
    ),
    "binarized-mnist": RemoteDataset(  # Larochelle & Murray; SHA-256 of the .amat text
        "http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/",
        {
            "binarized_mnist_train.amat": "sha256:ad693b29f94c14277b095f5238ddefbbdaaae0939789dd2f4f0205278cee3e4d",  # noqa: E501
            "binarized_mnist_valid.amat": "sha256:1de3d397c40fe8eeb33dafd4099a1f665ec01e96d9be234aaeeac8a34930e2e2",  # noqa: E501
            "binarized_mnist_test.amat": "sha256:e6687bfea3f820c174f33b7865140b2a2dd2930ef786f35d45795fc193b5ab2c",  # noqa: E501
        },
        ("binarized_mnist", "binarized-mnist"),
    ),
}


def cache_dir(name: str) -> Path:
    """The user cache folder of dataset ``name``.

    Parameters
    ----------
    name : str
        A dataset name, such as ``"mnist"``.

    Returns
    -------
    Path
        ``$VAELAB_CACHE/<name>``, by default ``~/.cache/vaelab/<name>``.

    Examples
    --------
    >>> cache_dir("mnist").name
    'mnist'
    """
    root = os.environ.get("VAELAB_CACHE") or Path.home() / ".cache" / "vaelab"
    return Path(root).expanduser() / name


def _holds_files(directory: Path, spec: RemoteDataset) -> bool:
    names = {n for f in spec.checksums for n in (f, f.removesuffix(".gz"), f + ".gz")}
    return any((directory / n).is_file() for n in names)


def _in_root(root: Path, spec: RemoteDataset) -> Path | None:
    for sub in spec.dirnames:
        if _holds_files(root / sub, spec):
            return root / sub
    return root if _holds_files(root, spec) else None


def locate(name: str, data_dir: str | Path | None = None, mirror: str | None = None) -> Path:
    """The folder holding dataset ``name``'s files, downloading them when needed.

    Parameters
    ----------
    name : str
        A key of `REMOTE_DATASETS`.
    data_dir : str or Path, optional
        Use this folder (or its subfolder named like the dataset); never download.
    mirror : str, optional
        Base URL to download from instead of the published one (also ``VAELAB_MIRROR``).

    Returns
    -------
    Path
        A folder that holds (or, for ``data_dir``, should hold) the files.

    Raises
    ------
    DataNotFoundError
        When ``data_dir`` does not exist or a download fails.
    DataError
        When a downloaded file has the wrong checksum, or ``data_dir`` (or
        ``VAELAB_DATA``) passes through a symlink loop.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> (root / "kmnist").mkdir()
    >>> _ = (root / "kmnist" / "t10k-labels-idx1-ubyte").write_bytes(b"")
    >>> locate("kmnist", data_dir=root).name
    'kmnist'
    """
    spec = REMOTE_DATASETS[name]
    if data_dir is not None:
        root = check_path(data_dir, "data_dir")
        if not root.is_dir():
            raise DataNotFoundError(f"data_dir {root} is not a directory")
        return _in_root(root, spec) or root
    env = os.environ.get("VAELAB_DATA")
    if env:
        found = _in_root(check_path(env, "VAELAB_DATA"), spec)
        if found is not None:
            return found
    target = cache_dir(name)
    base = mirror or os.environ.get("VAELAB_MIRROR") or spec.base_url
    for file_name, checksum in spec.checksums.items():
        if not (target / file_name).is_file():
            download(base.rstrip("/") + "/" + file_name, target / file_name, checksum)
    return target


def download(url: str, dest: Path, checksum: str, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` atomically, checking its checksum.

    Parameters
    ----------
    url : str
        What to fetch.
    dest : Path
        Final path; its folder is created. Nothing is left there on failure.
    checksum : str
        Expected ``"<algorithm>:<hex digest>"`` of the downloaded bytes.
    timeout : float
        Socket timeout in seconds.

    Returns
    -------
    Path
        ``dest``.

    Raises
    ------
    DataNotFoundError
        When the server cannot be reached or answers with an error.
    DataError
        When the download is truncated or its checksum differs.

    Examples
    --------
    >>> import tempfile
    >>> src = Path(tempfile.mkdtemp()) / "f.bin"
    >>> _ = src.write_bytes(b"")
    >>> dest = download(src.as_uri(), src.parent / "copy" / "f.bin",
    ...                 "md5:d41d8cd98f00b204e9800998ecf8427e")
    >>> dest.read_bytes()
    b''
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    algorithm, expected = checksum.split(":", 1)
    digest = hashlib.new(algorithm, usedforsecurity=False)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    _log.info("downloading %s to %s", url, dest)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            length = resp.headers.get("Content-Length")
            n_bytes = 0
            while chunk := resp.read(1 << 20):
                out.write(chunk)
                digest.update(chunk)
                n_bytes += len(chunk)
        if length is not None and n_bytes != int(length):
            raise DataError(f"{url}: download truncated at {n_bytes} of {length} bytes")
        if digest.hexdigest() != expected:
            raise DataError(
                f"{url}: {algorithm.upper()} {digest.hexdigest()} does not match the "
                f"published {expected} (corrupted or truncated download; deleted)"
            )
        os.replace(tmp, dest)
    except (urllib.error.URLError, OSError) as err:
        tmp.unlink(missing_ok=True)
        raise DataNotFoundError(
            f"could not download {url} ({err}); put the files in a folder and pass "
            f"data_dir, or set VAELAB_DATA"
        ) from err
    except (http.client.IncompleteRead, http.client.HTTPException) as err:
        tmp.unlink(missing_ok=True)
        raise DataError(f"{url}: download broken off ({err!r}); nothing was kept") from err
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest
