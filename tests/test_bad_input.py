"""Bad input: a specific error in the API, exit code 2 and one line in the CLI, nothing left behind."""

from __future__ import annotations

import gzip
import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from vaelab._config import check_type
from vaelab.cli import main
from vaelab.core.config import ModelConfig
from vaelab.errors import ConfigError, DataError, DataNotFoundError, RunDirError
from vaelab.runs.run import DataSpec, train_run
from vaelab.training.config import TrainConfig

TINY = ["--epochs", "1", "--hidden", "4", "--latent-dim", "2", "--device", "cpu", "--quiet"]


def _cli(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.stderr, result.output


def _one_line_error(code, stderr, match):
    assert code == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    assert match in lines[0], lines[0]


def _npy(path, x):
    np.save(path, x)
    return path


def _cases(tmp):
    nan = np.random.default_rng(0).random((20, 5)).astype(np.float32)
    nan[3, 2] = np.nan
    inf = nan.copy()
    inf[3, 2] = np.inf
    (tmp / "ragged.csv").write_text("a,b,c\n1,2,3\n4,5\n")
    (tmp / "words.csv").write_text("a,b\n1,2\n3,hello\n")
    np.savez(tmp / "labels.npz", x=np.random.default_rng(0).random((10, 4)), y=np.arange(9))
    mnist = tmp / "mnist_broken"
    mnist.mkdir()
    return {
        # name: (CLI data args, error class, message fragment)
        "nan": (["--data", _npy(tmp / "nan.npy", nan)], DataError, "NaN"),
        "inf": (["--data", _npy(tmp / "inf.npy", inf)], DataError, "inf"),
        "empty": (["--data", _npy(tmp / "empty.npy", np.zeros((0, 5), np.float32))], DataError, "is empty"),
        "single": (["--data", _npy(tmp / "one.npy", np.zeros((1, 5), np.float32))], DataError, "sample"),
        "ragged_csv": (["--data", tmp / "ragged.csv"], DataError, "ragged.csv"),
        "non_numeric_csv": (["--data", tmp / "words.csv"], DataError, "hello"),
        "label_length": (["--data", tmp / "labels.npz"], DataError, "label"),
        "bernoulli_range": (
            ["--data", _npy(tmp / "big.npy", np.full((20, 5), 3.0, np.float32)), "--likelihood", "bernoulli"],
            ConfigError,
            "values in [3, 3]",
        ),
        "missing_files": (["--data", "mnist", "--data-dir", mnist], DataNotFoundError, "mnist_broken"),
    }


CASES = [
    "nan",
    "inf",
    "empty",
    "single",
    "ragged_csv",
    "non_numeric_csv",
    "label_length",
    "bernoulli_range",
    "missing_files",
]


@pytest.mark.parametrize("case", CASES)
def test_bad_training_data_cli_and_api(tmp_path, case):
    args, error, match = _cases(tmp_path)[case]
    out = tmp_path / "run"
    code, stderr, _ = _cli("train", *args, *TINY, "--out", out)
    _one_line_error(code, stderr, match)
    assert not out.exists()  # nothing left behind
    # the API raises the specific class with the same message
    opts = dict(zip(args[::2], args[1::2], strict=True))
    spec = DataSpec(source=str(opts["--data"]), data_dir=str(opts.get("--data-dir") or "") or None)
    model = ModelConfig(latent_dim=2, hidden=(4,), likelihood=opts.get("--likelihood", "gaussian"))
    with pytest.raises(error, match=None) as err:
        train_run(spec, model, TrainConfig(epochs=1, device="cpu"), out, progress=False)
    assert match in str(err.value)
    assert not out.exists()


def _idx_dir(tmp_path, breakage):
    src = tmp_path / "mnist"
    src.mkdir(parents=True)
    names = [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ]
    rng = np.random.default_rng(0)
    for name in names:
        n = 30 if name.startswith("train") else 10
        if "images" in name:
            body = (2051).to_bytes(4, "big") + b"".join(v.to_bytes(4, "big") for v in (n, 4, 4))
            body += rng.integers(0, 256, n * 16, dtype=np.uint8).tobytes()
        else:
            body = (2049).to_bytes(4, "big") + n.to_bytes(4, "big")
            body += rng.integers(0, 10, n, dtype=np.uint8).tobytes()
        if name == "train-images-idx3-ubyte":
            if breakage == "truncated":
                body = body[:-7]
            elif breakage == "magic":
                body = b"\x00\x00\x09\x99" + body[4:]
        data = gzip.compress(body)
        if name == "train-images-idx3-ubyte" and breakage == "corrupt_gz":
            data = data[:10] + b"\xff" * 8 + data[18:]
        (src / f"{name}.gz").write_bytes(data)
    return src


@pytest.mark.parametrize("breakage", ["truncated", "magic", "corrupt_gz"])
def test_broken_idx_files(tmp_path, breakage):
    # the IDX parser's own errors are tested in test_data_idx.py; here the CLI end to end
    src = _idx_dir(tmp_path, breakage)
    out = tmp_path / "run"
    code, stderr, _ = _cli("train", "--data", "mnist", "--data-dir", src, *TINY, "--out", out)
    _one_line_error(code, stderr, "train-images-idx3-ubyte.gz")
    assert not out.exists()


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run")
    data = _npy(tmp / "x.npy", np.random.default_rng(0).random((40, 6), dtype=np.float32))
    run = tmp / "run"
    code, stderr, _ = _cli("train", "--data", data, *TINY, "--out", run)
    assert code == 0, stderr
    return run


def _copy(run, tmp_path):
    dest = tmp_path / "copy"
    shutil.copytree(run, dest)
    return dest


def test_data_with_other_dimensions_than_the_model(trained_run, tmp_path):
    other = _npy(tmp_path / "wide.npy", np.random.default_rng(0).random((30, 9), dtype=np.float32))
    code, stderr, _ = _cli("evaluate", trained_run, "--data", other, "--iw-samples", "0", "--no-latent")
    _one_line_error(code, stderr, "9")


_DAMAGES = ["no_weights", "bad_weights", "no_config", "bad_config", "unknown_key", "mistyped_key", "no_dir"]
# info only prints config.json and metrics: it builds no model, so weights and model
# keys cannot trouble it
_INFO_DAMAGES = ["no_config", "bad_config", "no_dir"]


@pytest.mark.parametrize(
    ("command", "damage"),
    [
        (command, damage)
        for command in ("sample", "reconstruct", "info", "evaluate")
        for damage in (_INFO_DAMAGES if command == "info" else _DAMAGES)
    ],
)
def test_damaged_run_directory(trained_run, tmp_path, damage, command):
    run = _copy(trained_run, tmp_path)
    config = json.loads((run / "config.json").read_text())
    if damage == "no_weights":
        (run / "model.safetensors").unlink()
    elif damage == "bad_weights":
        (run / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    elif damage == "no_config":
        (run / "config.json").unlink()
    elif damage == "bad_config":
        (run / "config.json").write_text('{"model": {"kind": "vae",')
    elif damage == "unknown_key":
        config["model"]["latnet_dim"] = 3
        (run / "config.json").write_text(json.dumps(config))
    elif damage == "mistyped_key":
        config["model"]["latent_dim"] = "two"
        (run / "config.json").write_text(json.dumps(config))
    elif damage == "no_dir":
        shutil.rmtree(run)
    extra = ["--iw-samples", "0", "--no-latent"] if command == "evaluate" else []
    before = set(run.rglob("*")) if run.exists() else set()
    code, stderr, _ = _cli(command, run, *extra)
    fragment = {
        "no_weights": "model.safetensors",
        "bad_weights": "model.safetensors",
        "no_config": "config.json",
        "bad_config": "config.json",
        "unknown_key": "latnet_dim",
        "mistyped_key": "latent_dim",
        "no_dir": "does not exist",
    }[damage]
    _one_line_error(code, stderr, fragment)
    after = set(run.rglob("*")) if run.exists() else set()
    assert after == before  # no partial output
    if command == "sample":  # the API: a RunDirError with the same fragment
        from vaelab.runs.run import load_run

        with pytest.raises(RunDirError, match=fragment):
            load_run(run)


def test_config_type_errors_name_the_key_path():
    with pytest.raises(ConfigError, match=r"train\.lr: expected float, got str 'fast'"):
        TrainConfig.from_dict({"lr": "fast"})
    with pytest.raises(ConfigError, match=r"model\.hidden\[1\]: expected int, got float"):
        ModelConfig.from_dict({"hidden": [4, 2.5]})
    with pytest.raises(ConfigError, match=r"data\.standardize: expected bool, got int"):
        DataSpec.from_dict({"standardize": 1})
    with pytest.raises(ConfigError, match=r"train\.epochs: expected int, got bool"):
        TrainConfig.from_dict({"epochs": True})
    with pytest.raises(ConfigError, match="unknown train config keys"):
        TrainConfig.from_dict({"learning_rate": 1e-3})
    assert TrainConfig.from_dict({"lr": 1, "patience": None}).lr == 1.0
    assert check_type(None, int | None, "x") is None


def test_resume_of_a_run_with_a_mistyped_train_config(trained_run, tmp_path):
    run = _copy(trained_run, tmp_path)
    config = json.loads((run / "config.json").read_text())
    config["train"]["batch_size"] = "big"
    (run / "config.json").write_text(json.dumps(config))
    code, stderr, _ = _cli("train", "--resume", run)
    _one_line_error(code, stderr, "train.batch_size")
