"""Multi-process training: 2 CPU processes (gloo) match one process at the same global batch."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from vaelab.core.config import ModelConfig
from vaelab.core.models import build_model
from vaelab.data import Dataset
from vaelab.runs.files import load_model, read_metrics
from vaelab.training.config import TrainConfig
from vaelab.training.loop import fit

# The float summation order differs (gradients averaged across 2 processes). Adam divides by
# sqrt(v) + eps, so with a tiny eps a parameter whose gradient is ~0 takes a full lr-sized step
# in the direction of rounding noise; adam_eps=1e-3 keeps such noise from being amplified.
TOL = 2e-4  # measured 4.6e-5; 32 Adam steps at lr=1e-3 move a weight by up to 3.2e-2

WORKER = textwrap.dedent("""
    import sys
    import numpy as np, torch
    from safetensors.torch import save_file
    from vaelab.training import distributed
    from vaelab.data import Dataset
    from vaelab.core.config import ModelConfig
    from vaelab.core.models import build_model
    from vaelab.training.config import TrainConfig
    from vaelab.training.loop import fit

    out, epochs, resume, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4]
    assert distributed.init_from_env("cpu") and distributed.world_size() == 2
    x = np.random.default_rng(0).random((256, 12), dtype=np.float32)
    torch.manual_seed(1)
    model = build_model(ModelConfig(kind=kind, input_shape=(12,), latent_dim=3, hidden=(16,)))
    cfg = TrainConfig(epochs=epochs, batch_size=32, device="cpu", seed=2, adam_eps=1e-3,
                      precision="fp32", binarize="dynamic" if kind == "vae" else "none")
    fit(model, Dataset(x, None, (12,), "unit"), cfg, progress=False,
        checkpoint_dir=out, resume=resume)
    if distributed.is_main():
        save_file({k: v.contiguous() for k, v in model.state_dict().items()},
                  out + "/weights.safetensors")
    distributed.shutdown()
    print("worker done", flush=True)
""")

# Twice in about ten full runs of the suite on one day (never when these tests ran alone, 30
# launches), a worker was killed by SIGABRT with this line from C++ and no traceback. A worker
# that printed "worker done" first had trained, saved and left the process group: the abort
# came from the interpreter's exit, after everything this file checks. That one is let
# through, with a line on stderr; an abort before it fails the test.
EXIT_ABORT = "terminate called without an active exception"


def _port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(out, epochs, resume=False, kind="ae"):
    port = _port()
    procs = []
    for rank in range(2):
        env = {
            **os.environ,
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "WORLD_SIZE": "2",
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "OMP_NUM_THREADS": "1",
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", WORKER, str(out), str(epochs), "1" if resume else "0", kind],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    for rank, p in enumerate(procs):
        log, _ = p.communicate(timeout=300)
        at_exit = (
            p.returncode == -signal.SIGABRT
            and "worker done" in log
            and EXIT_ABORT in log
            and log.index("worker done") < log.index(EXIT_ABORT)
        )
        if at_exit:  # printed, not warned: the suite turns warnings into errors
            print(f"rank {rank} aborted at interpreter exit, after its work: {EXIT_ABORT}", file=sys.stderr)
        assert p.returncode == 0 or at_exit, f"rank {rank} exited with {p.returncode}: {log}"
    return load_file(out / "weights.safetensors")


def _single(epochs):
    x = np.random.default_rng(0).random((256, 12), dtype=np.float32)
    torch.manual_seed(1)
    model = build_model(ModelConfig(kind="ae", input_shape=(12,), latent_dim=3, hidden=(16,)))
    fit(
        model,
        Dataset(x, None, (12,), "unit"),
        TrainConfig(epochs=epochs, batch_size=32, device="cpu", seed=2, adam_eps=1e-3, precision="fp32"),
        progress=False,
    )
    return model.state_dict()


@pytest.mark.slow
def test_two_processes_match_one_process(tmp_path):
    """An autoencoder (no sampling noise): 2 processes × 16 rows = 1 process × 32 rows."""
    one = _single(4)
    two = _launch(tmp_path, 4)
    diff = max(float((one[k] - two[k]).abs().max()) for k in one)
    print(f"2 processes vs 1: max |weight difference| = {diff:.2e}")
    assert diff < TOL, diff


@pytest.mark.slow
def test_resume_under_ddp_is_bit_identical(tmp_path):
    """A VAE with dynamic binarization: 4 epochs straight = 2 epochs, stop, resume to 4."""
    straight, part = tmp_path / "straight", tmp_path / "part"
    straight.mkdir()
    part.mkdir()
    full = _launch(straight, 4, kind="vae")
    _launch(part, 2, kind="vae")  # the checkpoint is written by rank 0 alone
    resumed = _launch(part, 4, resume=True, kind="vae")
    for k in full:
        assert torch.equal(full[k], resumed[k]), k


@pytest.mark.slow
def test_torchrun_cli_rank0_writes(tmp_path):
    data = tmp_path / "x.npy"
    np.save(data, np.random.default_rng(0).random((200, 6), dtype=np.float32))
    run = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        str(_port()),
        "-m",
        "vaelab",
        "train",
        "--data",
        str(data),
        "--epochs",
        "2",
        "--batch-size",
        "32",
        "--hidden",
        "8",
        "--latent-dim",
        "2",
        "--device",
        "cpu",
        "--quiet",
        "--out",
        str(run),
    ]
    out = subprocess.run(
        cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("run directory:") == 1  # only rank 0 reports
    assert [r["epoch"] for r in read_metrics(run)] == [1, 2]  # one writer: no duplicates
    load_model(run)
