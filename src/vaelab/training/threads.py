"""How many CPU threads torch uses: one policy for training, estimators and the explainer.

Two measured facts drive it (BENCHMARKS.md, "Engine choices" and "OpenMP wait
policy"): a step of a small network takes well under a millisecond, and
splitting it over threads costs more in synchronisation than it saves; and when
other processes keep the cores busy, a descheduled thread stalls the others
(on a 2-core machine at load 16 a 2-thread epoch ran 20–40× slower than a
1-thread one). So: one thread for small steps, otherwise every physical core
unless other processes oversubscribe them.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator

import torch

SMALL_STEP_FLOPS = 1e8  # below this, a training step runs fastest on one thread


def physical_cores() -> int:
    """Physical cores of this machine (hyper-threads not counted), at least 1."""
    cores = os.cpu_count() or 1
    try:
        with open("/proc/cpuinfo") as f:
            ids = {line.split(":", 1)[1].strip() for line in f if line.startswith("core id")}
        cores = max(1, min(cores, len(ids) or cores))
    except OSError:
        pass
    return cores


def threads_for_load(cores: int, load: float) -> int:
    """All ``cores`` while the load average stays below them, fewer once others oversubscribe.

    The 1-minute load average counts vaelab's own recent work too, so a load
    below the core count (one earlier job of ours, an idle desktop) keeps every
    core; beyond it, each extra runnable process takes one thread away.

    Examples
    --------
    >>> [threads_for_load(2, load) for load in (0.0, 1.2, 2.5, 16.0)]
    [2, 2, 1, 1]
    >>> threads_for_load(16, 20.0)
    12
    """
    if load < cores:
        return cores
    return max(1, min(cores, math.floor(2 * cores - load)))


def default_num_threads() -> int:
    """Every physical core, fewer when other processes oversubscribe them (`threads_for_load`).

    Examples
    --------
    >>> 1 <= default_num_threads() <= (os.cpu_count() or 1)
    True
    """
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = 0.0
    return threads_for_load(physical_cores(), load)


def threads_for_step(model: torch.nn.Module, batch_size: int) -> int:
    """Threads for training steps of ``model`` at ``batch_size``: 1 for small steps.

    A step's work is taken as 6 FLOP per parameter per example (forward and
    backward); forward-only work can pass a third of its batch.

    Examples
    --------
    >>> threads_for_step(torch.nn.Linear(64, 8), 128)
    1
    """
    flops = 6 * batch_size * sum(p.numel() for p in model.parameters())
    on_cpu = next(model.parameters()).device.type == "cpu"
    return 1 if on_cpu and flops < SMALL_STEP_FLOPS else default_num_threads()


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[int]:
    """Run a block with at most ``n`` torch threads (never more than the caller's
    setting; None keeps it), restoring the setting on exit.

    Examples
    --------
    >>> before = torch.get_num_threads()
    >>> with torch_threads(1) as n:
    ...     torch.get_num_threads() == n == 1
    True
    >>> torch.get_num_threads() == before
    True
    """
    before = torch.get_num_threads()
    n = before if n is None else max(1, min(n, before))
    torch.set_num_threads(n)
    try:
        yield n
    finally:
        torch.set_num_threads(before)
