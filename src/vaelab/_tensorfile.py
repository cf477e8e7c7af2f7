"""safetensors files with a checksum, read only after their header has been checked.

A safetensors file is an 8-byte little-endian header length, a JSON header
(``{name: {"dtype", "shape", "data_offsets"}, "__metadata__": {str: str}}``) and
the tensor bytes. `encode` adds ``__metadata__["sha256"]``: the SHA-256 of the
other metadata entries (as sorted JSON) followed by the tensor bytes, so a flipped
byte anywhere but in the header's layout (which is checked against what the
reader expects) is caught. `load` checks the header and the file size before a
byte of tensor data is read, so a truncated, padded or sparse 30 GB file is
refused at once; only then does it read, verify the checksum and decode. Files
without a checksum (written before vaelab added it) still load.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from vaelab._config import parse_json
from vaelab._machine import physical_memory
from vaelab.errors import ConfigError, RunDirError

CHECKSUM = "sha256"
MAX_HEADER = 64 * 2**20  # bytes; a header lists names and shapes, never data
DTYPES: dict[str, torch.dtype] = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}


@dataclass(frozen=True)
class Entry:
    """One tensor as the header describes it: dtype name, shape, byte range in the data."""

    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


@dataclass(frozen=True)
class Header:
    """A checked header: the tensors, the metadata and where the data starts and ends."""

    path: Path
    entries: dict[str, Entry]
    metadata: dict[str, str]
    data_start: int  # 8 + header length
    data_size: int


def digest(metadata: dict[str, str], data: bytes | memoryview) -> str:
    """The checksum `encode` stores: SHA-256 of the other metadata, then of the data."""
    rest = {k: v for k, v in metadata.items() if k != CHECKSUM}
    h = hashlib.sha256(json.dumps(rest, sort_keys=True).encode())
    h.update(data)
    return h.hexdigest()


def encode(tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> bytes:
    """safetensors bytes of ``tensors`` with ``metadata`` and its checksum.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = Path(d) / "t.safetensors"
    ...     _ = path.write_bytes(encode({"w": torch.ones(2)}, {"note": "hi"}))
    ...     tensors, meta = load(path)
    >>> tensors["w"].tolist(), sorted(meta)
    ([1.0, 1.0], ['note', 'sha256'])
    """
    blob = st_save(tensors, metadata=dict(metadata) if metadata else None)
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8 : 8 + n])
    data = memoryview(blob)[8 + n :]
    meta = dict(header.get("__metadata__") or {})
    meta[CHECKSUM] = digest(meta, data)
    header["__metadata__"] = meta
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # keep the data 8-byte aligned, as safetensors does
    return len(raw).to_bytes(8, "little") + raw + data


def load(
    path: Path,
    check: Callable[[Header], None] | None = None,
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and metadata of a safetensors file, refused with a `RunDirError` when damaged.

    The header is checked first (`read_header`), then ``check(header)`` may refuse
    the layout, and only then is the data read, from the same open file (a file
    replaced meanwhile by an atomic rename cannot mix two versions), and its
    checksum verified.

    Parameters
    ----------
    path : Path
        The file.
    check : callable, optional
        Called with the `Header` before any data is read; raises to refuse.

    Returns
    -------
    tensors, metadata
    """
    path = Path(path)
    if not path.is_file():
        raise RunDirError(f"{path} is missing")
    with open(path, "rb") as f:
        header = read_header(f, path)
        if check is not None:
            check(header)
        total = header.data_start + header.data_size
        memory = physical_memory()
        if 0 < memory < total:
            raise RunDirError(
                f"{path} holds {total / 2**30:.1f} GiB of tensors, more than this "
                f"machine's {memory / 2**30:.1f} GiB of memory"
            )
        f.seek(0)
        try:
            blob = f.read(total + 1)
        except MemoryError:
            raise RunDirError(f"{path}: not enough memory to read {total} bytes") from None
    if len(blob) != total:
        raise RunDirError(f"{path} changed size while it was read ({len(blob)} bytes, expected {total})")
    stored = header.metadata.get(CHECKSUM)
    if stored is not None and stored != digest(header.metadata, memoryview(blob)[header.data_start :]):
        raise RunDirError(f"{path} is damaged: its {CHECKSUM} checksum does not match its contents")
    try:
        return st_load(blob), header.metadata
    except (SafetensorError, ValueError, RuntimeError) as err:
        raise RunDirError(f"{path} is not a valid safetensors file ({err})") from None


def read_header(f: BinaryIO, path: Path) -> Header:
    """Check the header of the open safetensors file ``f`` without reading its tensor data.

    Refused with a `RunDirError` naming ``path``: a header length that cannot be
    right, a header that is not safetensors JSON, tensors whose byte ranges do
    not match their dtype and shape or leave gaps, and a file whose size is not
    exactly the header plus the data it describes (truncated, padded or sparse).
    """
    size = os.fstat(f.fileno()).st_size
    f.seek(0)
    n = int.from_bytes(f.read(8), "little")
    if size < 8 or not 2 <= n <= min(MAX_HEADER, size - 8):
        raise RunDirError(
            f"{path} is not a valid safetensors file (header length {n} is impossible in a {size}-byte file)"
        )
    raw = f.read(n)
    try:
        header = parse_json(raw.rstrip(b" "), max_depth=3)
    except ConfigError as err:
        raise RunDirError(f"{path} is not a valid safetensors file (header: {err})") from None
    if not isinstance(header, dict):
        raise RunDirError(f"{path} is not a valid safetensors file (the header is not an object)")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise RunDirError(f"{path} is not a valid safetensors file (__metadata__ must map names to strings)")
    entries = {name: _entry(path, name, info) for name, info in header.items()}
    end = 0
    for name, e in sorted(entries.items(), key=lambda item: (item[1].begin, item[1].end)):
        if e.begin != end:
            raise RunDirError(
                f"{path} is not a valid safetensors file (tensor {name!r} starts "
                f"at byte {e.begin} of the data, expected {end})"
            )
        end = e.end
    if size != 8 + n + end:
        raise RunDirError(
            f"{path} is {size} bytes but its header describes {8 + n + end} "
            "bytes: the file is truncated, padded or damaged"
        )
    return Header(path, entries, metadata, 8 + n, end)


def _entry(path: Path, name: str, info: object) -> Entry:
    """One checked header entry."""

    def bad(why: str) -> RunDirError:
        return RunDirError(f"{path} is not a valid safetensors file (tensor {name!r}: {why})")

    if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
        raise bad("expected an object with dtype, shape and data_offsets")
    dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if dtype not in DTYPES:
        raise bad(f"unknown dtype {dtype!r}; expected one of {sorted(DTYPES)}")
    if not isinstance(shape, list) or not all(_count(s) for s in shape):
        raise bad(f"shape {shape!r:.60} must be a list of sizes >= 0")
    if not (
        isinstance(offsets, list)
        and len(offsets) == 2
        and all(_count(o) for o in offsets)
        and offsets[0] <= offsets[1]
    ):
        raise bad(f"data_offsets {offsets!r:.60} must be [begin, end] with 0 <= begin <= end")
    nbytes = math.prod(shape) * DTYPES[dtype].itemsize
    if offsets[1] - offsets[0] != nbytes:
        raise bad(f"{offsets[1] - offsets[0]} bytes of data, but {dtype} of shape {shape} needs {nbytes}")
    return Entry(dtype, tuple(shape), offsets[0], offsets[1])


def _count(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def check_layout(header: Header, expected: dict[str, tuple[torch.dtype, tuple[int, ...]]], what: str) -> None:
    """Refuse a file whose tensors are not exactly ``expected`` (names, dtypes, shapes).

    ``what`` names what the file must match in the message, e.g. "config.json".
    """
    path, entries = header.path, header.entries
    missing, extra = sorted(set(expected) - set(entries)), sorted(set(entries) - set(expected))
    if missing or extra:
        parts = ([f"lacks {_few(missing)}"] if missing else []) + (
            [f"has unexpected {_few(extra)}"] if extra else []
        )
        raise RunDirError(f"{path} does not match {what}: it {' and '.join(parts)}")
    for name, (dtype, shape) in expected.items():
        e = entries[name]
        if DTYPES[e.dtype] != dtype or e.shape != tuple(shape):
            raise RunDirError(
                f"{path} does not match {what}: tensor {name!r} is {e.dtype} of shape "
                f"{list(e.shape)}, expected {DTYPE_NAMES.get(dtype, dtype)} of shape {list(shape)}"
            )


def _few(names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:3])
    return f"tensors {shown}" + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def describe(tensors: dict[str, torch.Tensor]) -> dict[str, tuple[torch.dtype, tuple[int, ...]]]:
    """``{name: (dtype, shape)}``: the layout `check_layout` compares a file with."""
    return {k: (v.dtype, tuple(v.shape)) for k, v in tensors.items()}
