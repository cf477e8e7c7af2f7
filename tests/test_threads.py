"""vaelab's one thread policy (vaelab.training.threads), as fit, the estimators and explain use it."""

from __future__ import annotations

import numpy as np
import torch

from vaelab.core.config import ModelConfig
from vaelab.core.models import VAE
from vaelab.data import Dataset
from vaelab.estimators import VAE as VAEEstimator
from vaelab.training import threads
from vaelab.training.config import TrainConfig
from vaelab.training.loop import fit


def test_small_steps_get_one_thread_large_steps_the_load_rule(monkeypatch):
    monkeypatch.setattr(threads, "default_num_threads", lambda: 7)
    tiny = VAE(ModelConfig(input_shape=(64,), latent_dim=2, hidden=(16,)))
    big = VAE(ModelConfig(input_shape=(784,), latent_dim=20, hidden=(400,)))
    assert threads.threads_for_step(tiny, 128) == 1
    assert threads.threads_for_step(big, 128) == 7  # 6·128·650k FLOP ≫ 1e8
    assert threads.threads_for_step(big, 1) == 1


def test_torch_threads_never_raises_the_callers_setting_and_restores_it():
    before = torch.get_num_threads()
    with threads.torch_threads(before + 5) as n:
        assert n == before == torch.get_num_threads()
    with threads.torch_threads(None) as n:
        assert n == before
    assert torch.get_num_threads() == before


def test_fit_and_estimators_train_small_networks_on_one_thread():
    seen = []
    x = np.random.default_rng(0).random((128, 8), dtype=np.float32)
    vae = VAE(ModelConfig(input_shape=(8,), latent_dim=2, hidden=(4,)))
    before = torch.get_num_threads()
    fit(
        vae,
        Dataset(x, None, (8,), "unit"),
        TrainConfig(epochs=2, batch_size=32),
        on_epoch=lambda epoch, record: seen.append(torch.get_num_threads()),
        progress=False,
    )
    assert seen == [1, 1] and torch.get_num_threads() == before
    VAEEstimator(n_components=2, hidden_layer_sizes=(4,), max_epochs=1).fit(x)
    assert torch.get_num_threads() == before
