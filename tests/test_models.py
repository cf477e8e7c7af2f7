"""Models, networks, likelihoods and the KL: shapes, gradients, closed forms."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from vaelab.core.config import LIKELIHOODS, ModelConfig
from vaelab.core.likelihoods import Bernoulli, Gaussian, bernoulli_log_prob_fused, build_likelihood
from vaelab.core.models import VAE, Autoencoder, build_model, linear_vae_config
from vaelab.core.objectives import gaussian_kl, log_normal_diag, log_standard_normal
from vaelab.errors import ConfigError

SHAPES = {"mlp": (1, 8, 8), "conv": (1, 8, 8), "linear": (20,)}


@pytest.mark.parametrize(
    "kind,network,likelihood", list(itertools.product(["vae", "ae"], SHAPES, LIKELIHOODS))
)
def test_output_shapes(kind, network, likelihood):
    shape = SHAPES[network]
    cfg = ModelConfig(
        kind=kind,
        input_shape=shape,
        latent_dim=3,
        network=network,
        hidden=(16,),
        likelihood=likelihood,
        channels=4,
    )
    model = build_model(cfg)
    x = torch.rand(5, math.prod(shape))
    out = model(x)
    assert out.loss.shape == ()
    assert out.reconstruction.shape == (5,) and out.kl.shape == (5,)
    assert out.z.shape == (5, 3)
    assert model.code(x).shape == (5, 3)
    assert model.reconstruct(x).shape == (5, math.prod(shape))
    assert model.sample(7).shape == (7, math.prod(shape))
    assert torch.isfinite(out.loss)
    if kind == "ae":
        assert torch.all(out.kl == 0)
    else:
        assert torch.all(out.kl >= 0)


def test_conv_rejects_shapes_it_cannot_handle():
    with pytest.raises(ConfigError, match="divisible by 4"):
        build_model(ModelConfig(input_shape=(1, 10, 10), network="conv"))
    with pytest.raises(ConfigError, match=r"\(C, H, W\)"):
        build_model(ModelConfig(input_shape=(64,), network="conv"))


@pytest.mark.parametrize(
    "field,value",
    [("kind", "gan"), ("likelihood", "poisson"), ("latent_dim", 0), ("beta", -1.0), ("activation", "swish2")],
)
def test_config_rejects_bad_values_by_name(field, value):
    with pytest.raises(ConfigError, match=field):
        ModelConfig(**{field: value})


def test_config_rejects_unknown_keys():
    with pytest.raises(ConfigError, match="latnet_dim"):
        ModelConfig.from_dict({"latnet_dim": 3})


def test_closed_form_kl_matches_monte_carlo():
    gen = torch.Generator().manual_seed(0)
    mu = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    log_var = torch.randn(4, 3, generator=gen, dtype=torch.float64) * 0.5
    n = 400_000
    z = mu + torch.exp(0.5 * log_var) * torch.randn(n, 4, 3, generator=gen, dtype=torch.float64)
    mc = (log_normal_diag(z, mu, log_var) - log_standard_normal(z)).mean(0)  # (4,)
    se = (log_normal_diag(z, mu, log_var) - log_standard_normal(z)).std(0) / math.sqrt(n)
    closed = gaussian_kl(mu, log_var)
    assert torch.all((mc - closed).abs() < 4 * se + 1e-9), (mc, closed, se)


def test_gradients_reach_the_encoder_through_the_reparameterized_sample():
    vae = VAE(ModelConfig(input_shape=(10,), latent_dim=2, hidden=(8,)))
    x = torch.rand(6, 10)
    out = vae(x, beta=0.0)  # reconstruction only: any encoder gradient flows through z
    out.loss.backward()
    grads = [p.grad for p in vae.encoder.parameters()]
    assert all(g is not None for g in grads)
    assert sum(g.abs().sum() for g in grads) > 0


def test_unit_gaussian_likelihood_is_half_squared_error_plus_constant():
    torch.manual_seed(1)
    cfg = ModelConfig(
        kind="ae", input_shape=(12,), latent_dim=3, hidden=(8,), likelihood="gaussian", sigma=1.0
    )
    ae = Autoencoder(cfg)
    x = torch.randn(9, 12)
    out = ae(x)
    sq = ((x - ae.reconstruct(x)) ** 2).sum(-1)
    const = 0.5 * 12 * math.log(2 * math.pi)
    torch.testing.assert_close(out.reconstruction, 0.5 * sq + const)


def test_gaussian_log_prob_matches_torch_distributions():
    mu, x = torch.randn(4, 5), torch.randn(4, 5)
    ref = torch.distributions.Normal(mu, 0.3).log_prob(x).sum(-1)
    torch.testing.assert_close(Gaussian(0.3).log_prob(mu, x), ref)


def test_linear_vae_is_a_configuration_with_pca_noise_model():
    cfg = linear_vae_config(n_features=16, latent_dim=3)
    vae = build_model(cfg)
    assert isinstance(vae, VAE)
    linears = [m for m in vae.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) == 2
    assert vae.likelihood.log_var.shape == ()  # one shared learned variance


def test_beta_weights_the_kl_term():
    torch.manual_seed(0)
    vae = VAE(ModelConfig(input_shape=(10,), latent_dim=2, hidden=(8,)))
    x = torch.rand(6, 10)
    torch.manual_seed(3)
    a = vae(x, beta=0.0)
    torch.manual_seed(3)
    b = vae(x, beta=2.0)
    torch.testing.assert_close(b.loss - a.loss, 2.0 * a.kl.mean())


def test_latent_facing_layers_stay_full_precision_under_bf16_autocast():
    from vaelab.core.networks import LatentLinear

    vae = VAE(ModelConfig(input_shape=(16,), latent_dim=3, hidden=(8, 8)))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mu, log_var = vae.posterior(torch.rand(4, 16))
        first = vae.decoder[0](torch.randn(4, 3))
        hidden = vae.encoder[0](torch.rand(4, 16))
    assert mu.dtype == log_var.dtype == first.dtype == torch.float32
    assert hidden.dtype == torch.bfloat16  # the inner layers do run in bf16
    assert isinstance(vae.encoder[-1], LatentLinear) and isinstance(vae.decoder[0], LatentLinear)
    # same parameter names as plain Linear layers: older run directories still load
    assert "encoder.4.weight" in vae.state_dict() and "decoder.0.weight" in vae.state_dict()


def test_the_torch_free_config_names_match_what_the_modules_build():
    from vaelab.core import config, networks

    assert sorted(config.ACTIVATIONS) == sorted(networks.ACTIVATIONS)
    for name, (per_feature, own) in config.LIKELIHOOD_SIZES.items():
        lik = build_likelihood(name)
        assert (lik.n_params, sum(p.numel() for p in lik.parameters())) == (per_feature, own)
    assert set(config.LIKELIHOOD_SIZES) == set(LIKELIHOODS)


@pytest.mark.parametrize("d", [784, 64, 13, 1])
def test_fused_bernoulli_log_prob_equals_the_plain_one(d):
    gen = torch.Generator().manual_seed(d)
    logits = torch.randn(5, 3, d, generator=gen, dtype=torch.float64) * 8
    logits[0, 0, 0], logits[0, 1, 0] = 90.0, -90.0  # far tails: no overflow, no lost terms
    x = torch.rand(3, d, generator=gen, dtype=torch.float64)  # grey levels, broadcast over samples
    ref = Bernoulli().log_prob(logits, x)  # (5, 3), float64
    for dtype in (torch.float32, torch.bfloat16):
        fused = bernoulli_log_prob_fused(logits.to(dtype), x.float())
        plain = Bernoulli().log_prob(logits.to(dtype).double(), x)  # the same rounded logits
        assert fused.dtype == torch.float32 and fused.shape == ref.shape
        torch.testing.assert_close(fused.double(), plain, rtol=2e-6, atol=1e-4)


def test_bernoulli_log_prob_gradient_is_x_minus_sigmoid():
    gen = torch.Generator().manual_seed(0)
    logits = (torch.randn(4, 3, 10, generator=gen, dtype=torch.float64) * 3).requires_grad_()
    x = torch.rand(3, 10, generator=gen, dtype=torch.float64).requires_grad_()  # broadcast over 4
    assert torch.autograd.gradcheck(Bernoulli().log_prob, (logits, x))
    # the same values as the plain expression, with and without autograd
    plain = torch.linalg.vecdot(logits, x) - torch.nn.functional.softplus(logits).sum(-1)
    torch.testing.assert_close(Bernoulli().log_prob(logits, x), plain, rtol=0, atol=0)
    with torch.no_grad():
        torch.testing.assert_close(Bernoulli().log_prob(logits, x), plain, rtol=0, atol=0)
