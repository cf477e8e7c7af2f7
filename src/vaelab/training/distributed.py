"""Multi-process training with torch.distributed: set-up, DDP wrapping, rank helpers.

Launch with ``torchrun --nproc_per_node N -m vaelab train ...``: `init_from_env`
reads torchrun's environment variables (RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR, MASTER_PORT) and joins the process group, with the gloo backend
on CPU and nccl on GPU. `vaelab.training.loop.fit` then wraps the model in
DistributedDataParallel, gives each rank every ``world``-th row of each global
batch, and averages gradients, so a global batch of B rows over N processes
follows the same update as one process with batch B. Only rank 0 writes
checkpoints, metrics and the run directory.

Without torchrun (no WORLD_SIZE in the environment) everything here is a no-op
and training runs in one process.
"""

from __future__ import annotations

import os
from datetime import timedelta

import torch
import torch.distributed as dist

from vaelab.errors import ConfigError


def active() -> bool:
    """True inside an initialized process group of more than one process.

    Examples
    --------
    >>> active()
    False
    """
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank (0 outside distributed training)."""
    return dist.get_rank() if active() else 0


def world_size() -> int:
    """Number of processes (1 outside distributed training)."""
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    """True on the process that writes files (rank 0, or the only process).

    Examples
    --------
    >>> is_main()
    True
    """
    return rank() == 0


def barrier() -> None:
    """Wait for every process (no-op in one process)."""
    if active():
        dist.barrier()


def local_device(device: str) -> str:
    """The device string for this process: ``cuda:LOCAL_RANK`` for CUDA under torchrun.

    Examples
    --------
    >>> local_device("cpu")
    'cpu'
    """
    if device == "cpu" or not active():
        return device
    if device in ("cuda", "auto") and torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
    return "cpu" if device == "auto" else device


def init_from_env(device: str = "auto") -> bool:
    """Join the process group that torchrun describes in the environment.

    Parameters
    ----------
    device : str
        "cpu" selects gloo; "cuda" (or "auto" with a GPU) selects nccl.

    Returns
    -------
    bool
        True when running distributed (WORLD_SIZE > 1), False otherwise.

    Examples
    --------
    >>> import os
    >>> "WORLD_SIZE" in os.environ or init_from_env("cpu") is False
    True
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if dist.is_initialized():
        return True
    use_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if use_cuda and not torch.cuda.is_available():
        raise ConfigError(f"device={device!r} requested but CUDA is not available")
    backend = "nccl" if use_cuda else "gloo"
    if use_cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group(backend=backend)
    return True


SHUTDOWN_WAIT_S = 60  # how long a CPU process waits at shutdown for the others to arrive


def shutdown() -> None:
    """Leave the process group, if one was joined.

    On CPU (gloo) every process first waits for the others, at most `SHUTDOWN_WAIT_S`,
    so that none tears down its connections while another still uses them (rank 0
    may still be writing the run's files). A process that never arrives (it failed)
    keeps the others no longer than that.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return
    if dist.get_backend() == "gloo":
        try:
            dist.monitored_barrier(timeout=timedelta(seconds=SHUTDOWN_WAIT_S))
        except RuntimeError:
            pass  # another process failed; its own error says why
    dist.destroy_process_group()


def wrap(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``model`` wrapped in DistributedDataParallel when distributed, else itself.

    Rank 0's initial weights are broadcast to every rank by DDP.
    """
    if not active():
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum of ``t`` over all processes (``t`` itself in one process), in place."""
    if active():
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t
