"""Run directories: save → load identity, atomic writes, clear errors, no pickle."""

from __future__ import annotations

import json

import pytest
import torch

from vaelab._atomic import atomic_write_bytes
from vaelab.core.config import ModelConfig
from vaelab.core.models import build_model
from vaelab.errors import RunDirError
from vaelab.runs.files import CONFIG, WEIGHTS, load_model, read_metrics, save_model


@pytest.mark.parametrize(
    "kind,network,likelihood",
    [
        ("vae", "mlp", "bernoulli"),
        ("ae", "conv", "gaussian"),
        ("vae", "linear", "gaussian-learned"),
        ("vae", "mlp", "gaussian-heteroscedastic"),
    ],
)
def test_save_then_load_gives_identical_outputs(tmp_path, kind, network, likelihood):
    shape = (1, 8, 8) if network != "linear" else (64,)
    model = build_model(
        ModelConfig(
            kind=kind,
            input_shape=shape,
            latent_dim=3,
            network=network,
            hidden=(16,),
            likelihood=likelihood,
            channels=4,
        )
    ).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))  # not the init: the saved weights must matter
    save_model(tmp_path, model)
    loaded = load_model(tmp_path)
    x = torch.rand(4, 64)
    z = torch.randn(4, 3)
    assert torch.equal(loaded.code(x), model.code(x))
    assert torch.equal(loaded.decode(z), model.decode(z))
    assert loaded.config == model.config


def test_run_directory_holds_no_pickle(tmp_path):
    save_model(tmp_path, build_model(ModelConfig(input_shape=(8,), hidden=(4,))))
    for path in tmp_path.iterdir():
        head = path.read_bytes()[:2]
        assert head != b"\x80\x04" and head != b"\x80\x02", f"{path.name} looks like a pickle"
        assert not path.name.endswith((".pt", ".pth", ".pkl"))


def test_missing_and_corrupted_files_are_clear_errors(tmp_path):
    save_model(tmp_path, build_model(ModelConfig(input_shape=(8,), hidden=(4,))))
    (tmp_path / WEIGHTS).write_bytes(b"\x00garbage")
    with pytest.raises(RunDirError, match="not a valid safetensors"):
        load_model(tmp_path)
    (tmp_path / WEIGHTS).unlink()
    with pytest.raises(RunDirError, match="missing"):
        load_model(tmp_path)
    (tmp_path / CONFIG).write_text("{not json")
    with pytest.raises(RunDirError, match="not valid JSON"):
        load_model(tmp_path)
    with pytest.raises(RunDirError, match="does not exist"):
        load_model(tmp_path / "nope")


def test_weights_that_do_not_match_the_config_are_refused(tmp_path):
    save_model(tmp_path, build_model(ModelConfig(input_shape=(8,), hidden=(4,))))
    other = tmp_path / "other"
    save_model(other, build_model(ModelConfig(input_shape=(8,), hidden=(5,))))
    (tmp_path / WEIGHTS).write_bytes((other / WEIGHTS).read_bytes())
    with pytest.raises(RunDirError, match="does not match config.json"):
        load_model(tmp_path)


def test_atomic_write_leaves_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "f.bin"
    atomic_write_bytes(target, b"old")

    with pytest.raises(TypeError):
        atomic_write_bytes(target, object())  # type: ignore[arg-type]
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


RECORD = {"train_loss": 3.0, "train_reconstruction": 2.5, "train_kl": 0.5, "seconds": 0.1}


def test_torn_metrics_line_is_ignored(tmp_path):
    first = json.dumps({"epoch": 1, **RECORD})
    (tmp_path / "metrics.jsonl").write_text(first + '\n{"epoch": 2')
    assert read_metrics(tmp_path) == [{"epoch": 1, **RECORD}]


def test_metrics_events_are_kept_and_checked(tmp_path):
    event = {"event": "resume", "after_epoch": 1, "changed": {"lr": {"from": 0.1, "to": 0.01}}}
    lines = [{"epoch": 1, **RECORD}, event, {"epoch": 2, **RECORD}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    assert read_metrics(tmp_path) == lines
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"event": 3}) + "\n")
    with pytest.raises(RunDirError, match="line 1: event=3 must be a name"):
        read_metrics(tmp_path)


def test_config_is_checked_in_full(tmp_path):
    from vaelab.runs.files import read_config

    save_model(tmp_path, build_model(ModelConfig(input_shape=(8,), hidden=(4,))))
    config = json.loads((tmp_path / CONFIG).read_text())
    assert read_config(tmp_path) == config  # a complete config comes back unchanged
    del config["model"]["beta"]
    (tmp_path / CONFIG).write_text(json.dumps(config))
    assert read_config(tmp_path)["model"]["beta"] == 1.0  # completed with the default
    for bad, message in [
        ({**config, "extra": {}}, r"unknown top-level keys \['extra'\]"),
        ({**config, "format": 2}, "format=2"),
        ({**config, "model": {**config["model"], "kind": "gan"}}, "invalid model section"),
        ({**config, "train": {"lr": -1.0}}, "invalid train section .*lr=-1.0"),
        ({**config, "data": {"seed": "0"}}, "invalid data section .*data.seed"),
    ]:
        (tmp_path / CONFIG).write_text(json.dumps(bad))
        with pytest.raises(RunDirError, match=message):
            read_config(tmp_path)


def test_saving_a_non_finite_config_is_refused(tmp_path):
    from vaelab.errors import ConfigError

    model = build_model(ModelConfig(input_shape=(8,), hidden=(4,)))
    with pytest.raises(ConfigError, match=r"train.lr=nan is not a finite number"):
        save_model(tmp_path, model, train={"lr": float("nan")})
    assert not (tmp_path / CONFIG).exists()


def test_estimator_runs_keep_loading_and_their_section_is_checked(tmp_path):
    import numpy as np

    import vaelab

    x = np.random.default_rng(0).random((40, 5))
    est = vaelab.VAE(n_components=2, max_epochs=1, random_state=0).fit(x)
    est.save(tmp_path)
    assert np.array_equal(vaelab.load(tmp_path).transform(x), est.transform(x))
    config = json.loads((tmp_path / CONFIG).read_text())
    config["estimator"]["fitted"]["n_features_in_"] = 7
    (tmp_path / CONFIG).write_text(json.dumps(config))
    with pytest.raises(RunDirError, match="n_features_in_=7 must be the model's 5"):
        vaelab.load(tmp_path)
