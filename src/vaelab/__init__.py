"""vaelab: variational autoencoders as probabilistic dimensionality reduction."""

import os

# OpenMP threads that spin while they wait stall one another when another process holds
# a core: on a busy 2-core machine a 2-thread training step of a small MLP ran about 34x
# slower spinning than waiting passively (BENCHMARKS.md, "OpenMP wait policy", from
# benchmarks/omp_wait.py). The policy is read when torch loads OpenMP, so this only acts
# when vaelab is imported first (always so for the `vaelab` command). Set
# OMP_WAIT_POLICY yourself to override it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

__all__ = ["VAE", "Autoencoder", "load", "__version__"]


def __getattr__(name: str):
    # The estimators import torch and scikit-learn: load them on first use only.
    if name in ("VAE", "Autoencoder", "load"):
        from vaelab import estimators

        return getattr(estimators, name)
    raise AttributeError(f"module 'vaelab' has no attribute {name!r}")
