"""Batch sources for `vaelab.training.loop.fit`: in-memory tensors, or streams from ``.npy`` files.

Every source serves batches in the order of one global index permutation per
epoch, so shuffling is the same whether the rows live in one tensor, one
memory-mapped file or many shard files. Under multi-process training each
process takes every ``world``-th row of each global batch.

`NpySource` reads only the rows of the current batch from memory-mapped
``.npy`` files and releases the mapped pages after each batch, so the memory a
training process uses is bounded by the batch size, not by the dataset.
"""

from __future__ import annotations

import math
import mmap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from vaelab.errors import DataError, DataNotFoundError

_READ_CHUNK = 64  # rows read between releases of the mapped pages (a fault can map a
# whole large folio of the page cache, up to 2 MiB, around each row)


def steps_per_epoch(n: int, batch_size: int, world: int = 1) -> int:
    """Number of global batches in an epoch; a last batch too small to share is dropped.

    Examples
    --------
    >>> steps_per_epoch(10, 4), steps_per_epoch(9, 4, world=2), steps_per_epoch(8, 4, world=2)
    (3, 2, 2)
    """
    steps = math.ceil(n / batch_size)
    tail = n % batch_size
    if world > 1 and 0 < tail < world:
        steps -= 1
    return steps


def _rows(perm: torch.Tensor, step: int, batch_size: int, rank: int, world: int) -> torch.Tensor:
    idx = perm[step * batch_size : (step + 1) * batch_size]
    return idx[rank::world] if world > 1 else idx


class TensorSource:
    """Batches from one ``(N, D)`` tensor already on the training device.

    Parameters
    ----------
    x : torch.Tensor of shape (N, D)

    Examples
    --------
    >>> src = TensorSource(torch.arange(10.0).reshape(5, 2))
    >>> [b[:, 0].tolist() for b in src.batches(torch.tensor([4, 0, 1, 3, 2]), 2)]
    [[8.0, 0.0], [2.0, 6.0], [4.0]]
    """

    def __init__(self, x: torch.Tensor) -> None:
        self.x = x

    def __len__(self) -> int:
        return len(self.x)

    @property
    def n_features(self) -> int:
        """Values per sample."""
        return int(self.x.shape[1])

    def batches(
        self, perm: torch.Tensor, batch_size: int, rank: int = 0, world: int = 1
    ) -> Iterator[torch.Tensor]:
        """This process's part of each global batch of the epoch ordered by ``perm``."""
        for step in range(steps_per_epoch(len(self.x), batch_size, world)):
            yield self.x[_rows(perm, step, batch_size, rank, world)]


class NpySource:
    """Batches streamed from a memory-mapped ``.npy`` file or a directory of ``.npy`` shards.

    Rows are addressed by one global index over the shards (in sorted file-name
    order). Only the rows of each batch are read; float and uint8 data are
    accepted (uint8 is scaled by 1/255). NaN or inf in a batch is a `DataError`.

    Parameters
    ----------
    path : str or Path
        A ``.npy`` file of shape (N, ...) or a directory of such files with the
        same trailing shape.
    device : str or torch.device
        Where batches are put.

    Examples
    --------
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> np.save(os.path.join(d, "a.npy"), np.zeros((3, 2), np.float32))
    >>> np.save(os.path.join(d, "b.npy"), np.ones((2, 2), np.float32))
    >>> src = NpySource(d)
    >>> len(src), src.n_features
    (5, 2)
    >>> [b[:, 0].tolist() for b in src.batches(torch.tensor([3, 0, 4, 1, 2]), 3)]
    [[1.0, 0.0, 1.0], [0.0, 0.0]]
    """

    def __init__(self, path: str | Path, device: str | torch.device = "cpu") -> None:
        path = Path(path)
        if path.is_dir():
            files = sorted(path.glob("*.npy"))
            if not files:
                raise DataNotFoundError(f"{path} holds no .npy shard files")
        elif path.is_file():
            files = [path]
        else:
            raise DataNotFoundError(f"{path} does not exist")
        self.paths = files
        self.device = torch.device(device)
        self.arrays = [self._open(f) for f in files]
        trailing = {a.shape[1:] for a in self.arrays}
        if len(trailing) != 1:
            raise DataError(f"shards in {path} have different sample shapes {sorted(trailing)}")
        self.sample_shape = self.arrays[0].shape[1:]
        sizes = [len(a) for a in self.arrays]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        if self.offsets[-1] == 0:
            raise DataError(f"{path} holds no samples")
        self.name = path.name

    @staticmethod
    def _open(path: Path) -> np.ndarray:
        try:
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
        except Exception as err:  # noqa: BLE001  untrusted bytes: numpy's header parser raises
            # ValueError, SyntaxError, TokenError, OSError, MemoryError...
            raise DataError(f"{path} is not a readable .npy file ({err})") from None
        mm = getattr(arr, "_mmap", None)
        if mm is not None:  # random access: no readahead
            mm.madvise(mmap.MADV_RANDOM)
        if arr.dtype.kind not in "fu" or arr.ndim < 2:
            raise DataError(
                f"{path} holds {arr.dtype} data of shape {arr.shape}; expected a float or "
                "uint8 array of shape (n_samples, ...)"
            )
        return arr

    def __len__(self) -> int:
        return int(self.offsets[-1])

    @property
    def n_features(self) -> int:
        """Values per sample."""
        return int(np.prod(self.sample_shape))

    def read(self, index: np.ndarray) -> np.ndarray:
        """Rows ``index`` (global indices) as a float32 ``(len(index), D)`` array, in that order."""
        index = np.asarray(index, dtype=np.int64)
        out = np.empty((len(index), self.n_features), dtype=np.float32)
        shard = np.searchsorted(self.offsets, index, side="right") - 1
        for s in np.unique(shard):  # a loop over shards, not samples
            where = np.nonzero(shard == s)[0]
            local = index[where] - self.offsets[s]
            order = np.argsort(local, kind="stable")  # read in file order
            arr = self.arrays[s]
            mm = getattr(arr, "_mmap", None)
            dest = where[order]
            local = local[order]
            # in chunks: the kernel maps up to 64 KiB around each touched row, so the
            # pages are released after every chunk to keep the resident size bounded
            for c in range(0, len(local), _READ_CHUNK):
                rows = np.asarray(arr[local[c : c + _READ_CHUNK]]).reshape(-1, self.n_features)
                if arr.dtype == np.uint8:
                    rows = rows.astype(np.float32) / 255.0
                out[dest[c : c + _READ_CHUNK]] = rows
                if mm is not None:  # drop the pages we touched from this process
                    mm.madvise(mmap.MADV_DONTNEED)
        if not np.isfinite(out).all():
            r = int(np.nonzero(~np.isfinite(out).all(axis=1))[0][0])
            raise DataError(f"{self.name}: sample {int(index[r])} holds NaN or inf; not allowed")
        return out

    def batches(
        self, perm: torch.Tensor, batch_size: int, rank: int = 0, world: int = 1
    ) -> Iterator[torch.Tensor]:
        """This process's part of each global batch of the epoch ordered by ``perm``."""
        order = perm.cpu().numpy()
        for step in range(steps_per_epoch(len(self), batch_size, world)):
            idx = order[step * batch_size : (step + 1) * batch_size][rank::world]
            yield torch.from_numpy(self.read(idx)).to(self.device, non_blocking=True)
