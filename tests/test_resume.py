"""Resume: stopping after epoch 2 and resuming gives bit-identical weights to 4 straight epochs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vaelab.core.config import ModelConfig
from vaelab.core.models import build_model
from vaelab.data import Dataset
from vaelab.errors import ConfigError, RunDirError
from vaelab.training.checkpoint import CHECKPOINT, PREVIOUS, load_checkpoint
from vaelab.training.config import TrainConfig
from vaelab.training.loop import fit


class Stop(Exception):
    pass


def _data(n=300, d=12, seed=0):
    x = np.random.default_rng(seed).random((n, d), dtype=np.float32)
    return Dataset(x, None, (d,), "unit")


def _model(seed=1):
    torch.manual_seed(seed)
    return build_model(ModelConfig(input_shape=(12,), latent_dim=2, hidden=(16,)))


def _stop_at(epoch):
    def cb(e, record):
        if e == epoch:
            raise Stop

    return cb


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"binarize": "dynamic", "lr_schedule": "cosine", "kl_warmup_epochs": 3},
        {"patience": 10},
    ],
)
def test_resume_is_bit_identical(tmp_path, extra):
    train, valid = _data(), _data(60, seed=5)
    cfg = TrainConfig(epochs=4, batch_size=32, device="cpu", seed=3, precision="fp32", **extra)
    straight = _model()
    h1 = fit(straight, train, cfg, valid=valid, progress=False)

    interrupted = _model()
    with pytest.raises(Stop):  # dies after epoch 3's metrics, before its checkpoint
        fit(
            interrupted,
            train,
            cfg,
            valid=valid,
            progress=False,
            checkpoint_dir=tmp_path,
            on_epoch=_stop_at(3),
        )
    assert load_checkpoint(tmp_path)["meta"]["state"]["epoch"] == 2
    resumed = _model(seed=99)  # different init: everything must come from the checkpoint
    h2 = fit(resumed, train, cfg, valid=valid, progress=False, checkpoint_dir=tmp_path, resume=True)
    a, b = straight.state_dict(), resumed.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert h2.epoch == [1, 2, 3, 4]
    assert h2.train_loss == h1.train_loss
    assert h2.valid_loss == h1.valid_loss


def test_checkpoint_every_n_epochs_keeps_previous(tmp_path):
    cfg = TrainConfig(epochs=4, batch_size=64, device="cpu", checkpoint_every=2)
    fit(_model(), _data(), cfg, progress=False, checkpoint_dir=tmp_path)
    assert load_checkpoint(tmp_path)["meta"]["state"]["epoch"] == 4
    (tmp_path / CHECKPOINT).write_bytes(b"garbage")  # a corrupted newest falls back
    assert load_checkpoint(tmp_path)["meta"]["state"]["epoch"] == 2
    (tmp_path / PREVIOUS).unlink()
    with pytest.raises(RunDirError, match="no usable checkpoint"):
        load_checkpoint(tmp_path)


def test_checkpoint_by_minutes(tmp_path):
    cfg = TrainConfig(epochs=2, batch_size=64, device="cpu", checkpoint_every=0, checkpoint_minutes=1e-9)
    fit(_model(), _data(), cfg, progress=False, checkpoint_dir=tmp_path)
    assert load_checkpoint(tmp_path)["meta"]["state"]["epoch"] == 2


def test_resume_needs_a_checkpoint(tmp_path):
    cfg = TrainConfig(epochs=1, device="cpu")
    with pytest.raises(RunDirError, match="no usable checkpoint"):
        fit(_model(), _data(), cfg, progress=False, checkpoint_dir=tmp_path, resume=True)
    with pytest.raises(ConfigError, match="checkpoint_dir"):
        fit(_model(), _data(), cfg, progress=False, resume=True)


def test_model_file_holds_the_latest_epoch_while_a_run_trains(tmp_path, monkeypatch):
    from vaelab.runs import run as runs

    real = runs.append_metrics

    def interrupt_in_epoch_2(run_dir, record):
        real(run_dir, record)
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(runs, "append_metrics", interrupt_in_epoch_2)
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        runs.train_run(
            runs.DataSpec(),
            ModelConfig(latent_dim=2, hidden=(8,)),
            TrainConfig(epochs=5, threads=1, precision="fp32"),
            run,
            progress=False,
        )
    model, _ = runs.load_run(run)
    saved = load_checkpoint(run)["tensors"]  # written at the end of epoch 1
    assert saved and all(torch.equal(t, saved[f"model.{name}"]) for name, t in model.state_dict().items())


def test_resuming_a_run_that_early_stopping_ended_trains_nothing_more(tmp_path):
    """Killed after early stopping's last checkpoint, before the run wrote its summary."""
    train, valid = _data(), _data(60, seed=5)
    cfg = TrainConfig(epochs=200, batch_size=32, device="cpu", seed=3, precision="fp32", lr=0.05, patience=2)
    straight = _model()
    h1 = fit(straight, train, cfg, valid=valid, progress=False, checkpoint_dir=tmp_path)
    assert len(h1.epoch) < 200  # early stopping ended it
    resumed = _model(seed=99)
    h2 = fit(resumed, train, cfg, valid=valid, progress=False, checkpoint_dir=tmp_path, resume=True)
    assert h2.epoch == h1.epoch
    assert all(
        torch.equal(a, b)
        for a, b in zip(straight.state_dict().values(), resumed.state_dict().values(), strict=True)
    )
