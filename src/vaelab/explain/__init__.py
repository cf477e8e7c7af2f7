"""`vaelab explain`: a self-contained page that teaches the VAE with this run's measurements.

`run_explain` trains and measures; `render_html` / `render_markdown` write the page;
`build_explain` does both and writes explain.json next to it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vaelab.errors import ConfigError
from vaelab.explain._html import render_html
from vaelab.explain._markdown import render_markdown
from vaelab.explain._pipeline import ExplainConfig, Progress, export_decoder, run_explain
from vaelab.explain._text import Section, build_sections
from vaelab.io import atomic_write_json

FORMATS = ("html", "md")


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def build_explain(cfg: ExplainConfig, out_dir: str | Path, fmt: str = "html",
                  on_stage: Progress | None = None, progress: bool = False) -> Path:
    """Run the measurements and write the page plus ``explain.json`` into ``out_dir``.

    Parameters
    ----------
    cfg : ExplainConfig
    out_dir : str or Path
        Created if missing.
    fmt : {"html", "md"}
    on_stage : callable, optional
        Progress callback ``(stage, message)``.
    progress : bool
        Training progress bars.

    Returns
    -------
    Path
        ``explain.html`` or ``explain.md``.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"format={fmt!r} must be one of {FORMATS}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = run_explain(cfg, on_stage, progress)
    numbers = {k: v for k, v in report.items() if k != "arrays"}
    atomic_write_json(out / "explain.json", _jsonable(numbers))
    if fmt == "md":
        return render_markdown(report, out)
    path = out / "explain.html"
    path.write_text(render_html(report), encoding="utf-8")
    return path


def load_numbers(out_dir: str | Path) -> dict:
    """The numbers of a previous run: ``explain.json``."""
    return json.loads((Path(out_dir) / "explain.json").read_text())


__all__ = ["ExplainConfig", "Section", "build_explain", "build_sections", "export_decoder",
           "load_numbers", "render_html", "render_markdown", "run_explain"]
