"""What a model may be: `ModelConfig` and the names it chooses from. No torch here.

The command line reads its choices from this module, so ``vaelab --help`` starts
without importing torch; `vaelab.core.models` builds the modules a config describes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from vaelab._config import from_dict as config_from_dict
from vaelab._machine import physical_memory
from vaelab.errors import ConfigError

MODEL_KINDS = ("vae", "ae")
NETWORKS = ("mlp", "conv", "linear")
ACTIVATIONS = ("relu", "tanh", "gelu", "elu", "silu", "softplus", "leaky_relu")
LIKELIHOODS = ("bernoulli", "gaussian", "gaussian-learned", "gaussian-heteroscedastic")
# per likelihood: decoder outputs per data feature, and parameters of its own (a learned σ²)
LIKELIHOOD_SIZES = {
    "bernoulli": (1, 0),
    "gaussian": (1, 0),
    "gaussian-learned": (1, 1),
    "gaussian-heteroscedastic": (2, 0),
}
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
    sigma: float = 1.0  # std of the "gaussian" likelihood; the starting std of "gaussian-learned"
    beta: float = 1.0  # weight on the KL term (β-VAE); 1 is the true ELBO
    # a second stochastic layer z2 of this size above z (0: none): q(z2|z), p(z|z2), p(z2) = N(0, I),
    # the two-layer model of Burda et al. 2015; its networks are MLPs with the widths hidden2
    latent_dim2: int = 0
    hidden2: tuple[int, ...] = ()  # MLP widths between z and z2, the z side first

    def __post_init__(self) -> None:
        self.input_shape = tuple(int(s) for s in self.input_shape)
        self.hidden = tuple(int(h) for h in self.hidden)
        self.hidden2 = tuple(int(h) for h in self.hidden2)
        checks = [
            (self.kind in MODEL_KINDS, f"kind={self.kind!r} must be one of {MODEL_KINDS}"),
            (self.network in NETWORKS, f"network={self.network!r} must be one of {NETWORKS}"),
            (self.likelihood in LIKELIHOODS, f"likelihood={self.likelihood!r} must be one of {LIKELIHOODS}"),
            (self.activation in ACTIVATIONS, f"activation={self.activation!r} must be one of {ACTIVATIONS}"),
            (self.latent_dim >= 1, f"latent_dim={self.latent_dim} must be >= 1"),
            (all(h >= 1 for h in self.hidden), f"hidden={self.hidden} widths must be >= 1"),
            (self.latent_dim2 >= 0, f"latent_dim2={self.latent_dim2} must be >= 0 (0: one stochastic layer)"),
            (all(h >= 1 for h in self.hidden2), f"hidden2={self.hidden2} widths must be >= 1"),
            (
                self.latent_dim2 == 0 or (self.kind == "vae" and self.network == "mlp"),
                f"latent_dim2={self.latent_dim2} needs kind='vae' and network='mlp', "
                f"got kind={self.kind!r}, network={self.network!r}",
            ),
            (
                self.latent_dim2 > 0 or not self.hidden2,
                f"hidden2={self.hidden2} is for the second stochastic layer: give latent_dim2 too",
            ),
            (self.channels >= 1, f"channels={self.channels} must be >= 1"),
            (math.isfinite(self.beta) and self.beta >= 0, f"beta={self.beta} must be a finite number >= 0"),
            (math.isfinite(self.sigma) and self.sigma > 0, f"sigma={self.sigma} must be a finite number > 0"),
            (
                len(self.input_shape) >= 1 and all(s >= 1 for s in self.input_shape),
                f"input_shape={self.input_shape} must be positive sizes",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        if self.network == "conv":
            check_conv_shape(self.input_shape)  # before counting its parameters
        n, limit, why = n_parameters(self), *parameter_limit()
        if n > limit:
            raise ConfigError(
                f"this model would have {n:,} parameters ({self._sizes()}), more than the "
                f"limit of {limit:,} ({why}); choose smaller sizes"
            )

    def _sizes(self) -> str:
        sizes = {"mlp": f"hidden={self.hidden}, ", "conv": f"channels={self.channels}, "}
        second = f", latent_dim2={self.latent_dim2}, hidden2={self.hidden2}" if self.latent_dim2 else ""
        return (
            f"input {self.n_features}, network={self.network!r}, "
            f"{sizes.get(self.network, '')}latent_dim={self.latent_dim}{second}"
        )

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
    memory = physical_memory()
    fits = memory // TRAINING_BYTES_PER_PARAMETER
    if 0 < fits < MAX_PARAMETERS:
        return int(fits), (
            f"{TRAINING_BYTES_PER_PARAMETER} bytes each for weights, gradients "
            f"and Adam's moments in this machine's {memory / 2**30:.1f} GiB"
        )
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
    per_feature, n = LIKELIHOOD_SIZES[c.likelihood]  # decoder outputs per feature, own parameters
    d, out = c.n_features, (2 if c.kind == "vae" else 1) * c.latent_dim
    d_out = per_feature * d  # decoder outputs per sample
    if c.network == "linear":
        return n + (d + 1) * out + (c.latent_dim + 1) * d_out
    if c.network == "mlp":
        nets = [(d, *c.hidden, out), (c.latent_dim, *reversed(c.hidden), d_out)]
        if c.latent_dim2:  # q(z2|z) and p(z|z2), each a mean and a log-variance
            nets += [
                (c.latent_dim, *c.hidden2, 2 * c.latent_dim2),
                (c.latent_dim2, *reversed(c.hidden2), 2 * c.latent_dim),
            ]
        for widths in nets:
            n += sum((a + 1) * b for a, b in zip(widths[:-1], widths[1:], strict=False))
        return n
    ch, (k, h, w) = c.channels, c.input_shape  # conv: two 4x4 stride-2 layers each way
    volume = 2 * ch * (h // 4) * (w // 4)  # (2ch, H/4, W/4) between convs and linear
    encoder = (16 * k + 1) * ch + (16 * ch + 1) * 2 * ch + (volume + 1) * out
    p = per_feature
    decoder = (c.latent_dim + 1) * volume + (32 * ch + 1) * ch + (16 * ch + 1) * p * k
    return n + encoder + decoder


def check_conv_shape(shape: Sequence[int]) -> tuple[int, int, int]:
    """``(C, H, W)`` of a conv network's samples; refused unless H and W divide by 4."""
    if len(shape) != 3:
        raise ConfigError(
            f"network='conv' needs image samples of shape (C, H, W), got {tuple(shape)}; "
            "use --shape H,W for flat data or network='mlp'"
        )
    c, h, w = (int(s) for s in shape)
    if h % 4 or w % 4:
        raise ConfigError(f"network='conv' needs H and W divisible by 4, got {h}x{w}")
    return c, h, w


def default_likelihood(kind: str, real: str = "gaussian") -> str:
    """The likelihood to use when none is given: Bernoulli for data in [0, 1], else ``real``.

    ``kind`` is a `vaelab.data.Dataset` kind: "binary" and "unit" (grey levels
    in [0, 1]) get the Bernoulli, "real" data gets ``real`` (the command line
    uses a unit-variance Gaussian; the estimators and the explainer learn σ²).

    Examples
    --------
    >>> default_likelihood("unit"), default_likelihood("real", real="gaussian-learned")
    ('bernoulli', 'gaussian-learned')
    """
    return real if kind == "real" else "bernoulli"
