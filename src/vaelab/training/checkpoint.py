"""Training checkpoints: one safetensors file holding every tensor, with the rest as JSON.

A checkpoint is everything `vaelab.training.loop.fit` needs to continue exactly where it
stopped: the model weights, the optimizer state, the early-stopping state and
best weights, the training history, and every random-number generator state
(torch's global CPU and CUDA generators and the generator that shuffles and
binarizes batches). Nothing is pickled: tensors go into a safetensors file and
everything else into its JSON metadata, so the whole checkpoint is one file
written atomically (temp file, fsync, rename). The previous checkpoint is kept
as ``checkpoint.prev.safetensors`` until the new one is complete, so a crash at
any moment leaves at least one good checkpoint.

Reading one checks it in full before anything is restored: the file's size and
header (before its data is read), a SHA-256 checksum of the metadata and data,
every key and type of the JSON metadata (`check_meta`), every tensor's name,
dtype and shape against the model and optimizer, and the random-number
generator states' sizes. A damaged checkpoint is a `RunDirError` naming the file
and the bad key; `load_checkpoint` then falls back to the previous one.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import torch

from vaelab import _tensorfile
from vaelab._config import parse_json
from vaelab.errors import ConfigError, RunDirError
from vaelab.training.history import History

CHECKPOINT = "checkpoint.safetensors"
PREVIOUS = "checkpoint.prev.safetensors"
CHECKPOINT_FORMAT = 1
META_KEYS = ("format", "state", "param_groups", "generator_device", "has_best")
# The loop state `vaelab.training.loop.fit` keeps (besides "history"): key → (check, what it must be)
STATE = {
    "epoch": (lambda v: _is_int(v) and v >= 0, "an int >= 0"),
    "best_loss": (lambda v: v is None or _is_number(v) and not math.isnan(v), "null or a number"),
    "bad_epochs": (lambda v: _is_int(v) and v >= 0, "an int >= 0"),
    "lr_scale": (lambda v: _is_number(v) and 0 < v < math.inf, "a finite number > 0"),
    "rollbacks": (lambda v: _is_int(v) and v >= 0, "an int >= 0"),
}
ADAM_STATE = ("step", "exp_avg", "exp_avg_sq")  # per parameter, once Adam has stepped
# How the optimizer computes, not what: kept from the optimizer being restored into
IMPLEMENTATION = ("foreach", "fused", "capturable", "differentiable")
Layout = dict[str, tuple[torch.dtype, tuple[int, ...]]]


def fresh_state() -> dict:
    """The loop state before the first epoch, in the form `check_meta` accepts.

    Examples
    --------
    >>> fresh_state()["epoch"], fresh_state()["history"]["train_loss"]
    (0, [])
    """
    return {
        "epoch": 0,
        "best_loss": None,
        "bad_epochs": 0,
        "lr_scale": 1.0,
        "rollbacks": 0,
        "history": History().to_dict(),
    }


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
    >>> snap = capture(net, opt, torch.Generator().manual_seed(0), fresh_state())
    >>> sorted(snap["tensors"])[:2], snap["meta"]["state"]["epoch"]
    (['model.bias', 'model.weight'], 0)
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

    Everything is checked before anything is changed: the metadata (`check_meta`),
    the tensors against ``model`` and ``optimizer`` (`check_tensors`), the
    generator states' sizes. A misfit is a `RunDirError` naming the checkpoint.

    Examples
    --------
    >>> net = torch.nn.Linear(2, 1)
    >>> opt = torch.optim.Adam(net.parameters())
    >>> g = torch.Generator().manual_seed(0)
    >>> snap = capture(net, opt, g, fresh_state())
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
    where = snapshot.get("path", "the checkpoint")
    check_meta(meta, where)
    params = [p for group in optimizer.param_groups for p in group["params"]]
    check_tensors(
        _tensorfile.describe(tensors),
        meta,
        where,
        _tensorfile.describe(model.state_dict()),
        [_desc(p) for p in params],
    )
    _check_values(tensors, where)
    _check_groups(meta["param_groups"], optimizer, where)
    rng = {"rng.generator": generator.get_state(), "rng.torch_cpu": torch.get_rng_state()}
    for name, current in rng.items():
        if tensors[name].shape != current.shape:
            raise RunDirError(
                f"{where}: {name} holds {tensors[name].numel()} bytes, but this "
                f"{'generator' if name == 'rng.generator' else 'process'} ({generator.device}) "
                f"needs {current.numel()}; the checkpoint was written with a "
                f"{meta['generator_device']} generator"
            )
    device = next(model.parameters()).device
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    per_param: dict[int, dict[str, torch.Tensor]] = {}
    for k, v in tensors.items():
        if k.startswith("optim."):
            _, idx, key = k.split(".", 2)
            per_param.setdefault(int(idx), {})[key] = v
    how = [{k: g[k] for k in IMPLEMENTATION if k in g} for g in optimizer.param_groups]
    optimizer.load_state_dict({"state": per_param, "param_groups": meta["param_groups"]})
    for group, kept in zip(optimizer.param_groups, how, strict=True):
        group.update(kept)
    try:
        generator.set_state(tensors["rng.generator"])
        torch.set_rng_state(tensors["rng.torch_cpu"])
        cuda = [tensors[f"rng.cuda.{i}"] for i in range(64) if f"rng.cuda.{i}" in tensors]
        if cuda and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(cuda[: torch.cuda.device_count()])
    except RuntimeError as err:  # e.g. "Invalid mt19937 state"
        raise RunDirError(f"{where}: a random-number generator state is damaged ({err})") from None
    best = None
    if meta["has_best"]:
        best = {k[5:]: v.to(device) for k, v in tensors.items() if k.startswith("best.")}
    return json.loads(json.dumps(meta["state"])), best  # a copy: the snapshot stays reusable


def _desc(t: torch.Tensor) -> tuple[torch.dtype, tuple[int, ...]]:
    return t.dtype, tuple(t.shape)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def check_meta(meta: Any, where: str | Path) -> None:
    """Refuse checkpoint metadata that `capture` would not write, naming the bad key.

    Checked: the keys `META_KEYS`; the loop state (`STATE`, and a ``history``
    with exactly the fields of `vaelab.training.loop.History`, one entry per epoch);
    Adam's ``param_groups``; ``generator_device``; ``has_best``.

    Examples
    --------
    >>> net = torch.nn.Linear(2, 1)
    >>> state = {**fresh_state(), "epoch": -5}
    >>> snap = capture(net, torch.optim.Adam(net.parameters()), torch.Generator(), state)
    >>> check_meta(snap["meta"], "ck")
    Traceback (most recent call last):
    vaelab.errors.RunDirError: ck: state.epoch=-5 must be an int >= 0
    """
    if not isinstance(meta, dict):
        raise RunDirError(f"{where}: the checkpoint metadata is not a JSON object")
    if meta.get("format") != CHECKPOINT_FORMAT or not _is_int(meta.get("format")):
        raise RunDirError(
            f"{where} has an unknown checkpoint format {meta.get('format')!r:.40} "
            f"(this vaelab reads {CHECKPOINT_FORMAT})"
        )
    _check_keys(meta, META_KEYS, "", where)
    state = meta["state"]
    if not isinstance(state, dict):
        raise RunDirError(f"{where}: state must be an object, got {type(state).__name__}")
    _check_keys(state, (*STATE, "history"), "state.", where)
    for key, (ok, expected) in STATE.items():
        if not ok(state[key]):
            raise RunDirError(f"{where}: state.{key}={state[key]!r:.40} must be {expected}")
    _check_history(state["history"], state["epoch"], where)
    _check_group_values(meta["param_groups"], where)
    device = meta["generator_device"]
    if not isinstance(device, str) or not re.fullmatch(r"cpu|cuda(:\d+)?|mps", device):
        raise RunDirError(f"{where}: generator_device={device!r:.40} must be 'cpu' or 'cuda:N'")
    if not isinstance(meta["has_best"], bool):
        raise RunDirError(f"{where}: has_best={meta['has_best']!r:.40} must be true or false")


def _check_keys(d: dict, keys: tuple[str, ...], prefix: str, where: str | Path) -> None:
    missing, unknown = [k for k in keys if k not in d], sorted(set(d) - set(keys))
    if missing:
        raise RunDirError(f"{where}: the checkpoint lacks {prefix}{missing[0]}")
    if unknown:
        raise RunDirError(f"{where}: unknown checkpoint keys {[prefix + k for k in unknown]}")


def _check_history(history: Any, epoch: int, where: str | Path) -> None:
    """``state.history``: `History` as a dict, with a value for each of the ``epoch`` epochs."""
    if not isinstance(history, dict):
        raise RunDirError(f"{where}: state.history must be an object")
    _check_keys(history, tuple(f.name for f in fields(History)), "state.history.", where)
    if history["epoch"] != list(range(1, epoch + 1)):
        raise RunDirError(
            f"{where}: state.history.epoch={history['epoch']!r:.40} must list "
            f"the epochs 1 to {epoch} (state.epoch)"
        )
    best = history["best_epoch"]
    if best is not None and not (_is_int(best) and 1 <= best <= epoch):
        raise RunDirError(
            f"{where}: state.history.best_epoch={best!r:.40} must be null or an epoch from 1 to {epoch}"
        )
    for key, values in history.items():
        if key in ("epoch", "best_epoch"):
            continue
        if not isinstance(values, list) or not all(_is_number(v) for v in values):
            raise RunDirError(f"{where}: state.history.{key} must be a list of numbers")
        every_epoch = key.startswith("train_") or key == "seconds"  # valid_*: when validated
        if len(values) > epoch or every_epoch and len(values) != epoch:
            raise RunDirError(
                f"{where}: state.history.{key} has {len(values)} values, "
                f"expected {epoch if every_epoch else f'at most {epoch}'} "
                "(one per epoch)"
            )


def _check_group_values(groups: Any, where: str | Path) -> None:
    """Adam's ``param_groups``: each group's parameter indices and hyperparameters."""
    if not isinstance(groups, list) or not groups:
        raise RunDirError(f"{where}: param_groups must be a non-empty list")
    indices: list[int] = []
    for i, g in enumerate(groups):
        at = f"param_groups[{i}]"
        if not isinstance(g, dict):
            raise RunDirError(f"{where}: {at} must be an object")
        for key in ("params", "lr", "betas", "eps", "weight_decay"):
            if key not in g:
                raise RunDirError(f"{where}: the checkpoint lacks {at}.{key}")
        if not isinstance(g["params"], list) or not all(_is_int(j) and j >= 0 for j in g["params"]):
            raise RunDirError(f"{where}: {at}.params must be a list of parameter indices")
        indices += g["params"]
        for key, value in g.items():
            ok = {
                "params": True,
                "lr": _is_number(value) and 0 <= value < math.inf,
                "eps": _is_number(value) and 0 < value < math.inf,
                "weight_decay": _is_number(value) and 0 <= value < math.inf,
                "betas": isinstance(value, list | tuple)
                and len(value) == 2
                and all(_is_number(b) and 0 <= b < 1 for b in value),
            }.get(
                key, value is None or isinstance(value, bool) or (_is_number(value) and math.isfinite(value))
            )
            if not ok:
                raise RunDirError(f"{where}: {at}.{key}={value!r:.40} is not a valid Adam setting")
    if sorted(indices) != list(range(len(indices))):
        raise RunDirError(
            f"{where}: param_groups must number the parameters 0 to {len(indices) - 1} once each"
        )


def _check_groups(groups: list[dict], optimizer: torch.optim.Optimizer, where: str | Path) -> None:
    """Saved ``param_groups`` that fit ``optimizer``: same groups, same hyperparameters but lr."""
    current = optimizer.param_groups
    if len(groups) != len(current) or any(
        len(g["params"]) != len(c["params"]) for g, c in zip(groups, current, strict=False)
    ):
        raise RunDirError(
            f"{where}: param_groups has {[len(g['params']) for g in groups]} "
            f"parameters per group, the optimizer "
            f"{[len(c['params']) for c in current]}"
        )
    for i, (g, c) in enumerate(zip(groups, current, strict=True)):
        for key, value in g.items():
            if key in ("params", "lr", *IMPLEMENTATION) or key not in c:
                continue
            mine = tuple(value) if isinstance(value, list) else value
            if mine != c[key]:
                raise RunDirError(
                    f"{where}: param_groups[{i}].{key}={value!r:.40} differs from this run's {c[key]!r:.40}"
                )


def check_tensors(
    desc: Layout,
    meta: dict,
    where: str | Path,
    model: Layout | None = None,
    params: list[tuple[torch.dtype, tuple[int, ...]]] | None = None,
) -> None:
    """Refuse checkpoint tensors that do not fit together, or do not fit the model.

    ``desc`` is ``{name: (dtype, shape)}`` of the checkpoint (from its header,
    before the data is read); ``model`` the model's state dict layout and
    ``params`` the optimizer's parameters in order, when known.
    """

    def refuse(why: str) -> RunDirError:
        return RunDirError(f"{where}: {why}")

    groups: dict[str, Layout] = {"model": {}, "best": {}}
    optim: dict[int, dict[str, tuple[torch.dtype, tuple[int, ...]]]] = {}
    cuda = []
    for name, d in desc.items():
        prefix, _, rest = name.partition(".")
        m = re.fullmatch(r"optim\.(0|[1-9]\d{0,8})\.(\w+)", name)
        if prefix in groups and rest:
            groups[prefix][rest] = d
        elif m:
            optim.setdefault(int(m[1]), {})[m[2]] = d
        elif re.fullmatch(r"rng\.cuda\.(0|[1-9]\d?)", name):
            cuda.append(int(name.rsplit(".", 1)[1]))
        elif name not in ("rng.generator", "rng.torch_cpu"):
            raise refuse(f"unexpected tensor {name!r}")
    for name in ("rng.generator", "rng.torch_cpu"):
        if name not in desc:
            raise refuse(f"the checkpoint lacks the random-number generator state {name!r}")
    for name in ("rng.generator", "rng.torch_cpu", *(f"rng.cuda.{i}" for i in cuda)):
        dtype, shape = desc[name]
        if dtype != torch.uint8 or len(shape) != 1:
            raise refuse(f"{name} must be a 1-D uint8 tensor, got {dtype} of shape {list(shape)}")
    if sorted(cuda) != list(range(len(cuda))):
        raise refuse(f"the CUDA generator states must be numbered from 0, got {sorted(cuda)}")
    cpu = tuple(torch.get_rng_state().shape)
    if desc["rng.torch_cpu"][1] != cpu or (
        meta["generator_device"] == "cpu" and desc["rng.generator"][1] != cpu
    ):
        name = "rng.torch_cpu" if desc["rng.torch_cpu"][1] != cpu else "rng.generator"
        raise refuse(f"{name} holds {desc[name][1][0]} bytes, but a CPU generator state has {cpu[0]}")
    if model is not None:
        _same(groups["model"], model, "model", refuse)
    elif not groups["model"]:
        raise refuse("the checkpoint holds no model weights")
    if meta["has_best"]:
        _same(groups["best"], groups["model"], "best", refuse)
    elif groups["best"]:
        raise refuse("has best.* weights but has_best is false")
    n = sum(len(g["params"]) for g in meta["param_groups"])
    if params is not None and len(params) != n:
        raise refuse(f"param_groups number {n} parameters, the model has {len(params)}")
    amsgrad = any(g.get("amsgrad") is True for g in meta["param_groups"])
    needed = {*ADAM_STATE, *(("max_exp_avg_sq",) if amsgrad else ())}
    if optim and sorted(optim) != list(range(n)):
        raise refuse(
            f"optimizer state for parameters {sorted(optim)[:5]}..., expected all of 0 to {n - 1} or none"
        )
    for i, state in sorted(optim.items()):
        if set(state) != needed:
            raise refuse(f"optimizer state of parameter {i} holds {sorted(state)}, expected {sorted(needed)}")
        if state["step"] != (torch.float32, ()):
            raise refuse(
                f"optim.{i}.step must be a float32 scalar, got {state['step'][0]} "
                f"of shape {list(state['step'][1])}"
            )
        like = params[i] if params is not None else state["exp_avg"]
        for key in sorted(needed - {"step"}):
            if state[key] != like:
                raise refuse(
                    f"optim.{i}.{key} is {state[key][0]} of shape "
                    f"{list(state[key][1])}, expected {like[0]} of shape "
                    f"{list(like[1])} like its parameter"
                )


def _same(got: Layout, expected: Layout, prefix: str, refuse) -> None:
    missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
    if missing or extra:
        name = f"lacks {prefix}.{missing[0]}" if missing else f"has unexpected {prefix}.{extra[0]}"
        raise refuse(f"does not match the model: it {name}")
    for k, (dtype, shape) in expected.items():
        if got[k] != (dtype, shape):
            raise refuse(
                f"{prefix}.{k} is {got[k][0]} of shape {list(got[k][1])}, the model's "
                f"is {dtype} of shape {list(shape)}"
            )


def _check_values(tensors: dict[str, torch.Tensor], where: str | Path) -> None:
    """Finite weights; an optimizer state Adam can step from (no NaN, second moments >= 0)."""
    for name, t in tensors.items():
        if name.startswith(("model.", "best.")) and t.is_floating_point():
            ok, why = bool(torch.isfinite(t).all()), "NaN or infinite weights"
        elif name.startswith("optim.") and name.endswith(".step"):
            ok, why = bool(torch.isfinite(t).all() and (t >= 0).all()), "a negative or NaN step"
        elif name.startswith("optim.") and "exp_avg_sq" in name:
            ok, why = bool((t >= 0).all()), "negative or NaN second moments"
        elif name.startswith("optim."):
            ok, why = not bool(torch.isnan(t).any()), "NaN values"
        else:
            continue
        if not ok:
            raise RunDirError(f"{where}: {name} holds {why}")


def save_checkpoint(directory: str | Path, snapshot: dict[str, Any]) -> Path:
    """Write a snapshot atomically to ``directory/checkpoint.safetensors``.

    The previous checkpoint becomes ``checkpoint.prev.safetensors`` (by hard link,
    so a complete checkpoint exists at every moment).

    Examples
    --------
    >>> import tempfile
    >>> net = torch.nn.Linear(2, 1)
    >>> history = History(epoch=[1, 2], train_loss=[3.0, 2.0], train_reconstruction=[2.5, 1.5],
    ...                   train_kl=[0.5, 0.5], seconds=[0.1, 0.1])
    >>> state = {**fresh_state(), "epoch": 2, "history": history.to_dict()}
    >>> snap = capture(net, torch.optim.Adam(net.parameters()), torch.Generator(), state)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = save_checkpoint(d, snap)
    ...     load_checkpoint(d)["meta"]["state"]["epoch"]
    2
    """
    from vaelab._atomic import atomic_write_bytes

    directory = Path(directory)
    path = directory / CHECKPOINT
    data = _tensorfile.encode(snapshot["tensors"], {"vaelab": json.dumps(snapshot["meta"])})
    if path.exists():
        prev = directory / PREVIOUS
        tmp = directory / f".{PREVIOUS}.link"
        tmp.unlink(missing_ok=True)
        os.link(path, tmp)
        os.replace(tmp, prev)
    atomic_write_bytes(path, data)
    return path


def _read(path: Path, model: Layout | None, params: list | None) -> dict[str, Any]:
    """A checkpoint file, checked in full (see the module docstring) before it is returned."""
    meta: dict = {}

    def check(header: _tensorfile.Header) -> None:
        unknown = sorted(set(header.metadata) - {"vaelab", _tensorfile.CHECKSUM})
        if unknown or "vaelab" not in header.metadata:
            raise RunDirError(
                f"{path} is not a vaelab checkpoint (metadata keys "
                f"{sorted(header.metadata)}, expected 'vaelab' and "
                f"{_tensorfile.CHECKSUM!r})"
            )
        try:
            meta.update(
                parse_json(header.metadata["vaelab"], allow_nonfinite=True, max_depth=8) or {"format": None}
            )
        except (ConfigError, TypeError, ValueError) as err:
            raise RunDirError(f"{path}: the checkpoint metadata is not a JSON object ({err})") from None
        check_meta(meta, path)
        desc = {k: (_tensorfile.DTYPES[e.dtype], e.shape) for k, e in header.entries.items()}
        check_tensors(desc, meta, path, model, params)

    tensors, _ = _tensorfile.load(path, check)
    _check_values(tensors, path)
    cpu_states = ["rng.torch_cpu"] + (["rng.generator"] if meta["generator_device"] == "cpu" else [])
    for name in cpu_states:
        try:  # on a scratch generator: torch refuses e.g. an invalid Mersenne Twister position
            torch.Generator().set_state(tensors[name])
        except RuntimeError as err:
            raise RunDirError(
                f"{path}: the random-number generator state {name} is damaged ({err})"
            ) from None
    return {"tensors": tensors, "meta": meta, "path": str(path)}


def load_checkpoint(directory: str | Path, model: torch.nn.Module | None = None) -> dict[str, Any]:
    """The newest readable checkpoint in ``directory``, as a `capture` snapshot.

    Falls back to ``checkpoint.prev.safetensors`` when the newest is missing or
    damaged. Raises `RunDirError` when there is none, naming each file's defect.
    Tensors must fit ``model`` (optimized with Adam over ``model.parameters()``);
    this is checked before the tensor data is read. A run directory's checkpoint
    is checked against its config.json by `vaelab.runs.run.load_run_checkpoint`.

    Parameters
    ----------
    directory : str or Path
        The run (or checkpoint) directory.
    model : torch.nn.Module, optional
        The model the checkpoint must fit.

    Returns
    -------
    dict
        ``{"tensors", "meta", "path"}``: a snapshot for `restore`.
    """
    directory = Path(directory)
    layout = None if model is None else _tensorfile.describe(model.state_dict())
    params = None if model is None else [_desc(p) for p in model.parameters()]
    errors = []
    for name in (CHECKPOINT, PREVIOUS):
        path = directory / name
        if not path.is_file():
            continue
        try:
            return _read(path, layout, params)
        except RunDirError as err:
            errors.append(str(err))
    detail = "; ".join(errors) if errors else f"no {CHECKPOINT}"
    raise RunDirError(f"{directory} has no usable checkpoint to resume from ({detail})")


def has_checkpoint(directory: Path) -> bool:
    """True when ``directory`` holds a checkpoint file (maybe the previous one)."""
    directory = Path(directory)
    return (directory / CHECKPOINT).is_file() or (directory / PREVIOUS).is_file()
