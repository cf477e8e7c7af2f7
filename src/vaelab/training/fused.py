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
    """One linear layer and the activation after it (None for a network's last layer).

    ``weight`` and ``bias`` are one model's parameters, ``(out, in)`` and ``(out,)``,
    or the stacked leaves of K models, ``(K, out, in)`` and ``(K, out)``.
    """

    def __init__(
        self, weight: torch.Tensor, bias: torch.Tensor, act: nn.Module | None, low: torch.dtype | None
    ):
        self.weight, self.bias, self.act = weight, bias, act
        self.low = low  # the dtype the layer computes in: autocast's, None for full precision

    def weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The weight and bias as this step uses them: cast once per step under autocast."""
        w, b = self.weight.detach(), self.bias.detach()
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
            # a LatentLinear stays in full precision under autocast
            out.append(_Dense(m.weight, m.bias, nxt, None if isinstance(m, LatentLinear) else low))
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
        _set_grad(layer.weight, torch.mm(g.t(), inp))  # (out, in)
        _set_grad(layer.bias, grad.sum(0, dtype=torch.float32))
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
        learned = lik.log_var if isinstance(lik, GaussianLearned) else None
        rec, d_params, d_log_var = _likelihood_grad(lik, params, x, n, learned)
        if learned is not None and d_log_var is not None:
            _set_grad(learned, d_log_var.reshape(learned.shape))
        return rec, d_params


def _likelihood_grad(
    lik: nn.Module, params: torch.Tensor, x: torch.Tensor, n: int, log_var: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """−log p(x|z), its gradient with respect to the decoder's output (/ B), and to log σ².

    ``params`` is (..., B, D) and ``x`` (B, D): one model, or K stacked models that share
    the batch. ``log_var`` (a learned σ²) is a scalar, or (K,) for K models; its gradient
    has its shape (the mean over the batch). Returns rec (..., B), d_params (..., B, D)
    and d_log_var (None for the other likelihoods).
    """
    x = x.to(params.dtype)
    if isinstance(lik, Bernoulli):
        rec = F.softplus(params).sum(-1) - torch.linalg.vecdot(params, x)
        return rec, torch.sigmoid(params).sub_(x).div_(n), None
    diff = params - x  # (..., B, D)
    d = x.shape[-1]
    if isinstance(lik, GaussianLearned):
        assert log_var is not None
        lv = log_var.detach().to(params.dtype).reshape(*log_var.shape, 1)  # (..., 1): one σ² per model
        inv = torch.exp(-lv)
        sq = (diff * diff).sum(-1)  # (..., B)
        rec = 0.5 * (sq * inv + d * (lv + LOG_2PI))
        d_log_var = (0.5 * (d - inv * sq)).mean(-1)  # (...)
        return rec, diff.mul_(inv.unsqueeze(-1) / n), d_log_var
    var = cast(Gaussian, lik).sigma ** 2  # a fixed σ
    rec = 0.5 * ((diff * diff).sum(-1) / var + d * (math.log(var) + LOG_2PI))
    return rec, diff.mul_(1.0 / (var * n)), None


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


def _forward_stacked(layers: list[_Dense], x: torch.Tensor, tape: list) -> torch.Tensor:
    """K networks at once: ``x`` is the shared batch (B, in) or one per model (K, B, in)."""
    for layer in layers:
        w, b = layer.weights()  # (K, out, in), (K, out)
        inp = x.to(layer.low or torch.float32)
        if inp.dim() == 2:  # the data, shared by the K models: a stride-0 view, no copy
            inp = inp.expand(w.shape[0], *inp.shape)
        pre = torch.baddbmm(b.unsqueeze(1), inp, w.transpose(1, 2))  # (K, B, out)
        x = pre if layer.act is None else layer.act(pre)
        tape.append((layer, inp, w, pre, x))
    return x


def _backward_stacked(tape: list, grad: torch.Tensor, need_input: bool) -> torch.Tensor | None:
    """`_backward` for K stacked networks: writes the ``(K, ...)`` gradients of the weights."""
    for i in range(len(tape) - 1, -1, -1):
        layer, inp, w, pre, out = tape[i]
        if layer.act is not None:
            grad = _act_backward(layer.act, grad.to(out.dtype), pre, out)
        g = grad.to(inp.dtype)  # (K, B, out)
        _set_grad(layer.weight, torch.bmm(g.transpose(1, 2), inp))  # (K, out, in)
        _set_grad(layer.bias, grad.sum(1, dtype=torch.float32))  # (K, out)
        if i or need_input:
            grad = torch.bmm(g, w)  # (K, B, in)
    return grad if need_input else None


class BatchedFusedStep:
    """`FusedStep` for K models of one shape whose parameters are stacked ``(K, ...)``.

    The K models share each batch and its reparameterization noise (one draw of
    (B, Z), as each model alone draws it) and differ in their weights and β. They
    may also differ in kind and likelihood: an autoencoder's code layer is stored in
    the first Z of 2Z rows (the other Z stay zero and get no gradient, so it trains
    as an autoencoder: no noise, no KL), and each likelihood scores its own models.
    Call it with the batch and β ``(K,)``: it writes every leaf's ``.grad`` (kept in
    place) and returns per-model loss ``(K,)``, reconstruction and KL ``(K, B)``.
    Each model's loss and gradients are those of `FusedStep` on that model alone, up
    to float rounding: the matmuls are batched (bmm) instead of one per model.
    """

    def __init__(
        self,
        models: list[Model],
        stacked: dict[str, torch.Tensor],
        log_vars: dict[int, torch.Tensor],
        low: torch.dtype | None,
    ):
        template = models[0]
        device = next(iter(stacked.values())).device
        kinds = [isinstance(m, VAE) for m in models]
        self.vae = any(kinds)
        # 1 for a VAE, 0 for an autoencoder; None when all K are VAEs
        self.noise = (
            None if all(kinds) else torch.tensor(kinds, dtype=torch.float32, device=device)[:, None, None]
        )
        self.encoder = _stacked_layers(template.encoder, "encoder", stacked, low)
        self.decoder = _stacked_layers(template.decoder, "decoder", stacked, low)
        groups: dict[type, list[int]] = {}
        for k, m in enumerate(models):
            groups.setdefault(type(m.likelihood), []).append(k)
        # (likelihood, model indices or None for all K, their learned log σ² leaves)
        self.groups = [
            (
                models[idx[0]].likelihood,
                _rows(idx, len(models), device),
                [log_vars[k] for k in idx] if idx[0] in log_vars else None,
            )
            for idx in groups.values()
        ]

    def __call__(
        self, x: torch.Tensor, beta: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n = x.shape[0]
        enc_tape: list = []
        dec_tape: list = []
        e = _forward_stacked(self.encoder, x, enc_tape).float()  # (K, B, 2Z) or (K, B, Z)
        if self.vae:
            mu, log_var = e.chunk(2, dim=-1)  # (K, B, Z) each
            std = torch.exp(0.5 * log_var)
            eps = torch.randn(mu.shape[1:], dtype=mu.dtype, device=mu.device)  # (B, Z), shared
            noise = eps if self.noise is None else self.noise * eps  # (K, B, Z): 0 for an AE
            z = torch.addcmul(mu, std, noise)  # (K, B, Z)
            var = std * std
            kl = 0.5 * (mu * mu + var - log_var - 1).sum(-1)  # (K, B)
            if self.noise is not None:
                kl = kl * self.noise[:, :, 0]
        else:
            z = e
            kl = torch.zeros(e.shape[:2], dtype=torch.float32, device=x.device)
        if self.noise is not None:
            beta = beta * self.noise[:, 0, 0]  # an autoencoder has no KL term, whatever β it is given
        params = _forward_stacked(self.decoder, z, dec_tape).float()  # (K, B, D)
        rec, d_params = self._likelihood(params, x, n)
        loss = (rec + beta[:, None] * kl).mean(-1)  # (K,)
        dz = _backward_stacked(dec_tape, d_params, need_input=True)
        assert dz is not None
        dz = dz.float()
        if self.vae:
            c = (beta / n)[:, None, None]  # (K, 1, 1)
            d_mu = dz + c * mu
            d_log_var = 0.5 * (dz * noise * std + c * (var - 1))  # 0 for an AE's unused rows
            de = torch.cat([d_mu, d_log_var], dim=-1)  # (K, B, 2Z)
        else:
            de = dz
        _backward_stacked(enc_tape, de, need_input=False)
        return loss, rec, kl

    def _likelihood(self, params: torch.Tensor, x: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Each likelihood on its own models: rec ``(K, B)`` and d params ``(K, B, D)``."""
        if len(self.groups) == 1:
            lik, _, leaves = self.groups[0]
            return self._group(lik, params, x, n, leaves)
        rec = params.new_empty(params.shape[:2])
        d_params = torch.empty_like(params)
        for lik, idx, leaves in self.groups:
            r, d = self._group(lik, params[idx], x, n, leaves)
            rec[idx], d_params[idx] = r, d
        return rec, d_params

    @staticmethod
    def _group(lik, params, x, n, leaves) -> tuple[torch.Tensor, torch.Tensor]:
        log_var = None if leaves is None else torch.stack([p.detach() for p in leaves])  # (K_g,)
        rec, d_params, d_log_var = _likelihood_grad(lik, params, x, n, log_var)
        if d_log_var is not None:
            for p, g in zip(leaves, d_log_var, strict=True):
                _set_grad(p, g.reshape(p.shape))
        return rec, d_params


def _rows(idx: list[int], k: int, device: torch.device) -> slice | torch.Tensor | None:
    """Models ``idx`` of K as an index: None for all, a slice (a view, no copy) where they
    are consecutive, else a tensor of indices."""
    if len(idx) == k:
        return None
    if idx == list(range(idx[0], idx[-1] + 1)):
        return slice(idx[0], idx[-1] + 1)
    return torch.tensor(idx, device=device)


def _stacked_layers(
    net: nn.Module, prefix: str, stacked: dict[str, torch.Tensor], low: torch.dtype | None
) -> list[_Dense]:
    """A network's layers with each parameter swapped for its stacked ``(K, ...)`` leaf."""
    layers = _layers(net, low)
    if layers is None:
        raise TypeError(f"the batched hand-written step covers plain MLPs; {prefix} is not one")
    names = {id(p): f"{prefix}.{n}" for n, p in net.named_parameters()}
    return [_Dense(stacked[names[id(d.weight)]], stacked[names[id(d.bias)]], d.act, d.low) for d in layers]


def batched_fused_step(
    models: list[Model],
    stacked: dict[str, torch.Tensor],
    log_vars: dict[int, torch.Tensor],
    config: TrainConfig,
    autocast_dtype: torch.dtype | None,
) -> BatchedFusedStep | None:
    """The hand-written step for K models stacked in ``stacked``, or None where it does not apply.

    ``stacked`` maps each parameter name of the networks to its ``(K, ...)`` leaf (an
    autoencoder's code layer padded to a VAE's 2Z rows), ``log_vars`` model index → its
    learned log σ²; the step writes their ``.grad`` in place.
    """
    for m in models:
        c = m.config
        if not isinstance(m, (VAE, Autoencoder)) or fused_refusals(
            c.network, c.likelihood, config, c.latent_dim2
        ):
            return None
        if _layers(m.encoder, autocast_dtype) is None or _layers(m.decoder, autocast_dtype) is None:
            return None
    return BatchedFusedStep(models, stacked, log_vars, autocast_dtype)
