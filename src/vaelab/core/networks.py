"""Encoder and decoder networks: MLPs and a small convolutional pair for images.

Every network maps flat vectors to flat vectors, so models never care about
image shapes: a conv encoder reshapes its (B, D) input to (B, C, H, W) itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from vaelab.core.config import NETWORKS, check_conv_shape
from vaelab.errors import ConfigError

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "elu": nn.ELU,
    "silu": nn.SiLU,
    "softplus": nn.Softplus,
    "leaky_relu": nn.LeakyReLU,
}


def activation(name: str) -> nn.Module:
    """A fresh activation module by name (one of `ACTIVATIONS`)."""
    if name not in ACTIVATIONS:
        raise ConfigError(f"activation={name!r} is unknown; expected one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


class LatentLinear(nn.Linear):
    """A linear layer that stays in full precision under autocast.

    Used where a network meets the latent code: the encoder's output (μ, log σ²)
    and the decoder's first layer. In bf16 (8 significant bits) a code of size 2
    moves in steps of 0.016, about half the posterior width σ of an active unit
    of a trained MNIST VAE, so rounding there adds noise the ELBO pays for. The
    layers inside the networks, where nearly all the work is, stay in bf16.

    Examples
    --------
    >>> layer = LatentLinear(4, 2)
    >>> with torch.autocast("cpu", dtype=torch.bfloat16):
    ...     layer(torch.zeros(3, 4, dtype=torch.bfloat16)).dtype
    torch.float32
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return super().forward(x.to(self.weight.dtype))


def mlp(
    in_dim: int,
    out_dim: int,
    hidden: Sequence[int],
    act: str = "relu",
    latent_in: bool = False,
    latent_out: bool = False,
) -> nn.Sequential:
    """A multilayer perceptron ``in_dim → hidden... → out_dim``, linear output.

    With ``hidden=()`` this is a single linear map. ``latent_in`` / ``latent_out``
    make the first / last layer a `LatentLinear` (full precision under autocast).

    Examples
    --------
    >>> net = mlp(784, 40, (400,))
    >>> net(torch.zeros(2, 784)).shape
    torch.Size([2, 40])
    """
    widths = [in_dim, *hidden, out_dim]
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        last = i == len(widths) - 2
        full = (latent_in and i == 0) or (latent_out and last)
        layers.append((LatentLinear if full else nn.Linear)(a, b))
        if not last:
            layers.append(activation(act))
    return nn.Sequential(*layers)


class ConvEncoder(nn.Module):
    """Two stride-2 convolutions then a linear head: (B, C·H·W) → (B, out_dim)."""

    def __init__(self, shape: Sequence[int], out_dim: int, channels: int = 32, act: str = "relu"):
        super().__init__()
        c, h, w = check_conv_shape(shape)
        self.shape = (c, h, w)
        self.features = nn.Sequential(
            nn.Conv2d(c, channels, 4, 2, 1),
            activation(act),
            nn.Conv2d(channels, 2 * channels, 4, 2, 1),
            activation(act),
            nn.Flatten(),
        )
        self.head = LatentLinear(2 * channels * (h // 4) * (w // 4), out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(-1, *self.shape)  # (B, C, H, W)
        return self.head(self.features(x))  # (B, out_dim)


class ConvDecoder(nn.Module):
    """A linear map to a (2c, H/4, W/4) volume, then two stride-2 transposed convs.

    Outputs ``(B, n_params · C·H·W)``: one image-shaped channel block per
    likelihood parameter.
    """

    def __init__(
        self,
        shape: Sequence[int],
        in_dim: int,
        n_params: int = 1,
        channels: int = 32,
        act: str = "relu",
    ):
        super().__init__()
        c, h, w = check_conv_shape(shape)
        self.start = (2 * channels, h // 4, w // 4)
        self.net = nn.Sequential(
            LatentLinear(in_dim, math.prod(self.start)),
            activation(act),
            nn.Unflatten(-1, self.start),
            nn.ConvTranspose2d(2 * channels, channels, 4, 2, 1),
            activation(act),
            nn.ConvTranspose2d(channels, n_params * c, 4, 2, 1),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        lead = z.shape[:-1]
        out = self.net(z.reshape(-1, z.shape[-1]))  # (B, P·C, H, W)
        return out.reshape(*lead, -1)


def build_encoder(
    network: str,
    shape: Sequence[int],
    out_dim: int,
    hidden: Sequence[int],
    act: str,
    channels: int,
) -> nn.Module:
    """The encoder for a network kind: 'mlp', 'conv' or 'linear'."""
    d = math.prod(shape)
    if network == "mlp":
        return mlp(d, out_dim, hidden, act, latent_out=True)
    if network == "linear":
        return LatentLinear(d, out_dim)
    if network == "conv":
        return ConvEncoder(shape, out_dim, channels, act)
    raise ConfigError(f"network={network!r} is unknown; expected one of {NETWORKS}")


def build_decoder(
    network: str,
    shape: Sequence[int],
    in_dim: int,
    n_params: int,
    hidden: Sequence[int],
    act: str,
    channels: int,
) -> nn.Module:
    """The decoder mirroring `build_encoder`; outputs ``n_params`` values per feature."""
    d = math.prod(shape)
    if network == "mlp":
        return mlp(in_dim, n_params * d, tuple(reversed(hidden)), act, latent_in=True)
    if network == "linear":
        return LatentLinear(in_dim, n_params * d)
    if network == "conv":
        return ConvDecoder(shape, in_dim, n_params, channels, act)
    raise ConfigError(f"network={network!r} is unknown; expected one of {NETWORKS}")
