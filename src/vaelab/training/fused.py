"""A training step whose gradients are written out by hand, for MLP models.

For the 784-400-20 VAE at batch 128, autograd's step makes about 400 aten calls:
the matmuls, and around them element-wise nodes, casts and their backward
functions, each a kernel launch and a thread fork/join on a tensor of a few
hundred kilobytes. This step makes the same matmuls and about 60 other calls,
because the derivatives of the few operations a VAE uses are short:

- a layer ``y = a(x Wᵀ + b)``: ``dW = gᵀx``, ``db = Σ g``, ``dx = g W`` with
  ``g = dy · a'``;
- the reparameterization ``z = μ + σ ε``: ``dμ = dz``, ``d log σ² = ½ dz ε σ``;
- the closed-form KL: ``dμ = β μ``, ``d log σ² = ½ β (σ² − 1)``;
- the likelihoods: Bernoulli ``dl = sigmoid(l) − x``, Gaussian ``dm = (m − x)/σ²``.

It computes what autograd computes, in the same precisions: under bf16 autocast
the layers inside the networks run in bf16 (each weight cast once per step) and
the `LatentLinear` layers, the loss and the KL in fp32, with fp32 gradients for the
fp32 master weights. It draws the reparameterization noise exactly as
`vaelab.core.objectives.reparameterize` does, so a fit takes the same random
path with either step; the results differ by float rounding only
(`tests/test_fused_step.py` compares loss, gradients and whole fits with autograd).

`fused_step` returns None for a model or setting it does not cover
(`vaelab.training.config.fused_refusals`: conv networks, the heteroscedastic Gaussian,
the IWAE objective, a second stochastic layer, torch.compile); `fit` then takes
autograd's step, as it does under torchrun.
"""

from __future__ import annotations

import math
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from vaelab.core.likelihoods import Bernoulli, Gaussian, GaussianLearned
from vaelab.core.models import VAE, Autoencoder, Model
from vaelab.core.networks import ACTIVATIONS, LatentLinear
from vaelab.core.objectives import LOG_2PI
from vaelab.training.config import TrainConfig, fused_refusals


def _act_backward(act: nn.Module, grad: torch.Tensor, pre: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """dL/d(pre) from dL/d(out) for ``out = act(pre)``, by aten's own backward kernels."""
    aten = torch.ops.aten
    if isinstance(act, nn.ReLU):
        return aten.threshold_backward(grad, out, 0)
    if isinstance(act, nn.Tanh):
        return aten.tanh_backward(grad, out)
    if isinstance(act, nn.SiLU):
        return aten.silu_backward(grad, pre)
    if isinstance(act, nn.GELU):
        return aten.gelu_backward(grad, pre, approximate=act.approximate)
    if isinstance(act, nn.LeakyReLU):
        return aten.leaky_relu_backward(grad, pre, act.negative_slope, False)
    if isinstance(act, nn.ELU):
        return aten.elu_backward(grad, act.alpha, 1, 1, False, pre)
    if isinstance(act, nn.Softplus):
        return aten.softplus_backward(grad, pre, act.beta, act.threshold)
    raise TypeError(f"no hand-written backward for {type(act).__name__}")


_ACTS = tuple(ACTIVATIONS.values())  # every activation vaelab builds; `_act_backward` covers each


class _Dense:
    """One linear layer and the activation after it (None for a network's last layer)."""

    def __init__(self, linear: nn.Linear, act: nn.Module | None, low: torch.dtype | None):
        self.linear, self.act = linear, act
        # the dtype the layer computes in: autocast's low precision, except a LatentLinear
        self.low = None if isinstance(linear, LatentLinear) else low

    def weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The weight and bias as this step uses them: cast once per step under autocast."""
        w, b = self.linear.weight.detach(), self.linear.bias.detach()
        return (w, b) if self.low is None else (w.to(self.low), b.to(self.low))


def _layers(net: nn.Module, low: torch.dtype | None) -> list[_Dense] | None:
    """A network as `_Dense` layers, or None where it is not a plain MLP."""
    mods = list(net) if isinstance(net, nn.Sequential) else [net]
    out: list[_Dense] = []
    for i, m in enumerate(mods):
        if isinstance(m, nn.Linear):
            if m.bias is None:
                return None
            nxt = mods[i + 1] if i + 1 < len(mods) else None
            if nxt is not None and not isinstance(nxt, _ACTS):
                return None
            out.append(_Dense(m, nxt, low))
        elif not isinstance(m, _ACTS) or i == 0 or not isinstance(mods[i - 1], nn.Linear):
            return None
    return out or None


def _forward(layers: list[_Dense], x: torch.Tensor, tape: list) -> torch.Tensor:
    """The network's output; ``tape`` gets what the backward pass needs, layer by layer."""
    for layer in layers:
        w, b = layer.weights()
        inp = x.to(layer.low or torch.float32)  # no copy where it already is
        pre = F.linear(inp, w, b)  # (B, out)
        x = pre if layer.act is None else layer.act(pre)
        tape.append((layer, inp, w, pre, x))
    return x


def _set_grad(p: torch.Tensor, grad: torch.Tensor) -> None:
    """Write ``grad`` into ``p.grad``, reusing its buffer: the optimizer then reads memory
    that stays in place step after step."""
    if p.grad is None:
        p.grad = grad.to(p.dtype, memory_format=torch.contiguous_format)
    else:
        p.grad.copy_(grad)


def _backward(tape: list, grad: torch.Tensor, need_input: bool) -> torch.Tensor | None:
    """Write every layer's weight and bias gradient; returns dL/d(input) if asked."""
    for i in range(len(tape) - 1, -1, -1):
        layer, inp, w, pre, out = tape[i]
        if layer.act is not None:
            grad = _act_backward(layer.act, grad.to(out.dtype), pre, out)
        g = grad.to(inp.dtype)  # (B, out)
        _set_grad(layer.linear.weight, torch.mm(g.t(), inp))  # (out, in)
        _set_grad(layer.linear.bias, grad.sum(0, dtype=torch.float32))
        if i or need_input:
            grad = torch.mm(g, w)  # (B, in)
    return grad if need_input else None


class FusedStep:
    """One training step of an MLP `VAE` or `Autoencoder`, gradients by hand.

    Call it with a batch and β; it sets ``.grad`` on every parameter (the
    optimizer steps afterwards) and returns (loss, reconstruction (B,), kl (B,)),
    the values of `vaelab.core.models.ModelOutput`.

    Examples
    --------
    >>> from vaelab.core.models import ModelConfig
    >>> vae = VAE(ModelConfig(input_shape=(16,), latent_dim=2, hidden=(8,)))
    >>> step = fused_step(vae, TrainConfig(precision="fp32"), None)
    >>> loss, rec, kl = step(torch.rand(4, 16), 1.0)
    >>> vae.decoder[0].weight.grad.shape
    torch.Size([8, 2])
    """

    def __init__(self, model: Model, encoder: list[_Dense], decoder: list[_Dense]):
        self.model, self.encoder, self.decoder = model, encoder, decoder
        self.vae = isinstance(model, VAE)

    def __call__(self, x: torch.Tensor, beta: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n = x.shape[0]
        enc_tape: list = []
        dec_tape: list = []
        e = _forward(self.encoder, x, enc_tape).float()  # (B, 2Z) for a VAE, (B, Z) for an AE
        if self.vae:
            mu, log_var = e.chunk(2, dim=-1)  # (B, Z) each
            std = torch.exp(0.5 * log_var)
            eps = torch.randn(mu.shape, dtype=mu.dtype, device=mu.device)  # as reparameterize draws it
            z = torch.addcmul(mu, std, eps)  # (B, Z)
            var = std * std
            kl = 0.5 * (mu * mu + var - log_var - 1).sum(-1)  # (B,)
        else:
            z = e
            kl = torch.zeros(n, dtype=torch.float32, device=x.device)
        params = _forward(self.decoder, z, dec_tape).float()  # (B, D)
        rec, d_params = self._likelihood(params, x, n)  # (B,), (B, D) scaled by 1/B
        loss = (rec + beta * kl).mean() if self.vae else rec.mean()
        dz = _backward(dec_tape, d_params, need_input=True)
        assert dz is not None
        dz = dz.float()
        if self.vae:
            c = beta / n
            d_mu = dz + c * mu
            d_log_var = 0.5 * (dz * eps * std + c * (var - 1))
            de = torch.cat([d_mu, d_log_var], dim=-1)  # (B, 2Z)
        else:
            de = dz
        _backward(enc_tape, de, need_input=False)
        return loss, rec, kl

    def _likelihood(self, params: torch.Tensor, x: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """−log p(x|z) per example and its gradient with respect to the decoder's output, / B."""
        lik = self.model.likelihood
        x = x.to(params.dtype)
        if isinstance(lik, Bernoulli):
            rec = F.softplus(params).sum(-1) - torch.linalg.vecdot(params, x)
            return rec, torch.sigmoid(params).sub_(x).div_(n)
        diff = params - x  # (B, D)
        if isinstance(lik, GaussianLearned):
            lv = lik.log_var.detach().to(params.dtype)
            inv = torch.exp(-lv)
            sq = (diff * diff).sum(-1)  # (B,)
            d = x.shape[-1]
            rec = 0.5 * (sq * inv + d * (lv + LOG_2PI))
            _set_grad(lik.log_var, (0.5 * (d - inv * sq)).mean().reshape(lik.log_var.shape))
            return rec, diff.mul_(inv / n)
        var = cast(Gaussian, lik).sigma ** 2  # a fixed σ
        rec = 0.5 * ((diff * diff).sum(-1) / var + x.shape[-1] * (math.log(var) + LOG_2PI))
        return rec, diff.mul_(1.0 / (var * n))


def fused_step(model: Model, config: TrainConfig, autocast_dtype: torch.dtype | None) -> FusedStep | None:
    """The hand-written step for ``model``, or None where it does not apply.

    It applies to MLP and linear networks with the activations of
    `vaelab.core.networks.ACTIVATIONS`, the Bernoulli and the fixed or learned
    isotropic Gaussian likelihoods, and the ELBO (``importance_samples=1``).
    """
    c = model.config
    if not isinstance(model, (VAE, Autoencoder)) or fused_refusals(
        c.network, c.likelihood, config, c.latent_dim2
    ):
        return None
    encoder, decoder = _layers(model.encoder, autocast_dtype), _layers(model.decoder, autocast_dtype)
    if encoder is None or decoder is None:
        return None
    return FusedStep(model, encoder, decoder)
