"""Numbers as the page writes them, shared by its words (`_text`) and its captions (`_figures`)."""

from __future__ import annotations

import shlex


def _g(x: float, digits: int = 3) -> str:
    """A number for prose: ``digits`` significant digits, but from 100 up one decimal.

    The page quotes differences beside the numbers they come from ("259.5 ... 257.4, 2.11
    nats below"), so a large number keeps its first decimal: rounded to whole numbers
    those two would read as a gap of 3. A whole number stays whole.

    Examples
    --------
    >>> _g(3.14159), _g(1234.56), _g(0.000123), _g(259.54), _g(20000.0)
    ('3.14', '1234.6', '0.000123', '259.5', '20000')
    """
    if abs(x) >= 100:
        return f"{x:.0f}" if float(x).is_integer() else f"{x:.1f}"
    return f"{x:.{digits}g}"


def _pct(x: float) -> str:
    """A share as per cent: ``_pct(0.2163)`` is ``'21.6%'``."""
    return f"{_g(100 * x)}%"


def trained_on_gpu(cfg: dict) -> bool:
    """Whether a page with config ``cfg`` trained its models on a GPU (its numbers are the GPU's)."""
    return cfg.get("device", "cpu") != "cpu"


def reproduce_command(cfg: dict) -> str:
    """The `vaelab explain` command that measures what a page with config ``cfg`` shows.

    Examples
    --------
    >>> reproduce_command({"source": "wine.csv", "shape": None, "label_column": "label",
    ...                    "preset": "quick", "seed": 3})
    'vaelab explain --data wine.csv --label-column label --quick --seed 3'
    >>> reproduce_command({"source": "mnist", "preset": "default", "seed": 0, "device": "cuda"})
    'vaelab explain --data mnist --seed 0 --device cuda'
    """
    parts = ["vaelab explain", f"--data {shlex.quote(str(cfg['source']))}"]
    if cfg.get("shape"):
        parts.append("--shape " + ",".join(str(s) for s in cfg["shape"]))
    if cfg.get("label_column") is not None:
        parts.append(f"--label-column {shlex.quote(str(cfg['label_column']))}")
    if cfg["preset"] != "default":
        parts.append(f"--{cfg['preset']}")
    parts.append(f"--seed {cfg['seed']}")
    if trained_on_gpu(cfg):
        parts.append(f"--device {cfg['device']}")
    return " ".join(parts)
