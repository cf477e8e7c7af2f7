"""The pieces of the VAE objective, in nats per example.

ELBO(x) = E_q[log p(x|z)] − KL(q(z|x) ‖ p(z)),   q(z|x) = N(μ, diag σ²),  p(z) = N(0, I).
"""

from __future__ import annotations

import math

import torch

LOG_2PI = math.log(2 * math.pi)  # in every Gaussian log-density (likelihoods, ppca import it)


def gaussian_kl(mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, diag σ²) ‖ N(0, I)) summed over the last dimension.

    Closed form (Kingma & Welling 2014, Appendix B):
    ½ Σ_d (μ_d² + σ_d² − log σ_d² − 1).

    Examples
    --------
    >>> float(gaussian_kl(torch.zeros(1, 3), torch.zeros(1, 3)))
    0.0
    >>> float(gaussian_kl(torch.ones(1, 2), torch.zeros(1, 2)))
    1.0
    """
    return 0.5 * (mu.pow(2) + log_var.exp() - log_var - 1).sum(-1)


def gaussian_kl_per_dim(mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """`gaussian_kl` without the sum: one KL per latent dimension, shape ``(..., Z)``."""
    return 0.5 * (mu.pow(2) + log_var.exp() - log_var - 1)


def log_normal_diag(z: torch.Tensor, mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """log N(z; μ, diag σ²) summed over the last dimension."""
    return -0.5 * ((z - mu).pow(2) * torch.exp(-log_var) + log_var + LOG_2PI).sum(-1)


def log_standard_normal(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) summed over the last dimension."""
    return -0.5 * (z.pow(2) + LOG_2PI).sum(-1)


def reparameterize(mu: torch.Tensor, log_var: torch.Tensor, n_samples: int | None = None) -> torch.Tensor:
    """z = μ + σ·ε with ε ~ N(0, I): a sample that gradients flow through.

    With ``n_samples=K`` the result gets a leading sample axis: ``(K, B, Z)``.
    """
    std = torch.exp(0.5 * log_var)
    shape = mu.shape if n_samples is None else (n_samples, *mu.shape)
    eps = torch.randn(shape, dtype=mu.dtype, device=mu.device)
    return mu + std * eps
