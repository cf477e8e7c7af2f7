"""Autoencoder and VAE: a config dataclass, two nn.Modules, one typed output.

Both models take flat inputs ``(B, D)`` and share networks and likelihoods, so an
autoencoder and a VAE with the same config differ only in what the encoder
outputs (a point, or a distribution) and in the KL term.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from vaelab.core.config import ModelConfig
from vaelab.core.likelihoods import build_likelihood
from vaelab.core.networks import build_decoder, build_encoder, mlp
from vaelab.core.objectives import LOG_2PI, gaussian_kl, log_normal_diag, log_standard_normal, reparameterize


class ModelOutput(NamedTuple):
    """What a forward pass returns. Per-example terms are in nats, shape (B,)."""

    loss: torch.Tensor  # scalar: mean over the batch of reconstruction + beta * kl
    reconstruction: torch.Tensor  # (B,) −log p(x|z), the distortion
    kl: torch.Tensor  # (B,) KL(q(z|x) ‖ p(z)), the rate; zeros for an autoencoder
    z: torch.Tensor  # (B, Z) the code used to decode


class Model(nn.Module):
    """The base of `VAE` and `Autoencoder`: a config, an encoder, a decoder and a likelihood.

    Subclasses define `code` (the deterministic code of x) and ``forward``
    (a `ModelOutput`); `VAE` adds `VAE.posterior`. Test ``isinstance(m, VAE)``
    rather than probing for attributes.
    """

    def __init__(self, config: ModelConfig, encoder_out: int):
        super().__init__()
        c = config
        self.config = c
        self.likelihood = build_likelihood(c.likelihood, c.sigma)
        self.encoder = build_encoder(
            c.network, c.input_shape, encoder_out, c.hidden, c.activation, c.channels
        )
        self.decoder = build_decoder(
            c.network,
            c.input_shape,
            c.latent_dim,
            self.likelihood.n_params,
            c.hidden,
            c.activation,
            c.channels,
        )

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder outputs: the likelihood's parameters, ``(..., P·D)``."""
        return self.decoder(z)

    def decode_mean(self, z: torch.Tensor) -> torch.Tensor:
        """E[x|z] on the data scale, ``(..., D)``."""
        return self.likelihood.mean(self.decoder(z))

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decoder means at n codes drawn from N(0, I): ``(n, D)``.

        For a VAE this is its prior. An autoencoder has no prior: decoding
        N(0, I) codes is exactly the experiment that exposes its holes.
        """
        device = next(self.parameters()).device
        z = torch.randn(n, self.config.latent_dim, generator=generator).to(device)
        return self.decode_mean(z)

    def code(self, x: torch.Tensor) -> torch.Tensor:
        """The deterministic code of x: the AE's f(x), the VAE's posterior mean μ(x)."""
        raise NotImplementedError

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Decoder mean at the code of x."""
        return self.decode_mean(self.code(x))


class Autoencoder(Model):
    """Deterministic encoder f: X→Z and decoder g: Z→X, trained on −log p(x|f(x)).

    With a unit-variance Gaussian likelihood the loss is ½‖x − g(f(x))‖² plus a
    constant: plain squared-error reconstruction.

    Examples
    --------
    >>> ae = Autoencoder(ModelConfig(kind="ae", input_shape=(64,), latent_dim=2, hidden=(32,)))
    >>> ae(torch.rand(5, 64)).reconstruction.shape
    torch.Size([5])
    """

    def __init__(self, config: ModelConfig):
        super().__init__(config, config.latent_dim)

    def code(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def forward(self, x: torch.Tensor, beta: float | None = None) -> ModelOutput:
        z = self.encoder(x)  # (B, Z)
        rec = -self.likelihood.log_prob(self.decoder(z).float(), x)  # (B,)
        kl = torch.zeros_like(rec)
        return ModelOutput(rec.mean(), rec, kl, z)


class VAE(Model):
    """Variational autoencoder: q(z|x) = N(μ(x), diag σ²(x)), p(z) = N(0, I), p(x|z).

    The forward pass draws one reparameterized z = μ + σ·ε and returns the
    negative β-ELBO as the loss.

    Examples
    --------
    >>> vae = VAE(ModelConfig(input_shape=(64,), latent_dim=2, hidden=(32,)))
    >>> out = vae(torch.rand(5, 64))
    >>> out.kl.shape, out.z.shape
    (torch.Size([5]), torch.Size([5, 2]))
    """

    def __init__(self, config: ModelConfig):
        super().__init__(config, 2 * config.latent_dim)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(z|x), each ``(B, Z)``."""
        mu, log_var = self.encoder(x).chunk(2, dim=-1)
        return mu, log_var

    def code(self, x: torch.Tensor) -> torch.Tensor:
        return self.posterior(x)[0]

    def forward(self, x: torch.Tensor, beta: float | None = None, n_samples: int = 1) -> ModelOutput:
        """The negative β-ELBO, or with ``n_samples=K > 1`` the negative IWAE bound L_K.

        L_K(x) = log (1/K) Σ_k p(x|z_k) [p(z_k)/q(z_k|x)]^β with z_k ~ q(z|x)
        (Burda et al. 2015); β = 1 gives the bound, K = 1 the ELBO. With K > 1
        ``reconstruction`` is the mean over the K samples and ``z`` the first sample.
        """
        beta = self.config.beta if beta is None else beta
        mu, log_var = self.posterior(x)  # (B, Z) each
        if n_samples > 1:
            wide = torch.promote_types(mu.dtype, torch.float32)  # bf16 under autocast → fp32
            return self._importance_weighted(x, mu.to(wide), log_var.to(wide), beta, n_samples)
        z = reparameterize(mu, log_var)  # (B, Z)
        rec = -self.likelihood.log_prob(self.decoder(z).float(), x)  # (B,)
        kl = gaussian_kl(mu.float(), log_var.float())  # (B,)
        return ModelOutput((rec + beta * kl).mean(), rec, kl, z)

    def _importance_weighted(self, x, mu, log_var, beta, k) -> ModelOutput:
        eps = torch.randn((k, *mu.shape), dtype=mu.dtype, device=mu.device)  # (K, B, Z)
        z = mu + torch.exp(0.5 * log_var) * eps
        log_px = self.likelihood.log_prob(self.decoder(z).to(mu.dtype), x)  # (K, B)
        # log p(z) − log q(z|x); with z = μ + σε, (z − μ)²/σ² is ε²
        log_ratio = -0.5 * (z.pow(2) - eps.pow(2) - log_var).sum(-1)  # (K, B)
        bound = torch.logsumexp(log_px + beta * log_ratio, dim=0) - math.log(k)  # (B,)
        kl = gaussian_kl(mu, log_var)  # (B,)
        return ModelOutput(-bound.mean(), -log_px.mean(0), kl, z[0])


class HierarchicalVAE(VAE):
    """A VAE with two stochastic layers (Burda et al. 2015, section 5).

    Inference q(z, z2|x) = q(z|x) q(z2|z); generation p(z2) = N(0, I), p(z|z2), p(x|z),
    every conditional a diagonal Gaussian (or the likelihood) whose parameters come
    from an MLP. ``z`` is the code (`posterior`, `code`, the decoder's input) and
    ``z2`` sits above it, so the prior on the code is learned: p(z) = E_p(z2) p(z|z2).
    The KL term has no closed form here; ``kl`` is the one-sample estimate
    log q(z, z2|x) − log p(z, z2) (its mean over samples is the KL).

    Examples
    --------
    >>> cfg = ModelConfig(input_shape=(64,), latent_dim=4, hidden=(32,), latent_dim2=2, hidden2=(16,))
    >>> out = HierarchicalVAE(cfg)(torch.rand(5, 64), n_samples=3)
    >>> out.reconstruction.shape, out.z.shape
    (torch.Size([5]), torch.Size([5, 4]))
    """

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        c = config
        # both touch codes only: their first and last layers stay fp32 under autocast
        self.encoder2 = mlp(c.latent_dim, 2 * c.latent_dim2, c.hidden2, c.activation, True, True)
        self.decoder2 = mlp(
            c.latent_dim2, 2 * c.latent_dim, tuple(reversed(c.hidden2)), c.activation, True, True
        )

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decoder means at codes drawn from the learned prior: z2 ~ N(0, I), z ~ p(z|z2)."""
        device = next(self.parameters()).device
        z2 = torch.randn(n, self.config.latent_dim2, generator=generator).to(device)  # (n, Z2)
        mu, log_var = self.decoder2(z2).float().chunk(2, dim=-1)  # (n, Z) each
        eps = torch.randn(mu.shape, generator=generator).to(device)
        return self.decode_mean(mu + torch.exp(0.5 * log_var) * eps)

    def log_weights(
        self, mu: torch.Tensor, std: torch.Tensor, eps: torch.Tensor, x: torch.Tensor, generator=None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """log p(x, z, z2) − log q(z, z2|x) for z = μ + σε, and log p(x|z); each ``(K, B)``.

        ``mu``, ``std``: q(z|x), ``(B, Z)``; ``eps``: ``(K, B, Z)``; z2 is drawn here
        from q(z2|z) with ``generator``.
        """
        z = torch.addcmul(mu, std, eps)  # (K, B, Z)
        mu2, log_var2 = self.encoder2(z).float().chunk(2, dim=-1)  # (K, B, Z2) each
        eps2 = torch.randn(mu2.shape, generator=generator, dtype=mu2.dtype, device=mu2.device)
        z2 = torch.addcmul(mu2, torch.exp(0.5 * log_var2), eps2)  # (K, B, Z2)
        prior_mu, prior_log_var = self.decoder2(z2).float().chunk(2, dim=-1)  # p(z|z2): (K, B, Z) each
        log_px = self.likelihood.log_prob(self.decoder(z).float(), x)  # (K, B)
        # log q(z|x) with z = μ + σε is −½ Σ (ε² + log σ² + log 2π), and likewise for z2
        log_q = -0.5 * (eps.square() + LOG_2PI).sum(-1) - torch.log(std).sum(-1)
        log_q2 = -0.5 * (eps2.square() + log_var2 + LOG_2PI).sum(-1)
        log_prior = log_normal_diag(z, prior_mu, prior_log_var) + log_standard_normal(z2)
        return log_px + log_prior - log_q - log_q2, log_px

    def forward(self, x: torch.Tensor, beta: float | None = None, n_samples: int = 1) -> ModelOutput:
        """The negative β-ELBO (one sample of z and z2), or with ``n_samples=K > 1`` the
        negative IWAE bound L_K with weights p(x|z) [p(z, z2)/q(z, z2|x)]^β."""
        beta = self.config.beta if beta is None else beta
        mu, log_var = self.posterior(x)  # (B, Z) each, fp32: the encoder's last layer is a LatentLinear
        std = torch.exp(0.5 * log_var)
        eps = torch.randn((n_samples, *mu.shape), dtype=mu.dtype, device=mu.device)  # (K, B, Z)
        log_w, log_px = self.log_weights(mu, std, eps, x)  # (K, B) each
        log_ratio = log_w - log_px  # log p(z, z2) − log q(z, z2|x)
        z = torch.addcmul(mu, std, eps[0])
        if n_samples == 1:
            rec, kl = -log_px[0], -log_ratio[0]
            return ModelOutput((rec + beta * kl).mean(), rec, kl, z)
        bound = torch.logsumexp(log_px + beta * log_ratio, dim=0) - math.log(n_samples)  # (B,)
        return ModelOutput(-bound.mean(), -log_px.mean(0), -log_ratio.mean(0), z)


MODELS: dict[str, type[VAE] | type[Autoencoder]] = {"vae": VAE, "ae": Autoencoder}


def build_model(config: ModelConfig, seed: int | None = None) -> Model:
    """The model a config describes: `VAE`, `HierarchicalVAE` (``latent_dim2 > 0``) or `Autoencoder`.

    With ``seed``, the initial weights are drawn from a generator seeded with it,
    inside `torch.random.fork_rng`, so the same config and seed give the same
    weights in any process and torch's global random state is left as it was.

    Examples
    --------
    >>> cfg = ModelConfig(input_shape=(8,), latent_dim=2, hidden=(4,))
    >>> a, b = build_model(cfg, seed=3), build_model(cfg, seed=3)
    >>> all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    True
    """
    cls = HierarchicalVAE if config.latent_dim2 else MODELS[config.kind]
    if seed is None:
        return cls(config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return cls(config)


def linear_vae_config(n_features: int, latent_dim: int) -> ModelConfig:
    """The linear VAE: linear encoder and decoder, isotropic learned noise.

    Its generative model is probabilistic PCA (Tipping & Bishop 1999).
    """
    return ModelConfig(
        kind="vae",
        input_shape=(n_features,),
        latent_dim=latent_dim,
        network="linear",
        hidden=(),
        likelihood="gaussian-learned",
    )
