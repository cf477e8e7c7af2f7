"""Train a model into a run directory, and reload a run's model and data.

This is the glue the CLI and the estimators share: data spec → data → model →
fit → run directory (config.json, model.safetensors, metrics.jsonl, summary.json).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from vaelab._atomic import atomic_write_json
from vaelab._machine import physical_memory
from vaelab.core.config import ModelConfig
from vaelab.core.inference import as_flat_tensor, elbo_terms
from vaelab.core.models import Model, build_model
from vaelab.data import Dataset, DataSpec, DataSplits, load_data
from vaelab.errors import ConfigError, RunDirError
from vaelab.runs.directory import RunLock, check_out_path, create_run_dir, remove_temp_files
from vaelab.runs.files import (
    SUMMARY,
    WEIGHTS,
    append_metrics,
    load_model,
    read_config,
    read_metrics,
    save_model,
    truncate_metrics,
    write_config,
)
from vaelab.training import distributed
from vaelab.training.checkpoint import has_checkpoint
from vaelab.training.config import TrainConfig, check_objective, check_step
from vaelab.training.history import History
from vaelab.training.loop import fit


def eval_view(ds: Dataset, train: TrainConfig, seed: int) -> Dataset:
    """The data as evaluated: under dynamic binarization, one fixed seeded draw (IWAE protocol)."""
    if train.binarize != "dynamic" or ds.kind == "binary":
        return ds
    from vaelab.data import binarize_static

    return binarize_static(ds, seed)


# The fixed draw each split is evaluated under: data seed + offset. Every module that
# evaluates a run (train_run's summary, vaelab.evaluate, `vaelab reconstruct`) uses these,
# so they all see the same binarized test set.
EVAL_DRAW_OFFSET = {"valid": 3, "test": 4, "train": 5}


def eval_split(splits: DataSplits, split: str, train: TrainConfig, seed: int) -> Dataset:
    """``eval_view`` of one split ("train", "valid" or "test") with its own fixed draw.

    ``seed`` is the data seed (`DataSpec.seed`); the draw is ``seed + EVAL_DRAW_OFFSET[split]``.
    """
    return eval_view(getattr(splits, split), train, seed + EVAL_DRAW_OFFSET[split])


def check_likelihood(model: ModelConfig, data: Dataset, train: TrainConfig) -> None:
    """A Bernoulli likelihood needs data in [0, 1]: refuse real-valued data early."""
    if model.likelihood == "bernoulli" and data.kind == "real":
        lo, hi = float(np.min(data.x)), float(np.max(data.x))
        raise ConfigError(
            f"likelihood='bernoulli' needs values in [0, 1] but {data.name} has values "
            f"in [{lo:g}, {hi:g}]; use likelihood='gaussian' (or rescale the data)"
        )


# Options that a resume may change: they steer the rest of training, not what was trained.
RESUMABLE = ("epochs", "lr", "on_divergence", "checkpoint_every", "checkpoint_minutes")


def absolute_spec(spec: DataSpec) -> DataSpec:
    """``spec`` with its paths made absolute, so the run works from any directory.

    A source that names a file or directory (rather than a dataset such as
    "mnist") and ``data_dir`` are resolved against the current directory.
    """
    from vaelab.data import KNOWN_DATASETS

    d = spec.to_dict()
    if d["source"] not in KNOWN_DATASETS:
        d["source"] = str(Path(d["source"]).expanduser().absolute())
    if d["data_dir"] is not None:
        d["data_dir"] = str(Path(d["data_dir"]).expanduser().absolute())
    return DataSpec.from_dict(d)


def check_trainable(model: ModelConfig, splits: DataSplits, train: TrainConfig) -> None:
    """Refuse, before anything is written, a run that would fail after it started."""
    from vaelab.training.runtime import resolve_device

    resolve_device(train.device)  # e.g. cuda without a GPU
    check_likelihood(model, splits.train, train)
    n = len(splits.train)
    if n < 2:
        raise ConfigError(
            f"the training split has {n} sample(s) after holding out validation "
            "data; training needs at least 2 (lower --valid-fraction)"
        )
    check_objective(model.kind, train)
    check_step(model.network, model.likelihood, train, model.latent_dim2)
    if train.checkpoint_every == 0 and train.checkpoint_minutes is None:
        raise ConfigError(
            "checkpoint_every=0 without checkpoint_minutes never writes a "
            "checkpoint, so the run could never be resumed; give "
            "--checkpoint-minutes M or --checkpoint-every N >= 1"
        )
    # activations of one step: K samples x batch x (decoder widths + output), fwd and bwd
    widths = sum(model.hidden) + model.latent_dim + model.n_features
    need = 4 * 3 * train.importance_samples * min(train.batch_size, n) * widths
    have = physical_memory()
    if have and need > have:
        raise ConfigError(
            f"importance_samples={train.importance_samples} with batch_size={train.batch_size} "
            f"needs about {need / 2**30:.0f} GiB per step, more than this machine's "
            f"{have / 2**30:.0f} GiB; lower --importance-samples or --batch-size"
        )


def train_run(
    data: DataSpec,
    model: ModelConfig,
    train: TrainConfig,
    run_dir: Path,
    *,
    overwrite: bool = False,
    progress: bool = True,
    splits: DataSplits | None = None,
) -> tuple[Model, History]:
    """Load data, build the model, train it, and write a complete run directory.

    The model's ``input_shape`` is taken from the data, and its initial weights
    from ``train.seed``. Everything is validated before the directory is created,
    so a user error leaves nothing behind. The directory appears with its
    config.json and model.safetensors already in it (`vaelab.runs.directory`), and is
    locked against a second writer while training runs. With ``overwrite``, an
    existing run's files are replaced; files vaelab did not write are kept, and a
    directory that is not a run is refused. Pass ``splits`` when the caller has
    already loaded ``load_data(data)``.

    Returns
    -------
    model, history
    """
    data = absolute_spec(data)
    out = check_out_path(run_dir)
    splits = splits or load_data(data)
    model = ModelConfig(**{**model.to_dict(), "input_shape": splits.train.sample_shape})
    check_trainable(model, splits, train)
    net = build_model(model, seed=train.seed)
    sections = {"train": train.to_dict(), "data": data.to_dict()}
    lock = None
    if distributed.is_main():  # under torchrun, rank 0 alone writes
        lock = _writing(out, lambda: create_run_dir(out, overwrite, lambda d: save_model(d, net, **sections)))
    try:
        distributed.barrier()
        return _writing(
            out, lambda: _fit_and_finish(net, splits, data, train, Path(run_dir), sections, progress, False)
        )
    finally:
        if lock is not None:
            lock.release()


def resume_run(run_dir: Path, *, progress: bool = True, changes: dict | None = None) -> tuple[Model, History]:
    """Continue an interrupted `train_run` from the last checkpoint in ``run_dir``.

    Model, optimizer, schedule, epoch, early-stopping state and every RNG state
    come from ``checkpoint.safetensors``; metrics.jsonl lines written after that
    checkpoint are dropped, since those epochs are trained again. A run killed
    before its first checkpoint starts again from epoch 0 with its saved config
    (the same seed gives the same run). Leftover temp files of interrupted writes
    are removed.

    Parameters
    ----------
    changes : dict, optional
        New values for the training options in `RESUMABLE` (e.g. ``{"lr": 1e-4}``);
        they are written to config.json and recorded in metrics.jsonl.

    Returns
    -------
    model, history
    """
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
    changed = _changes(train, changes or {})
    train = TrainConfig(**{**train.to_dict(), **{k: new for k, (_, new) in changed.items()}})
    # everything is checked before the lock file is made: a refused resume changes nothing
    _resume_epoch(run_dir, model, train)
    read_metrics(run_dir)
    splits = load_data(data)
    check_trainable(model, splits, train)
    net = build_model(model, seed=train.seed)
    lock = _writing(run_dir, RunLock(run_dir).acquire) if distributed.is_main() else None
    try:
        started = has_checkpoint(run_dir)
        epoch = _resume_epoch(run_dir, model, train)  # again under the lock: it may have moved on
        sections = {k: v for k, v in config.items() if k not in ("format", "vaelab_version", "model")}
        sections["train"] = train.to_dict()
        if lock is not None:
            _writing(run_dir, lambda: _prepare_resume(run_dir, net, sections, epoch, changed))
        distributed.barrier()
        return _writing(
            run_dir, lambda: _fit_and_finish(net, splits, data, train, run_dir, sections, progress, started)
        )
    finally:
        if lock is not None:
            lock.release()


def _resume_epoch(run_dir: Path, model: ModelConfig, train: TrainConfig) -> int:
    """The epoch a resume starts after: its last usable checkpoint's, or 0 without one."""
    if not has_checkpoint(run_dir):
        return 0
    epoch = load_run_checkpoint(run_dir, model)["meta"]["state"]["epoch"]
    if train.epochs < epoch:
        raise ConfigError(
            f"epochs={train.epochs} is below the {epoch} epochs this run has "
            "already trained; give --epochs of at least that"
        )
    return int(epoch)


def load_run_checkpoint(run_dir: Path, model: ModelConfig) -> dict:
    """The newest usable checkpoint of a run, checked against its model before it is read."""
    from vaelab.runs.files import CONFIG, model_layout
    from vaelab.training.checkpoint import load_checkpoint

    return load_checkpoint(run_dir, model_layout(model, Path(run_dir) / CONFIG))


def _changes(train: TrainConfig, changes: dict) -> dict:
    """``{option: (old, new)}`` for the options that differ; others are refused by name."""
    fixed = sorted(set(changes) - set(RESUMABLE))
    if fixed:
        raise ConfigError(
            f"{', '.join(fixed)} cannot change when resuming (the run was "
            f"trained with them); options a resume can change: {', '.join(RESUMABLE)}"
        )
    old = train.to_dict()
    return {k: (old[k], v) for k, v in changes.items() if old[k] != v}


def _prepare_resume(run_dir: Path, net, sections: dict, epoch: int, changed: dict) -> None:
    remove_temp_files(run_dir)
    truncate_metrics(run_dir, epoch)
    if epoch == 0:  # never checkpointed: begin again from the saved config
        save_model(run_dir, net, **sections)
    elif changed:
        write_config(run_dir, net.config, **sections)
    if changed:
        append_metrics(
            run_dir,
            {
                "event": "resume",
                "after_epoch": epoch,
                "changed": {k: {"from": a, "to": b} for k, (a, b) in changed.items()},
            },
        )


def _writing(path: Path, write):
    """Run ``write()``, turning a failed disk write into a `RunDirError` that names ``path``."""
    try:
        return write()
    except OSError as err:
        what = f" ({err.filename})" if err.filename else ""
        raise RunDirError(
            f"cannot write the run directory {path}{what}: {err.strerror or err}; "
            "the last complete checkpoint, if any, is kept"
        ) from None


def _fit_and_finish(net, splits, data, train, run_dir, sections, progress, resume):
    valid = None if splits.valid is None else eval_split(splits, "valid", train, data.seed)
    start = time.perf_counter()

    def after_epoch(epoch: int, record: dict) -> None:
        append_metrics(run_dir, record)
        save_model(run_dir, net, **sections)  # the latest weights, loadable while training runs

    history = fit(
        net,
        splits.train,
        train,
        valid=valid,
        progress=progress,
        on_epoch=after_epoch,
        checkpoint_dir=run_dir,
        resume=resume,
    )
    seconds = time.perf_counter() - start
    if not distributed.is_main():
        return net, history
    save_model(run_dir, net, **sections)
    test = eval_split(splits, "test", train, data.seed)
    terms = elbo_terms(net, as_flat_tensor(test, next(net.parameters()).device))
    summary = {
        "epochs": len(history.epoch),
        "train_seconds": seconds,
        "best_epoch": history.best_epoch,
        "test_loss": terms["loss"],
        "test_reconstruction": terms["reconstruction"],
        "test_kl": terms["kl"],
        "n_train": len(splits.train),
        "n_test": len(test),
    }
    atomic_write_json(run_dir / SUMMARY, summary)
    return net, history


def load_run(run_dir: Path, device: str = "cpu") -> tuple[Model, dict]:
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
