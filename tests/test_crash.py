"""Crash safety: SIGKILL `vaelab train` at random moments; the run always loads and resumes."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from vaelab.runs.files import load_model, read_metrics, read_summary
from vaelab.training.checkpoint import has_checkpoint, load_checkpoint

EPOCHS = 60  # more than the kills below can use up (at most 7 × 6 epochs)


def _cmd(data, run, resume=False):
    if resume:
        return [sys.executable, "-m", "vaelab", "train", "--resume", str(run), "--quiet"]
    return [
        sys.executable,
        "-m",
        "vaelab",
        "train",
        "--data",
        str(data),
        "--epochs",
        str(EPOCHS),
        "--batch-size",
        "16",
        "--hidden",
        "8",
        "--latent-dim",
        "2",
        "--device",
        "cpu",
        "--valid-fraction",
        "0.1",
        "--quiet",
        "--out",
        str(run),
    ]


def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


@pytest.mark.slow
def test_sigkill_at_random_moments_never_breaks_the_run(tmp_path):
    rng = random.Random(8)
    data = tmp_path / "x.npy"
    np.save(data, np.random.default_rng(0).random((400, 6), dtype=np.float32))
    run = tmp_path / "run"
    last_epoch, kills = 0, 0
    for attempt in range(7):
        resume = has_checkpoint(run)
        log = tmp_path / f"stderr{attempt}.txt"
        with open(log, "wb") as err:
            proc = subprocess.Popen(
                _cmd(data, run, resume), env=_env(), stdout=subprocess.DEVNULL, stderr=err
            )
        # kill after a random number of further checkpointed epochs plus a random instant
        # (saves happen every epoch, so many kills land during or right around a save);
        # counting epochs rather than seconds keeps this independent of the machine's speed
        target = last_epoch + rng.randint(1, 6)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None and _epoch(run) < target:
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.05))
        if proc.poll() is not None:
            assert proc.returncode == 0, log.read_text()
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        # whatever the moment, the run directory loads and its checkpoint is readable
        load_model(run)
        epoch = _epoch(run)
        assert epoch >= last_epoch  # never lose a checkpointed epoch
        last_epoch = epoch
    assert kills == 7
    done = subprocess.run(
        _cmd(data, run, resume=True), env=_env(), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert read_summary(run)["epochs"] == EPOCHS
    assert [r["epoch"] for r in read_metrics(run)] == list(range(1, EPOCHS + 1))
    load_model(run)


def _epoch(run):
    return load_checkpoint(run)["meta"]["state"]["epoch"] if has_checkpoint(run) else 0
