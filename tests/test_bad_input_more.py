"""More bad input (issue 13): symlink loops, mismatched splits, out-of-range data, absurd
model sizes, bad CLI counts and files, data the explainer cannot teach with, and an
estimator API as strict as the CLI. Each refusal is one line and exit code 2 in the CLI,
a `VaelabError` (a ValueError) in the API, and leaves nothing behind."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import vaelab
from vaelab.cli import main
from vaelab.core.config import ModelConfig, n_parameters
from vaelab.core.models import build_model, linear_vae_config
from vaelab.data import load_array, load_dataset
from vaelab.errors import ConfigError, DataError
from vaelab.evaluate import evaluate
from vaelab.report.explain import ExplainConfig, build_explain
from vaelab.runs.run import load_run

TINY = ["--epochs", "1", "--hidden", "4", "--latent-dim", "2", "--device", "cpu", "--quiet"]


def _cli(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.stderr, result.output


def _one_line_error(code, stderr, *fragments):
    assert code == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def _explain_error(code, stderr, *fragments):
    """Like `_one_line_error`, after explain's progress lines ("[   0.0 s] data: start")."""
    lines = stderr.strip().splitlines()
    assert all(line.startswith("[") for line in lines[:-1]), stderr
    return _one_line_error(code, lines[-1] if lines else "", *fragments)


def _idx(path, array):
    """Write ``array`` (uint8) as an IDX file."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    path.write_bytes(header + np.ascontiguousarray(array, np.uint8).tobytes())


# ---- data: symlink loops, splits of different shapes, values beyond float32 -------------


@pytest.fixture
def loop(tmp_path):
    link = tmp_path / "loop"
    link.symlink_to(link)  # ln -s loop loop
    return link


@pytest.mark.parametrize(
    "args",
    [
        lambda loop: ["--data", loop / "x.npy"],
        lambda loop: ["--data", loop],
        lambda loop: ["--data", "mnist", "--data-dir", loop],
    ],
    ids=["file-under-loop", "loop-itself", "data-dir"],
)
def test_symlink_loop_is_one_line(tmp_path, loop, args):
    out = tmp_path / "run"
    code, stderr, _ = _cli("train", *args(loop), *TINY, "--out", out)
    _one_line_error(code, stderr, "symlink loop", str(loop))
    assert not out.exists()


def test_symlink_loop_api(loop):
    with pytest.raises(DataError, match="symlink loop"):
        load_dataset(loop / "x.npy")
    with pytest.raises(DataError, match="symlink loop"):
        load_dataset("mnist", data_dir=loop)
    with pytest.raises(DataError, match="symlink loop"):
        load_array(loop)


def test_looping_file_inside_an_idx_folder(tmp_path):
    folder = tmp_path / "idx"
    folder.mkdir()
    link = folder / "train-images-idx3-ubyte"
    link.symlink_to(link)
    with pytest.raises(DataError, match="symlink loop"):
        load_dataset("mnist", data_dir=folder)


def test_npz_splits_of_different_widths_refused_at_load(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "wide.npz"
    np.savez(path, x_train=rng.random((30, 16)), x_test=rng.random((10, 8)))
    out = tmp_path / "run"
    code, stderr, _ = _cli("train", "--data", path, *TINY, "--out", out)
    _one_line_error(code, stderr, "(16,)", "(8,)", "wide.npz")
    assert not out.exists()
    with pytest.raises(DataError, match=r"train \(16,\), test \(8,\)"):
        load_dataset(path)


def test_idx_splits_of_different_image_sizes_refused_at_load(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "idx"
    folder.mkdir()
    _idx(folder / "train-images-idx3-ubyte", rng.integers(0, 256, (6, 28, 28)))
    _idx(folder / "train-labels-idx1-ubyte", np.arange(6) % 10)
    _idx(folder / "t10k-images-idx3-ubyte", rng.integers(0, 256, (4, 14, 14)))
    _idx(folder / "t10k-labels-idx1-ubyte", np.arange(4) % 10)
    with pytest.raises(DataError, match=r"train \(1, 28, 28\), test \(1, 14, 14\)"):
        load_dataset(folder)
    out = tmp_path / "run"
    code, stderr, _ = _cli("train", "--data", folder, *TINY, "--out", out)
    _one_line_error(code, stderr, "(1, 28, 28)", "(1, 14, 14)")
    assert not out.exists()


def test_splits_of_the_same_shape_still_load(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "ok.npz"
    np.savez(path, x_train=rng.random((30, 8)), x_test=rng.random((10, 8)))
    splits = load_dataset(path)
    assert splits.train.sample_shape == splits.test.sample_shape == (8,)


@pytest.mark.parametrize("value", [1e300, -1e300, 3.5e38])
def test_float64_beyond_float32_range_refused(tmp_path, value):
    x = np.random.default_rng(0).random((20, 4))
    x[7, 2] = value
    path = tmp_path / "huge.npy"
    np.save(path, x)
    out = tmp_path / "run"
    code, stderr, _ = _cli("train", "--data", path, *TINY, "--out", out)
    _one_line_error(code, stderr, f"{value:.4g}", "float32", "3.403e+38")
    assert not out.exists()
    with pytest.raises(DataError, match="beyond float32's range"):
        load_array(path)


def test_float64_within_float32_range_loads(tmp_path):
    path = tmp_path / "big.npy"
    np.save(path, np.random.default_rng(0).random((20, 4)) * 1e30)
    assert load_array(path).kind == "real"


# ---- model sizes and values ----------------------------------------------------------------


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--latent-dim", "1000000000"], "latent_dim=1000000000"),
        (["--hidden", "100000,100000"], "hidden=(100000, 100000)"),
    ],
)
def test_absurd_model_sizes_refused_before_allocating(tmp_path, args, fragment):
    out = tmp_path / "run"
    code, stderr, _ = _cli("train", "--epochs", "1", "--quiet", *args, "--out", out)
    _one_line_error(code, stderr, fragment, "parameters", "limit")
    assert not out.exists()


def test_absurd_conv_channels_refused():
    with pytest.raises(ConfigError, match=r"parameters .*channels=1000000.* more than the limit"):
        ModelConfig(input_shape=(1, 28, 28), network="conv", channels=10**6)


def test_infinite_beta_refused_in_cli(tmp_path):
    out = tmp_path / "run"
    code, stderr, _ = _cli("train", *TINY, "--beta", "inf", "--out", out)
    _one_line_error(code, stderr, "beta=inf")
    assert not out.exists()


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"beta": math.inf}, "beta=inf"),
        ({"beta": math.nan}, "beta=nan"),
        ({"sigma": math.inf}, "sigma=inf"),
        ({"sigma": math.nan}, "sigma=nan"),
        ({"sigma": 0.0}, "sigma=0.0"),
        ({"sigma": -1.0}, "sigma=-1.0"),
        ({"channels": 0}, "channels=0"),
    ],
)
def test_model_values_refused(kwargs, fragment):
    with pytest.raises(ConfigError, match=fragment):
        ModelConfig(**kwargs)


@pytest.mark.parametrize(
    "config",
    [
        ModelConfig(input_shape=(784,), latent_dim=50, hidden=(512, 512)),  # the IWAE recipe
        ModelConfig(input_shape=(1, 28, 28), network="conv", latent_dim=20),
        ModelConfig(
            kind="ae",
            input_shape=(3, 8, 12),
            network="conv",
            channels=5,
            likelihood="gaussian-heteroscedastic",
        ),
        linear_vae_config(784, 50),
        ModelConfig(input_shape=(2, 3, 4), hidden=(5,), likelihood="gaussian", sigma=0.1),
    ],
    ids=["iwae-recipe", "conv-mnist", "conv-rgb-ae", "linear", "mlp-image"],
)
def test_valid_configs_are_kept_and_counted_exactly(config):
    model = build_model(config, seed=0)
    assert n_parameters(config) == sum(p.numel() for p in model.parameters())


# ---- sample, reconstruct, evaluate: counts and files --------------------------------------


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("runs")
    code, stderr, _ = _cli("train", "--data", "digits", *TINY, "--out", base / "images")
    assert code == 0, stderr
    table = base / "table.npy"
    np.save(table, np.random.default_rng(0).random((60, 5)).astype(np.float32))
    code, stderr, _ = _cli("train", "--data", table, *TINY, "--out", base / "table")
    assert code == 0, stderr
    return {"images": base / "images", "table": base / "table"}


@pytest.mark.parametrize("command, n", [("sample", 0), ("sample", -3), ("reconstruct", 0)])
def test_sample_and_reconstruct_need_a_positive_count(runs, tmp_path, command, n):
    out = tmp_path / "figure.png"
    code, stderr, _ = _cli(command, runs["images"], "-n", n, "--out", out)
    _one_line_error(code, stderr, "-n", str(n))
    assert not out.exists()


@pytest.mark.parametrize(
    "run, command, name, want",
    [
        ("images", "sample", "x.txt", ".png"),
        ("images", "sample", "x.npy", ".png"),
        ("table", "sample", "x.png", ".npy"),
        ("table", "sample", "x.txt", ".npy"),
        ("images", "reconstruct", "r.txt", ".png"),
    ],
)
def test_output_file_type_must_fit_the_run(runs, tmp_path, run, command, name, want):
    out = tmp_path / name
    code, stderr, _ = _cli(command, runs[run], "--out", out)
    _one_line_error(code, stderr, f"--out={out}", want)
    assert not out.exists()


def test_sample_writes_the_right_file_types(runs, tmp_path):
    for run, name in (("images", "s.png"), ("table", "s.npy")):
        code, stderr, _ = _cli("sample", runs[run], "-n", 3, "--out", tmp_path / name)
        assert code == 0, stderr
        assert (tmp_path / name).stat().st_size > 0
    assert np.load(tmp_path / "s.npy").shape == (3, 5)


@pytest.mark.parametrize(
    "k, fragments",
    [
        (0, ["--knn-k", "0"]),
        (-2, ["--knn-k", "-2"]),
        (5000, ["knn_k=5000", "training codes"]),
    ],
)
def test_evaluate_knn_k_must_fit(runs, k, fragments):
    evaluation = runs["images"] / "evaluation.json"
    assert not evaluation.exists()
    code, stderr, _ = _cli("evaluate", runs["images"], "--iw-samples", 10, "--knn-k", k)
    _one_line_error(code, stderr, *fragments)
    assert not evaluation.exists()


def test_evaluate_api_refuses_bad_knn_k(runs, digits):
    model, _ = load_run(runs["images"])
    for k, match in ((0, "knn_k=0"), (2.5, "knn_k=2.5"), (10**6, "knn_k=1000000")):
        with pytest.raises(ConfigError, match=match):
            evaluate(model, digits.test, iw_samples=0, train_data=digits.train, knn_k=k)


# ---- explain -------------------------------------------------------------------------------


def _npz(path, x, y=None):
    if y is None:
        np.save(path, x)
    else:
        np.savez(path, x=x, y=y)
    return path


def _explain_data(tmp_path, case):
    rng = np.random.default_rng(0)
    x = rng.random((100, 6)).astype(np.float32)
    return {
        "constant": (_npz(tmp_path / "const.npy", np.full((100, 6), 0.5, np.float32)), "are identical"),
        "one_feature": (_npz(tmp_path / "one.npy", x[:, :1]), "at least 2 features"),
        "on_a_line": (
            _npz(tmp_path / "line.npy", (x[:, :1] * np.arange(1, 7)).astype(np.float32)),
            "lie on a line",
        ),
    }[case]


@pytest.mark.parametrize("case", ["constant", "one_feature", "on_a_line"])
def test_explain_refuses_data_it_cannot_teach_with(tmp_path, case):
    path, fragment = _explain_data(tmp_path, case)
    out = tmp_path / "out"
    code, stderr, _ = _cli("explain", "--quick", "--data", path, "--out", out)
    _explain_error(code, stderr, fragment)
    if case != "on_a_line":  # refused with the data, before any stage says a word
        assert len(stderr.strip().splitlines()) == 1, stderr
    assert "latent_dim" not in stderr  # not a value the user never set
    assert not out.exists()


def test_explain_errors_leave_no_out_directory(tmp_path, loop):
    out = tmp_path / "out"
    for args in (["--data", tmp_path / "missing.npy"], ["--data", loop / "x.npy"], ["--shape", "3,3"]):
        code, stderr, _ = _cli("explain", "--quick", *args, "--out", out)
        _explain_error(code, stderr)
        assert not out.exists(), args


def test_explain_refuses_an_unwritable_out_before_running(tmp_path, loop):
    blocker = tmp_path / "file"
    blocker.write_text("mine")
    for out, fragment in ((blocker / "out", "is a file"), (loop / "out", "symlink loop")):
        code, stderr, _ = _cli("explain", "--quick", "--out", out)
        _one_line_error(code, stderr, fragment)
        assert "[" not in stderr  # no stage started
    taken = tmp_path / "taken"
    (taken / "explain.json").mkdir(parents=True)
    with pytest.raises(ConfigError, match="explain.json exists and is not a file"):
        build_explain(ExplainConfig(preset="quick"), taken)
    assert blocker.read_text() == "mine"


def test_explain_one_class_skips_knn_and_says_why(tmp_path):
    rng = np.random.default_rng(0)
    path = _npz(tmp_path / "oneclass.npz", rng.random((100, 6)).astype(np.float32), np.zeros(100, np.int64))
    out = tmp_path / "out"
    code, stderr, output = _cli("explain", "--quick", "--data", path, "--out", out)
    assert code == 0, stderr
    numbers = json.loads((out / "explain.json").read_text())
    reason = numbers["unavailable"]["labels"]
    assert "label 0" in reason and "at least 2 classes" in reason
    assert reason in stderr  # said while running
    assert reason in (out / "explain.html").read_text()  # and on the page


def test_explain_keeps_what_it_did_not_write(tmp_path):
    rng = np.random.default_rng(0)
    path = _npz(tmp_path / "two.npz", rng.random((100, 6)).astype(np.float32), np.arange(100) % 2)
    out = tmp_path / "out"
    (out / "figures").mkdir(parents=True)
    (out / "notes.txt").write_text("mine")
    (out / "figures" / "mine.png").write_bytes(b"mine")
    code, stderr, _ = _cli("explain", "--quick", "--format", "md", "--data", path, "--out", out)
    assert code == 0, stderr
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "figures" / "mine.png").read_bytes() == b"mine"
    md = (out / "explain.md").read_text()
    linked = {line.split("](")[1].rstrip(")") for line in md.splitlines() if line.startswith("![")}
    assert linked and all((out / p).is_file() for p in linked)
    assert not [p for p in out.rglob("*.tmp")]  # no temporary files left


def test_explain_write_failure_removes_only_what_it_created(tmp_path):
    rng = np.random.default_rng(0)
    path = _npz(tmp_path / "two.npz", rng.random((100, 6)).astype(np.float32), np.arange(100) % 2)
    out = tmp_path / "out"
    (out / "figures" / "sweep_3.png").mkdir(parents=True)  # a figure explain must write
    (out / "notes.txt").write_text("mine")
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    code, stderr, _ = _cli("explain", "--quick", "--format", "md", "--data", path, "--out", out)
    _explain_error(code, stderr, "cannot write", "sweep_3.png")
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before


# ---- the estimator API is as strict as the CLI ---------------------------------------------


@pytest.mark.parametrize("cls", [vaelab.VAE, vaelab.Autoencoder])
@pytest.mark.parametrize("device", ["tpu", "cuda:x", "", 0])
def test_estimator_device_is_checked(cls, device):
    X = np.random.default_rng(0).random((20, 4))
    with pytest.raises(ConfigError, match=r"device=.* must be one of 'cpu', 'cuda', 'cuda:N'"):
        cls(device=device, max_epochs=1).fit(X)
    assert cls(device=device).__sklearn_tags__() is not None  # tags never raise


@pytest.fixture(scope="module")
def unit_data():
    return np.random.default_rng(0).random((60, 5))


@pytest.mark.parametrize("cls", [vaelab.VAE, vaelab.Autoencoder])
def test_bernoulli_scores_refuse_values_outside_unit_interval(cls, unit_data):
    est = cls(n_components=2, hidden_layer_sizes=(8,), max_epochs=2, random_state=0)
    est.fit(unit_data)
    assert est.likelihood_ == "bernoulli"
    for X in (-unit_data, unit_data + 1, unit_data * 1e6):
        with pytest.raises(DataError, match=r"bernoulli.*\[0, 1\]") as err:
            est.score_samples(X)
        assert f"[{X.min():g}, {X.max():g}]" in str(err.value)
    assert np.isfinite(est.score_samples(unit_data)).all()


@pytest.fixture(scope="module")
def real_data():
    return np.random.default_rng(0).normal(size=(60, 5))


@pytest.mark.parametrize("k", [1, 5])
def test_gaussian_scores_of_huge_inputs_are_finite_in_float64(real_data, k):
    """A bounded (tanh) encoder: scores of inputs up to 1e100 are finite, as they should be.

    With K > 1 they were computed in float32 and came out NaN from 1e20 on."""
    est = vaelab.VAE(
        n_components=2,
        hidden_layer_sizes=(8,),
        activation="tanh",
        max_epochs=2,
        random_state=0,
        n_importance_samples=k,
    ).fit(real_data)
    assert est.likelihood_ == "gaussian-learned"
    for scale in (1.0, 1e6, 1e20, 1e100):
        scores = est.score_samples(real_data * scale)
        assert np.isfinite(scores).all(), scale
        assert scale < 1e6 or (scores < -scale).all()
    with pytest.raises(DataError, match=r"for 60 of 60 rows.*log-likelihood overflows float64"):
        est.score_samples(real_data * 1e200)  # x² overflows float64


@pytest.mark.parametrize("k", [1, 5])
def test_nan_scores_are_refused_naming_the_cause(real_data, k):
    """A ReLU encoder extrapolates log σ² linearly: far inputs get exp(log σ²) = inf."""
    est = vaelab.VAE(
        n_components=2, hidden_layer_sizes=(8,), max_epochs=2, random_state=0, n_importance_samples=k
    ).fit(real_data)
    assert np.isfinite(est.score_samples(real_data)).all()
    with pytest.raises(DataError, match=r"score_samples is nan .*posterior log-variance"):
        est.score_samples(real_data * 1e6)


_FIT_AND_PRINT = """
import sys, numpy as np, torch, vaelab
if sys.argv[1] == "disturbed":  # another global torch state must not matter
    torch.manual_seed(12345); torch.rand(1000)
X = np.random.default_rng(0).random((120, 6))
vae = vaelab.VAE(n_components=2, hidden_layer_sizes=(16,), max_epochs=3, random_state=0)
sys.stdout.write(vae.fit(X).transform(X).tobytes().hex())
"""


def test_random_state_reproduces_fit_across_processes():
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _FIT_AND_PRINT, mode],
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for mode in ("plain", "disturbed")
    ]  # two fresh processes, side by side
    outs = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
        outs.append(stdout)
    assert len(outs[0]) == 120 * 2 * 8 * 2  # (120, 2) float64 as hex
    assert outs[0] == outs[1]


def test_fit_leaves_the_global_torch_state_alone(unit_data):
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    vaelab.VAE(n_components=2, hidden_layer_sizes=(8,), max_epochs=1, random_state=0).fit(unit_data)
    assert torch.equal(torch.rand(3), expected)


def test_estimator_fit_refuses_values_beyond_float32():
    from vaelab import VAE

    X = np.random.default_rng(0).random((50, 4))
    X[0, 0] = 1e39
    with pytest.raises(ValueError, match="beyond float32's range"):
        VAE().fit(X)
