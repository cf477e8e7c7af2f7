"""The fit loop: batches from in-memory tensors, Adam, KL warm-up, early stopping.

The hot path indexes one tensor that already holds the whole training set; there
is no per-sample Dataset, no collate, and no host sync inside a step.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from vaelab._config import from_dict as config_from_dict
from vaelab.data import Dataset
from vaelab.errors import ConfigError

PRECISIONS = ("fp32", "bf16", "auto")
SCHEDULES = ("constant", "cosine", "iwae")
BINARIZE = ("none", "dynamic")


@dataclass
class TrainConfig:
    """How to train. Stored in every run's config.json."""

    epochs: int = 10  # passes over the training data
    batch_size: int = 128  # examples per gradient step
    lr: float = 1e-3  # Adam learning rate
    lr_schedule: str = "constant"  # "constant", "cosine", or "iwae" (Burda et al. 2015 stages)
    adam_eps: float = 1e-8  # Adam epsilon (the IWAE protocol uses 1e-4)
    kl_warmup_epochs: int = 0  # ramp beta linearly from 0 over this many epochs
    patience: int | None = None  # early stopping: epochs without validation gain
    binarize: str = "none"  # "dynamic": a fresh Bernoulli draw of every batch
    seed: int = 0  # seeds shuffling, binarization and the reparameterization noise
    device: str = "auto"  # "cpu", "cuda" or "auto"
    precision: str = "fp32"  # "fp32", "bf16" (autocast, fp32 master weights) or "auto"
    eval_batch_size: int = 4096  # batch size for validation passes

    def __post_init__(self) -> None:
        checks = [
            (self.epochs >= 1, f"epochs={self.epochs} must be >= 1"),
            (self.batch_size >= 1, f"batch_size={self.batch_size} must be >= 1"),
            (self.lr > 0, f"lr={self.lr} must be > 0"),
            (self.kl_warmup_epochs >= 0, f"kl_warmup_epochs={self.kl_warmup_epochs} must be >= 0"),
            (self.patience is None or self.patience >= 1, f"patience={self.patience} must be >= 1"),
            (self.lr_schedule in SCHEDULES,
             f"lr_schedule={self.lr_schedule!r} must be one of {SCHEDULES}"),
            (self.binarize in BINARIZE, f"binarize={self.binarize!r} must be one of {BINARIZE}"),
            (self.precision in PRECISIONS,
             f"precision={self.precision!r} must be one of {PRECISIONS}"),
            (self.device in ("cpu", "cuda", "auto") or self.device.startswith("cuda:"),
             f"device={self.device!r} must be 'cpu', 'cuda' or 'auto'"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """Rebuild from `to_dict`; unknown or mistyped keys are a `ConfigError`."""
        return config_from_dict(cls, d, "train")


@dataclass
class History:
    """Per-epoch curves, in nats per example."""

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_reconstruction: list[float] = field(default_factory=list)
    train_kl: list[float] = field(default_factory=list)
    valid_loss: list[float] = field(default_factory=list)  # negative ELBO (beta = 1)
    valid_reconstruction: list[float] = field(default_factory=list)
    valid_kl: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    best_epoch: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def resolve_device(device: str) -> torch.device:
    """'auto' → CUDA when available, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={device!r} requested but CUDA is not available")
    return torch.device(device)


def cpu_has_fast_bf16() -> bool:
    """True when this CPU runs bf16 matmuls natively (AVX-512 BF16 or AMX), read from /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for training, or None for plain fp32."""
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    fast = device.type == "cuda" and torch.cuda.is_bf16_supported() or (
        device.type == "cpu" and cpu_has_fast_bf16()
    )
    return torch.bfloat16 if fast else None


def as_flat_tensor(ds: Dataset, device: torch.device) -> torch.Tensor:
    """The samples as one ``(N, D)`` float32 tensor on ``device`` (no copy on CPU when possible)."""
    x = torch.from_numpy(np.ascontiguousarray(ds.x)).reshape(len(ds), -1)
    return x.to(device)


@torch.inference_mode()
def elbo_terms(
    model: torch.nn.Module, x: torch.Tensor, batch_size: int = 4096
) -> dict[str, float]:
    """Mean reconstruction, KL and negative ELBO (β = 1) over ``x``, in fp32.

    One reparameterized sample per example, as in the pytorch/examples "test loss".
    """
    was_training = model.training
    model.eval()
    rec = torch.zeros((), dtype=torch.float64, device=x.device)
    kl = torch.zeros((), dtype=torch.float64, device=x.device)
    for i in range(0, len(x), batch_size):
        out = model(x[i : i + batch_size], beta=1.0)
        rec += out.reconstruction.double().sum()
        kl += out.kl.double().sum()
    model.train(was_training)
    n = len(x)
    r, k = rec.item() / n, kl.item() / n
    return {"loss": r + k, "reconstruction": r, "kl": k}


EpochCallback = Callable[[int, dict], None]


def fit(
    model: torch.nn.Module,
    train: Dataset,
    config: TrainConfig,
    *,
    valid: Dataset | None = None,
    on_epoch: EpochCallback | None = None,
    progress: bool = True,
) -> History:
    """Train ``model`` on ``train``; returns the per-epoch history.

    Parameters
    ----------
    model : VAE or Autoencoder
        Trained in place. With early stopping, the best validation weights are
        restored at the end.
    train, valid : Dataset
        Training data, and optional validation data evaluated every epoch. With
        ``binarize="dynamic"``, pass ``valid`` already binarized once.
    config : TrainConfig
    on_epoch : callable, optional
        Called as ``on_epoch(epoch, record)`` after every epoch with the metrics
        record (the run directory uses it to append metrics.jsonl).
    progress : bool
        Show a progress bar with loss, reconstruction and KL.

    Returns
    -------
    History

    Examples
    --------
    >>> from vaelab.models import VAE, ModelConfig
    >>> x = np.random.default_rng(0).random((256, 16), dtype=np.float32)
    >>> ds = Dataset(x, None, (16,), "unit")
    >>> vae = VAE(ModelConfig(input_shape=(16,), latent_dim=2, hidden=(8,)))
    >>> hist = fit(vae, ds, TrainConfig(epochs=2, batch_size=64), progress=False)
    >>> len(hist.train_loss)
    2
    """
    if len(train) < 2:
        raise ConfigError(f"training needs at least 2 samples, got {len(train)}")
    if train.n_features != model.config.n_features:
        raise ConfigError(
            f"data has {train.n_features} features per sample but the model expects "
            f"{model.config.n_features}"
        )
    device = resolve_device(config.device)
    autocast_dtype = resolve_precision(config.precision, device)
    torch.manual_seed(config.seed)
    gen = torch.Generator(device=device).manual_seed(config.seed)
    model.to(device).train()
    x_train = as_flat_tensor(train, device)
    x_valid = None if valid is None else as_flat_tensor(valid, device)
    opt = _adam(model, config, device)
    history = History()
    best_state, best_loss, bad_epochs = None, math.inf, 0
    n, bs = len(x_train), config.batch_size
    n_steps = math.ceil(n / bs)
    beta_target = getattr(model.config, "beta", 1.0)

    for epoch in range(1, config.epochs + 1):
        start = time.perf_counter()
        beta = _warmup_beta(beta_target, epoch, n_steps, config.kl_warmup_epochs)
        for group in opt.param_groups:
            group["lr"] = config.lr * lr_factor(config.lr_schedule, epoch, config.epochs)
        perm = torch.randperm(n, generator=gen, device=device)
        sums = torch.zeros(3, dtype=torch.float64, device=device)  # loss·B, rec, kl
        bar = tqdm(
            range(n_steps), desc=f"epoch {epoch}/{config.epochs}", leave=False,
            disable=not progress, mininterval=0.5,
        )
        for step in bar:
            xb = x_train[perm[step * bs : (step + 1) * bs]]  # (B, D)
            if config.binarize == "dynamic":
                xb = torch.bernoulli(xb, generator=gen)
            with torch.autocast(device.type, dtype=autocast_dtype or torch.float32,
                                enabled=autocast_dtype is not None):
                out = model(xb, beta=beta[step] if isinstance(beta, list) else beta)
            opt.zero_grad(set_to_none=True)
            out.loss.backward()
            opt.step()
            sums += torch.stack([
                out.loss.detach() * len(xb), out.reconstruction.detach().sum(),
                out.kl.detach().sum(),
            ]).double()
            if progress and step % 50 == 49:
                s = (sums / min(n, (step + 1) * bs)).tolist()
                bar.set_postfix(loss=f"{s[0]:.2f}", rec=f"{s[1]:.2f}", kl=f"{s[2]:.2f}")
        tr = (sums / n).tolist()
        record = {"epoch": epoch, "train_loss": tr[0], "train_reconstruction": tr[1],
                  "train_kl": tr[2]}
        history.epoch.append(epoch)
        history.train_loss.append(tr[0])
        history.train_reconstruction.append(tr[1])
        history.train_kl.append(tr[2])
        if x_valid is not None:
            v = elbo_terms(model, x_valid, config.eval_batch_size)
            record.update(valid_loss=v["loss"], valid_reconstruction=v["reconstruction"],
                          valid_kl=v["kl"])
            history.valid_loss.append(v["loss"])
            history.valid_reconstruction.append(v["reconstruction"])
            history.valid_kl.append(v["kl"])
        seconds = time.perf_counter() - start
        record["seconds"] = seconds
        history.seconds.append(seconds)
        if not math.isfinite(tr[0]):
            from vaelab.errors import TrainingDivergedError

            raise TrainingDivergedError(
                f"training loss became {tr[0]} in epoch {epoch}; the learning rate "
                f"(lr={config.lr}) is likely too high for this model and data"
            )
        if progress:
            tqdm.write(_epoch_line(record))
        if on_epoch is not None:
            on_epoch(epoch, record)
        if config.patience is not None and x_valid is not None:
            if record["valid_loss"] < best_loss - 1e-6:
                best_loss, bad_epochs = record["valid_loss"], 0
                best_state = copy.deepcopy(model.state_dict())
                history.best_epoch = epoch
            else:
                bad_epochs += 1
                if bad_epochs >= config.patience:
                    break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return history


def _adam(model: torch.nn.Module, config: TrainConfig, device: torch.device):
    """Adam with the fused kernel where the device has one, else the foreach one."""
    try:
        return torch.optim.Adam(model.parameters(), lr=config.lr, eps=config.adam_eps,
                                fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(model.parameters(), lr=config.lr, eps=config.adam_eps,
                                foreach=True)


def lr_factor(schedule: str, epoch: int, epochs: int) -> float:
    """Learning-rate multiplier for 1-based ``epoch`` of ``epochs``.

    "iwae" is Burda et al. (2015)'s schedule squeezed into ``epochs``: eight
    stages i = 0..7 lasting in proportion to 3^i, at factor 10^(−i/7) (with
    3280 epochs this is exactly the published 3^i passes per stage).

    Examples
    --------
    >>> [round(lr_factor("iwae", e, 3280), 3) for e in (1, 2, 5, 3280)]
    [1.0, 0.72, 0.518, 0.1]
    >>> lr_factor("cosine", 1, 10) > lr_factor("cosine", 10, 10)
    True
    """
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * (epoch - 1) / max(1, epochs)))
    ends = np.cumsum([3**i for i in range(8)]) / 3280 * epochs  # end epoch of each stage
    stage = int(np.searchsorted(ends, epoch - 0.5))
    return 10 ** (-min(stage, 7) / 7)


def _warmup_beta(target: float, epoch: int, n_steps: int, warmup_epochs: int):
    """β for each step of ``epoch``: a linear ramp from 0 over the warm-up epochs."""
    if warmup_epochs <= 0 or epoch > warmup_epochs:
        return target
    done = (epoch - 1) * n_steps
    total = warmup_epochs * n_steps
    return [target * min(1.0, (done + s + 1) / total) for s in range(n_steps)]


def _epoch_line(r: dict) -> str:
    line = (f"epoch {r['epoch']:>3}  loss {r['train_loss']:9.3f}  "
            f"rec {r['train_reconstruction']:9.3f}  kl {r['train_kl']:7.3f}")
    if "valid_loss" in r:
        line += f"  | valid −ELBO {r['valid_loss']:9.3f}"
    return line + f"  ({r['seconds']:.1f}s)"
