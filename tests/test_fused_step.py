"""The hand-written training step against autograd, the independent truth.

Autograd differentiates the model's own forward (`VAE.forward`, `Autoencoder.forward`);
`vaelab.training.fused` writes the derivatives out. For the same weights, batch and
noise both must give the same loss and gradients up to float rounding, and a whole
fit with either step must end at the same weights up to the rounding that
accumulates over its steps.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from vaelab.core.config import ModelConfig
from vaelab.core.models import build_model
from vaelab.data import Dataset
from vaelab.errors import ConfigError
from vaelab.training.config import TrainConfig
from vaelab.training.fused import fused_step
from vaelab.training.loop import fit

BF16 = torch.bfloat16


def _grads_both_ways(config: ModelConfig, x: torch.Tensor, beta: float, low: torch.dtype | None):
    """(loss, grads) from autograd and from the fused step, same weights and noise."""
    model = build_model(config, seed=3)
    torch.manual_seed(11)
    with torch.autocast("cpu", dtype=low or torch.float32, enabled=low is not None):
        out = model(x, beta=beta)
    model.zero_grad(set_to_none=True)
    out.loss.backward()
    auto = [p.grad.clone() for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    step = fused_step(model, TrainConfig(), low)
    assert step is not None
    torch.manual_seed(11)
    loss, rec, kl = step(x, beta)
    hand = [p.grad.clone() for p in model.parameters()]
    names = [n for n, _ in model.named_parameters()]
    return (
        (out.loss.detach(), out.reconstruction.detach(), out.kl.detach(), auto),
        (loss, rec, kl, hand),
        names,
    )


CASES = {
    "vae relu bernoulli": ModelConfig(input_shape=(64,), latent_dim=4, hidden=(32,)),
    "vae tanh two layers": ModelConfig(input_shape=(64,), latent_dim=3, hidden=(48, 24), activation="tanh"),
    "ae relu bernoulli": ModelConfig(kind="ae", input_shape=(64,), latent_dim=2, hidden=(32,)),
    "vae gaussian-learned": ModelConfig(
        input_shape=(30,), latent_dim=4, hidden=(16,), likelihood="gaussian-learned", sigma=0.7
    ),
    "vae gaussian fixed": ModelConfig(
        input_shape=(30,), latent_dim=4, hidden=(16,), likelihood="gaussian", sigma=0.5
    ),
    "linear vae": ModelConfig(
        input_shape=(30,), latent_dim=3, network="linear", likelihood="gaussian-learned"
    ),
    **{
        f"vae {act}": ModelConfig(input_shape=(40,), latent_dim=3, hidden=(24,), activation=act)
        for act in ("gelu", "silu", "elu", "softplus", "leaky_relu")
    },
}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("beta", [1.0, 0.3])
def test_fp32_step_matches_autograd(name, beta):
    config = CASES[name]
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(17, config.n_features, generator=gen)
    if config.likelihood == "bernoulli":
        x = (x > 0.5).float() if "tanh" in name else x  # binary and grey-level pixels
    (l1, r1, k1, auto), (l2, r2, k2, hand), names = _grads_both_ways(config, x, beta, None)
    torch.testing.assert_close(l2, l1, rtol=1e-6, atol=1e-5)
    torch.testing.assert_close(r2, r1, rtol=1e-6, atol=1e-4)
    torch.testing.assert_close(k2, k1, rtol=1e-6, atol=1e-6)
    for n, a, h in zip(names, auto, hand, strict=True):
        scale = float(a.abs().max()) + 1e-12
        assert float((a - h).abs().max()) <= 1e-5 * scale, f"{n}: {float((a - h).abs().max())} of {scale}"


@pytest.mark.parametrize("name", ["vae relu bernoulli", "ae relu bernoulli", "vae gaussian-learned"])
def test_bf16_step_matches_autograd(name):
    """Under bf16 autocast both compute in bf16 inside the networks and in fp32 at the code and
    the loss: the Bernoulli reconstruction is bit-equal, the gradients agree to bf16's rounding (autograd
    also rounds the bias gradients of bf16 layers to bf16; the fused step sums them in fp32)."""
    config = dataclasses.replace(CASES[name], hidden=(96,))
    x = torch.rand(64, config.n_features, generator=torch.Generator().manual_seed(1))
    (l1, r1, k1, auto), (l2, r2, k2, hand), names = _grads_both_ways(config, x, 1.0, BF16)
    if config.likelihood == "bernoulli":  # the same expression; the Gaussians sum in another order
        assert torch.equal(r2, r1)
    torch.testing.assert_close(r2, r1, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(k2, k1, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(l2, l1, rtol=1e-5, atol=1e-4)
    for n, a, h in zip(names, auto, hand, strict=True):
        assert a.dtype == h.dtype == torch.float32, n
        scale = float(a.abs().max()) + 1e-12
        assert float((a - h).abs().max()) <= 2e-2 * scale, f"{n}: {float((a - h).abs().max())} of {scale}"


def _digits() -> Dataset:
    from sklearn.datasets import load_digits

    x = (load_digits().data / 16.0).astype(np.float32)
    return Dataset(x[:1024], None, (64,), "unit")


@pytest.mark.parametrize("kind", ["vae", "ae"])
def test_fit_with_either_step_ends_at_the_same_weights(kind):
    """Whole fits: same seed, same noise, same batches; fp32, so the steps differ only in the
    order of a few sums, and after 3 epochs the weights still agree to 1e-4 of their size."""
    config = ModelConfig(kind=kind, input_shape=(64,), latent_dim=4, hidden=(64,))
    tc = TrainConfig(epochs=3, batch_size=64, precision="fp32", kl_warmup_epochs=1, lr_schedule="cosine")
    ends = []
    for step in ("autograd", "fused"):
        model = build_model(config, seed=5)
        hist = fit(model, _digits(), dataclasses.replace(tc, step=step), progress=False)
        ends.append((model, hist))
    (a, ha), (b, hb) = ends
    for (n, p), q in zip(a.named_parameters(), b.parameters(), strict=True):
        p, q = p.detach(), q.detach()
        scale = float(p.abs().max())
        assert float((p - q).abs().max()) <= 1e-4 * scale, n
    np.testing.assert_allclose(hb.train_loss, ha.train_loss, rtol=1e-5)


def test_fused_is_refused_where_it_does_not_apply():
    conv = build_model(ModelConfig(input_shape=(1, 8, 8), latent_dim=2, network="conv"), seed=0)
    with pytest.raises(ConfigError, match="step=.fused. does not apply to network=.conv."):
        x = np.random.default_rng(0).random((8, 1, 8, 8), dtype=np.float32)
        fit(conv, Dataset(x, None, (1, 8, 8), "unit"), TrainConfig(epochs=1, step="fused"), progress=False)
    vae = build_model(ModelConfig(input_shape=(64,), latent_dim=2, hidden=(8,)), seed=0)
    assert fused_step(vae, TrainConfig(importance_samples=5), None) is None
    hetero = build_model(
        ModelConfig(input_shape=(64,), latent_dim=2, hidden=(8,), likelihood="gaussian-heteroscedastic"),
        seed=0,
    )
    assert fused_step(hetero, TrainConfig(), None) is None
    with pytest.raises(ConfigError, match="step='fast' must be one of"):
        TrainConfig(step="fast")
