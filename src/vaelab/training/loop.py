"""The fit loop: batches from in-memory tensors, Adam, KL warm-up, early stopping.

The hot path indexes one tensor that already holds the whole training set; there
is no per-sample Dataset, no collate, and no host sync inside a step.

How it reads, top down: `fit` checks its arguments, `_setup` builds the
`_StepContext` (device, seeds, threads, data, Adam), and `_Loop.run` trains
epoch after epoch, carrying a `_LoopState` (the JSON part of a checkpoint)
through early stopping, checkpoints and rollbacks. `_train_epoch` is one pass
over the data.
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import cast

import numpy as np
import torch
from tqdm.auto import tqdm

from vaelab.core.inference import as_flat_tensor, elbo_terms
from vaelab.core.models import Model
from vaelab.data import Dataset, dynamic_binarize_batch
from vaelab.errors import ConfigError, TrainingDivergedError
from vaelab.training import distributed
from vaelab.training.batches import NpySource, TensorSource, steps_per_epoch
from vaelab.training.checkpoint import capture, load_checkpoint, restore, save_checkpoint
from vaelab.training.config import TrainConfig, check_objective, check_step
from vaelab.training.fused import FusedStep, fused_step
from vaelab.training.history import History
from vaelab.training.runtime import resolve_device, resolve_precision
from vaelab.training.threads import threads_for_step

BatchSource = (TensorSource, NpySource)

EpochCallback = Callable[[int, dict], None]


class _Diverged(Exception):
    """Internal: a non-finite loss, gradient or weight was seen (epoch, step, value)."""

    def __init__(self, epoch: int, step: int, value: float, where: str) -> None:
        super().__init__(f"epoch {epoch} step {step}")
        self.epoch, self.step, self.value, self.where = epoch, step, value, where


@dataclass
class _LoopState:
    """What the loop carries from epoch to epoch; `to_dict` is a checkpoint's ``state``.

    The JSON keys are `vaelab.training.checkpoint.STATE`'s, then ``history``.

    Examples
    --------
    >>> from vaelab.training.checkpoint import fresh_state
    >>> list(_LoopState().to_dict().items()) == list(fresh_state().items())
    True
    >>> _LoopState.from_dict(fresh_state()) == _LoopState()
    True
    """

    epoch: int = 0  # epochs done
    best_loss: float | None = None  # best validation loss so far (early stopping)
    bad_epochs: int = 0  # epochs since best_loss last improved
    lr_scale: float = 1.0  # learning-rate multiplier, × 0.1 per rollback
    rollbacks: int = 0  # rollbacks after a divergence so far
    history: History = field(default_factory=History)

    def to_dict(self) -> dict:
        return asdict(self)  # history as History.to_dict

    @classmethod
    def from_dict(cls, d: dict) -> _LoopState:
        return cls(**{**d, "history": History(**d["history"])})


@dataclass(frozen=True)
class _StepContext:
    """What every training step of one fit uses; built once by `_setup`."""

    config: TrainConfig
    net: torch.nn.Module  # what a step calls: the model, maybe DDP-wrapped and compiled
    model: Model  # the model itself: its parameters, config and checkpoints
    source: TensorSource | NpySource  # the training batches
    optimizer: torch.optim.Optimizer
    generator: torch.Generator  # draws batch orders and dynamic binarizations
    device: torch.device
    autocast_dtype: torch.dtype | None  # None: fp32 without autocast
    rank: int  # this process, 0 to world - 1
    world: int  # processes training together (1 without torchrun)
    n_steps: int  # optimizer steps per epoch
    fused: FusedStep | None  # the hand-written step, None: autograd's


def fit(
    model: Model,
    train: Dataset | TensorSource | NpySource,
    config: TrainConfig,
    *,
    valid: Dataset | None = None,
    on_epoch: EpochCallback | None = None,
    progress: bool = True,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
) -> History:
    """Train ``model`` on ``train``; returns the per-epoch history.

    Parameters
    ----------
    model : VAE or Autoencoder
        Trained in place. With early stopping, the best validation weights are
        restored at the end.
    train : Dataset or batch source
        Training data: a `Dataset` (held in memory on the device) or a source
        from `vaelab.training.batches` such as `NpySource` (streamed from disk).
    valid : Dataset, optional
        Validation data evaluated every epoch. With ``binarize="dynamic"``,
        pass ``valid`` already binarized once.
    config : TrainConfig
    on_epoch : callable, optional
        Called as ``on_epoch(epoch, record)`` after every epoch with the metrics
        record (the run directory uses it to append metrics.jsonl). Only on
        rank 0 under multi-process training.
    progress : bool
        Show a progress bar with loss, reconstruction and KL.
    checkpoint_dir : path, optional
        Where `vaelab.training.checkpoint` writes ``checkpoint.safetensors`` every
        ``config.checkpoint_every`` epochs and/or ``config.checkpoint_minutes``
        minutes (checked at the end of each epoch). None: no checkpoints.
    resume : bool
        Continue from the checkpoint in ``checkpoint_dir``: weights, optimizer,
        learning-rate schedule, epoch, early-stopping state and every RNG
        state, so that on CPU the result is bit-identical to an uninterrupted run.

    Returns
    -------
    History

    Raises
    ------
    TrainingDivergedError
        When the loss, a gradient or a weight becomes NaN or inf (and
        ``config.on_divergence="rollback"`` has no retries left).

    Examples
    --------
    >>> from vaelab.core.models import VAE, ModelConfig
    >>> x = np.random.default_rng(0).random((256, 16), dtype=np.float32)
    >>> ds = Dataset(x, None, (16,), "unit")
    >>> vae = VAE(ModelConfig(input_shape=(16,), latent_dim=2, hidden=(8,)))
    >>> hist = fit(vae, ds, TrainConfig(epochs=2, batch_size=64), progress=False)
    >>> len(hist.train_loss)
    2
    """
    threads_before = torch.get_num_threads()
    # fit seeds torch's CPU generator for its noise; the caller's random state and thread
    # setting are restored on every exit, divergence included
    with torch.random.fork_rng(devices=[]):
        try:
            _check_fit(model, train, config, checkpoint_dir, resume)
            ctx, x_valid = _setup(model, train, valid, config)
            loop = _Loop(ctx, x_valid, on_epoch, progress, checkpoint_dir)
            return loop.run(resume)
        finally:
            torch.set_num_threads(threads_before)


def _check_fit(
    model: Model,
    train: Dataset | TensorSource | NpySource,
    config: TrainConfig,
    checkpoint_dir: str | Path | None,
    resume: bool,
) -> None:
    """Refuse what `fit` cannot train, before anything changes."""
    if len(train) < 2:
        raise ConfigError(f"training needs at least 2 samples, got {len(train)}")
    if train.n_features != model.config.n_features:
        raise ConfigError(
            f"data has {train.n_features} features per sample but the model expects {model.config.n_features}"
        )
    if resume and checkpoint_dir is None:
        raise ConfigError("resume=True needs the checkpoint_dir to resume from")
    check_objective(model.config.kind, config)
    check_step(model.config.network, model.config.likelihood, config, model.config.latent_dim2)
    if config.step == "fused" and _fused(model, config, None) is None:
        raise ConfigError("step='fused' applies to one process, not to a torchrun launch: use step='auto'")


def _fused(model: Model, config: TrainConfig, autocast_dtype: torch.dtype | None) -> FusedStep | None:
    """The hand-written step where ``config.step`` allows it and it applies, else None."""
    if config.step == "autograd" or distributed.world_size() > 1:
        return None
    return fused_step(model, config, autocast_dtype)


def _setup(
    model: Model,
    train: Dataset | TensorSource | NpySource,
    valid: Dataset | None,
    config: TrainConfig,
) -> tuple[_StepContext, torch.Tensor | None]:
    """Device, seeds, threads, the data on the device, the wrapped model and Adam.

    Returns the step context and the flat validation tensor (None without ``valid``).
    """
    rank, world = distributed.rank(), distributed.world_size()
    device = resolve_device(distributed.local_device(config.device))
    autocast_dtype = resolve_precision(config.precision, device)
    torch.manual_seed(config.seed + rank)
    gen = torch.Generator(device=device).manual_seed(config.seed)
    if device.type == "cpu":
        # None: never more than the caller's setting; one for small steps, fewer under load
        torch.set_num_threads(
            config.threads or min(torch.get_num_threads(), threads_for_step(model, config.batch_size))
        )
    model.to(device).train()
    source = train if isinstance(train, BatchSource) else TensorSource(as_flat_tensor(train, device))
    if len(source) < world:
        raise ConfigError(f"{len(source)} samples cannot be shared by {world} processes")
    x_valid = None if valid is None else as_flat_tensor(valid, device)  # (N_valid, D)
    net = distributed.wrap(model, device)
    if config.compile:
        # torch.compile of a Module returns an OptimizedModule, a Module (the stubs say a callable)
        net = cast(torch.nn.Module, torch.compile(net))
    ctx = _StepContext(
        config=config,
        net=net,
        model=model,
        source=source,
        optimizer=_adam(model, config, device),
        generator=gen,
        device=device,
        autocast_dtype=autocast_dtype,
        rank=rank,
        world=world,
        n_steps=steps_per_epoch(len(source), config.batch_size, world),
        fused=_fused(model, config, autocast_dtype),
    )
    return ctx, x_valid


class _Loop:
    """The epochs of one fit: early stopping, checkpoints, rollback after a divergence.

    ``state`` is the JSON part of a checkpoint, ``best_weights`` the best
    validation weights so far, ``last_good`` the snapshot a rollback returns to.
    """

    def __init__(
        self,
        ctx: _StepContext,
        x_valid: torch.Tensor | None,
        on_epoch: EpochCallback | None,
        progress: bool,
        checkpoint_dir: str | Path | None,
    ) -> None:
        self.ctx, self.x_valid = ctx, x_valid
        self.on_epoch, self.progress, self.checkpoint_dir = on_epoch, progress, checkpoint_dir
        self.rollback = ctx.config.on_divergence == "rollback"
        self.state = _LoopState()
        self.best_weights: dict[str, torch.Tensor] | None = None
        self.last_good: dict | None = None
        self.last_save = time.monotonic()

    def run(self, resume: bool) -> History:
        """Train until ``config.epochs`` or early stopping; the best weights end up loaded."""
        ctx, config = self.ctx, self.ctx.config
        if resume:
            assert self.checkpoint_dir is not None  # _check_fit refuses resume without one
            self._restore(load_checkpoint(self.checkpoint_dir, ctx.model))
        self.last_good = self._snapshot() if self.rollback else None
        self.last_save = time.monotonic()
        while self.state.epoch < config.epochs and not self._patience_spent():
            epoch, start = self.state.epoch + 1, time.perf_counter()
            if ctx.world > 1:  # per-rank noise streams that a resume can rebuild from (seed, rank, epoch)
                torch.manual_seed(config.seed + 1_000_003 * ctx.rank + epoch)
            try:
                train = _train_epoch(ctx, epoch, self.state.lr_scale, self.progress)
            except _Diverged as d:
                self._roll_back(d)  # raises TrainingDivergedError when no retry is left
                continue
            record = self._report(epoch, train, start)
            self._early_stopping(record)
            self.state.epoch = epoch
            self._checkpoint(epoch)
        if self.best_weights is not None:
            ctx.model.load_state_dict(self.best_weights)
        ctx.model.eval()
        return self.state.history

    def _report(self, epoch: int, train: list[float], start: float) -> dict:
        """The epoch's metrics record: into the history, the progress output and ``on_epoch``."""
        record = {
            "epoch": epoch,
            "train_loss": train[0],
            "train_reconstruction": train[1],
            "train_kl": train[2],
        }
        if self.x_valid is not None:
            v = elbo_terms(self.ctx.model, self.x_valid, self.ctx.config.eval_batch_size)
            record.update(valid_loss=v["loss"], valid_reconstruction=v["reconstruction"], valid_kl=v["kl"])
        record["seconds"] = time.perf_counter() - start
        _append(self.state.history, record)
        main_process = self.ctx.rank == 0
        if self.progress and main_process:
            tqdm.write(_epoch_line(record))
        if self.on_epoch is not None and main_process:
            self.on_epoch(epoch, record)
        return record

    def _early_stopping(self, record: dict) -> None:
        """Keep the best validation loss and weights, and count the epochs without a gain."""
        state = self.state
        if self.ctx.config.patience is None or self.x_valid is None:
            return
        best = math.inf if state.best_loss is None else state.best_loss
        if record["valid_loss"] < best - 1e-6:
            state.best_loss, state.bad_epochs = record["valid_loss"], 0
            self.best_weights = copy.deepcopy(self.ctx.model.state_dict())
            state.history.best_epoch = record["epoch"]
            return
        state.bad_epochs += 1

    def _patience_spent(self) -> bool:
        """Early stopping has ended the run: read from the state, so a resume sees it too."""
        patience = self.ctx.config.patience
        return patience is not None and self.x_valid is not None and self.state.bad_epochs >= patience

    def _checkpoint(self, epoch: int) -> None:
        """Snapshot the end of ``epoch`` for a rollback, and write it when a checkpoint is due."""
        config = self.ctx.config
        due = (config.checkpoint_every > 0 and epoch % config.checkpoint_every == 0) or (
            config.checkpoint_minutes is not None
            and time.monotonic() - self.last_save >= 60 * config.checkpoint_minutes
        )
        directory = self.checkpoint_dir if due and self.ctx.rank == 0 else None  # None: no write
        if self.rollback or directory is not None:
            self.last_good = snapshot = self._snapshot()
            if directory is not None:
                save_checkpoint(directory, snapshot)
                self.last_save = time.monotonic()

    def _roll_back(self, d: _Diverged) -> None:
        """Back to the last good state at a tenth of the learning rate, while retries are left."""
        config, state = self.ctx.config, self.state
        if not (self.rollback and state.rollbacks < config.max_rollbacks):
            raise TrainingDivergedError(
                _divergence_message(d, config, state, self.checkpoint_dir, self.ctx.n_steps)
            ) from None
        lr_scale, rollbacks = state.lr_scale * 0.1, state.rollbacks + 1
        assert self.last_good is not None  # run snapshots before the first epoch when rolling back
        self._restore(self.last_good)
        self.state.lr_scale, self.state.rollbacks = lr_scale, rollbacks
        if self.ctx.rank == 0:
            warnings.warn(
                f"training diverged in epoch {d.epoch}, step {d.step + 1}; rolled back to "
                f"the end of epoch {self.state.epoch} and continuing at "
                f"lr={config.lr * lr_scale:g} (retry {rollbacks} of {config.max_rollbacks})",
                RuntimeWarning,
                stacklevel=3,
            )  # attributed to fit

    def _snapshot(self) -> dict:
        ctx = self.ctx
        return capture(ctx.model, ctx.optimizer, ctx.generator, self.state.to_dict(), self.best_weights)

    def _restore(self, snapshot: dict) -> None:
        ctx = self.ctx
        state, self.best_weights = restore(snapshot, ctx.model, ctx.optimizer, ctx.generator)
        self.state = _LoopState.from_dict(state)


def _train_epoch(ctx: _StepContext, epoch: int, lr_scale: float, progress: bool) -> list[float]:
    """One pass over the data; returns [loss, reconstruction, kl] means (nats per example).

    Per-step terms go into a device buffer; the host reads it once every
    ``config.check_every`` steps (progress and the non-finite check) and at the end.
    """
    config, net, opt, gen, device = ctx.config, ctx.net, ctx.optimizer, ctx.generator, ctx.device
    autocast_dtype, n_steps = ctx.autocast_dtype, ctx.n_steps
    beta = _warmup_beta(getattr(ctx.model.config, "beta", 1.0), epoch, n_steps, config.kl_warmup_epochs)
    base_lr = config.lr * lr_scale
    scheduled = config.lr_schedule != "constant"
    _set_lr(opt, base_lr * lr_factor(config.lr_schedule, epoch - 1, config.epochs))
    extra = {"n_samples": config.importance_samples} if config.importance_samples > 1 else {}
    perm = torch.randperm(len(ctx.source), generator=gen, device=gen.device)  # (N,)
    stats = torch.zeros(n_steps, 3, dtype=torch.float32, device=device)  # (n_steps, 3): loss·B, rec, kl
    seen = 0
    bar = tqdm(
        total=n_steps,
        desc=f"epoch {epoch}/{config.epochs}",
        leave=False,
        disable=not progress or ctx.rank != 0,
        mininterval=0.5,
    )
    check = max(1, config.check_every)
    for step, xb in enumerate(ctx.source.batches(perm, config.batch_size, ctx.rank, ctx.world)):
        if config.binarize == "dynamic":  # xb: (B, D)
            xb = dynamic_binarize_batch(xb, gen)
        if scheduled and step:  # the schedule moves every step, not every epoch
            _set_lr(opt, base_lr * lr_factor(config.lr_schedule, epoch - 1 + step / n_steps, config.epochs))
        beta_now = beta[step] if isinstance(beta, list) else beta
        if ctx.fused is not None:  # sets every .grad itself
            loss, rec, kl = ctx.fused(xb, beta_now)
        else:
            with torch.autocast(
                device.type, dtype=autocast_dtype or torch.float32, enabled=autocast_dtype is not None
            ):
                out = net(xb, beta=beta_now, **extra)
            opt.zero_grad(set_to_none=True)
            out.loss.backward()
            loss, rec, kl = out.loss.detach(), out.reconstruction.detach(), out.kl.detach()
        opt.step()
        stats[step] = torch.stack([loss * len(xb), rec.sum(), kl.sum()])
        seen += len(xb)
        bar.update()
        if step % check == check - 1:  # one host sync every `check` steps
            s = _sums_so_far(stats, step + 1, epoch)
            n = seen * ctx.world
            bar.set_postfix(loss=f"{s[0] / n:.2f}", rec=f"{s[1] / n:.2f}", kl=f"{s[2] / n:.2f}")
    bar.close()
    return _epoch_means(ctx, stats, seen, epoch)


def _set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def _sums_so_far(stats: torch.Tensor, steps: int, epoch: int) -> list[float]:
    """The first ``steps`` rows of ``stats`` summed over steps and processes (one host sync)."""
    s = distributed.all_reduce_sum(stats[:steps].double().sum(0)).tolist()  # (3,)
    if not all(math.isfinite(v) for v in s):
        raise _locate(stats, epoch, 0, steps)
    return s


def _epoch_means(ctx: _StepContext, stats: torch.Tensor, seen: int, epoch: int) -> list[float]:
    """[loss, reconstruction, kl] per example over all processes; `_Diverged` if not finite."""
    finite_w = torch.stack([torch.isfinite(p).all() for p in ctx.model.parameters()]).all()
    totals = torch.cat(
        [
            stats.double().sum(0),
            finite_w.double().reshape(1) - 1.0,
            torch.tensor([float(seen)], dtype=torch.float64, device=ctx.device),
        ]
    )
    sums: list[float] = distributed.all_reduce_sum(totals).tolist()  # loss·B, rec, kl, -bad ranks, seen
    if not all(math.isfinite(v) for v in sums[:3]):
        raise _locate(stats, epoch, 0, ctx.n_steps)
    if sums[3] != 0:
        raise _Diverged(epoch, ctx.n_steps - 1, math.nan, "weights")
    n = sums[4]
    return [v / n for v in sums[:3]]


def _locate(stats: torch.Tensor, epoch: int, lo: int, hi: int) -> _Diverged:
    """The first step in ``[lo, hi)`` whose loss (or terms) were not finite."""
    rows = stats[lo:hi].cpu()
    bad = torch.nonzero(~torch.isfinite(rows).all(dim=1)).flatten()
    step = lo + int(bad[0]) if len(bad) else hi - 1
    value = float(rows[step - lo, 0]) if len(bad) else math.nan
    return _Diverged(epoch, step, value, "loss")


def _divergence_message(
    d: _Diverged, config: TrainConfig, state: _LoopState, checkpoint_dir, n_steps: int
) -> str:
    lr = config.lr * state.lr_scale
    if d.epoch == 1 and d.step == 0:
        cause = (
            "the first step already failed: the data likely holds huge values, or the "
            "likelihood does not fit it (e.g. a tiny Gaussian sigma); check the data "
            f"scale, or lower the learning rate (lr={lr:g})"
        )
    else:
        cause = (
            f"the learning rate (lr={lr:g}) is likely too high for this model and data "
            f"(try lr={lr / 10:g}); data with huge values can also cause this"
        )
    kept = (
        f"; the last good checkpoint (end of epoch {state.epoch}) is kept in {checkpoint_dir}"
        if checkpoint_dir is not None and state.epoch > 0
        else ""
    )
    what = "the weights" if d.where == "weights" else "the loss or gradients"
    return (
        f"training diverged in epoch {d.epoch}, step {d.step + 1} of {n_steps}: "
        f"{what} became non-finite (loss={d.value}). Likely cause: {cause}{kept}. "
        "on_divergence='rollback' retries from the last good state at lr × 0.1"
    )


def _append(history: History, record: dict) -> None:
    history.epoch.append(record["epoch"])
    history.train_loss.append(record["train_loss"])
    history.train_reconstruction.append(record["train_reconstruction"])
    history.train_kl.append(record["train_kl"])
    if "valid_loss" in record:
        history.valid_loss.append(record["valid_loss"])
        history.valid_reconstruction.append(record["valid_reconstruction"])
        history.valid_kl.append(record["valid_kl"])
    history.seconds.append(record["seconds"])


def _adam(params: torch.nn.Module | list[torch.Tensor], config: TrainConfig, device: torch.device):
    """Adam over a module's parameters (or a list of tensors), with the fused kernel where
    the device has one, else the foreach one."""
    params = list(params.parameters()) if isinstance(params, torch.nn.Module) else params
    try:
        return torch.optim.Adam(params, lr=config.lr, eps=config.adam_eps, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(params, lr=config.lr, eps=config.adam_eps, foreach=True)


def lr_factor(schedule: str, done: float, epochs: int) -> float:
    """Learning-rate multiplier after ``done`` of ``epochs`` epochs (a float: 2.5 is mid-epoch 3).

    "cosine" decays from 1 towards 0 along half a cosine. "iwae" is Burda et al.
    (2015)'s schedule squeezed into ``epochs``: eight stages i = 0..7 lasting in
    proportion to 3^i, at factor 10^(−i/7) (with 3280 epochs these are exactly the
    published 3^i passes per stage; with fewer, stages can end mid-epoch).

    Examples
    --------
    >>> [round(lr_factor("iwae", e, 3280), 3) for e in (0, 1, 4, 3279)]
    [1.0, 0.72, 0.518, 0.1]
    >>> [round(lr_factor("iwae", e, 10), 3) for e in (0.0, 0.01, 0.1, 9.9)]
    [1.0, 0.72, 0.373, 0.1]
    >>> lr_factor("cosine", 0, 10), round(lr_factor("cosine", 5, 10), 3)
    (1.0, 0.5)
    """
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * done / max(1, epochs)))
    ends = np.cumsum([3**i for i in range(8)]) / 3280 * epochs  # end of each stage, in epochs
    stage = int(np.searchsorted(ends, done, side="right"))
    return 10 ** (-min(stage, 7) / 7)


def _warmup_beta(target: float, epoch: int, n_steps: int, warmup_epochs: int):
    """β for each step of ``epoch``: a linear ramp from 0 over the warm-up epochs."""
    if warmup_epochs <= 0 or epoch > warmup_epochs:
        return target
    done = (epoch - 1) * n_steps
    total = warmup_epochs * n_steps
    return [target * min(1.0, (done + s + 1) / total) for s in range(n_steps)]


def _epoch_line(r: dict) -> str:
    line = (
        f"epoch {r['epoch']:>3}  loss {r['train_loss']:9.3f}  "
        f"rec {r['train_reconstruction']:9.3f}  kl {r['train_kl']:7.3f}"
    )
    if "valid_loss" in r:
        line += f"  | valid −ELBO {r['valid_loss']:9.3f}"
    return line + f"  ({r['seconds']:.1f}s)"
