"""Data larger than memory: .npy memmaps and shard directories stream through training."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from vaelab.core.config import ModelConfig
from vaelab.core.models import build_model
from vaelab.data import Dataset
from vaelab.errors import DataError, DataNotFoundError
from vaelab.training.batches import NpySource, TensorSource, steps_per_epoch
from vaelab.training.config import TrainConfig
from vaelab.training.loop import fit


def _shards(tmp_path, sizes=(7, 1, 12, 5), d=3):
    rows, start = [], 0
    for i, n in enumerate(sizes):
        x = np.repeat(np.arange(start, start + n, dtype=np.float32)[:, None], d, axis=1)
        np.save(tmp_path / f"part{i:02d}.npy", x)
        rows.append(x)
        start += n
    return np.concatenate(rows)


@pytest.mark.parametrize("world", [1, 2, 3])
def test_an_epoch_visits_every_row_exactly_once_across_shards(tmp_path, world):
    full = _shards(tmp_path)
    src = NpySource(tmp_path)
    assert len(src) == len(full) == 25 and src.n_features == 3
    perm = torch.randperm(len(src), generator=torch.Generator().manual_seed(0))
    seen = []
    for rank in range(world):
        for b in src.batches(perm, 6, rank, world):
            assert torch.equal(b[:, 0], b[:, 1])  # whole rows, not mixed values
            seen += b[:, 0].long().tolist()
    # 25 rows in batches of 6: the last batch holds 1 row, dropped when it cannot be shared
    expect = 25 if world == 1 else 24
    assert len(seen) == expect and len(set(seen)) == expect
    # the same order as an in-memory tensor with the same permutation
    if world == 1:
        mem = [b for b in TensorSource(torch.from_numpy(full)).batches(perm, 6)]
        streamed = list(src.batches(perm, 6))
        assert all(torch.equal(a, b) for a, b in zip(mem, streamed, strict=True))


def test_streamed_training_equals_in_memory_training(tmp_path):
    x = np.random.default_rng(0).random((200, 10), dtype=np.float32)
    np.save(tmp_path / "a.npy", x[:120])
    np.save(tmp_path / "b.npy", x[120:])
    cfg = TrainConfig(epochs=2, batch_size=32, device="cpu", binarize="dynamic")
    cfg_model = ModelConfig(input_shape=(10,), latent_dim=2, hidden=(8,))
    torch.manual_seed(0)
    a = build_model(cfg_model)
    torch.manual_seed(0)
    b = build_model(cfg_model)
    fit(a, Dataset(x, None, (10,), "unit"), cfg, progress=False)
    fit(b, NpySource(tmp_path), cfg, progress=False)
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k


def test_bad_stream_sources(tmp_path):
    with pytest.raises(DataNotFoundError, match="does not exist"):
        NpySource(tmp_path / "nope.npy")
    with pytest.raises(DataNotFoundError, match="no .npy shard"):
        NpySource(tmp_path)
    np.save(tmp_path / "a.npy", np.zeros((4, 3), np.float32))
    np.save(tmp_path / "b.npy", np.zeros((4, 2), np.float32))
    with pytest.raises(DataError, match="different sample shapes"):
        NpySource(tmp_path)
    bad = np.zeros((4, 3), np.float32)
    bad[2, 1] = np.nan
    np.save(tmp_path / "b.npy", bad)
    src = NpySource(tmp_path)
    with pytest.raises(DataError, match="sample 6 holds NaN"):
        list(src.batches(torch.arange(8), 8))
    (tmp_path / "b.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(DataError, match="not a readable .npy"):
        NpySource(tmp_path)
    assert steps_per_epoch(25, 6, 2) == 4


SCRIPT = textwrap.dedent("""
    import sys, torch
    from vaelab.training.batches import NpySource
    from vaelab.core.config import ModelConfig
    from vaelab.core.models import build_model
    from vaelab.training.config import TrainConfig
    from vaelab.training.loop import fit

    def hwm():
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM"):
                return int(line.split()[1]) * 1024

    src = NpySource(sys.argv[1])
    model = build_model(ModelConfig(input_shape=(src.n_features,), latent_dim=2, hidden=(4,)))
    before = hwm()
    fit(model, src, TrainConfig(epochs=1, batch_size=16384, device="cpu", check_every=10**6),
        progress=False)
    print(before, hwm(), len(src))
""")


@pytest.mark.slow
def test_peak_memory_is_bounded_by_the_batch_not_the_file(tmp_path):
    d, n = 256, 3_200_000  # 3.05 GiB of float32
    path = tmp_path / "big.npy"
    block = np.random.default_rng(0).random((16384, d), dtype=np.float32)  # 16 MiB
    with open(path, "wb") as f:  # plain writes: no dirty mapped pages in this process
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (n, d)})
        for i in range(0, n, len(block)):
            f.write(block[: min(len(block), n - i)].tobytes())
    size = path.stat().st_size
    try:
        out = subprocess.run(
            [sys.executable, "-c", SCRIPT, str(path)],
            capture_output=True,
            text=True,
            timeout=600,
            env={"OMP_NUM_THREADS": "2", "PATH": "/usr/bin:/bin"},
        )
        assert out.returncode == 0, out.stderr
        before, peak, rows = map(int, out.stdout.split())
    finally:
        path.unlink()
    assert rows == n
    batch_bytes = 16384 * d * 4  # 16 MiB
    print(
        f"file {size / 2**30:.2f} GiB, peak RSS {peak / 2**20:.0f} MiB "
        f"({before / 2**20:.0f} MiB before training)"
    )
    assert peak < size / 4  # far below the file size
    # what training adds is a fixed multiple of the batch (activations, gradients, the read
    # buffer, pages mapped around the rows read), not a share of the 3 GiB file
    assert peak - before < 32 * batch_bytes
