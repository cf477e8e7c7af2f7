"""Run directories: config.json + model.safetensors + metrics.jsonl, never pickle.

Every file is written atomically (temp file, fsync, rename), so a run directory
is always either the old complete state or the new complete state.

Every file is checked in full when read, and a damaged one is a `RunDirError`
naming the file and what is wrong: config.json against the config dataclasses
(`read_config`), model.safetensors against the model config.json describes,
before its data is read, then against its checksum and for non-finite weights
(`load_model`), metrics.jsonl and summary.json record by record.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from vaelab import _tensorfile
from vaelab._atomic import atomic_write_bytes, atomic_write_json
from vaelab._config import nonfinite, parse_json
from vaelab._version import __version__
from vaelab.core.config import ModelConfig
from vaelab.core.models import Model, build_model
from vaelab.data import DataSpec
from vaelab.errors import ConfigError, RunDirError
from vaelab.training.config import TrainConfig

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
FORMAT_VERSION = 1
MAX_JSON_BYTES = 10 * 2**20  # config.json and summary.json are a few kB
MAX_METRICS_BYTES = 256 * 2**20  # about a million epochs
# The top-level keys of config.json: what `write_config` writes, the sections of
# `vaelab.runs.run.train_run` (train, data) and of `vaelab.VAE.save` (train, estimator).
SECTIONS = ("format", "vaelab_version", "model", "train", "data", "estimator")


def read_json(path: Path, *, allow_nonfinite: bool = False, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """Parse a JSON file; a missing, huge, deeply nested or corrupted file is a `RunDirError`.

    NaN and ±inf are refused unless ``allow_nonfinite`` (see `vaelab._config.parse_json`).
    """
    path = Path(path)
    if not path.is_file():
        raise RunDirError(f"{path} is missing")
    size = path.stat().st_size
    if size > max_bytes:
        raise RunDirError(f"{path} is {size} bytes, more than the {max_bytes} a vaelab JSON file can be")
    try:
        return parse_json(path.read_bytes(), allow_nonfinite=allow_nonfinite)
    except ConfigError as err:
        raise RunDirError(f"{path}: {err}") from None


def save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    """Save named tensors in safetensors format with a checksum, atomically."""
    flat = {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}
    atomic_write_bytes(path, _tensorfile.encode(flat))


def load_tensors(
    path: Path,
    expected: dict[str, tuple[torch.dtype, tuple[int, ...]]] | None = None,
    what: str = "the model",
) -> dict[str, torch.Tensor]:
    """Load a `save_tensors` file; a missing, damaged or mismatched file is a `RunDirError`.

    Parameters
    ----------
    path : Path
        The safetensors file.
    expected : dict, optional
        ``{name: (dtype, shape)}`` the file must hold exactly; checked against
        its header before any data is read.
    what : str
        What ``expected`` comes from, for the error message.

    Returns
    -------
    dict of str to Tensor
    """

    def check(header: _tensorfile.Header) -> None:
        unknown = sorted(set(header.metadata) - {_tensorfile.CHECKSUM})
        if unknown:
            raise RunDirError(
                f"{path} has unknown metadata {unknown}; expected only {_tensorfile.CHECKSUM!r}"
            )
        if expected is not None:
            _tensorfile.check_layout(header, expected, what)

    return _tensorfile.load(Path(path), check)[0]


def write_config(run_dir: Path, model: ModelConfig, **sections: Any) -> None:
    """Write config.json: the model config plus any JSON sections (train, data, ...).

    Raises `ConfigError` for a NaN or infinite value, which `read_config` would refuse.
    """
    config = {"format": FORMAT_VERSION, "vaelab_version": __version__, "model": model.to_dict()}
    config.update(sections)
    bad = nonfinite(config)
    if bad is not None:
        raise ConfigError(f"cannot save config.json: {bad[0]}={bad[1]} is not a finite number")
    atomic_write_json(Path(run_dir) / CONFIG, config)


def read_config(run_dir: Path) -> dict:
    """The parsed config.json of a run directory, checked in full.

    The model section must build a `ModelConfig`, and the train and data
    sections (when present) a `vaelab.training.loop.TrainConfig` and a
    `vaelab.data.DataSpec`; they are returned completed with their defaults.
    Unknown top-level keys, another ``format``, NaN or infinite numbers, deep
    nesting and files over 10 MB are refused with a `RunDirError` that names
    config.json and the bad key.

    Examples
    --------
    >>> import json, tempfile
    >>> from vaelab.core.models import VAE
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = save_model(d, VAE(ModelConfig(input_shape=(8,), latent_dim=2, hidden=(4,))))
    ...     config = json.loads((Path(d) / CONFIG).read_text())
    ...     _ = (Path(d) / CONFIG).write_text(json.dumps({**config, "format": 999}))
    ...     read_config(d)
    Traceback (most recent call last):
    vaelab.errors.RunDirError: .../config.json: format=999 is not one this vaelab reads (1); ...
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"run directory {run_dir} does not exist")
    path = run_dir / CONFIG
    return check_config(read_json(path), path)


def check_config(config: Any, path: Path) -> dict:
    """``config`` (parsed config.json) checked in full, as `read_config` does; returns it completed."""
    if not isinstance(config, dict) or not isinstance(config.get("model"), dict):
        raise RunDirError(f"{path} has no 'model' section; is this a vaelab run?")
    unknown = sorted(set(config) - set(SECTIONS))
    if unknown:
        raise RunDirError(f"{path}: unknown top-level keys {unknown}; expected some of {list(SECTIONS)}")
    fmt = config.get("format")
    if type(fmt) is not int or fmt != FORMAT_VERSION:
        raise RunDirError(
            f"{path}: format={fmt!r:.40} is not one this vaelab reads "
            f"({FORMAT_VERSION}); was it written by another vaelab version "
            f"({config.get('vaelab_version')!r:.40})?"
        )
    if not isinstance(config.get("vaelab_version", ""), str):
        raise RunDirError(f"{path}: vaelab_version must be a string")
    out = dict(config)
    section = "model"
    try:
        model = ModelConfig.from_dict(config["model"])
        out["model"] = model.to_dict()
        for section, cls in (("train", TrainConfig), ("data", DataSpec)):
            if section in config:
                out[section] = cls.from_dict(config[section]).to_dict()
        section = "estimator"
        if "estimator" in config:
            _check_estimator(config["estimator"], model)
    except ConfigError as err:
        raise RunDirError(f"{path}: invalid {section} section ({err})") from None
    return out


def _check_estimator(section: Any, model: ModelConfig) -> None:
    """The estimator section `vaelab.VAE.save` writes: its class, params and fitted state."""
    if not isinstance(section, dict):
        raise ConfigError(f"expected an object, got {type(section).__name__}")
    unknown = sorted(set(section) - {"class", "params", "fitted"})
    if unknown:
        raise ConfigError(f"unknown keys {unknown}; expected class, params and fitted")
    if not isinstance(section.get("class"), str):
        raise ConfigError(f"estimator.class must be a class name, got {section.get('class')!r:.40}")
    params, fitted = section.get("params", {}), section.get("fitted")
    if not isinstance(params, dict):
        raise ConfigError(f"estimator.params must be an object, got {type(params).__name__}")
    sizes = params.get("hidden_layer_sizes", [])
    if not isinstance(sizes, list) or not all(type(h) is int and h >= 0 for h in sizes):
        raise ConfigError(f"estimator.params.hidden_layer_sizes={sizes!r:.40} must be a list of layer widths")
    if not isinstance(fitted, dict):
        raise ConfigError(f"estimator.fitted must be an object, got {type(fitted).__name__}")
    n = fitted.get("n_features_in_")
    if type(n) is not int or n != model.n_features:
        raise ConfigError(
            f"estimator.fitted.n_features_in_={n!r:.40} must be the model's {model.n_features} input features"
        )
    names = fitted.get("feature_names_in_", [""] * n)
    if not isinstance(names, list) or len(names) != n or not all(isinstance(f, str) for f in names):
        raise ConfigError(f"estimator.fitted.feature_names_in_ must be {n} strings")
    for key, ok, expected in (
        ("likelihood_", lambda v: isinstance(v, str), "a likelihood name"),
        ("n_iter_", lambda v: type(v) is int and v >= 0, "an int >= 0"),
        ("seed", lambda v: type(v) is int, "an int"),
        ("history_", lambda v: isinstance(v, dict), "an object of curves"),
    ):
        if key in fitted and not ok(fitted[key]):
            raise ConfigError(f"estimator.fitted.{key}={fitted[key]!r:.40} must be {expected}")


def save_model(run_dir: Path, model: Model, **sections: Any) -> Path:
    """Save a model into a run directory: config.json, then model.safetensors."""
    run_dir = Path(run_dir)
    write_config(run_dir, model.config, **sections)
    save_tensors(run_dir / WEIGHTS, model.state_dict())
    return run_dir


def model_layout(config: ModelConfig, path: Path) -> Model:
    """The model ``config`` describes, built on the meta device: its shapes, no memory."""
    try:
        with torch.device("meta"):
            return build_model(config)
    except (ConfigError, RuntimeError, ValueError, TypeError, OverflowError) as err:
        raise RunDirError(
            f"{path}: cannot build the model it describes "
            f"({str(err).splitlines()[0] if str(err) else type(err).__name__})"
        ) from None


def load_model(run_dir: Path, device: str | torch.device = "cpu") -> Model:
    """Rebuild the model stored in a run directory, in eval mode.

    model.safetensors must hold exactly the tensors (names, dtypes, shapes) of
    the model config.json describes, which is checked before its data is read;
    then its checksum, and every weight must be finite. Anything else is a
    `RunDirError` naming the file and the tensor.

    Examples
    --------
    >>> import tempfile, torch
    >>> from vaelab.core.models import VAE, ModelConfig
    >>> vae = VAE(ModelConfig(input_shape=(8,), latent_dim=2, hidden=(4,)))
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = save_model(d, vae)
    ...     same = load_model(d)
    >>> x = torch.rand(3, 8)
    >>> bool(torch.equal(same.code(x), vae.code(x)))
    True
    """
    run_dir = Path(run_dir)
    config = ModelConfig.from_dict(read_config(run_dir)["model"])  # checked: cannot fail
    skeleton = model_layout(config, run_dir / CONFIG)
    expected = _tensorfile.describe(skeleton.state_dict())
    state = load_tensors(run_dir / WEIGHTS, expected, "config.json")
    for name, t in state.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            bad = int((~torch.isfinite(t)).sum())
            raise RunDirError(
                f"{run_dir / WEIGHTS}: tensor {name!r} holds {bad} NaN or "
                "infinite values; these weights cannot be used"
            )
    model = build_model(config)
    model.load_state_dict(state)
    return model.to(device).eval()


def append_metrics(run_dir: Path, record: dict) -> None:
    """Append one JSON line to metrics.jsonl (flushed and fsynced)."""
    path = Path(run_dir) / METRICS
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_metrics(run_dir: Path) -> list[dict]:
    """All records of metrics.jsonl: per-epoch metrics and events (e.g. a resume).

    A torn last line (a crash while appending) is ignored. Any other malformed
    line is a `RunDirError` naming its line number. An epoch record holds
    ``epoch`` (int >= 1) and the numbers ``train_loss``, ``train_reconstruction``,
    ``train_kl`` and ``seconds`` (and ``valid_loss``, ``valid_reconstruction``,
    ``valid_kl`` together or not at all); an event record holds an ``event`` name.

    Examples
    --------
    >>> import tempfile
    >>> record = {"epoch": 1, "train_loss": 3.0, "train_reconstruction": 2.5,
    ...           "train_kl": 0.5, "seconds": 0.1}
    >>> with tempfile.TemporaryDirectory() as d:
    ...     append_metrics(d, record)
    ...     with open(Path(d) / METRICS, "a") as f:
    ...         _ = f.write('{"epoch": 2, "train_lo')  # torn by a crash
    ...     [r["epoch"] for r in read_metrics(d)]
    [1]
    """
    path = Path(run_dir) / METRICS
    if not path.is_file():
        return []
    size = path.stat().st_size
    if size > MAX_METRICS_BYTES:
        raise RunDirError(f"{path} is {size} bytes, more than the {MAX_METRICS_BYTES} a metrics file can be")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise RunDirError(f"{path} is not a UTF-8 JSON-lines file ({err.reason})") from None
    lines = text.split("\n")
    last = lines.pop()  # what follows the last newline: "" or a line torn by a crash
    records = [_metrics_record(line, path, i) for i, line in enumerate(lines, 1) if line.strip()]
    if last.strip():
        try:
            records.append(_metrics_record(last, path, len(lines) + 1))
        except RunDirError:
            pass  # torn while being appended
    return records


_EPOCH_KEYS = ("train_loss", "train_reconstruction", "train_kl", "seconds")
_VALID_KEYS = ("valid_loss", "valid_reconstruction", "valid_kl")


def _metrics_record(line: str, path: Path, number: int) -> dict:
    """One checked line of metrics.jsonl (losses may be inf: they are results, not settings)."""
    where = f"{path} line {number}"
    try:
        record = parse_json(line, allow_nonfinite=True, max_depth=4)
    except ConfigError as err:
        raise RunDirError(f"{where}: {err}") from None
    if not isinstance(record, dict):
        raise RunDirError(f"{where}: expected a JSON object, got {type(record).__name__}")
    if "event" in record:
        if not isinstance(record["event"], str):
            raise RunDirError(f"{where}: event={record['event']!r:.40} must be a name")
        return record
    epoch = record.get("epoch")
    if type(epoch) is not int or epoch < 1:
        raise RunDirError(f"{where}: epoch={epoch!r:.40} must be an int >= 1")
    keys = _EPOCH_KEYS + (_VALID_KEYS if any(k in record for k in _VALID_KEYS) else ())
    for key in keys:
        if key not in record:
            raise RunDirError(f"{where}: the epoch {epoch} record lacks {key!r}")
        if not _is_number(record[key]):
            raise RunDirError(f"{where}: {key}={record[key]!r:.40} must be a number")
    return record


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


# summary.json as `vaelab.runs.run.train_run` writes it: key → (check, what it must be)
_SUMMARY = {
    "epochs": (lambda v: type(v) is int and v >= 0, "an int >= 0"),
    "train_seconds": (lambda v: _is_number(v) and v >= 0, "a number >= 0"),
    "best_epoch": (lambda v: v is None or type(v) is int and v >= 1, "null or an int >= 1"),
    "test_loss": (_is_number, "a number"),
    "test_reconstruction": (_is_number, "a number"),
    "test_kl": (_is_number, "a number"),
    "n_train": (lambda v: type(v) is int and v >= 0, "an int >= 0"),
    "n_test": (lambda v: type(v) is int and v >= 0, "an int >= 0"),
}


def read_summary(run_dir: Path) -> dict | None:
    """summary.json of a finished run, checked key by key, or None when there is none.

    Test scores may be inf (a model can assign a test point zero density);
    every key `vaelab.runs.run.train_run` writes must be there with its type, else
    `RunDirError`. Keys added by later versions are kept.
    """
    path = Path(run_dir) / SUMMARY
    if not path.exists():
        return None
    summary = read_json(path, allow_nonfinite=True)
    if not isinstance(summary, dict):
        raise RunDirError(f"{path}: expected a JSON object, got {type(summary).__name__}")
    for key, (ok, expected) in _SUMMARY.items():
        if key not in summary:
            raise RunDirError(f"{path} lacks {key!r}; is the run directory damaged?")
        if not ok(summary[key]):
            raise RunDirError(f"{path}: {key}={summary[key]!r:.40} must be {expected}")
    return summary


def truncate_metrics(run_dir: Path, epoch: int) -> None:
    """Keep only the metrics.jsonl records of epochs up to ``epoch`` (atomically).

    Examples
    --------
    >>> import tempfile
    >>> record = {"train_loss": 3.0, "train_reconstruction": 2.5, "train_kl": 0.5, "seconds": 0.1}
    >>> with tempfile.TemporaryDirectory() as d:
    ...     for e in (1, 2, 3):
    ...         append_metrics(d, {"epoch": e, **record})
    ...     truncate_metrics(d, 2)
    ...     [r["epoch"] for r in read_metrics(d)]
    [1, 2]
    """
    path = Path(run_dir) / METRICS
    if not path.exists():
        return
    keep = [r for r in read_metrics(run_dir) if isinstance(r, dict) and r.get("epoch", 0) <= epoch]
    atomic_write_bytes(path, "".join(json.dumps(r) + "\n" for r in keep).encode())
