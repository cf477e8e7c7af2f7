"""Public path of training (documented in the README); its home is `vaelab.training`."""

from vaelab.training.config import TrainConfig
from vaelab.training.history import History
from vaelab.training.loop import fit

__all__ = ["History", "TrainConfig", "fit"]
