"""What training reports: the per-epoch curves."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


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
