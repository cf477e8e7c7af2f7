"""Training: `TrainConfig`, the fit loop, checkpoints, torchrun, device and threads."""

from vaelab.training.config import TrainConfig
from vaelab.training.history import History
from vaelab.training.loop import fit

__all__ = ["History", "TrainConfig", "fit"]
