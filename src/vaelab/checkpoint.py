"""Training checkpoints: one safetensors file holding every tensor, with the rest as JSON.

A checkpoint is everything `vaelab.train.fit` needs to continue exactly where it
stopped: the model weights, the optimizer state, the early-stopping state and
best weights, the training history, and every random-number generator state
(torch's global CPU and CUDA generators and the generator that shuffles and
binarizes batches). Nothing is pickled: tensors go into a safetensors file and
everything else into its JSON metadata, so the whole checkpoint is one file
written atomically (temp file, fsync, rename). The previous checkpoint is kept
as ``checkpoint.prev.safetensors`` until the new one is complete, so a crash at
any moment leaves at least one good checkpoint.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from vaelab.errors import RunDirError

CHECKPOINT = "checkpoint.safetensors"
PREVIOUS = "checkpoint.prev.safetensors"
CHECKPOINT_FORMAT = 1


def capture(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    state: dict,
    best_weights: dict[str, torch.Tensor] | None = None,
) -> dict[str, Any]:
    """A snapshot of training: ``{"tensors": {name: tensor}, "meta": JSON-able dict}``.

    Tensors are cloned to CPU, so later training steps do not change the snapshot.

    Parameters
    ----------
    model, optimizer : the model being trained and its optimizer
    generator : torch.Generator
        The generator that draws batch orders and binarizations.
    state : dict
        JSON-able loop state (epoch, early-stopping counters, history, ...).
    best_weights : dict, optional
        The best validation weights so far (early stopping).

    Returns
    -------
    dict

    Examples
    --------
    >>> net = torch.nn.Linear(2, 1)
    >>> opt = torch.optim.Adam(net.parameters())
    >>> snap = capture(net, opt, torch.Generator().manual_seed(0), {"epoch": 3})
    >>> sorted(snap["tensors"])[:2], snap["meta"]["state"]
    (['model.bias', 'model.weight'], {'epoch': 3})
    """
    tensors: dict[str, torch.Tensor] = {}
    for name, t in model.state_dict().items():
        tensors[f"model.{name}"] = t
    opt_state = optimizer.state_dict()
    for idx, per_param in opt_state["state"].items():
        for key, value in per_param.items():
            tensors[f"optim.{idx}.{key}"] = torch.as_tensor(value)
    for name, t in (best_weights or {}).items():
        tensors[f"best.{name}"] = t
    tensors["rng.generator"] = generator.get_state()
    tensors["rng.torch_cpu"] = torch.get_rng_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    tensors = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in tensors.items()}
    meta = {
        "format": CHECKPOINT_FORMAT,
        "state": state,
        "param_groups": opt_state["param_groups"],
        "generator_device": str(generator.device),
        "has_best": best_weights is not None,
    }
    return {"tensors": tensors, "meta": meta}


def restore(
    snapshot: dict[str, Any],
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
) -> tuple[dict, dict[str, torch.Tensor] | None]:
    """Put a `capture` snapshot back; returns ``(state, best_weights)``.

    Examples
    --------
    >>> net = torch.nn.Linear(2, 1)
    >>> opt = torch.optim.Adam(net.parameters())
    >>> g = torch.Generator().manual_seed(0)
    >>> snap = capture(net, opt, g, {"epoch": 1})
    >>> before = torch.rand(3, generator=g)
    >>> with torch.no_grad():
    ...     _ = net.weight.add_(1.0)
    >>> state, best = restore(snap, net, opt, g)
    >>> bool(torch.equal(net.weight, snap["tensors"]["model.weight"]))
    True
    >>> bool(torch.equal(torch.rand(3, generator=g), before))
    True
    """
    tensors, meta = snapshot["tensors"], snapshot["meta"]
    device = next(model.parameters()).device
    model_state = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    try:
        model.load_state_dict(model_state)
    except RuntimeError as err:
        first = str(err).splitlines()[0]
        raise RunDirError(f"checkpoint does not match the model ({first})") from None
    per_param: dict[int, dict[str, torch.Tensor]] = {}
    for k, v in tensors.items():
        if k.startswith("optim."):
            _, idx, key = k.split(".", 2)
            per_param.setdefault(int(idx), {})[key] = v
    optimizer.load_state_dict({"state": per_param, "param_groups": meta["param_groups"]})
    generator.set_state(tensors["rng.generator"])
    torch.set_rng_state(tensors["rng.torch_cpu"])
    cuda = [tensors[f"rng.cuda.{i}"] for i in range(64) if f"rng.cuda.{i}" in tensors]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda[: torch.cuda.device_count()])
    best = None
    if meta.get("has_best"):
        best = {k[5:]: v.to(device) for k, v in tensors.items() if k.startswith("best.")}
    return json.loads(json.dumps(meta["state"])), best  # a copy: the snapshot stays reusable


def save_checkpoint(directory: Path, snapshot: dict[str, Any]) -> Path:
    """Write a snapshot atomically to ``directory/checkpoint.safetensors``.

    The previous checkpoint becomes ``checkpoint.prev.safetensors`` (by hard link,
    so a complete checkpoint exists at every moment).

    Examples
    --------
    >>> import tempfile
    >>> net = torch.nn.Linear(2, 1)
    >>> snap = capture(net, torch.optim.Adam(net.parameters()), torch.Generator(), {"epoch": 2})
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = save_checkpoint(d, snap)
    ...     load_checkpoint(d)["meta"]["state"]["epoch"]
    2
    """
    from vaelab.io import atomic_write_bytes

    directory = Path(directory)
    path = directory / CHECKPOINT
    data = st_save(snapshot["tensors"], metadata={"vaelab": json.dumps(snapshot["meta"])})
    if path.exists():
        prev = directory / PREVIOUS
        tmp = directory / f".{PREVIOUS}.link"
        tmp.unlink(missing_ok=True)
        os.link(path, tmp)
        os.replace(tmp, prev)
    atomic_write_bytes(path, data)
    return path


def _read(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
        tensors = st_load(raw)
        header_len = int.from_bytes(raw[:8], "little")
        header = json.loads(raw[8 : 8 + header_len])
        meta = json.loads(header["__metadata__"]["vaelab"])
    except (SafetensorError, ValueError, RuntimeError, KeyError, TypeError, OSError) as err:
        raise RunDirError(f"{path} is not a valid vaelab checkpoint ({err})") from None
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
        raise RunDirError(f"{path} has an unknown checkpoint format")
    for key in ("state", "param_groups"):
        if key not in meta:
            raise RunDirError(f"{path} is not a valid vaelab checkpoint (no {key!r})")
    if "rng.generator" not in tensors or "rng.torch_cpu" not in tensors:
        raise RunDirError(f"{path} is not a valid vaelab checkpoint (no RNG state)")
    return {"tensors": tensors, "meta": meta}


def load_checkpoint(directory: Path) -> dict[str, Any]:
    """The newest readable checkpoint in ``directory``, as a `capture` snapshot.

    Falls back to ``checkpoint.prev.safetensors`` when the newest is missing or
    corrupted. Raises `RunDirError` when there is none.
    """
    directory = Path(directory)
    errors = []
    for name in (CHECKPOINT, PREVIOUS):
        path = directory / name
        if not path.is_file():
            continue
        try:
            return _read(path)
        except RunDirError as err:
            errors.append(str(err))
    detail = "; ".join(errors) if errors else f"no {CHECKPOINT}"
    raise RunDirError(f"{directory} has no usable checkpoint to resume from ({detail})")


def has_checkpoint(directory: Path) -> bool:
    """True when ``directory`` holds a checkpoint file (maybe the previous one)."""
    directory = Path(directory)
    return (directory / CHECKPOINT).is_file() or (directory / PREVIOUS).is_file()


def truncate_metrics(run_dir: Path, epoch: int) -> None:
    """Keep only the metrics.jsonl records of epochs up to ``epoch`` (atomically).

    Examples
    --------
    >>> import tempfile
    >>> from vaelab.io import append_metrics, read_metrics
    >>> with tempfile.TemporaryDirectory() as d:
    ...     for e in (1, 2, 3):
    ...         append_metrics(d, {"epoch": e})
    ...     truncate_metrics(d, 2)
    ...     [r["epoch"] for r in read_metrics(d)]
    [1, 2]
    """
    from vaelab.io import METRICS, atomic_write_bytes, read_metrics

    path = Path(run_dir) / METRICS
    if not path.exists():
        return
    keep = [r for r in read_metrics(run_dir) if isinstance(r, dict) and r.get("epoch", 0) <= epoch]
    atomic_write_bytes(path, "".join(json.dumps(r) + "\n" for r in keep).encode())
