"""Damaged run directories are refused clearly (one `error:` line, exit 2) and checked fully.

A real run is trained once with the CLI; each test damages a copy of it the way a
crash, a disk fault or a hostile edit would, and runs the real command on it.
"""

from __future__ import annotations

import json
import shutil
import time

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import save as st_save

import vaelab
from vaelab import _tensorfile
from vaelab.cli import main
from vaelab.errors import RunDirError
from vaelab.runs.files import CONFIG, METRICS, SUMMARY, WEIGHTS, load_model, read_metrics, save_tensors
from vaelab.training.checkpoint import CHECKPOINT, PREVIOUS, load_checkpoint


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 2-epoch digits run: config, weights, metrics, summary, checkpoint and previous one.

    On the CPU, so that its generator states are CPU ones on any machine.
    """
    run = tmp_path_factory.mktemp("damaged") / "run"
    result = CliRunner().invoke(
        main,
        [
            "train",
            "--data",
            "digits",
            "--epochs",
            "2",
            "--hidden",
            "16",
            "--latent-dim",
            "2",
            "--device",
            "cpu",
            "--out",
            str(run),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (run / CHECKPOINT).is_file() and (run / PREVIOUS).is_file()
    return run


@pytest.fixture
def run(trained, tmp_path):
    """A fresh copy of the trained run, to damage."""
    return shutil.copytree(trained, tmp_path / "run")


def cli(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def refused(*args, needles=()) -> str:
    """Run the command; it must fail with exit 2 and one `error:` line holding ``needles``."""
    result = cli(*args)
    assert "Traceback" not in result.output, result.output
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


# --- checkpoints ----------------------------------------------------------------------------


def _rewrite_checkpoint(path, change):
    """Rewrite a checkpoint with ``change(meta, tensors)`` applied and a valid checksum.

    The checksum is right, so only the schema checks can catch the damage (as with a
    hand-edited or maliciously crafted file).
    """
    snap = load_checkpoint(path.parent)
    assert snap["path"] == str(path)
    meta, tensors = snap["meta"], dict(snap["tensors"])
    change(meta, tensors)
    path.write_bytes(_tensorfile.encode(tensors, {"vaelab": json.dumps(meta)}))


def _first(tensors, prefix="model."):
    """The name of the first tensor under ``prefix`` (names follow the networks' modules)."""
    return sorted(k for k in tensors if k.startswith(prefix))[0]


def _poison(tensors):
    tensors[_first(tensors)].view(-1)[0] = float("nan")


CHECKPOINT_DAMAGE = {
    "missing epoch": (lambda m, t: m["state"].pop("epoch"), "lacks state.epoch"),
    "negative epoch": (lambda m, t: m["state"].update(epoch=-5), "state.epoch=-5"),
    "epoch as a string": (lambda m, t: m["state"].update(epoch="2"), "state.epoch='2'"),
    "bool epoch": (lambda m, t: m["state"].update(epoch=True), "state.epoch=True"),
    "best_loss string": (lambda m, t: m["state"].update(best_loss="low"), "state.best_loss"),
    "zero lr_scale": (lambda m, t: m["state"].update(lr_scale=0), "state.lr_scale=0"),
    "negative rollbacks": (lambda m, t: m["state"].update(rollbacks=-1), "state.rollbacks=-1"),
    "unknown state key": (lambda m, t: m["state"].update(extra=1), "state.extra"),
    "history not a dict": (lambda m, t: m["state"].update(history=[1]), "state.history"),
    "history lacks a curve": (lambda m, t: m["state"]["history"].pop("train_kl"), "state.history.train_kl"),
    "history too short": (
        lambda m, t: m["state"]["history"]["train_loss"].pop(),
        "state.history.train_loss has 1 values",
    ),
    "epoch beyond history": (lambda m, t: m["state"].update(epoch=5), "state.history.epoch"),
    "no param_groups": (lambda m, t: m.pop("param_groups"), "lacks param_groups"),
    "param_groups a dict": (lambda m, t: m.update(param_groups={}), "param_groups"),
    "lr a string": (lambda m, t: m["param_groups"][0].update(lr="fast"), "param_groups[0].lr='fast'"),
    "betas of three": (
        lambda m, t: m["param_groups"][0].update(betas=[0.9, 0.9, 0.9]),
        "param_groups[0].betas",
    ),
    "too few params": (lambda m, t: m["param_groups"][0].update(params=[0, 1]), "param_groups"),
    "format 2": (lambda m, t: m.update(format=2), "unknown checkpoint format 2"),
    "has_best without best": (lambda m, t: m.update(has_best=True), "lacks best."),
    "unknown device": (lambda m, t: m.update(generator_device="gpu"), "generator_device='gpu'"),
    "short generator state": (
        lambda m, t: t.update({"rng.generator": torch.zeros(10, dtype=torch.uint8)}),
        "rng.generator holds 10 bytes",
    ),
    "float torch state": (
        lambda m, t: t.update({"rng.torch_cpu": t["rng.torch_cpu"].float()}),
        "rng.torch_cpu must be a 1-D uint8",
    ),
    "no generator state": (lambda m, t: t.pop("rng.generator"), "'rng.generator'"),
    "garbage generator state": (
        lambda m, t: t.update({"rng.generator": torch.full_like(t["rng.generator"], 255)}),
        "random-number generator state rng.generator is damaged",
    ),
    "optimizer moment of wrong shape": (
        lambda m, t: t.update({"optim.0.exp_avg": torch.zeros(3, 3)}),
        "optim.0.exp_avg",
    ),
    "optimizer moment missing": (lambda m, t: t.pop("optim.3.exp_avg_sq"), "optimizer state of parameter 3"),
    "optimizer state for a parameter that does not exist": (
        lambda m, t: t.update({"optim.99.step": torch.tensor(1.0)}),
        "optimizer state",
    ),
    "negative step": (
        lambda m, t: t.update({"optim.0.step": torch.tensor(-5.0)}),
        "optim.0.step holds a negative or NaN step",
    ),
    "negative second moment": (
        lambda m, t: t.update({"optim.1.exp_avg_sq": -torch.ones_like(t["optim.1.exp_avg_sq"])}),
        "optim.1.exp_avg_sq holds negative",
    ),
    "NaN weight": (lambda m, t: _poison(t), "model.decoder.0.bias holds NaN"),
    "weights of another model": (
        lambda m, t: t.update({_first(t): torch.zeros(17)}),
        "model.decoder.0.bias is torch.float32 of shape [17]",
    ),
    "unexpected tensor": (lambda m, t: t.update({"extra": torch.zeros(1)}), "'extra'"),
}


@pytest.mark.parametrize("damage", sorted(CHECKPOINT_DAMAGE))
def test_damaged_checkpoint_metadata_and_tensors_are_refused_by_name(run, damage):
    change, needle = CHECKPOINT_DAMAGE[damage]
    (run / PREVIOUS).unlink()  # no fallback: the damaged file is the only checkpoint
    _rewrite_checkpoint(run / CHECKPOINT, change)
    line = refused("train", "--resume", run, "--quiet", needles=(CHECKPOINT, needle))
    assert "no usable checkpoint" in line
    from vaelab.core.config import ModelConfig
    from vaelab.runs.files import read_config
    from vaelab.runs.run import load_run_checkpoint

    with pytest.raises(RunDirError, match="no usable checkpoint"):  # the run directory's API
        load_run_checkpoint(run, ModelConfig.from_dict(read_config(run)["model"]))


def test_checkpoint_that_does_not_fit_this_run_is_refused_when_restored(run):
    """A checkpoint whose Adam settings differ from the run's (a hand edit, not damage)."""
    (run / PREVIOUS).unlink()
    _rewrite_checkpoint(run / CHECKPOINT, lambda m, t: m["param_groups"][0].update(eps=0.5))
    refused(
        "train",
        "--resume",
        run,
        "--quiet",
        needles=(CHECKPOINT, "param_groups[0].eps=0.5 differs from this run's 1e-08"),
    )


def test_negative_epoch_trains_nothing(run):
    (run / PREVIOUS).unlink()
    _rewrite_checkpoint(run / CHECKPOINT, lambda m, t: m["state"].update(epoch=-5))
    before = (run / METRICS).read_bytes()
    refused("train", "--resume", run, "--quiet", needles=("state.epoch=-5 must be an int >= 0",))
    assert (run / METRICS).read_bytes() == before


def test_flipped_bytes_in_checkpoint_data_fall_back_to_the_previous_one(run):
    path = run / CHECKPOINT
    data = bytearray(path.read_bytes())
    data[-100] ^= 0x01  # two bits in the tensor data, where no structural check looks
    data[-200] ^= 0x80
    path.write_bytes(bytes(data))
    with pytest.raises(RunDirError, match="checksum"):
        _tensorfile.load(path)
    assert load_checkpoint(run)["path"] == str(run / PREVIOUS)  # epoch 1's checkpoint
    result = cli("train", "--resume", run, "--quiet")
    assert result.exit_code == 0, result.output
    assert [r["epoch"] for r in read_metrics(run)] == [1, 2]  # epoch 2 trained again, once


def test_both_checkpoints_damaged_is_one_line_naming_both(run):
    for name in (CHECKPOINT, PREVIOUS):
        data = bytearray((run / name).read_bytes())
        data[-64] ^= 0xFF
        (run / name).write_bytes(bytes(data))
    line = refused("train", "--resume", run, "--quiet", needles=("no usable checkpoint",))
    assert line.count("checksum") == 2 and CHECKPOINT in line and PREVIOUS in line


def test_damaged_checkpoint_header_is_refused_before_reading(run):
    (run / PREVIOUS).unlink()
    path = run / CHECKPOINT
    blob = path.read_bytes()
    n = int.from_bytes(blob[:8], "little")
    path.write_bytes(blob[: 8 + n] + b"\0" * 10)  # the data lost: a torn copy
    refused("train", "--resume", run, "--quiet", needles=(CHECKPOINT, "header describes", "truncated"))
    path.write_bytes((2**40).to_bytes(8, "little") + blob[8:])
    refused("train", "--resume", run, "--quiet", needles=("header length 1099511627776",))


def test_checkpoint_without_checksum_still_loads(run):
    """Checkpoints written before the checksum existed resume as before."""
    snap = load_checkpoint(run)
    blob = st_save(snap["tensors"], metadata={"vaelab": json.dumps(snap["meta"])})
    (run / CHECKPOINT).write_bytes(blob)
    assert load_checkpoint(run)["path"] == str(run / CHECKPOINT)
    assert cli("train", "--resume", run, "--quiet").exit_code == 0


# --- config.json ----------------------------------------------------------------------------


def _edit_config(run, change):
    config = json.loads((run / CONFIG).read_text())
    change(config)
    (run / CONFIG).write_text(json.dumps(config))


CONFIG_DAMAGE = {
    "unknown top-level key": (lambda c: c.update(surprise=1), "unknown top-level keys ['surprise']"),
    "format 999": (lambda c: c.update(format=999), "format=999"),
    "no format": (lambda c: c.pop("format"), "format=None"),
    "format true": (lambda c: c.update(format=True), "format=True"),
    "sigma NaN": (lambda c: c["model"].update(sigma=float("nan")), "model.sigma=nan is not a finite number"),
    "beta Infinity": (
        lambda c: c["model"].update(beta=float("inf")),
        "model.beta=inf is not a finite number",
    ),
    "no model": (lambda c: c.pop("model"), "no 'model' section"),
    "latent_dim 0": (lambda c: c["model"].update(latent_dim=0), "latent_dim=0"),
    "hidden a string": (lambda c: c["model"].update(hidden="16"), "model.hidden"),
    "train epochs a string": (lambda c: c["train"].update(epochs="ten"), "train.epochs"),
    "train unknown key": (lambda c: c["train"].update(speed=2), "unknown train config keys"),
    "data unknown key": (lambda c: c["data"].update(where="x"), "unknown data config keys"),
    "data a list": (lambda c: c.update(data=[]), "invalid data section"),
    "version a number": (lambda c: c.update(vaelab_version=1), "vaelab_version"),
}


@pytest.mark.parametrize("damage", sorted(CONFIG_DAMAGE))
@pytest.mark.parametrize("command", ["info", "sample"])
def test_damaged_config_is_refused_by_every_command(run, damage, command):
    change, needle = CONFIG_DAMAGE[damage]
    _edit_config(run, change)
    refused(command, run, needles=(CONFIG, needle))


def test_config_overflowing_number_is_refused(run):
    text = (run / CONFIG).read_text().replace('"sigma": 1.0', '"sigma": 1e999')
    (run / CONFIG).write_text(text)
    refused("info", run, needles=(CONFIG, "model.sigma=inf is not a finite number"))


def test_deeply_nested_config_is_refused(run):
    depth = 200_000
    (run / CONFIG).write_text('{"model": ' + "[" * depth + "]" * depth + "}")
    refused("info", run, needles=(CONFIG, "nested more than"))
    refused("train", "--resume", run, needles=(CONFIG, "nested more than"))


def test_huge_config_is_refused_by_its_size(run):
    config = json.loads((run / CONFIG).read_text())
    config["padding"] = "x" * (11 * 2**20)
    (run / CONFIG).write_text(json.dumps(config))
    refused("info", run, needles=(CONFIG, "bytes, more than the 10485760"))


def test_info_reads_a_valid_run_and_its_defaults(run):
    _edit_config(run, lambda c: c["train"].pop("precision"))  # an older run's missing key
    result = cli("info", run)
    assert result.exit_code == 0, result.output
    assert "precision=auto" in result.output and "last epoch 2" in result.output


# --- metrics.jsonl and summary.json ---------------------------------------------------------


def test_torn_last_metrics_line_is_ignored(run):
    with open(run / METRICS, "a") as f:
        f.write('{"epoch": 3, "train_lo')
    result = cli("info", run)
    assert result.exit_code == 0 and "last epoch 2" in result.output, result.output
    assert [r["epoch"] for r in read_metrics(run)] == [1, 2]


@pytest.mark.parametrize(
    "line,needle",
    [
        ("[1, 2]", "expected a JSON object, got list"),
        ('{"epoch": 2}', "lacks 'train_loss'"),
        ('{"epoch": 0, "train_loss": 1}', "epoch=0"),
        (
            '{"epoch": 2, "train_loss": "low", "train_reconstruction": 1, "train_kl": 1, "seconds": 1}',
            "train_loss='low'",
        ),
        ("not json", "not valid JSON"),
    ],
)
def test_malformed_metrics_record_is_refused_with_its_line(run, line, needle):
    lines = (run / METRICS).read_text().splitlines()
    (run / METRICS).write_text("\n".join([lines[0], line, lines[1]]) + "\n")
    refused("info", run, needles=(f"{METRICS} line 2", needle))
    with pytest.raises(RunDirError, match="line 2"):
        vaelab.load(run)


def test_malformed_complete_last_metrics_line_is_refused(run):
    with open(run / METRICS, "a") as f:
        f.write("[3]\n")  # a whole line (it ends in a newline): not a torn write
    refused("info", run, needles=(f"{METRICS} line 3",))


@pytest.mark.parametrize(
    "change,needle",
    [
        (lambda s: s.pop("train_seconds"), "lacks 'train_seconds'"),
        (lambda s: s.update(test_loss="x"), "test_loss='x'"),
        (lambda s: s.update(epochs=-1), "epochs=-1"),
        (lambda s: s.update(best_epoch=0), "best_epoch=0"),
    ],
)
def test_malformed_summary_is_refused(run, change, needle):
    summary = json.loads((run / SUMMARY).read_text())
    change(summary)
    (run / SUMMARY).write_text(json.dumps(summary))
    refused("info", run, needles=(SUMMARY, needle))


def test_summary_that_is_not_an_object_is_refused(run):
    (run / SUMMARY).write_text("[]")
    refused("info", run, needles=(SUMMARY, "expected a JSON object"))


# --- model.safetensors ----------------------------------------------------------------------


def test_sparse_30_gb_weights_are_refused_without_reading(run):
    path = run / WEIGHTS
    with open(path, "r+b") as f:
        f.truncate(30 * 2**30)  # a valid header, then 30 GB of holes
    start = time.perf_counter()
    refused("sample", run, needles=(WEIGHTS, "32212254720 bytes", "header describes"))
    assert time.perf_counter() - start < 5


def test_forged_header_claiming_30_gb_is_refused_without_reading(run):
    path = run / WEIGHTS
    name = next(iter(load_model(run).state_dict()))
    size = 30 * 2**30
    header = json.dumps({name: {"dtype": "F32", "shape": [size // 4], "data_offsets": [0, size]}}).encode()
    with open(path, "wb") as f:
        f.write(len(header).to_bytes(8, "little") + header)
        f.truncate(8 + len(header) + size)  # the size the header claims, all holes
    start = time.perf_counter()
    refused("sample", run, needles=(WEIGHTS, "does not match config.json"))
    assert time.perf_counter() - start < 5


def test_nan_weights_are_refused_naming_the_tensor(run):
    state = load_model(run).state_dict()
    name = sorted(state)[0]
    state[name].view(-1)[0] = float("nan")
    save_tensors(run / WEIGHTS, state)  # a valid checksum: only the value check can catch it
    refused("sample", run, needles=(WEIGHTS, repr(name), "NaN or infinite"))


def test_flipped_byte_in_weights_is_caught_by_the_checksum(run):
    data = bytearray((run / WEIGHTS).read_bytes())
    data[-10] ^= 0x04
    (run / WEIGHTS).write_bytes(bytes(data))
    refused("sample", run, needles=(WEIGHTS, "checksum"))


def test_renamed_tensor_in_weights_is_refused(run):
    state = load_model(run).state_dict()
    name = sorted(state)[0]
    state["renamed"] = state.pop(name)
    save_tensors(run / WEIGHTS, state)
    refused("sample", run, needles=(WEIGHTS, f"lacks tensors {name!r}", "'renamed'"))


def test_unknown_metadata_in_weights_is_refused(run):
    state = load_model(run).state_dict()
    (run / WEIGHTS).write_bytes(_tensorfile.encode(state, {"sha25&": "x"}))
    refused("sample", run, needles=(WEIGHTS, "unknown metadata ['sha25&']"))


def test_weights_without_checksum_still_load(run):
    """Runs saved before the checksum existed load as before."""
    model = load_model(run)
    (run / WEIGHTS).write_bytes(st_save(model.state_dict()))
    same = load_model(run)
    assert all(
        torch.equal(a, b)
        for a, b in zip(same.state_dict().values(), model.state_dict().values(), strict=True)
    )
    assert cli("sample", run, "-n", "4").exit_code == 0
