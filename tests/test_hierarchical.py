"""The two-stochastic-layer VAE (``latent_dim2 > 0``) against closed forms.

With linear networks, a Gaussian likelihood of fixed σ and p(z|z2) of fixed
variance, the generative model is linear-Gaussian: z2 ~ N(0, I), z = A z2 + a + D^½ ε,
x = W z + b + σ ε', so p(x) = N(W a + b, W (A Aᵀ + D) Wᵀ + σ² I) exactly. The
importance-sampled estimate must approach that log p(x) from below as K grows,
whatever the encoder (a brute-force average of p(x|z) over 2·10⁶ prior draws agreed
with the closed form to 0.0003 nats when this test was written).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from vaelab.cli import main
from vaelab.core.config import ModelConfig, n_parameters
from vaelab.core.importance import iw_log_likelihood
from vaelab.core.models import HierarchicalVAE, build_model
from vaelab.errors import ConfigError
from vaelab.runs.files import load_model
from vaelab.training.config import TrainConfig
from vaelab.training.fused import fused_step

D, Z, Z2 = 5, 3, 2


def _linear_gaussian(seed: int = 0) -> tuple[HierarchicalVAE, torch.distributions.MultivariateNormal]:
    cfg = ModelConfig(
        input_shape=(D,), latent_dim=Z, hidden=(), latent_dim2=Z2, likelihood="gaussian", sigma=0.6
    )
    model = build_model(cfg, seed=seed)
    assert isinstance(model, HierarchicalVAE)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        # p(z|z2): mean A z2 + a, log-variance independent of z2 (zero weights, fixed bias)
        lin = model.decoder2[0]
        lin.weight[Z:] = 0.0
        lin.bias[Z:] = torch.log(torch.tensor([0.5, 0.8, 1.3]))
        a, a0 = lin.weight[:Z].clone(), lin.bias[:Z].clone()
        var = torch.exp(lin.bias[Z:]).clone()
        w, b = model.decoder[0].weight.clone(), model.decoder[0].bias.clone()
        enc = model.encoder[0]  # some encoder, not the true posterior, but wider than it (log σ² = 1)
        enc.weight.copy_(0.3 * torch.randn(enc.weight.shape, generator=gen))
        enc.weight[Z:] = 0.0
        enc.bias[Z:] = 1.0
        enc2 = model.encoder2[0]  # q(z2|z): wide as well, so the importance weights stay bounded
        enc2.weight[Z2:] = 0.0
        enc2.bias[Z2:] = 0.5
    cov_z = a @ a.T + torch.diag(var)
    cov_x = w @ cov_z @ w.T + 0.36 * torch.eye(D)
    exact = torch.distributions.MultivariateNormal(w @ a0 + b, covariance_matrix=cov_x)
    return model, exact


def test_log_likelihood_approaches_the_closed_form_from_below():
    model, exact = _linear_gaussian()
    x = exact.sample(torch.Size([10]))
    truth = exact.log_prob(x).double().numpy()  # (10,)
    gaps = []
    for k in (1, 30, 3000, 1_000_000):
        est = iw_log_likelihood(model, x, k, generator=torch.Generator().manual_seed(k))
        gaps.append(float((truth - est.log_likelihood).mean()))
    assert gaps[0] > gaps[1] > abs(gaps[2]), gaps  # L_K rises towards log p(x) with K
    assert gaps[0] > 0.2  # the encoder is far from the posterior: a real gap at K = 1
    assert abs(gaps[3]) < 0.01, gaps


def test_training_forward_is_the_importance_weighted_bound():
    """−loss of forward(n_samples=K) and the evaluator's L_K estimate the same E[L_K]."""
    model, exact = _linear_gaussian(seed=2)
    x = exact.sample(torch.Size([30]))
    torch.manual_seed(0)
    with torch.no_grad():
        train = np.mean([-float(model(x, n_samples=8).loss) for _ in range(400)])
    ev = np.mean(
        [iw_log_likelihood(model, x, 8, generator=torch.Generator().manual_seed(s)).mean for s in range(400)]
    )
    assert abs(train - ev) < 0.03, (train, ev)


def test_config_counts_and_refusals():
    cfg = ModelConfig(input_shape=(64,), latent_dim=6, hidden=(32, 16), latent_dim2=3, hidden2=(12, 8))
    model = build_model(cfg, seed=0)
    assert n_parameters(cfg) == sum(p.numel() for p in model.parameters())
    assert model.sample(7).shape == (7, 64)
    assert fused_step(model, TrainConfig(), None) is None  # the fused step covers one layer
    with pytest.raises(ConfigError, match="latent_dim2=3 needs kind='vae'"):
        ModelConfig(kind="ae", input_shape=(64,), latent_dim=6, latent_dim2=3)
    with pytest.raises(ConfigError, match="hidden2=.* give latent_dim2 too"):
        ModelConfig(input_shape=(64,), latent_dim=6, hidden2=(4,))


def test_cli_trains_evaluates_and_reloads_a_two_layer_run(tmp_path):
    out = tmp_path / "hvae"
    args = ["train", "--data", "digits", "--latent-dim", "6", "--hidden", "48", "--latent-dim2", "3"]
    args += ["--hidden2", "16", "--epochs", "4", "--importance-samples", "3", "--out", str(out), "--quiet"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    losses = [r["train_loss"] for r in records if "train_loss" in r]
    assert losses[-1] < losses[0]
    model = load_model(out)
    assert isinstance(model, HierarchicalVAE)
    ev = CliRunner().invoke(main, ["evaluate", str(out), "--iw-samples", "50"])
    assert ev.exit_code == 0, ev.output
    fused = CliRunner().invoke(main, [*args[:-3], "--step", "fused", "--out", str(tmp_path / "x"), "--quiet"])
    assert fused.exit_code == 2 and "latent_dim2=3" in fused.output
    assert not (tmp_path / "x").exists()
