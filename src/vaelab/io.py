"""Run directories: config.json + model.safetensors + metrics.jsonl, never pickle.

Every file is written atomically (temp file, fsync, rename), so a run directory
is always either the old complete state or the new complete state.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from vaelab import __version__
from vaelab.errors import ConfigError, RunDirError
from vaelab.models import ModelConfig, build_model

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
METRICS = "metrics.jsonl"
FORMAT_VERSION = 1
_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual file mode
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def atomic_write_json(path: Path, obj: Any) -> None:
    """`atomic_write_bytes` of pretty-printed JSON."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def read_json(path: Path) -> Any:
    """Parse a JSON file, turning a missing or corrupted file into a `RunDirError`."""
    path = Path(path)
    if not path.is_file():
        raise RunDirError(f"{path} is missing")
    try:
        return json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RunDirError(f"{path} is not valid JSON ({err})") from None


def save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    """Save named tensors in safetensors format, atomically."""
    flat = {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}
    atomic_write_bytes(path, st_save(flat))


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    """Load a safetensors file; a missing or corrupted file is a `RunDirError`."""
    path = Path(path)
    if not path.is_file():
        raise RunDirError(f"{path} is missing")
    try:
        return st_load(path.read_bytes())
    except (SafetensorError, ValueError, RuntimeError) as err:
        raise RunDirError(f"{path} is not a valid safetensors file ({err})") from None


def write_config(run_dir: Path, model: ModelConfig, **sections: Any) -> None:
    """Write config.json: the model config plus any JSON sections (train, data, ...)."""
    config = {"format": FORMAT_VERSION, "vaelab_version": __version__, "model": model.to_dict()}
    config.update(sections)
    atomic_write_json(Path(run_dir) / CONFIG, config)


def read_config(run_dir: Path) -> dict:
    """The parsed config.json of a run directory, checked for its required keys."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"run directory {run_dir} does not exist")
    config = read_json(run_dir / CONFIG)
    if not isinstance(config, dict) or not isinstance(config.get("model"), dict):
        raise RunDirError(f"{run_dir / CONFIG} has no 'model' section; is this a vaelab run?")
    return config


def save_model(run_dir: Path, model: torch.nn.Module, **sections: Any) -> Path:
    """Save a model into a run directory: config.json, then model.safetensors."""
    run_dir = Path(run_dir)
    write_config(run_dir, model.config, **sections)
    save_tensors(run_dir / WEIGHTS, model.state_dict())
    return run_dir


def load_model(run_dir: Path, device: str | torch.device = "cpu") -> torch.nn.Module:
    """Rebuild the model stored in a run directory, in eval mode.

    Examples
    --------
    >>> import tempfile, torch
    >>> from vaelab.models import VAE, ModelConfig
    >>> vae = VAE(ModelConfig(input_shape=(8,), latent_dim=2, hidden=(4,)))
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = save_model(d, vae)
    ...     same = load_model(d)
    >>> x = torch.rand(3, 8)
    >>> bool(torch.equal(same.code(x), vae.code(x)))
    True
    """
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    try:
        model = build_model(ModelConfig.from_dict(config["model"]))
    except (ConfigError, TypeError) as err:
        raise RunDirError(f"{run_dir / CONFIG}: invalid model config ({err})") from None
    state = load_tensors(run_dir / WEIGHTS)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).splitlines()[0]
        raise RunDirError(f"{run_dir / WEIGHTS} does not match config.json ({first})") from None
    return model.to(device).eval()


def append_metrics(run_dir: Path, record: dict) -> None:
    """Append one JSON line to metrics.jsonl (flushed and fsynced)."""
    path = Path(run_dir) / METRICS
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_metrics(run_dir: Path) -> list[dict]:
    """All complete records of metrics.jsonl (a torn last line is ignored)."""
    path = Path(run_dir) / METRICS
    if not path.is_file():
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise RunDirError(f"{path} is not a UTF-8 JSON-lines file ({err.reason})") from None
    records = []
    for line in text.splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return records
