"""vaelab: variational autoencoders as probabilistic dimensionality reduction.

The public surface is small: the scikit-learn estimators `VAE` and `Autoencoder`,
`load` for a saved estimator or a run directory, and the documented modules
`vaelab.data`, `vaelab.models`, `vaelab.train` and `vaelab.io`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vaelab._version import __version__

if TYPE_CHECKING:  # for type checkers; at run time the estimators load on first use
    from vaelab.estimators import VAE, Autoencoder, load

__all__ = ["VAE", "Autoencoder", "load", "__version__"]


def __getattr__(name: str) -> Any:
    # The estimators import torch and scikit-learn: load them on first use only.
    if name in ("VAE", "Autoencoder", "load"):
        from vaelab import estimators

        return getattr(estimators, name)
    raise AttributeError(f"module 'vaelab' has no attribute {name!r}")
