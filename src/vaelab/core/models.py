"""Autoencoder and VAE: a config dataclass, two nn.Modules, one typed output.

Both models take flat inputs ``(B, D)`` and share networks and likelihoods, so an
autoencoder and a VAE with the same config differ only in what the encoder
outputs (a point, or a distribution) and in the KL term.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from typing import NamedTuple

import torch
from torch import nn

from vaelab._config import from_dict as config_from_dict
from vaelab.core.likelihoods import LIKELIHOODS, build_likelihood
from vaelab.core.networks import ACTIVATIONS, NETWORKS, _check_conv_shape, build_decoder, build_encoder
from vaelab.core.objectives import gaussian_kl, reparameterize
from vaelab.errors import ConfigError

MODEL_KINDS = ("vae", "ae")
MAX_PARAMETERS = 2**31  # a fixed ceiling: 8 GiB of fp32 weights, far beyond any model here
TRAINING_BYTES_PER_PARAMETER = 16  # fp32 weights, gradients and Adam's two moments


@dataclass
class ModelConfig:
    """Everything needed to rebuild a model. Stored in every run's config.json."""

    kind: str = "vae"  # "vae" or "ae"
    input_shape: tuple[int, ...] = (784,)  # one sample: (D,) or (C, H, W)
    latent_dim: int = 20  # size of the code z
    network: str = "mlp"  # "mlp", "conv" or "linear"
    hidden: tuple[int, ...] = (400,)  # MLP widths, encoder side (decoder mirrors them)
    activation: str = "relu"  # hidden-layer nonlinearity
    channels: int = 32  # conv networks: channels of the first conv layer
    likelihood: str = "bernoulli"  # p(x|z): see vaelab.core.likelihoods.LIKELIHOODS
    sigma: float = 1.0  # fixed std of the "gaussian" likelihood
    beta: float = 1.0  # weight on the KL term (β-VAE); 1 is the true ELBO

    def __post_init__(self) -> None:
        self.input_shape = tuple(int(s) for s in self.input_shape)
        self.hidden = tuple(int(h) for h in self.hidden)
        checks = [
            (self.kind in MODEL_KINDS, f"kind={self.kind!r} must be one of {MODEL_KINDS}"),
            (self.network in NETWORKS, f"network={self.network!r} must be one of {NETWORKS}"),
            (self.likelihood in LIKELIHOODS,
             f"likelihood={self.likelihood!r} must be one of {LIKELIHOODS}"),
            (self.activation in ACTIVATIONS,
             f"activation={self.activation!r} must be one of {sorted(ACTIVATIONS)}"),
            (self.latent_dim >= 1, f"latent_dim={self.latent_dim} must be >= 1"),
            (all(h >= 1 for h in self.hidden), f"hidden={self.hidden} widths must be >= 1"),
            (self.channels >= 1, f"channels={self.channels} must be >= 1"),
            (math.isfinite(self.beta) and self.beta >= 0,
             f"beta={self.beta} must be a finite number >= 0"),
            (math.isfinite(self.sigma) and self.sigma > 0,
             f"sigma={self.sigma} must be a finite number > 0"),
            (len(self.input_shape) >= 1 and all(s >= 1 for s in self.input_shape),
             f"input_shape={self.input_shape} must be positive sizes"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        if self.network == "conv":
            _check_conv_shape(self.input_shape)  # before counting its parameters
        n, limit, why = n_parameters(self), *parameter_limit()
        if n > limit:
            raise ConfigError(
                f"this model would have {n:,} parameters ({self._sizes()}), more than the "
                f"limit of {limit:,} ({why}); choose smaller sizes"
            )

    def _sizes(self) -> str:
        sizes = {"mlp": f"hidden={self.hidden}, ", "conv": f"channels={self.channels}, "}
        return (f"input {self.n_features}, network={self.network!r}, "
                f"{sizes.get(self.network, '')}latent_dim={self.latent_dim}")

    @property
    def n_features(self) -> int:
        return math.prod(self.input_shape)

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        """Rebuild from `to_dict`; unknown or mistyped keys are a `ConfigError`."""
        return config_from_dict(cls, d, "model")


def parameter_limit() -> tuple[int, str]:
    """The most parameters a model may have here, and why.

    The smaller of `MAX_PARAMETERS` and what fits in this machine's physical memory
    at `TRAINING_BYTES_PER_PARAMETER` bytes each.

    Returns
    -------
    limit : int
    reason : str
        The bound in words, for error messages.

    Examples
    --------
    >>> limit, why = parameter_limit()
    >>> 10**7 < limit <= MAX_PARAMETERS
    True
    """
    try:
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # not a POSIX system
        memory = 0
    fits = memory // TRAINING_BYTES_PER_PARAMETER
    if 0 < fits < MAX_PARAMETERS:
        return int(fits), (f"{TRAINING_BYTES_PER_PARAMETER} bytes each for weights, gradients "
                           f"and Adam's moments in this machine's {memory / 2**30:.1f} GiB")
    return MAX_PARAMETERS, "vaelab's fixed ceiling of 2**31"


def n_parameters(config: ModelConfig) -> int:
    """Number of trainable parameters of the model ``config`` describes, without building it.

    Parameters
    ----------
    config : ModelConfig

    Returns
    -------
    int
        Equal to ``sum(p.numel() for p in build_model(config).parameters())``.

    Examples
    --------
    >>> n_parameters(ModelConfig(input_shape=(784,), latent_dim=50, hidden=(512, 512)))
    1406836
    """
    c = config
    likelihood = build_likelihood(c.likelihood, c.sigma)
    n = sum(p.numel() for p in likelihood.parameters())  # gaussian-learned: one log-variance
    d, out = c.n_features, (2 if c.kind == "vae" else 1) * c.latent_dim
    d_out = likelihood.n_params * d  # decoder outputs per sample
    if c.network == "linear":
        return n + (d + 1) * out + (c.latent_dim + 1) * d_out
    if c.network == "mlp":
        for widths in ((d, *c.hidden, out), (c.latent_dim, *reversed(c.hidden), d_out)):
            n += sum((a + 1) * b for a, b in zip(widths[:-1], widths[1:], strict=False))
        return n
    ch, (k, h, w) = c.channels, c.input_shape  # conv: two 4x4 stride-2 layers each way
    volume = 2 * ch * (h // 4) * (w // 4)  # (2ch, H/4, W/4) between convs and linear
    encoder = (16 * k + 1) * ch + (16 * ch + 1) * 2 * ch + (volume + 1) * out
    p = likelihood.n_params
    decoder = (c.latent_dim + 1) * volume + (32 * ch + 1) * ch + (16 * ch + 1) * p * k
    return n + encoder + decoder


class ModelOutput(NamedTuple):
    """What a forward pass returns. Per-example terms are in nats, shape (B,)."""

    loss: torch.Tensor  # scalar: mean over the batch of reconstruction + beta * kl
    reconstruction: torch.Tensor  # (B,) −log p(x|z), the distortion
    kl: torch.Tensor  # (B,) KL(q(z|x) ‖ p(z)), the rate; zeros for an autoencoder
    z: torch.Tensor  # (B, Z) the code used to decode


class _Base(nn.Module):
    """Shared parts: the decoder, the likelihood and decoding helpers."""

    def __init__(self, config: ModelConfig, encoder_out: int):
        super().__init__()
        c = config
        self.config = c
        self.likelihood = build_likelihood(c.likelihood, c.sigma)
        self.encoder = build_encoder(
            c.network, c.input_shape, encoder_out, c.hidden, c.activation, c.channels
        )
        self.decoder = build_decoder(
            c.network, c.input_shape, c.latent_dim, self.likelihood.n_params,
            c.hidden, c.activation, c.channels,
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


class Autoencoder(_Base):
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


class VAE(_Base):
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

    def forward(self, x: torch.Tensor, beta: float | None = None,
                n_samples: int = 1) -> ModelOutput:
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


MODELS: dict[str, type[_Base]] = {"vae": VAE, "ae": Autoencoder}


def build_model(config: ModelConfig, seed: int | None = None) -> _Base:
    """The model a config describes: `VAE` or `Autoencoder`.

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
    if seed is None:
        return MODELS[config.kind](config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MODELS[config.kind](config)


def linear_vae_config(n_features: int, latent_dim: int) -> ModelConfig:
    """The linear VAE: linear encoder and decoder, isotropic learned noise.

    Its generative model is probabilistic PCA (Tipping & Bishop 1999).
    """
    return ModelConfig(
        kind="vae", input_shape=(n_features,), latent_dim=latent_dim,
        network="linear", hidden=(), likelihood="gaussian-learned",
    )
