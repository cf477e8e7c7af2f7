"""Probabilistic PCA in closed form: the linear Gaussian VAE, solved exactly.

The generative model (Tipping & Bishop 1999) is

    z ~ N(0, I_Z),   x | z ~ N(Wz + μ, σ² I_D),

so x ~ N(μ, C) with C = WWᵀ + σ²I, and the posterior is Gaussian:
p(z|x) = N(M⁻¹Wᵀ(x − μ), σ²M⁻¹) with M = WᵀW + σ²I. For a Gaussian
q(z|x) = N(m, diag s) everything the VAE estimates by sampling has a closed form
here: the ELBO, and the gap log p(x) − ELBO = KL(q(z|x) ‖ p(z|x)). vaelab's tests
use these to check its Monte-Carlo estimators. All functions work in float64 numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar, cast

import numpy as np
import torch

from vaelab.core.likelihoods import GaussianLearned
from vaelab.core.objectives import LOG_2PI
from vaelab.errors import ConfigError

if TYPE_CHECKING:
    from vaelab.core.models import Model

M = TypeVar("M", bound="Model")


@dataclass
class PPCA:
    """Parameters of a pPCA model: x = Wz + μ + σε."""

    W: np.ndarray  # (D, Z) loadings
    mu: np.ndarray  # (D,) data mean
    sigma2: float  # isotropic noise variance σ²

    @property
    def covariance(self) -> np.ndarray:
        """C = WWᵀ + σ²I, ``(D, D)``."""
        return self.W @ self.W.T + self.sigma2 * np.eye(len(self.mu))

    def log_likelihood(self, x: np.ndarray) -> np.ndarray:
        """Exact log p(x) = −½[D log 2π + log|C| + (x−μ)ᵀC⁻¹(x−μ)] per row, ``(N,)``.

        Examples
        --------
        >>> m = PPCA(np.zeros((2, 1)), np.zeros(2), 1.0)  # x ~ N(0, I_2)
        >>> float(m.log_likelihood(np.zeros((1, 2)))[0]) == -math.log(2 * math.pi)
        True
        """
        xc = np.atleast_2d(x) - self.mu  # (N, D)
        chol = np.linalg.cholesky(self.covariance)
        sol = np.linalg.solve(chol, xc.T)  # (D, N): L⁻¹(x − μ)
        logdet = 2 * np.log(np.diag(chol)).sum()
        return -0.5 * (len(self.mu) * LOG_2PI + logdet + (sol**2).sum(0))

    def posterior(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact p(z|x): means ``(N, Z)`` M⁻¹Wᵀ(x−μ) and the shared covariance σ²M⁻¹."""
        z = self.W.shape[1]
        m = self.W.T @ self.W + self.sigma2 * np.eye(z)
        m_inv = np.linalg.inv(m)
        mean = (np.atleast_2d(x) - self.mu) @ self.W @ m_inv.T
        return mean, self.sigma2 * m_inv

    def elbo(self, x: np.ndarray, q_mean: np.ndarray, q_var: np.ndarray) -> np.ndarray:
        """Closed-form ELBO of q(z|x) = N(q_mean, diag q_var) per row, ``(N,)``.

        E_q log p(x|z) = −½[D log 2πσ² + (‖x−μ−Wm‖² + Σ_u s_u ‖W_u‖²)/σ²] and
        KL(q ‖ N(0, I)) = ½ Σ_u (m_u² + s_u − log s_u − 1).
        """
        d = len(self.mu)
        resid = np.atleast_2d(x) - self.mu - q_mean @ self.W.T  # (N, D)
        trace = (np.broadcast_to(q_var, q_mean.shape) * (self.W**2).sum(0)).sum(-1)  # (N,)
        expected = -0.5 * (d * (LOG_2PI + math.log(self.sigma2)) + ((resid**2).sum(-1) + trace) / self.sigma2)
        kl = 0.5 * (q_mean**2 + q_var - np.log(q_var) - 1).sum(-1)
        return expected - kl

    def kl_to_posterior(self, x: np.ndarray, q_mean: np.ndarray, q_var: np.ndarray) -> np.ndarray:
        """KL(N(q_mean, diag q_var) ‖ p(z|x)) per row, in closed form, ``(N,)``.

        Equals log p(x) − ELBO exactly.
        """
        p_mean, p_cov = self.posterior(x)
        p_prec = np.linalg.inv(p_cov)
        q_var = np.broadcast_to(q_var, q_mean.shape)
        diff = p_mean - q_mean  # (N, Z)
        z = q_mean.shape[1]
        _, logdet_p = np.linalg.slogdet(p_cov)
        return 0.5 * (
            (q_var * np.diag(p_prec)).sum(-1)
            + np.einsum("ni,ij,nj->n", diff, p_prec, diff)
            - z
            + logdet_p
            - np.log(q_var).sum(-1)
        )


def fit_ppca(x: np.ndarray, n_components: int) -> PPCA:
    """Maximum-likelihood pPCA (Tipping & Bishop 1999, eqs. 7–8).

    W = U_Z (Λ_Z − σ²I)^½ and σ² = the mean of the D − Z discarded eigenvalues of
    the sample covariance (normalised by N, the ML estimate).

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=(500, 5)) * [3, 2, 1, 1, 1]
    >>> m = fit_ppca(x, 2)
    >>> m.W.shape, round(m.sigma2, 1)
    ((5, 2), 1.0)
    """
    x = np.asarray(x, dtype=np.float64)
    n, d = x.shape
    if not 1 <= n_components < d:
        raise ConfigError(f"n_components={n_components} must be between 1 and D-1={d - 1}")
    mu = x.mean(0)
    cov = (x - mu).T @ (x - mu) / n
    evals, evecs = np.linalg.eigh(cov)
    evals, evecs = evals[::-1], evecs[:, ::-1]  # descending
    sigma2 = float(evals[n_components:].mean())
    scale = np.sqrt(np.maximum(evals[:n_components] - sigma2, 0.0))
    return PPCA(evecs[:, :n_components] * scale, mu, sigma2)


def from_linear_vae(model: Model) -> PPCA:
    """The pPCA generative model of a linear VAE (`vaelab.core.models.linear_vae_config`)."""
    layer = _only_linear(model.decoder, "decoder")
    return PPCA(
        layer.weight.detach().double().cpu().numpy(),
        layer.bias.detach().double().cpu().numpy(),
        float(torch.exp(_learned(model).log_var.detach().double())),
    )


def set_linear_vae(
    model: M,
    ppca: PPCA,
    q_scale: float = 1.0,
    q_shift: float = 0.0,
) -> M:
    """Load pPCA weights into a linear VAE, with an encoder near the true posterior.

    The decoder becomes x = Wz + μ with noise variance σ². The encoder outputs the
    exact posterior mean, multiplied by ``q_scale`` and shifted by ``q_shift``, and
    the diagonal of the exact posterior covariance as its variance. With
    ``q_scale=1, q_shift=0`` and orthogonal columns of W, q is the exact posterior.

    Returns
    -------
    the model, modified in place
    """
    enc = _only_linear(model.encoder, "encoder")
    dec = _only_linear(model.decoder, "decoder")
    z = ppca.W.shape[1]
    m_inv = np.linalg.inv(ppca.W.T @ ppca.W + ppca.sigma2 * np.eye(z))
    a = q_scale * m_inv @ ppca.W.T  # (Z, D): mean = a(x − μ) + shift
    weight = np.concatenate([a, np.zeros_like(a)])  # (2Z, D)
    bias = np.concatenate([-a @ ppca.mu + q_shift, np.log(ppca.sigma2 * np.diag(m_inv))])
    with torch.no_grad():
        enc.weight.copy_(torch.from_numpy(weight))
        enc.bias.copy_(torch.from_numpy(bias))
        dec.weight.copy_(torch.from_numpy(ppca.W))
        dec.bias.copy_(torch.from_numpy(ppca.mu))
        _learned(model).log_var.fill_(math.log(ppca.sigma2))
    return model


def _learned(model: Model) -> GaussianLearned:
    # a linear VAE's likelihood is "gaussian-learned" (linear_vae_config); the cast
    # only names it for the type checker, as before any other likelihood fails on log_var
    return cast(GaussianLearned, model.likelihood)


def _only_linear(net: torch.nn.Module, what: str) -> torch.nn.Linear:
    layers = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    others = [m for m in net.modules() if len(list(m.children())) == 0 and not isinstance(m, torch.nn.Linear)]
    if len(layers) != 1 or others:
        raise ConfigError(
            f"the {what} is not a single linear layer; build the model with "
            "vaelab.core.models.linear_vae_config"
        )
    return layers[0]
