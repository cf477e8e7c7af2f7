"""Train a model into a run directory, and reload a run's model and data.

This is the glue the CLI and the estimators share: data spec → data → model →
fit → run directory (config.json, model.safetensors, metrics.jsonl, summary.json).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import torch

from vaelab import distributed
from vaelab.data import Dataset, DataSpec, DataSplits, load_data
from vaelab.errors import ConfigError, RunDirError
from vaelab.io import (
    WEIGHTS,
    append_metrics,
    atomic_write_json,
    load_model,
    read_config,
    read_json,
    save_model,
)
from vaelab.models import ModelConfig, build_model
from vaelab.train import History, TrainConfig, as_flat_tensor, elbo_terms, fit

SUMMARY = "summary.json"


def eval_view(ds: Dataset, train: TrainConfig, seed: int) -> Dataset:
    """The data as evaluated: under dynamic binarization, one fixed seeded draw (IWAE protocol)."""
    if train.binarize != "dynamic" or ds.kind == "binary":
        return ds
    from vaelab.data import binarize_static

    return binarize_static(ds, seed)


def check_likelihood(model: ModelConfig, data: Dataset, train: TrainConfig) -> None:
    """A Bernoulli likelihood needs data in [0, 1]: refuse real-valued data early."""
    if model.likelihood == "bernoulli" and data.kind == "real":
        lo, hi = float(np.min(data.x)), float(np.max(data.x))
        raise ConfigError(
            f"likelihood='bernoulli' needs values in [0, 1] but {data.name} has values "
            f"in [{lo:g}, {hi:g}]; use likelihood='gaussian' (or rescale the data)"
        )


def prepare_run_dir(run_dir: Path, overwrite: bool) -> Path:
    """Create an empty run directory; refuse to mix with an existing run."""
    run_dir = Path(run_dir)
    if run_dir.exists() and any(run_dir.iterdir()):
        if not overwrite:
            raise RunDirError(
                f"run directory {run_dir} already exists and is not empty; "
                "choose another --out or pass --overwrite"
            )
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def train_run(
    data: DataSpec,
    model: ModelConfig,
    train: TrainConfig,
    run_dir: Path,
    *,
    overwrite: bool = False,
    progress: bool = True,
    splits: DataSplits | None = None,
) -> tuple[torch.nn.Module, History]:
    """Load data, build the model, train it, and write a complete run directory.

    The model's ``input_shape`` is taken from the data. Everything is validated
    before the directory is created, so a user error leaves nothing behind.
    Pass ``splits`` when the caller has already loaded ``load_data(data)``.

    Returns
    -------
    model, history
    """
    splits = splits or load_data(data)
    model = ModelConfig(**{**model.to_dict(), "input_shape": splits.train.sample_shape})
    check_likelihood(model, splits.train, train)
    net = build_model(model)
    sections = {"train": train.to_dict(), "data": data.to_dict()}
    if distributed.is_main():  # under torchrun, rank 0 alone writes
        run_dir = prepare_run_dir(run_dir, overwrite)
        save_model(run_dir, net, **sections)  # an untrained but loadable run from the start
    distributed.barrier()
    return _fit_and_finish(net, splits, data, train, Path(run_dir), sections, progress, False)


def resume_run(run_dir: Path, *, progress: bool = True) -> tuple[torch.nn.Module, History]:
    """Continue an interrupted `train_run` from the last checkpoint in ``run_dir``.

    Model, optimizer, schedule, epoch, early-stopping state and every RNG state
    come from ``checkpoint.safetensors``; metrics.jsonl lines written after that
    checkpoint are dropped, since those epochs are trained again.

    Returns
    -------
    model, history
    """
    from vaelab.checkpoint import load_checkpoint, truncate_metrics

    run_dir = Path(run_dir)
    config = read_config(run_dir)
    if "data" not in config or "train" not in config:
        raise RunDirError(f"{run_dir / 'config.json'} lacks the data or train section to resume")
    data = DataSpec.from_dict(config["data"])
    train = TrainConfig.from_dict(config["train"])
    try:
        model = ModelConfig.from_dict(config["model"])
    except ConfigError as err:
        raise RunDirError(f"{run_dir / 'config.json'}: invalid model config ({err})") from None
    epoch = load_checkpoint(run_dir)["meta"]["state"]["epoch"]  # fails early without one
    splits = load_data(data)
    net = build_model(model)
    if distributed.is_main():
        truncate_metrics(run_dir, epoch)
    distributed.barrier()
    sections = {k: v for k, v in config.items() if k not in ("format", "vaelab_version", "model")}
    return _fit_and_finish(net, splits, data, train, run_dir, sections, progress, True)


def _fit_and_finish(net, splits, data, train, run_dir, sections, progress, resume):
    valid = None if splits.valid is None else eval_view(splits.valid, train, data.seed + 3)
    start = time.perf_counter()

    def after_epoch(epoch: int, record: dict) -> None:
        append_metrics(run_dir, record)
        save_model(run_dir, net, **sections)  # the latest weights, loadable while training runs

    history = fit(net, splits.train, train, valid=valid, progress=progress,
                  on_epoch=after_epoch, checkpoint_dir=run_dir, resume=resume)
    seconds = time.perf_counter() - start
    if not distributed.is_main():
        return net, history
    save_model(run_dir, net, **sections)
    test = eval_view(splits.test, train, data.seed + 4)
    terms = elbo_terms(net, as_flat_tensor(test, next(net.parameters()).device))
    summary = {
        "epochs": len(history.epoch), "train_seconds": seconds,
        "best_epoch": history.best_epoch,
        "test_loss": terms["loss"], "test_reconstruction": terms["reconstruction"],
        "test_kl": terms["kl"], "n_train": len(splits.train), "n_test": len(test),
    }
    atomic_write_json(run_dir / SUMMARY, summary)
    return net, history


def load_run(run_dir: Path, device: str = "cpu") -> tuple[torch.nn.Module, dict]:
    """The model of a complete run directory and its parsed config.json."""
    run_dir = Path(run_dir)
    if not (run_dir / WEIGHTS).exists() and (run_dir / "config.json").exists():
        raise RunDirError(f"{run_dir} has no {WEIGHTS}: the run never finished saving")
    return load_model(run_dir, device), read_config(run_dir)


def run_data(config: dict) -> tuple[DataSplits, TrainConfig, int]:
    """Reload a run's data pipeline from its config.json: (splits, train config, seed)."""
    try:
        spec = DataSpec.from_dict(config["data"])
        train = TrainConfig.from_dict(config.get("train", {}))
    except KeyError:
        raise RunDirError("config.json has no 'data' section: pass --data explicitly") from None
    return load_data(spec), train, spec.seed


def read_summary(run_dir: Path) -> dict | None:
    """summary.json of a finished run, or None."""
    path = Path(run_dir) / SUMMARY
    return read_json(path) if path.exists() else None
