"""Writing results: one convention for the files of every command.

A command computes a typed result in `vaelab.experiments`, then writes it here with
`write_result`: ``<out_dir>/<name>.json`` holds ``result.to_dict()`` and each figure
of `vaelab.report.figures` goes under its own file name (PNG or SVG by suffix,
120 dpi). Every file is written atomically (`vaelab._atomic`): a reader sees the
old file or the new one, never half of one. The thin ``write_<command>`` functions
choose the name and the figures; they draw nothing when ``figures=False``, and
matplotlib is imported only when they draw.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vaelab._atomic import atomic_write_json

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from vaelab.experiments.compare import CompareResult
    from vaelab.experiments.curse import CurseResult
    from vaelab.experiments.holes import HolesComparison
    from vaelab.experiments.latent import LatentTour
    from vaelab.experiments.sweep import BetaSweep

__all__ = [
    "write_compare",
    "write_curse",
    "write_holes",
    "write_latent",
    "write_result",
    "write_sweep",
]


def write_result(
    out_dir: str | Path, name: str, result: Any, figures: Mapping[str, Figure] | None = None
) -> list[Path]:
    """Write ``out_dir/<name>.json`` (``result.to_dict()``) and ``figures``, atomically.

    Parameters
    ----------
    out_dir : str or Path
        Created if missing; files of the same names in it are replaced.
    name : str
        The JSON file's stem: "curse" writes ``curse.json``.
    result : object with ``to_dict()``
        A result of `vaelab.experiments`.
    figures : mapping of file name to Figure, optional
        E.g. ``{"holes_metrics.png": fig, "holes_metrics.svg": fig}``.

    Returns
    -------
    list of Path
        The files written, the JSON first.

    Examples
    --------
    >>> import tempfile
    >>> from vaelab.experiments.curse import curse_experiments
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     [p.name for p in write_result(tmp, "curse", curse_experiments(dims=(2,), n_points=9))]
    ['curse.json']
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.json"]
    atomic_write_json(paths[0], result.to_dict())
    if figures:
        from vaelab.report.figures.images import save_figure

        paths += [save_figure(fig, out / file_name) for file_name, fig in figures.items()]
    return paths


def write_curse(out_dir: str | Path, result: CurseResult, *, figures: bool = True) -> list[Path]:
    """``curse.json`` and (`vaelab.report.figures.curse.curse_figures`) the curse figures."""
    if not figures:
        return write_result(out_dir, "curse", result)
    from vaelab.report.figures.curse import curse_figures

    return write_result(out_dir, "curse", result, curse_figures(result))


def write_holes(out_dir: str | Path, result: HolesComparison, *, figures: bool = True) -> list[Path]:
    """``holes.json``, ``holes_metrics.png/.svg`` and (image data) ``holes_samples.png``."""
    if not figures:
        return write_result(out_dir, "holes", result)
    from vaelab.report.figures.holes import holes_figures

    return write_result(out_dir, "holes", result, holes_figures(result))


def write_sweep(out_dir: str | Path, result: BetaSweep, *, figures: bool = True) -> list[Path]:
    """``sweep.json``, ``rate_distortion`` and ``sweep_metrics`` (.png/.svg), ``sweep_samples.png``."""
    if not figures:
        return write_result(out_dir, "sweep", result)
    from vaelab.report.figures.sweep import sweep_figures

    return write_result(out_dir, "sweep", result, sweep_figures(result))


def write_compare(out_dir: str | Path, result: CompareResult, *, figures: bool = True) -> list[Path]:
    """``compare.json``, ``compare_scatter.png/.svg`` and ``compare_metrics.png``."""
    if not figures:
        return write_result(out_dir, "compare", result)
    from vaelab.report.figures.compare import compare_figures

    return write_result(out_dir, "compare", result, compare_figures(result))


def write_latent(out_dir: str | Path, result: LatentTour, *, figures: bool = True) -> list[Path]:
    """``latent.json`` and the latent figures (`vaelab.report.figures.latent.latent_figures`)."""
    if not figures:
        return write_result(out_dir, "latent", result)
    from vaelab.report.figures.latent import latent_figures

    return write_result(out_dir, "latent", result, latent_figures(result))
