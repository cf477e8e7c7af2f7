"""The fit loop on real data: learning, reproducibility, early stopping, warm-up."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vaelab.core.config import ModelConfig
from vaelab.core.inference import as_flat_tensor, elbo_terms
from vaelab.core.models import build_model
from vaelab.data import Dataset
from vaelab.errors import ConfigError
from vaelab.training.config import TrainConfig
from vaelab.training.loop import _warmup_beta, fit


def _vae(ds: Dataset, **kw) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(ModelConfig(input_shape=ds.sample_shape, latent_dim=8, hidden=(128,), **kw))


def test_vae_on_digits_lowers_validation_loss_by_a_wide_margin(digits):
    vae = _vae(digits.train)
    x_test = as_flat_tensor(digits.test, torch.device("cpu"))
    before = elbo_terms(vae, x_test)["loss"]
    hist = fit(vae, digits.train, TrainConfig(epochs=15, batch_size=64), valid=digits.test, progress=False)
    after = hist.valid_loss[-1]
    assert before > 40  # 64 Bernoulli pixels at p ≈ 1/2 cost ≈ 64·log 2 ≈ 44 nats
    assert after < 0.7 * before, (before, after)
    assert hist.valid_loss[-1] < hist.valid_loss[0]
    assert sum(hist.seconds) < 30


def test_same_seed_same_numbers_different_seed_different_numbers(digits):
    def run(seed):
        vae = _vae(digits.train)
        hist = fit(vae, digits.train, TrainConfig(epochs=2, seed=seed), progress=False)
        return hist.train_loss, [p.detach().clone() for p in vae.parameters()]

    a_loss, a_params = run(1)
    b_loss, b_params = run(1)
    c_loss, _ = run(2)
    assert a_loss == b_loss
    assert all(torch.equal(p, q) for p, q in zip(a_params, b_params, strict=True))
    assert a_loss != c_loss


def test_early_stopping_stops_and_restores_the_best_weights(digits):
    small = digits.train.subset(np.arange(200))
    vae = _vae(small)
    hist = fit(
        vae,
        small,
        TrainConfig(epochs=200, batch_size=32, lr=3e-3, patience=3),
        valid=digits.test,
        progress=False,
    )
    assert len(hist.epoch) < 200  # 200 samples overfit long before 200 epochs
    best = int(np.argmin(hist.valid_loss))
    assert hist.best_epoch == hist.epoch[best]
    x_test = as_flat_tensor(digits.test, torch.device("cpu"))
    torch.manual_seed(0)
    restored = elbo_terms(vae, x_test)["loss"]
    assert abs(restored - hist.valid_loss[best]) < 1.0  # one-sample ELBO noise only


def test_autoencoder_trains_on_reconstruction_alone(digits):
    torch.manual_seed(0)
    ae = build_model(
        ModelConfig(kind="ae", input_shape=digits.train.sample_shape, latent_dim=8, hidden=(128,))
    )
    hist = fit(ae, digits.train, TrainConfig(epochs=10), valid=digits.test, progress=False)
    assert hist.valid_loss[-1] < 0.7 * hist.valid_loss[0]
    assert all(k == 0 for k in hist.train_kl)


def test_kl_warmup_ramps_beta_linearly_to_its_target():
    ramp = _warmup_beta(2.0, epoch=1, n_steps=4, warmup_epochs=2)
    assert ramp == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert _warmup_beta(2.0, epoch=2, n_steps=4, warmup_epochs=2)[-1] == pytest.approx(2.0)
    assert _warmup_beta(2.0, epoch=3, n_steps=4, warmup_epochs=2) == 2.0


def test_dynamic_binarization_trains_on_fresh_binary_draws(digits):
    vae = _vae(digits.train)
    hist = fit(vae, digits.train, TrainConfig(epochs=3, binarize="dynamic"), progress=False)
    assert np.isfinite(hist.train_loss).all()
    # Grey levels under a Bernoulli likelihood cost more than binary draws reconstructed well:
    assert hist.train_loss[-1] < hist.train_loss[0]


def test_data_that_does_not_match_the_model_is_refused(digits):
    vae = build_model(ModelConfig(input_shape=(10,), latent_dim=2, hidden=(4,)))
    with pytest.raises(ConfigError, match="64 features per sample but the model expects 10"):
        fit(vae, digits.train, TrainConfig(epochs=1), progress=False)


@pytest.mark.parametrize(
    "field,value",
    [("epochs", 0), ("lr", -1.0), ("precision", "fp8"), ("binarize", "sometimes"), ("lr_schedule", "step")],
)
def test_train_config_rejects_bad_values_by_name(field, value):
    with pytest.raises(ConfigError, match=field):
        TrainConfig(**{field: value})


def test_fit_restores_threads_and_the_callers_random_state_even_when_it_diverges():
    from vaelab.errors import TrainingDivergedError

    x = np.random.default_rng(0).random((64, 4), dtype=np.float32) * 1e30
    net = build_model(ModelConfig(input_shape=(4,), latent_dim=1, hidden=(4,), likelihood="gaussian"))
    torch.set_num_threads(2)
    torch.manual_seed(5)
    before = torch.get_rng_state()
    with pytest.raises(TrainingDivergedError):
        fit(net, Dataset(x, None, (4,), "real"), TrainConfig(epochs=1, threads=1), progress=False)
    assert torch.get_num_threads() == 2
    assert torch.equal(torch.get_rng_state(), before)
