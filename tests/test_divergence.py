"""Divergence: NaN/inf stops training with a precise error, or rolls back at a lower lr."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vaelab.core.config import ModelConfig
from vaelab.core.models import build_model
from vaelab.data import Dataset
from vaelab.errors import TrainingDivergedError
from vaelab.training.checkpoint import load_checkpoint
from vaelab.training.config import TrainConfig
from vaelab.training.loop import fit


def _huge_data(n=256, d=8):
    x = np.random.default_rng(0).standard_normal((n, d)).astype(np.float32) * 1e19
    return Dataset(x, None, (d,), "real")


def _gaussian():
    torch.manual_seed(0)
    return build_model(
        ModelConfig(input_shape=(8,), latent_dim=2, hidden=(8,), likelihood="gaussian", sigma=1e-3)
    )


def test_huge_values_stop_at_the_first_step_naming_the_cause():
    cfg = TrainConfig(epochs=3, batch_size=64, device="cpu", check_every=1)
    with pytest.raises(TrainingDivergedError, match=r"epoch 1, step 1 of 4.*huge values") as err:
        fit(_gaussian(), _huge_data(), cfg, progress=False)
    assert "rollback" in str(err.value)


class _Poison:
    """Blows the weights up once, just before the ``at``-th forward pass (as a far too high
    learning rate would), so that epoch 3 of 4-step epochs diverges at its first step."""

    def __init__(self, model, at=9):
        self.model, self.at, self.calls = model, at, 0
        model.register_forward_pre_hook(self)

    def __call__(self, module, args):
        self.calls += 1
        if self.calls == self.at:
            with torch.no_grad():
                for p in self.model.parameters():
                    p.mul_(1e30)


def _unit(n=256, d=8):
    return Dataset(np.random.default_rng(1).random((n, d), dtype=np.float32), None, (d,), "unit")


def _bernoulli():
    torch.manual_seed(0)
    return build_model(ModelConfig(input_shape=(8,), latent_dim=2, hidden=(8,)))


def test_huge_learning_rate_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    cfg = TrainConfig(epochs=20, batch_size=16, lr=1e6, device="cpu")
    with pytest.raises(TrainingDivergedError, match=r"in epoch \d+, step \d+ of 16") as err:
        fit(_bernoulli(), _unit(), cfg, progress=False, checkpoint_dir=tmp_path)
    msg = str(err.value)
    assert "lr=1e+06" in msg
    snap = load_checkpoint(tmp_path) if (tmp_path / "checkpoint.safetensors").exists() else None
    if snap is not None:  # every kept checkpoint holds finite weights
        assert "last good checkpoint" in msg
        for k, v in snap["tensors"].items():
            if k.startswith("model."):
                assert torch.isfinite(v).all(), k


def test_poisoned_weights_stop_in_the_next_epoch_with_checkpoint_kept(tmp_path):
    model = _bernoulli()
    # the poison is a forward hook: autograd's step calls the model's forward, the fused one does not
    cfg = TrainConfig(epochs=5, batch_size=64, device="cpu", step="autograd")
    with pytest.raises(TrainingDivergedError, match=r"epoch 3, step 1 of 4") as err:
        _Poison(model)
        fit(model, _unit(), cfg, progress=False, checkpoint_dir=tmp_path)
    assert "last good checkpoint (end of epoch 2)" in str(err.value)
    assert load_checkpoint(tmp_path)["meta"]["state"]["epoch"] == 2


def test_rollback_continues_at_a_tenth_of_the_learning_rate(tmp_path):
    model = _bernoulli()
    cfg = TrainConfig(epochs=4, batch_size=64, device="cpu", on_divergence="rollback", step="autograd")
    _Poison(model)
    with pytest.warns(RuntimeWarning, match=r"step 1; rolled back to the end of epoch 2.*lr=0\.0001"):
        hist = fit(model, _unit(), cfg, progress=False, checkpoint_dir=tmp_path)
    assert hist.epoch == [1, 2, 3, 4]
    assert all(np.isfinite(hist.train_loss))
    assert load_checkpoint(tmp_path)["meta"]["state"]["lr_scale"] == pytest.approx(0.1)


def test_rollback_gives_up_after_max_rollbacks():
    cfg = TrainConfig(
        epochs=2, batch_size=64, device="cpu", on_divergence="rollback", max_rollbacks=2, check_every=1
    )
    with pytest.warns(RuntimeWarning), pytest.raises(TrainingDivergedError, match="epoch 1"):
        fit(_gaussian(), _huge_data(), cfg, progress=False)
