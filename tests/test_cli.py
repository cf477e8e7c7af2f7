"""The CLI end to end on digits, and its one-line errors with exit code 2."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from vaelab.cli import main
from vaelab.runs.files import load_model
from vaelab.training.checkpoint import load_checkpoint


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "vae"
    result = CliRunner().invoke(
        main,
        ["train", "--data", "digits", "--epochs", "3", "--latent-dim", "4", "--out", str(run), "--quiet"],
    )
    assert result.exit_code == 0, result.output
    return run


def test_train_writes_a_complete_run_directory(trained_run):
    for name in [
        "config.json",
        "model.safetensors",
        "metrics.jsonl",
        "summary.json",
        "figures/samples.png",
        "figures/reconstructions.png",
    ]:
        assert (trained_run / name).is_file(), name
    config = json.loads((trained_run / "config.json").read_text())
    assert config["model"]["latent_dim"] == 4 and config["data"]["source"] == "digits"
    assert len((trained_run / "metrics.jsonl").read_text().splitlines()) == 3
    model = load_model(trained_run)
    assert model.config.input_shape == (1, 8, 8)


def test_info_sample_reconstruct(trained_run, tmp_path):
    runner = CliRunner()
    info = runner.invoke(main, ["info", str(trained_run)])
    assert info.exit_code == 0 and "latent_dim=4" in info.output and "test −ELBO" in info.output
    info_json = json.loads(runner.invoke(main, ["info", str(trained_run), "--json"]).output)
    assert info_json["summary"]["epochs"] == 3
    out = tmp_path / "s.png"
    sample = runner.invoke(main, ["sample", str(trained_run), "-n", "9", "--out", str(out)])
    assert sample.exit_code == 0 and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = tmp_path / "r.png"
    rec = runner.invoke(main, ["reconstruct", str(trained_run), "--out", str(out)])
    assert rec.exit_code == 0 and out.stat().st_size > 1000


def test_autoencoder_and_tabular_data(tmp_path):
    x = np.random.default_rng(0).normal(size=(300, 6)).astype(np.float32)
    np.save(tmp_path / "table.npy", x)
    runner = CliRunner()
    result = runner.invoke(
        main,
        [
            "train",
            "--model",
            "ae",
            "--data",
            str(tmp_path / "table.npy"),
            "--epochs",
            "2",
            "--out",
            str(tmp_path / "ae"),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "ae" / "config.json").read_text())
    assert config["model"]["likelihood"] == "gaussian"  # real-valued data
    sample = runner.invoke(main, ["sample", str(tmp_path / "ae"), "-n", "5"])
    assert sample.exit_code == 0
    assert np.load(tmp_path / "ae" / "samples.npy").shape == (5, 6)


@pytest.mark.parametrize(
    "args,message",
    [
        (["train", "--data", "nosuchdata"], "nosuchdata"),
        (["train", "--data", "digits", "--hidden", "40,x"], "--hidden"),
        (["train", "--data", "digits", "--epochs", "0"], "epochs=0"),
        (["train", "--data", "digits", "--adam-eps", "0"], "adam_eps=0"),
        (["train", "--data", "digits", "--lr-schedule", "linear"], "--lr-schedule"),
        (["train", "--data", "digits", "--epochs", "ten"], "--epochs"),  # click's own usage errors
        (["trian", "--data", "digits"], "No such command 'trian'"),
        (["info"], "Missing argument 'RUN'"),
        (["train", "--data", "digits", "--network", "conv", "--shape", "3,3"], "shape"),
        (
            ["train", "--data", "digits", "--network", "conv", "--step", "fused"],
            "does not apply to network='conv'",
        ),
        (
            ["train", "--data", "digits", "--importance-samples", "3", "--step", "fused"],
            "importance_samples=3",
        ),
        (["info", "no/such/run"], "does not exist"),
        (["sample", "no/such/run"], "does not exist"),
    ],
)
def test_user_errors_print_one_line_and_exit_2(tmp_path, args, message):
    out = tmp_path / "run"
    if args[0] == "train":
        args = [*args, "--out", str(out), "--quiet"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists()  # nothing half-written


def test_the_learning_rate_schedule_reaches_training(tmp_path):
    """--lr-schedule cosine decays the rate to near zero by the last step; constant keeps it."""
    lrs = {}
    for schedule in ("constant", "cosine"):
        run = tmp_path / schedule
        result = CliRunner().invoke(
            main,
            [
                "train",
                "--data",
                "digits",
                "--epochs",
                "2",
                "--lr",
                "0.004",
                "--lr-schedule",
                schedule,
                "--adam-eps",
                "1e-4",
                "--out",
                str(run),
                "--quiet",
            ],
        )
        assert result.exit_code == 0, result.output
        train = json.loads((run / "config.json").read_text())["train"]
        assert (train["lr_schedule"], train["adam_eps"]) == (schedule, 1e-4)
        group = load_checkpoint(run)["meta"]["param_groups"][0]
        assert group["eps"] == 1e-4
        lrs[schedule] = group["lr"]
    assert lrs["constant"] == pytest.approx(0.004)
    assert 0 < lrs["cosine"] < 0.0004  # the last step of a cosine over the run


def test_existing_run_is_not_overwritten_without_asking(trained_run):
    before = (trained_run / "model.safetensors").read_bytes()
    result = CliRunner().invoke(
        main, ["train", "--data", "digits", "--epochs", "1", "--out", str(trained_run), "--quiet"]
    )
    assert result.exit_code == 2 and "--overwrite" in result.output
    assert (trained_run / "model.safetensors").read_bytes() == before


def test_every_command_has_help():
    runner = CliRunner()
    for name, command in main.commands.items():
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0, name
        assert len(result.output) > 200 and (command.help or "").strip(), name


@pytest.mark.parametrize(
    "command",
    [
        "",
        "explain",
        "train",
        "evaluate",
        "sample",
        "reconstruct",
        "info",
        "curse",
        "compare",
        "holes",
        "sweep-beta",
    ],
)
def test_help_imports_neither_torch_nor_sklearn(command):
    import subprocess
    import sys

    probe = (
        "import sys; from vaelab.cli import main\n"
        "try:\n    main([*sys.argv[1:], '--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('torch', 'sklearn') if m in sys.modules), file=sys.stderr)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, *([command] if command else [])],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Usage:" in done.stdout
    assert done.stderr.strip().splitlines()[-1] == "[]"


def test_evaluate_records_its_device_and_refuses_a_missing_gpu(trained_run):
    import torch

    runner = CliRunner()
    ok = runner.invoke(main, ["evaluate", str(trained_run), "--iw-samples", "50", "--no-latent", "--json"])
    assert ok.exit_code == 0, ok.output
    written = json.loads((trained_run / "evaluation.json").read_text())
    want = "cuda:0" if torch.cuda.is_available() else "cpu"  # --device auto
    assert written["device"] == want and json.loads(ok.output)["device"] == want
    if torch.cuda.is_available():
        return
    before = (trained_run / "evaluation.json").read_bytes()
    bad = runner.invoke(main, ["evaluate", str(trained_run), "--device", "cuda"])
    assert bad.exit_code == 2 and "CUDA is not available" in bad.output
    assert len(bad.output.strip().splitlines()) == 1 and "Traceback" not in bad.output
    assert (trained_run / "evaluation.json").read_bytes() == before  # nothing rewritten


def test_explain_refuses_a_missing_gpu_before_any_work(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: nothing to refuse")
    out = tmp_path / "page"
    bad = CliRunner().invoke(main, ["explain", "--quick", "--device", "cuda", "--out", str(out)])
    assert bad.exit_code == 2 and "CUDA is not available" in bad.output
    assert len(bad.output.strip().splitlines()) == 1 and "Traceback" not in bad.output
    assert not out.exists()  # nothing written
