"""The importance-weighted training objective (IWAE bound L_K, Burda et al. 2015).

Checked against the closed forms of the linear Gaussian model (probabilistic PCA),
where log p(x) and the ELBO are exact.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vaelab.core.config import ModelConfig
from vaelab.core.importance import iw_log_likelihood
from vaelab.core.models import VAE, Autoencoder, linear_vae_config
from vaelab.core.ppca import PPCA, set_linear_vae
from vaelab.data import Dataset
from vaelab.errors import ConfigError
from vaelab.training.config import TrainConfig
from vaelab.training.loop import fit


def _setup(rng, orthogonal: bool = False):
    w = rng.normal(size=(8, 3))
    if orthogonal:  # then the exact posterior is diagonal and q can equal it
        w = np.linalg.qr(w)[0] * [3.0, 2.0, 1.0]
    m = PPCA(w, rng.normal(size=8), 0.3)
    vae = VAE(linear_vae_config(8, 3)).double()
    q = {} if orthogonal else {"q_scale": 0.9, "q_shift": 0.1}
    set_linear_vae(vae, m, **q)
    x = rng.normal(size=(200, 8)) * 1.5 + m.mu
    return m, vae, x


def _bound(vae, x, k: int, reps: int) -> np.ndarray:
    """−loss of the K-sample objective, ``reps`` independent draws."""
    with torch.no_grad():
        return np.array([-float(vae(torch.from_numpy(x), n_samples=k).loss) for _ in range(reps)])


def test_exact_posterior_makes_the_bound_exact_for_every_k(rng):
    m, vae, x = _setup(rng, orthogonal=True)
    exact = m.log_likelihood(x).mean()
    for k in (2, 5, 50):
        np.testing.assert_allclose(_bound(vae, x, k, 3), exact, atol=1e-9)


def test_bound_rises_with_k_towards_the_exact_log_likelihood(rng):
    m, vae, x = _setup(rng)
    exact = m.log_likelihood(x).mean()
    with torch.no_grad():
        mu, log_var = vae.posterior(torch.from_numpy(x))
    elbo = m.elbo(x, mu.numpy(), np.exp(log_var.numpy())).mean()
    torch.manual_seed(0)
    k1 = _bound(vae, x, 1, 200)
    # K = 1 is the ELBO: the Monte-Carlo mean agrees with the closed form
    assert abs(k1.mean() - elbo) < 4 * k1.std(ddof=1) / np.sqrt(len(k1)) + 1e-3
    means = {k: _bound(vae, x, k, 40).mean() for k in (2, 10, 100, 1000)}
    assert elbo < means[2] < means[10] < means[100] < means[1000] <= exact + 0.01
    assert exact - means[1000] < 0.05 < exact - elbo


def test_training_objective_matches_the_evaluation_estimator(rng):
    # the same L_K, computed by the training forward and by iw_log_likelihood
    _, vae, x = _setup(rng)
    torch.manual_seed(1)
    train_side = _bound(vae, x, 10, 60)
    gen = torch.Generator().manual_seed(2)
    eval_side = [iw_log_likelihood(vae, torch.from_numpy(x), 10, generator=gen).mean for _ in range(60)]
    se = np.hypot(train_side.std(ddof=1), np.std(eval_side, ddof=1)) / np.sqrt(60)
    assert abs(train_side.mean() - np.mean(eval_side)) < 4 * se


def test_fit_with_importance_samples_improves_the_bound(rng):
    x = (rng.random((512, 16)) < np.linspace(0.1, 0.9, 16)).astype(np.float32)
    ds = Dataset(x, None, (16,), "binary")
    torch.manual_seed(0)
    vae = VAE(ModelConfig(input_shape=(16,), latent_dim=2, hidden=(16,)))
    before = iw_log_likelihood(vae, torch.from_numpy(x), 50, generator=torch.Generator().manual_seed(0)).mean
    hist = fit(
        vae,
        ds,
        TrainConfig(epochs=5, batch_size=64, lr=1e-2, importance_samples=5, precision="fp32", threads=1),
        progress=False,
    )
    after = iw_log_likelihood(vae, torch.from_numpy(x), 50, generator=torch.Generator().manual_seed(0)).mean
    assert np.isfinite(hist.train_loss).all() and after > before + 1.0


def test_importance_samples_is_validated():
    with pytest.raises(ConfigError, match="importance_samples=0"):
        TrainConfig(importance_samples=0)
    ae = Autoencoder(ModelConfig(kind="ae", input_shape=(4,), latent_dim=2, hidden=(4,)))
    ds = Dataset(np.zeros((8, 4), np.float32), None, (4,), "unit")
    with pytest.raises(ConfigError, match="needs a VAE"):
        fit(ae, ds, TrainConfig(epochs=1, importance_samples=3), progress=False)


@pytest.mark.parametrize("grad", [False, True])
def test_bernoulli_log_density_stays_fp32_under_bf16_autocast(grad):
    """The IWAE weights use log p(x|z) of about −100 nats: autocast once ran its sum in bf16,
    which rounds such values to steps of 0.5 and scrambles the weights. It must not."""
    from vaelab.core.likelihoods import Bernoulli

    gen = torch.Generator().manual_seed(0)
    logits = (torch.randn(5, 7, 784, generator=gen) * 3).requires_grad_(grad)
    x = torch.bernoulli(torch.full((7, 784), 0.3), generator=gen)
    plain = Bernoulli().log_prob(logits, x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        auto = Bernoulli().log_prob(logits, x)
    assert auto.dtype == torch.float32
    assert torch.equal(auto, plain)
    exact = (x * logits - torch.nn.functional.softplus(logits)).detach().double().sum(-1)
    assert float((plain.detach().double() - exact).abs().max()) < 1e-3
