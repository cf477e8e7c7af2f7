"""Decode from a trained model: prior samples and reconstructions, as arrays."""

from __future__ import annotations

import numpy as np
import torch

from vaelab.data import Dataset


@torch.inference_mode()
def prior_samples(model: torch.nn.Module, n: int, seed: int = 0) -> np.ndarray:
    """Decoder means at ``n`` codes drawn from N(0, I): ``(n, D)`` on the data scale.

    Examples
    --------
    >>> from vaelab.models import VAE, ModelConfig
    >>> vae = VAE(ModelConfig(input_shape=(8,), latent_dim=2, hidden=(4,))).eval()
    >>> prior_samples(vae, 3).shape
    (3, 8)
    """
    gen = torch.Generator().manual_seed(seed)
    return model.sample(n, generator=gen).float().cpu().numpy()


@torch.inference_mode()
def reconstructions(model: torch.nn.Module, data: Dataset, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` samples of ``data`` and the decoder means at their codes, each ``(n, D)``."""
    x = torch.from_numpy(np.ascontiguousarray(data.x[:n])).reshape(min(n, len(data)), -1)
    device = next(model.parameters()).device
    rec = model.reconstruct(x.to(device)).float().cpu().numpy()
    return x.numpy(), rec
