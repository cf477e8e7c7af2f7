"""Where and how a step runs: the device and the autocast precision."""

from __future__ import annotations

import torch

from vaelab.errors import ConfigError


def resolve_device(device: str) -> torch.device:
    """'auto' → CUDA when available, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={device!r} requested but CUDA is not available")
    return torch.device(device)


def cpu_has_fast_bf16() -> bool:
    """True when this CPU runs bf16 matmuls natively (AVX-512 BF16 or AMX), read from /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for training, or None for plain fp32."""
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    fast = (
        device.type == "cuda"
        and torch.cuda.is_bf16_supported()
        or (device.type == "cpu" and cpu_has_fast_bf16())
    )
    return torch.bfloat16 if fast else None
