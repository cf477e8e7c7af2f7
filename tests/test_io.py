"""Run directories: save → load identity, atomic writes, clear errors, no pickle."""

from __future__ import annotations

import pytest
import torch

from vaelab.errors import RunDirError
from vaelab.io import CONFIG, WEIGHTS, atomic_write_bytes, load_model, read_metrics, save_model
from vaelab.models import ModelConfig, build_model


@pytest.mark.parametrize("kind,network,likelihood", [
    ("vae", "mlp", "bernoulli"), ("ae", "conv", "gaussian"),
    ("vae", "linear", "gaussian-learned"), ("vae", "mlp", "gaussian-heteroscedastic"),
])
def test_save_then_load_gives_identical_outputs(tmp_path, kind, network, likelihood):
    shape = (1, 8, 8) if network != "linear" else (64,)
    model = build_model(ModelConfig(kind=kind, input_shape=shape, latent_dim=3, network=network,
                                    hidden=(16,), likelihood=likelihood, channels=4)).eval()
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


def test_torn_metrics_line_is_ignored(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"epoch": 1}\n{"epoch": 2')
    assert read_metrics(tmp_path) == [{"epoch": 1}]
