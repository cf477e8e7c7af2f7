"""vaelab: variational autoencoders as probabilistic dimensionality reduction."""

from vaelab._version import __version__

__all__ = ["VAE", "Autoencoder", "load", "__version__"]


def __getattr__(name: str):
    # The estimators import torch and scikit-learn: load them on first use only.
    if name in ("VAE", "Autoencoder", "load"):
        from vaelab import estimators

        return getattr(estimators, name)
    raise AttributeError(f"module 'vaelab' has no attribute {name!r}")
