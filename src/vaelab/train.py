"""Public path of training (documented in the README); its home is `vaelab.training`."""

from vaelab.training import History, TrainConfig, fit

__all__ = ["History", "TrainConfig", "fit"]
