"""Nothing the user owns is lost: --overwrite, locks, first-second kills, seeds, paths, resume options.

Most tests run `vaelab` in real subprocesses: the seed bug only shows across
processes, and locks and SIGKILL need real ones.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from vaelab.cli import main
from vaelab.runs.directory import LOCK
from vaelab.runs.files import read_config, read_metrics

FP32 = "--epochs 2 --hidden 16 --latent-dim 2 --quiet --device cpu --precision fp32".split()
SMALL = ["--epochs", "1", "--hidden", "16", "--latent-dim", "2", "--quiet", "--device", "cpu"]


def _vaelab(*args, cwd=None, timeout=300):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [sys.executable, "-m", "vaelab", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _one_line_error(result) -> str:
    """The single stderr line of a refused command (exit 2, no traceback)."""
    out = getattr(result, "stderr", None) or result.output
    code = getattr(result, "returncode", getattr(result, "exit_code", None))
    assert code == 2, out
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), out
    assert "Traceback" not in out
    return lines[0]


def _tree(path: Path) -> dict[str, str]:
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(path.rglob("*"))
    }


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def data_npy(tmp_path):
    path = tmp_path / "data.npy"
    np.save(path, np.random.default_rng(0).random((200, 16), dtype=np.float32))
    return path


# 1. --overwrite never deletes what vaelab did not write -----------------------------------


def test_overwrite_refuses_a_directory_that_is_not_a_run(tmp_path, data_npy):
    victim = tmp_path / "victim"
    (victim / "sub").mkdir(parents=True)
    (victim / "important.txt").write_text("precious\n")
    (victim / "data.npy").write_bytes(data_npy.read_bytes())
    before = _tree(victim)
    r = CliRunner().invoke(
        main, ["train", "--data", str(victim / "data.npy"), *SMALL, "--out", str(victim), "--overwrite"]
    )
    line = _one_line_error(r)
    assert "important.txt" in line and "not a vaelab run directory" in line
    assert _tree(victim) == before


def test_overwrite_of_the_current_directory_is_refused(tmp_path, data_npy):
    cwd = tmp_path / "work"
    cwd.mkdir()
    (cwd / "notes.md").write_text("mine")
    r = _vaelab("train", "--data", data_npy, *SMALL, "--out", ".", "--overwrite", cwd=cwd)
    assert "notes.md" in _one_line_error(r)
    assert sorted(p.name for p in cwd.iterdir()) == ["notes.md"]


def test_overwrite_replaces_only_vaelab_files_of_a_run(tmp_path, data_npy):
    run = tmp_path / "run"
    runner = CliRunner()
    assert runner.invoke(main, ["train", "--data", str(data_npy), *SMALL, "--out", str(run)]).exit_code == 0
    (run / "my_notes.txt").write_text("keep me")
    (run / "figures").mkdir(exist_ok=True)
    (run / "figures" / "my_plot.png").write_bytes(b"not vaelab's")
    old_model = _sha(run / "model.safetensors")
    r = runner.invoke(
        main, ["train", "--data", str(data_npy), *SMALL, "--seed", "5", "--out", str(run), "--overwrite"]
    )
    assert r.exit_code == 0, r.output
    assert (run / "my_notes.txt").read_text() == "keep me"
    assert (run / "figures" / "my_plot.png").read_bytes() == b"not vaelab's"
    assert _sha(run / "model.safetensors") != old_model
    assert read_config(run)["train"]["seed"] == 5
    assert [m["epoch"] for m in read_metrics(run)] == [1]  # the old run's metrics are gone


def test_without_overwrite_an_existing_run_is_refused(tmp_path, data_npy):
    run = tmp_path / "run"
    runner = CliRunner()
    runner.invoke(main, ["train", "--data", str(data_npy), *SMALL, "--out", str(run)])
    before = _tree(run)
    r = runner.invoke(main, ["train", "--data", str(data_npy), *SMALL, "--out", str(run)])
    assert "--overwrite" in _one_line_error(r)
    assert _tree(run) == before


@pytest.mark.parametrize("case", ["dangling symlink", "below a file", "dev null", "a file"])
def test_impossible_out_paths(tmp_path, data_npy, case):
    if case == "dangling symlink":
        out = tmp_path / "link"
        out.symlink_to(tmp_path / "nowhere")
    elif case == "below a file":
        out = data_npy / "run"
    elif case == "dev null":
        out = Path("/dev/null")
    else:
        out = tmp_path / "file.txt"
        out.write_text("x")
    before = _tree(tmp_path)
    r = CliRunner().invoke(main, ["train", "--data", str(data_npy), *SMALL, "--out", str(out)])
    _one_line_error(r)
    assert _tree(tmp_path) == before


def test_a_symlinked_out_trains_into_its_target(tmp_path, data_npy):
    target = tmp_path / "big_disk" / "run"
    target.parent.mkdir()
    link = tmp_path / "run"
    link.symlink_to(target, target_is_directory=True)
    target.mkdir()
    r = CliRunner().invoke(main, ["train", "--data", str(data_npy), *SMALL, "--out", str(link)])
    assert r.exit_code == 0, r.output
    assert link.is_symlink() and (target / "model.safetensors").is_file()


# 2. two writers never share a run directory ---------------------------------------------


def _start_long_run(data, run):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vaelab",
            "train",
            "--data",
            str(data),
            "--epochs",
            "100000",
            "--hidden",
            "8",
            "--latent-dim",
            "2",
            "--quiet",
            "--device",
            "cpu",
            "--out",
            str(run),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while not (run / "checkpoint.safetensors").exists():
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return proc


def test_a_second_writer_and_a_live_resume_are_refused_and_a_stale_lock_is_not(tmp_path, data_npy):
    run = tmp_path / "run"
    first = _start_long_run(data_npy, run)
    try:
        second = _vaelab("train", "--data", data_npy, *SMALL, "--out", run, "--overwrite")
        line = _one_line_error(second)
        assert "in use by another vaelab process" in line and f"pid {first.pid}" in line
        resume = _vaelab("train", "--resume", run, "--quiet")
        assert f"pid {first.pid}" in _one_line_error(resume)
        assert first.poll() is None  # the first run trains on, undisturbed
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
        first.stderr.close()
    epochs = [m["epoch"] for m in read_metrics(run)]
    assert epochs == list(range(1, len(epochs) + 1))  # one run's epochs, in order
    assert (run / LOCK).exists()  # the killed run's lock file stays, but its lock is gone
    done = _vaelab("train", "--resume", run, "--quiet", "--epochs", str(epochs[-1] + 1))
    assert done.returncode == 0, done.stderr


# 3. resumable and loadable from the first second ----------------------------------------


def test_a_run_killed_before_its_first_checkpoint_resumes_from_epoch_0(tmp_path, data_npy):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    args = ["--data", data_npy, *FP32, "--seed", "4"]
    assert _vaelab("train", *args, "--out", straight).returncode == 0
    assert _vaelab("train", *args, "--out", killed).returncode == 0
    for name in (
        "checkpoint.safetensors",
        "checkpoint.prev.safetensors",
        "summary.json",
        "metrics.jsonl",
    ):  # the state of a run killed before its first checkpoint
        (killed / name).unlink(missing_ok=True)
    (killed / ".model.safetensors.x1y2.tmp").write_bytes(b"half a write")
    r = _vaelab("train", "--resume", killed, "--quiet")
    assert r.returncode == 0, r.stderr
    assert _sha(killed / "model.safetensors") == _sha(straight / "model.safetensors")
    assert not list(killed.glob(".*.tmp"))


@pytest.mark.slow
def test_sigkill_inside_the_first_writes_always_leaves_a_resumable_run(tmp_path, data_npy):
    """Kill as soon as the run directory (or its hidden staging sibling) appears."""
    args = ["--data", data_npy, *FP32, "--seed", "1"]
    reference = tmp_path / "reference"
    assert _vaelab("train", *args, "--out", reference).returncode == 0
    rng = random.Random(0)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    for attempt in range(5):
        run = tmp_path / f"run{attempt}"
        proc = subprocess.Popen(
            [sys.executable, "-m", "vaelab", "train", *map(str, args), "--out", str(run)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        while proc.poll() is None and not (run.exists() or list(tmp_path.glob(f".{run.name}.*"))):
            time.sleep(0.0005)
        time.sleep(rng.uniform(0, 0.02))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if not run.exists():  # killed while building the hidden sibling: nothing appeared
            r = _vaelab("train", *args, "--out", run)  # the same command simply starts again
        else:
            r = _vaelab("train", "--resume", run, "--quiet")
        assert r.returncode == 0, r.stderr
        assert _sha(run / "model.safetensors") == _sha(reference / "model.safetensors")
        assert not list(tmp_path.glob(f".{run.name}.vaelab-new-*"))


def test_checkpoint_every_0_without_minutes_is_refused(tmp_path, data_npy):
    out = tmp_path / "run"
    r = CliRunner().invoke(
        main, ["train", "--data", str(data_npy), *SMALL, "--checkpoint-every", "0", "--out", str(out)]
    )
    assert "never be resumed" in _one_line_error(r)
    assert not out.exists()


# 4. --seed makes runs reproducible across processes -------------------------------------


def test_two_processes_with_the_same_seed_write_the_same_bytes(tmp_path):
    args = "--data digits --epochs 1 --precision fp32 --quiet --device cpu".split()
    a, b = tmp_path / "a", tmp_path / "b"
    assert _vaelab("train", *args, "--seed", "3", "--out", a).returncode == 0
    assert _vaelab("train", *args, "--seed", "3", "--out", b).returncode == 0
    assert _sha(a / "model.safetensors") == _sha(b / "model.safetensors")
    c = tmp_path / "c"
    assert _vaelab("train", *args, "--seed", "4", "--out", c).returncode == 0
    assert _sha(c / "model.safetensors") != _sha(a / "model.safetensors")


@pytest.mark.parametrize(
    "command",
    [
        ["sweep-beta", "--betas", "0.5,2", "--epochs", "1", "--hidden", "16", "--max-train", "300"],
        ["holes", "--epochs", "1", "--hidden", "16", "--n-samples", "50"],
    ],
)
def test_experiments_are_reproducible_across_processes(tmp_path, command):
    outs = [tmp_path / "a", tmp_path / "b"]
    for out in outs:
        r = _vaelab(*command, "--seed", "2", "--out", out)
        assert r.returncode == 0, r.stderr
    name = {"sweep-beta": "sweep.json", "holes": "holes.json"}[command[0]]
    a, b = (_without_timings(json.loads((o / name).read_text())) for o in outs)
    assert a == b


def _without_timings(obj):
    if isinstance(obj, dict):
        return {k: _without_timings(v) for k, v in obj.items() if "second" not in k}
    if isinstance(obj, list):
        return [_without_timings(v) for v in obj]
    return obj


@pytest.mark.parametrize("seed", ["-1", str(2**70)])
def test_seeds_out_of_range_are_refused(tmp_path, seed):
    out = tmp_path / "run"
    r = CliRunner().invoke(main, ["train", "--data", "digits", *SMALL, "--seed", seed, "--out", str(out)])
    assert "seed" in _one_line_error(r)
    assert not out.exists()


# 5. runs do not depend on the working directory -----------------------------------------


def test_a_run_with_relative_paths_works_from_another_directory(tmp_path, data_npy):
    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    here.mkdir()
    elsewhere.mkdir()
    (here / "x.npy").write_bytes(data_npy.read_bytes())
    args = "--data x.npy --epochs 2 --hidden 16 --latent-dim 2 --quiet --device cpu".split()
    assert _vaelab("train", *args, "--out", "run", cwd=here).returncode == 0
    run = here / "run"
    assert read_config(run)["data"]["source"] == str(here / "x.npy")
    r = _vaelab("evaluate", run, "--iw-samples", "4", cwd=elsewhere)
    assert r.returncode == 0, r.stderr
    r = _vaelab("train", "--resume", run, "--epochs", "3", "--quiet", cwd=elsewhere)
    assert r.returncode == 0, r.stderr


# 6. a failed start leaves nothing behind; the disk filling up is one line -----------------


@pytest.mark.parametrize(
    "args",
    [
        ["--device", "cuda"] if not __import__("torch").cuda.is_available() else ["--lr", "nan"],
        ["--model", "ae", "--importance-samples", "5"],
        ["--valid-fraction", "0.999"],
        ["--lr", "inf"],
        ["--importance-samples", "10000000"],
    ],
)
def test_errors_found_late_are_found_before_anything_is_written(tmp_path, args):
    out = tmp_path / "run"
    r = CliRunner().invoke(
        main, ["train", "--data", "digits", "--epochs", "1", "--quiet", *args, "--out", str(out)]
    )
    _one_line_error(r)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def small_disk(tmp_path):
    """A real 64 KiB tmpfs: room for a run's first files, not for its checkpoint."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({made.stderr.strip()})")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_mid_run_is_one_line_and_keeps_a_resumable_run(small_disk):
    run = small_disk / "run"
    r = _vaelab("train", "--data", "digits", *SMALL, "--hidden", "32", "--out", run)
    line = _one_line_error(r)
    assert "No space left on device" in line
    assert read_config(run)["model"]["hidden"] == [32]  # config.json and model.safetensors
    assert not list(run.glob(".*.tmp"))  # the failed write cleaned up after itself


def test_a_full_disk_at_the_start_leaves_nothing(small_disk):
    (small_disk / "filler").write_bytes(b"\0" * 60_000)
    run = small_disk / "run"
    r = _vaelab("train", "--data", "digits", *SMALL, "--hidden", "32", "--out", run)
    assert "No space left on device" in _one_line_error(r)
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler"]


def test_a_read_only_out_is_one_line(tmp_path):
    mount = tmp_path / "ro"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({made.stderr.strip()})")
    try:
        r = _vaelab("train", "--data", "digits", *SMALL, "--out", mount / "run")
        assert "not writable" in _one_line_error(r) or "Read-only" in _one_line_error(r)
    finally:
        subprocess.run(["umount", str(mount)], check=True)


# 8. --resume with other options ----------------------------------------------------------


def test_resume_may_change_the_safe_options_and_records_the_change(tmp_path):
    run = tmp_path / "run"
    r = CliRunner().invoke(main, ["train", "--data", "digits", *SMALL, "--out", str(run)])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(
        main,
        [
            "train",
            "--resume",
            str(run),
            "--epochs",
            "3",
            "--lr",
            "1e-4",
            "--on-divergence",
            "rollback",
            "--quiet",
        ],
    )
    assert r.exit_code == 0, r.output
    train = read_config(run)["train"]
    assert (train["epochs"], train["lr"], train["on_divergence"]) == (3, 1e-4, "rollback")
    lines = [json.loads(s) for s in (run / "metrics.jsonl").read_text().splitlines()]
    events = [x for x in lines if x.get("event") == "resume"]
    assert events == [
        {
            "event": "resume",
            "after_epoch": 1,
            "changed": {
                "epochs": {"from": 1, "to": 3},
                "lr": {"from": 1e-3, "to": 1e-4},
                "on_divergence": {"from": "stop", "to": "rollback"},
            },
        }
    ]
    assert [x["epoch"] for x in lines if "epoch" in x] == [1, 2, 3]


@pytest.mark.parametrize(
    "option", [["--latent-dim", "5"], ["--data", "mnist"], ["--seed", "1"], ["--batch-size", "64"]]
)
def test_resume_refuses_options_that_cannot_change(tmp_path, option):
    run = tmp_path / "run"
    CliRunner().invoke(main, ["train", "--data", "digits", *SMALL, "--out", str(run)])
    before = _tree(run)
    r = CliRunner().invoke(main, ["train", "--resume", str(run), *option])
    assert option[0] in _one_line_error(r)
    assert _tree(run) == before


def test_a_refused_resume_changes_nothing_in_the_run_directory(tmp_path):
    run = tmp_path / "run"
    assert CliRunner().invoke(main, ["train", "--data", "digits", *SMALL, "--out", str(run)]).exit_code == 0
    (run / LOCK).unlink()  # e.g. a run copied elsewhere
    (run / "checkpoint.prev.safetensors").unlink(missing_ok=True)
    blob = bytearray((run / "checkpoint.safetensors").read_bytes())
    blob[-3] ^= 0xFF  # damage the tensor data
    (run / "checkpoint.safetensors").write_bytes(bytes(blob))
    before = _tree(run)
    r = CliRunner().invoke(main, ["train", "--resume", str(run), "--quiet"])
    assert "checkpoint" in _one_line_error(r)
    assert _tree(run) == before  # no lock file made, nothing rewritten


def test_sample_refuses_absurd_counts_in_one_line(tmp_path):
    run = tmp_path / "run"
    assert CliRunner().invoke(main, ["train", "--data", "digits", *SMALL, "--out", str(run)]).exit_code == 0
    r = CliRunner().invoke(main, ["sample", str(run), "-n", "1000000000"])
    assert "-n" in _one_line_error(r)
