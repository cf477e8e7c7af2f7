"""`vaelab explain`: a self-contained page that teaches the VAE with this run's measurements.

`run_explain` runs the stages (`_stages`, one function per storyline step, each
returning a typed result of `_schema`) and returns an `ExplainReport`;
`render_html` / `render_markdown` write the page from it; `build_explain` does
both and writes the report's numbers (``ExplainReport.to_dict``) as explain.json.
"""

from __future__ import annotations

import json
from pathlib import Path

from vaelab.errors import ConfigError
from vaelab.report.explain._config import ExplainConfig
from vaelab.report.explain._html import render_html
from vaelab.report.explain._markdown import markdown_files, render_markdown
from vaelab.report.explain._pipeline import Progress, run_explain
from vaelab.report.explain._schema import ExplainReport
from vaelab.report.explain._sections import build_sections
from vaelab.report.explain._stages import export_decoder
from vaelab.report.explain._text import Section
from vaelab.report.explain._write import check_out_dir, write_files

FORMATS = ("html", "md")
OUTPUTS = {
    "html": ("explain.json", "explain.html"),  # what build_explain writes in out_dir
    "md": ("explain.json", "explain.md", "figures/"),
}  # figures/*.png too


def build_explain(
    cfg: ExplainConfig,
    out_dir: str | Path,
    fmt: str = "html",
    on_stage: Progress | None = None,
    progress: bool = False,
) -> Path:
    """Run the measurements and write the page plus ``explain.json`` into ``out_dir``.

    Parameters
    ----------
    cfg : ExplainConfig
    out_dir : str or Path
        Created if missing. Checked before the run; written only after it succeeds,
        each file atomically. Only explain.json, explain.html or explain.md and
        figures/*.png are written there; other files are left alone. On failure,
        what this call created is removed again.
    fmt : {"html", "md"}
    on_stage : callable, optional
        Progress callback ``(stage, message)``.
    progress : bool
        Training progress bars.

    Returns
    -------
    Path
        ``explain.html`` or ``explain.md``.

    Raises
    ------
    ConfigError
        For an unknown format or an ``out_dir`` that cannot be written (checked first).
    DataError
        For data the explainer cannot teach with (constant, one feature, on a line).
    """
    if fmt not in FORMATS:
        raise ConfigError(f"format={fmt!r} must be one of {FORMATS}")
    out = check_out_dir(out_dir, OUTPUTS[fmt])
    report = run_explain(cfg, on_stage, progress)  # loads the data first; writes nothing
    files = {"explain.json": (json.dumps(report.to_dict(), indent=2) + "\n").encode()}
    if fmt == "md":
        files.update(markdown_files(report))
    else:
        files["explain.html"] = render_html(report).encode("utf-8")
    write_files(out, files)
    return out / f"explain.{fmt}"


def load_numbers(out_dir: str | Path) -> dict:
    """The numbers of a previous run: ``explain.json`` (`ExplainReport.to_dict`)."""
    return json.loads((Path(out_dir) / "explain.json").read_text())


__all__ = [
    "ExplainConfig",
    "ExplainReport",
    "Section",
    "build_explain",
    "build_sections",
    "export_decoder",
    "load_numbers",
    "render_html",
    "render_markdown",
    "run_explain",
]
