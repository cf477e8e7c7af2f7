"""Figures of the holes experiment in `vaelab.experiments.holes`: numbers in, `Figure` out, no pyplot."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from vaelab.experiments.holes import HolesComparison
from vaelab.report.figures.images import image_grid_figure

__all__ = ["OKABE_ITO", "holes_figures", "plot_holes_metrics", "plot_holes_samples"]

OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")


def plot_holes_metrics(result: HolesComparison, sampler: str = "prior") -> Figure:
    """Four panels of bars, one bar per model: the holes metrics side by side.

    Panels: share of prior draws far from every code, and of codes far from
    every prior draw; moment-matched KL of the
    codes to N(0, I) (log scale); NN distance of decoded samples relative to
    reconstructions; the classifier's confidence on decoded samples (the dashed
    line is its confidence on real test data).

    Examples
    --------
    >>> from vaelab.experiments.holes import HolesResult, CodeMismatch, SamplerRealism
    >>> s = SamplerRealism("prior", 10, 1.0, 1.5, 0.9, 0.5, 1.0, 2.0, np.zeros((1, 4)))
    >>> m = HolesResult("AE", "ae", 2, 1.0, 1.0, 1.0, 2.0,
    ...                 CodeMismatch(10, 10, 99.0, 1.0, 0.9, 0.5, 1.0, 5.0, 1.0, 1.0),
    ...                 {"prior": s})
    >>> fig = plot_holes_metrics(HolesComparison([m], None, None, None, None, "toy", [4]))
    >>> len(fig.axes)
    4
    """
    names = [m.name for m in result.models]
    colours = [OKABE_ITO[i % len(OKABE_ITO)] for i in range(len(names))]
    # (title, y label, one value per model, reference line, log scale); the first
    # panel's values are (far, uncovered) pairs
    panels: list[tuple[str, str, list[Any], float | None, bool]] = [
        (
            "far from the other set",
            "share",
            [(m.mismatch.far_fraction, m.mismatch.uncovered_fraction) for m in result.models],
            None,
            False,
        ),
        (
            "KL(N(mean, cov of codes) ‖ N(0, I))",
            "nats (log scale)",
            [max(m.mismatch.gaussian_kl, 1e-3) for m in result.models],
            None,
            True,
        ),
        (
            "distance to nearest training example",
            "÷ reconstruction's distance",
            [m.samplers[sampler].nn_distance_ratio for m in result.models],
            1.0,
            False,
        ),
        (
            "classifier confidence",
            "mean max probability",
            [
                np.nan
                if m.samplers[sampler].classifier_confidence is None
                else m.samplers[sampler].classifier_confidence
                for m in result.models
            ],
            result.test_confidence,
            False,
        ),
    ]
    fig = Figure(figsize=(11, 3.2))
    for i, (title, ylabel, values, ref, log) in enumerate(panels):
        ax = fig.add_subplot(1, 4, i + 1)
        if i == 0:  # two bars per model: hatched = codes far from every prior draw
            pos = np.arange(len(names))
            ax.bar(
                pos - 0.2, [v[0] for v in values], 0.4, color=colours, label="prior draws far from every code"
            )
            ax.bar(
                pos + 0.2,
                [v[1] for v in values],
                0.4,
                color=colours,
                hatch="//",
                edgecolor="white",
                label="codes far from every prior draw",
            )
            ax.set_xticks(pos, names)
            ax.set_ylim(0, 1.3)
            ax.legend(fontsize=6, loc="upper left")
        else:
            ax.bar(names, values, color=colours)
        if ref is not None:
            ax.axhline(
                ref,
                color="0.3",
                linestyle="--",
                linewidth=1,
                label="real test data" if i == 3 else "reconstructions",
            )
            ax.legend(fontsize=7, loc="lower right")
        if log:
            ax.set_yscale("log")
        ax.set_title(title, fontsize=9)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.set_xlabel("model", fontsize=8)
    fig.suptitle(f"Holes in the code space ({result.data}, decoded {sampler} samples)")
    fig.tight_layout()
    return fig


def plot_holes_samples(result: HolesComparison, n_cols: int = 8) -> Figure:
    """Decoded codes per model (rows: model × sampler); image data only."""
    shape = tuple(result.sample_shape)
    if len(shape) not in (2, 3):
        raise ValueError(f"samples of shape {shape} are not images")
    hw = shape[-2:]
    rows, labels = [], []
    for m in result.models:
        for s, real in m.samplers.items():
            imgs = np.clip(real.examples[:n_cols].reshape(-1, *hw), 0, 1)
            pad = np.zeros((n_cols - len(imgs), *hw), imgs.dtype)
            rows.append(np.concatenate([imgs, pad]))
            labels.append(f"{m.name} {s}")
    return image_grid_figure(np.concatenate(rows), n_cols, f"Decoded codes ({result.data})", labels)


def holes_figures(result: HolesComparison) -> dict[str, Figure]:
    """holes_metrics.png/.svg and (image data only) holes_samples.png, keyed by file name."""
    fig = plot_holes_metrics(result)
    files = {"holes_metrics.png": fig, "holes_metrics.svg": fig}
    if len(result.sample_shape) in (2, 3):
        files["holes_samples.png"] = plot_holes_samples(result)
    return files
