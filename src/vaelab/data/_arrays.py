"""Generic array files (.npy, .npz, numeric .csv) turned into validated datasets.

Never unpickles: every ``np.load`` here passes ``allow_pickle=False``.
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np

from vaelab.data._dataset import Dataset, ValueKind
from vaelab.data._files import check_path
from vaelab.data._transforms import scale_to_unit
from vaelab.errors import DataError, DataNotFoundError

ARRAY_SUFFIXES = (".npy", ".npz", ".csv")
X_KEYS = ("x", "X", "data", "images")
Y_KEYS = ("y", "labels", "targets")
_CHUNK = 1 << 22  # values per chunk when scanning (possibly memory-mapped) data
FLOAT32_MAX = float(np.finfo(np.float32).max)  # about 3.4e38: vaelab computes in float32

Parts = dict[str, tuple[np.ndarray, "np.ndarray | None"]]


def _scan(flat: np.ndarray, what: str) -> tuple[float, float, bool]:
    """(min, max, all in {0, 1}) of ``flat`` (n, d), in chunks; DataError on NaN/inf."""
    lo, hi, binary = np.inf, -np.inf, True
    rows = max(1, _CHUNK // max(1, flat.shape[1]))
    for start in range(0, len(flat), rows):
        chunk = np.asarray(flat[start : start + rows])
        if chunk.dtype.kind == "f":
            bad = ~np.isfinite(chunk)
            if bad.any():
                r, c = (int(i[0]) for i in np.nonzero(bad))
                raise DataError(
                    f"{what}: sample {start + r}, value {c} is {chunk[r, c]}; NaN and inf are not allowed"
                )
        lo, hi = min(lo, float(chunk.min())), max(hi, float(chunk.max()))
        binary = binary and bool(((chunk == 0) | (chunk == 1)).all())
    return lo, hi, binary


def array_dataset(
    x: np.ndarray,
    y: np.ndarray | None = None,
    *,
    shape: tuple[int, ...] | None = None,
    name: str = "data",
    meta: dict | None = None,
) -> Dataset:
    """Validate an array and its labels and make a `Dataset` of them.

    Integer data in 0-255 (other than 0/1) is scaled to [0, 1]. The kind is inferred:
    all values in {0, 1} give ``"binary"``, all in [0, 1] ``"unit"``, else ``"real"``.
    float32 input is used as is (a memory map stays one).

    Parameters
    ----------
    x : ndarray of shape (n_samples, ...)
        Numeric samples.
    y : ndarray of shape (n_samples,), optional
        Integer labels.
    shape : tuple of int, optional
        ``(H, W)`` or ``(C, H, W)``: reshape each sample into an image
        (``(H, W)`` becomes ``(1, H, W)``). By default 2-D data stays flat, 3-D
        ``(n, H, W)`` becomes ``(n, 1, H, W)`` and 4-D is taken as ``(n, C, H, W)``.
    name : str
        Name of the dataset.
    meta : dict, optional
        Stored on the dataset (plus ``"scaled_by"`` when the data was scaled).

    Returns
    -------
    Dataset

    Raises
    ------
    DataError
        For empty data, a single sample, non-numeric values, NaN or inf, values beyond
        float32's range (about ±3.4e38), a shape that does not fit, or labels that are
        not integers or not one per sample.

    Examples
    --------
    >>> ds = array_dataset(np.array([[0, 255], [255, 0]], np.uint8), shape=(1, 2))
    >>> ds.kind, ds.sample_shape, ds.x.ravel().tolist()
    ('binary', (1, 1, 2), [0.0, 1.0, 1.0, 0.0])
    """
    meta = dict(meta or {})
    x = np.asanyarray(x)
    if x.dtype.kind not in "biuf":
        raise DataError(f"{name}: data of dtype {x.dtype}, expected numbers")
    if x.ndim < 2:
        raise DataError(
            f"{name}: data of shape {x.shape}, expected (n_samples, n_features) or (n_samples, *image_shape)"
        )
    if len(x) == 0 or x[0].size == 0:
        raise DataError(f"{name}: data of shape {x.shape} is empty, expected (n_samples, ...)")
    n = len(x)
    if n == 1:
        raise DataError(f"{name}: a single sample; at least 2 are needed to train and test")
    n_features = int(np.prod(x.shape[1:]))
    if shape is not None:
        shape = tuple(int(s) for s in shape)
        if len(shape) not in (2, 3) or int(np.prod(shape)) != n_features:
            raise DataError(
                f"{name}: shape={shape} holds {int(np.prod(shape))} values but each sample "
                f"has {n_features}; expected (H, W) or (C, H, W) with H*W*C = {n_features}"
            )
        sample_shape = shape if len(shape) == 3 else (1, *shape)
    elif x.ndim == 3:
        sample_shape = (1, *x.shape[1:])
    else:
        sample_shape = x.shape[1:]
    x = x.reshape(n, *sample_shape)
    lo, hi, binary = _scan(x.reshape(n, -1), name)
    largest = hi if abs(hi) >= abs(lo) else lo
    if abs(largest) > FLOAT32_MAX:
        raise DataError(
            f"{name}: values reach {largest:.4g}, beyond float32's range of "
            f"±{FLOAT32_MAX:.4g} that vaelab computes in; rescale the data before "
            f"loading it"
        )
    if x.dtype.kind in "biu" and not binary and lo >= 0 and hi <= 255:
        x = scale_to_unit(x)
        lo, hi = lo / 255, hi / 255
        binary = bool(((x == 0) | (x == 1)).all())  # only when the levels were 0 and 255
        meta["scaled_by"] = 255
    elif x.dtype != np.float32:
        x = x.astype(np.float32)
    kind: ValueKind = "binary" if binary else "unit" if lo >= 0 and hi <= 1 else "real"
    if y is not None:
        y = _labels(np.asarray(y), n, name)
    return Dataset(x, y, sample_shape, kind, name, meta)


def _labels(y: np.ndarray, n: int, name: str) -> np.ndarray:
    if y.ndim != 1 or len(y) != n:
        raise DataError(f"{name}: labels of shape {y.shape} for {n} samples, expected ({n},)")
    if y.dtype.kind not in "biuf" or (y.dtype.kind == "f" and not np.all(y == np.round(y))):
        raise DataError(f"{name}: labels of dtype {y.dtype} are not all integers")
    return y.astype(np.int64)


def read_arrays(path: Path, *, label_column: int | str | None = None, mmap: bool = False) -> Parts:
    """Raw arrays of a ``.npy``, ``.npz`` or ``.csv`` file, by split.

    Parameters
    ----------
    path : Path
        The file.
    label_column : int or str, optional
        Column holding labels (a header name needs a CSV with a header row).
    mmap : bool
        Memory-map a ``.npy`` file instead of reading it.

    Returns
    -------
    dict
        ``{"all": (x, y)}``, or ``{"train": ..., "test": ...}`` for an ``.npz`` holding
        ``x_train``/``x_test``; ``y`` is None without labels.

    Raises
    ------
    DataNotFoundError
        When the file does not exist.
    DataError
        For an unknown suffix or unreadable content.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "d.csv"
    >>> _ = p.write_text("a,label\\n0.5,1\\n0.25,0\\n")
    >>> x, y = read_arrays(p, label_column="label")["all"]
    >>> x.tolist(), y.tolist()
    ([[0.5], [0.25]], [1.0, 0.0])
    """
    path = check_path(path, "data")
    if not path.is_file():
        raise DataNotFoundError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        try:
            return {"all": _read_csv(path, label_column)}
        except UnicodeDecodeError as err:
            raise DataError(f"{path}: not a UTF-8 text CSV file ({err.reason} at byte {err.start})") from None
        except OSError as err:
            raise DataError(f"{path}: cannot be read ({err.strerror or err})") from None
    if suffix == ".npy":
        x = _np_load(path, mmap_mode="r" if mmap else None)
        return {"all": _split_label_column(x, label_column, path.name)}
    if suffix == ".npz":
        return _read_npz(path, label_column)
    raise DataError(f"{path}: unknown file type {suffix!r}, expected one of {ARRAY_SUFFIXES}")


def _np_load(path: Path, **kwargs):
    try:
        if kwargs.get("mmap_mode") is not None:
            return np.load(path, allow_pickle=False, **kwargs)
        # our own handle: numpy leaks its own when a corrupted .npz fails to open
        f = open(path, "rb")  # noqa: SIM115
        try:
            out = np.load(f, allow_pickle=False, **kwargs)
        except BaseException:
            f.close()
            raise
        if isinstance(out, np.lib.npyio.NpzFile):
            # numpy's stub types NpzFile.fid as IO[str]; numpy itself opens it in "rb"
            out.fid = f  # type: ignore[assignment]  # closed with the archive
        else:
            f.close()
        return out
    except Exception as err:  # noqa: BLE001  untrusted bytes: numpy's header and zip parsers
        # raise ValueError, SyntaxError, TokenError, BadZipFile, NotImplementedError, struct.error...
        raise DataError(f"{path}: not a readable numpy file without pickle ({err})") from err


def _split_label_column(
    x: np.ndarray, label_column: int | str | None, what: str
) -> tuple[np.ndarray, np.ndarray | None]:
    if label_column is None:
        return x, None
    if isinstance(label_column, str):
        raise DataError(f"{what}: label_column={label_column!r} by name needs a CSV header")
    if x.ndim != 2 or not -x.shape[1] <= label_column < x.shape[1]:
        raise DataError(
            f"{what}: label_column={label_column} does not fit data of shape {x.shape}, "
            f"expected a column of 2-D data"
        )
    keep = np.ones(x.shape[1], bool)
    keep[label_column] = False
    return x[:, keep], x[:, label_column]


def _read_npz(path: Path, label_column: int | str | None) -> Parts:
    with _np_load(path) as archive:
        keys = set(archive.files)

        def get(key: str) -> np.ndarray:
            try:
                return archive[key]
            except Exception as err:  # noqa: BLE001  untrusted bytes, as in _np_load
                raise DataError(f"{path}: array {key!r} is unreadable ({err})") from err

        if {"x_train", "x_test"} <= keys:
            return {
                split: (get(f"x_{split}"), get(f"y_{split}") if f"y_{split}" in keys else None)
                for split in ("train", "test")
            }
        x_key = next((k for k in X_KEYS if k in keys), None)
        if x_key is None:
            raise DataError(
                f"{path}: arrays {sorted(keys)}, expected one of {list(X_KEYS)} "
                f"(with optional {list(Y_KEYS)}) or x_train and x_test"
            )
        y_key = next((k for k in Y_KEYS if k in keys), None)
        x = get(x_key)
        if y_key is not None:
            return {"all": (x, get(y_key))}
        return {"all": _split_label_column(x, label_column, path.name)}


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _read_csv(path: Path, label_column: int | str | None) -> tuple[np.ndarray, np.ndarray | None]:
    with path.open(newline="", encoding="utf-8") as f:
        first = next(csv.reader(f), None)
    if first is None:
        raise DataError(f"{path}: empty CSV file")
    header = None if all(_is_number(c) for c in first) else [c.strip() for c in first]
    try:
        with warnings.catch_warnings():  # a header without rows: reported as empty below
            warnings.filterwarnings("ignore", "loadtxt: input contained no data")
            data = np.loadtxt(
                path,
                delimiter=",",
                skiprows=int(header is not None),
                ndmin=2,
                dtype=np.float64,
                comments=None,
                encoding="utf-8",
            )
    except ValueError as err:
        raise _locate_csv_error(path, header is not None, len(first)) or DataError(f"{path}: {err}") from err
    if isinstance(label_column, str):
        if header is None:
            raise DataError(f"{path}: label_column={label_column!r} needs a header row")
        if label_column not in header:
            raise DataError(f"{path}: no column {label_column!r}; the header has {header}")
        label_column = header.index(label_column)
    integral = np.isfinite(data).all() and (data == np.round(data)).all()
    if data.size and integral and np.abs(data).max() < 2**53:
        data = data.astype(np.int64)  # integral cells: grey levels or counts
    return _split_label_column(data, label_column, path.name)


def _locate_csv_error(path: Path, has_header: bool, n_columns: int) -> DataError | None:
    """The first ragged row or non-numeric cell, as a DataError (rows count from 1)."""
    with path.open(newline="", encoding="utf-8") as f:
        for row_number, row in enumerate(csv.reader(f), start=1):
            if (has_header and row_number == 1) or not row:
                continue
            if len(row) != n_columns:
                return DataError(f"{path}: row {row_number} has {len(row)} columns, expected {n_columns}")
            for col, cell in enumerate(row, start=1):
                if not _is_number(cell):
                    return DataError(f"{path}: row {row_number}, column {col}: {cell!r} is not a number")
    return None


def load_array(
    path: str | Path,
    *,
    shape: tuple[int, ...] | None = None,
    label_column: int | str | None = None,
    mmap: bool = False,
) -> Dataset:
    """Load one ``.npy``, ``.npz`` or ``.csv`` file as a single `Dataset`.

    Parameters
    ----------
    path : str or Path
        The file. An ``.npz`` holds ``x``/``X``/``data``/``images`` and optionally
        ``y``/``labels``/``targets``; a CSV may start with a header row.
    shape : tuple of int, optional
        ``(H, W)`` or ``(C, H, W)`` to turn flat rows into images.
    label_column : int or str, optional
        Column of a 2-D file holding labels (by header name for a CSV).
    mmap : bool
        Memory-map a ``.npy`` file; float32 data is then not copied.

    Returns
    -------
    Dataset

    Raises
    ------
    DataError
        For unreadable or invalid data, or an ``.npz`` with train/test splits
        (use `load_dataset` for those).

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "x.npy"
    >>> np.save(p, np.eye(4, dtype=np.float32))
    >>> ds = load_array(p, shape=(2, 2), mmap=True)
    >>> ds.kind, ds.sample_shape, isinstance(ds.x, np.memmap)
    ('binary', (1, 2, 2), True)
    """
    path = Path(path)
    parts = read_arrays(path, label_column=label_column, mmap=mmap)
    if "all" not in parts:
        raise DataError(f"{path}: holds x_train/x_test splits; load it with load_dataset")
    x, y = parts["all"]
    return array_dataset(x, y, shape=shape, name=path.stem)
