"""How to train: `TrainConfig`, one commented field each, stored in every run's config.json."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from vaelab._config import from_dict as config_from_dict
from vaelab.errors import ConfigError

PRECISIONS = ("fp32", "bf16", "auto")
SCHEDULES = ("constant", "cosine", "iwae")
BINARIZE = ("none", "dynamic")
DIVERGENCE = ("stop", "rollback")
STEPS = ("auto", "autograd", "fused")
MAX_SEED = 2**32 - 1  # numpy's legacy seeding and torch both take seeds in [0, 2**32 - 1]


@dataclass
class TrainConfig:
    """How to train. Stored in every run's config.json."""

    epochs: int = 10  # passes over the training data
    batch_size: int = 128  # examples per gradient step
    lr: float = 1e-3  # Adam learning rate
    lr_schedule: str = "constant"  # "constant", "cosine", or "iwae" (Burda et al. 2015 stages)
    adam_eps: float = 1e-8  # Adam epsilon (the IWAE protocol uses 1e-4)
    kl_warmup_epochs: int = 0  # ramp beta linearly from 0 over this many epochs
    importance_samples: int = 1  # K of the objective: 1 the ELBO, K > 1 the IWAE bound L_K
    patience: int | None = None  # early stopping: epochs without validation gain
    binarize: str = "none"  # "dynamic": a fresh Bernoulli draw of every batch
    seed: int = 0  # seeds shuffling, binarization and the reparameterization noise
    device: str = "auto"  # "cpu", "cuda" or "auto"
    precision: str = "auto"  # "fp32", "bf16" (autocast, fp32 master weights), "auto": bf16 where fast
    eval_batch_size: int = 4096  # batch size for validation passes
    checkpoint_every: int = 1  # epochs between checkpoints (0: only by time)
    checkpoint_minutes: float | None = None  # also checkpoint when this much time has passed
    on_divergence: str = "stop"  # NaN/inf: "stop" with an error, or "rollback" at lr × 0.1
    max_rollbacks: int = 3  # with "rollback": retries before giving up
    check_every: int = 50  # steps between the (one host sync) non-finite loss checks
    threads: int | None = None  # CPU threads; None: vaelab.training.threads.threads_for_step (≤ torch's)
    # torch.compile the training forward. Off by default: on CPU it did not pay (same epoch
    # time at the 784-400-20 protocol, benchmarks/epoch_time.py --compile) and costs 3-15 s first
    compile: bool = False
    # the training step: "fused" writes the gradients by hand (vaelab.training.fused: MLP
    # models, the ELBO), "autograd" leaves them to autograd, "auto" takes "fused" where it applies
    step: str = "auto"

    def __post_init__(self) -> None:
        checks = [
            (self.epochs >= 1, f"epochs={self.epochs} must be >= 1"),
            (self.batch_size >= 1, f"batch_size={self.batch_size} must be >= 1"),
            (0 < self.lr < math.inf, f"lr={self.lr} must be a finite number > 0"),
            (0 < self.adam_eps < math.inf, f"adam_eps={self.adam_eps} must be a finite number > 0"),
            (0 <= self.seed <= MAX_SEED, f"seed={self.seed} must be between 0 and {MAX_SEED}"),
            (self.kl_warmup_epochs >= 0, f"kl_warmup_epochs={self.kl_warmup_epochs} must be >= 0"),
            (self.importance_samples >= 1, f"importance_samples={self.importance_samples} must be >= 1"),
            (self.patience is None or self.patience >= 1, f"patience={self.patience} must be >= 1"),
            (self.lr_schedule in SCHEDULES, f"lr_schedule={self.lr_schedule!r} must be one of {SCHEDULES}"),
            (self.binarize in BINARIZE, f"binarize={self.binarize!r} must be one of {BINARIZE}"),
            (self.checkpoint_every >= 0, f"checkpoint_every={self.checkpoint_every} must be >= 0"),
            (
                self.checkpoint_minutes is None or 0 < self.checkpoint_minutes < math.inf,
                f"checkpoint_minutes={self.checkpoint_minutes} must be > 0",
            ),
            (
                self.on_divergence in DIVERGENCE,
                f"on_divergence={self.on_divergence!r} must be one of {DIVERGENCE}",
            ),
            (self.max_rollbacks >= 0, f"max_rollbacks={self.max_rollbacks} must be >= 0"),
            (self.check_every >= 1, f"check_every={self.check_every} must be >= 1"),
            (self.threads is None or self.threads >= 1, f"threads={self.threads} must be >= 1"),
            (self.step in STEPS, f"step={self.step!r} must be one of {STEPS}"),
            (self.precision in PRECISIONS, f"precision={self.precision!r} must be one of {PRECISIONS}"),
            (
                self.device in ("cpu", "cuda", "auto") or self.device.startswith("cuda:"),
                f"device={self.device!r} must be 'cpu', 'cuda' or 'auto'",
            ),
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


def check_objective(kind: str, config: TrainConfig) -> None:
    """Refuse an objective the model cannot train on: importance samples need a VAE."""
    if config.importance_samples > 1 and kind != "vae":
        raise ConfigError(
            f"importance_samples={config.importance_samples} needs a VAE: an "
            "autoencoder has no q(z|x) to draw importance samples from; use 1"
        )


FUSED_NETWORKS = ("mlp", "linear")  # what vaelab.training.fused writes gradients for
FUSED_LIKELIHOODS = ("bernoulli", "gaussian", "gaussian-learned")


def fused_refusals(network: str, likelihood: str, config: TrainConfig, latent_dim2: int = 0) -> list[str]:
    """Why the hand-written step of `vaelab.training.fused` cannot train this; empty where it can."""
    why = []
    if latent_dim2:
        why.append(f"latent_dim2={latent_dim2} (it covers one stochastic layer)")
    if network not in FUSED_NETWORKS:
        why.append(f"network={network!r} (it covers {', '.join(FUSED_NETWORKS)})")
    if likelihood not in FUSED_LIKELIHOODS:
        why.append(f"likelihood={likelihood!r} (it covers {', '.join(FUSED_LIKELIHOODS)})")
    if config.importance_samples != 1:
        why.append(f"importance_samples={config.importance_samples} (it trains on the ELBO: 1)")
    if config.compile:
        why.append("compile=True")
    return why


def check_step(network: str, likelihood: str, config: TrainConfig, latent_dim2: int = 0) -> None:
    """Refuse ``step="fused"`` where the hand-written step does not apply."""
    why = fused_refusals(network, likelihood, config, latent_dim2) if config.step == "fused" else []
    if why:
        raise ConfigError(
            f"step='fused' does not apply to {'; '.join(why)}: use step='auto' (fused where it "
            "applies) or 'autograd'"
        )
