"""Figures of the latent tools in `vaelab.experiments.latent`: numbers in, `Figure` out, no pyplot."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from vaelab.experiments.latent import (
    Interpolation,
    LatentScatter,
    LatentTour,
    QuantileGrid,
    Traversal,
)
from vaelab.report.figures.images import image_grid_figure, tile

__all__ = [
    "latent_figures",
    "plot_interpolations",
    "plot_latent_scatter",
    "plot_quantile_grid",
    "plot_traversals",
]

# Okabe & Ito (2008), all eight; markers tell classes apart beyond eight colours.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def _images(x: np.ndarray, sample_shape: Sequence[int]) -> np.ndarray:
    hw = tuple(sample_shape)[-2:]
    return np.clip(np.asarray(x).reshape(-1, *hw), 0, 1)


def plot_interpolations(paths: Sequence[Interpolation], sample_shape: Sequence[int]) -> Figure:
    """One row per path (e.g. linear and slerp) of decoded codes, inputs at both ends.

    Examples
    --------
    >>> t = np.linspace(0, 1, 3)
    >>> p = Interpolation("linear", t, np.zeros((3, 2)), np.zeros((3, 4)), np.zeros((2, 4)))
    >>> plot_interpolations([p], (1, 2, 2)).axes[0].get_title()
    'Interpolation between two inputs (ends: the inputs themselves)'
    """
    rows = [
        np.concatenate(
            [
                _images(p.endpoints[:1], sample_shape),
                _images(p.x, sample_shape),
                _images(p.endpoints[1:], sample_shape),
            ]
        )
        for p in paths
    ]
    return image_grid_figure(
        np.concatenate(rows),
        len(rows[0]),
        "Interpolation between two inputs (ends: the inputs themselves)",
        [p.method for p in paths],
    )


def plot_traversals(traversals: Sequence[Traversal], sample_shape: Sequence[int]) -> Figure:
    """One row per traversed latent dimension, values increasing to the right."""
    rows = [_images(t.x, sample_shape) for t in traversals]
    lo, hi = traversals[0].values[0], traversals[0].values[-1]
    return image_grid_figure(
        np.concatenate(rows),
        len(rows[0]),
        f"Latent traversals: z_d from {lo:g} to {hi:g}, others fixed",
        [f"z{t.dim}" for t in traversals],
    )


def plot_quantile_grid(grid: QuantileGrid, sample_shape: Sequence[int]) -> Figure:
    """The decoded quantile grid, axes labelled with the latent values (norm.ppf)."""
    n = len(grid.values)
    imgs = _images(grid.x, sample_shape)
    h, w = imgs.shape[1:]
    fig = Figure(figsize=(6, 6))
    ax = fig.add_subplot()
    ax.imshow(tile(1.0 - imgs, n), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    step = max(1, n // 5)
    idx = np.arange(0, n, step)
    ax.set_xticks(idx * (w + 1) + w / 2, [f"{v:.1f}" for v in grid.values[idx]])
    ax.set_yticks(idx * (h + 1) + h / 2, [f"{v:.1f}" for v in grid.values[::-1][idx]])
    ax.set_xlabel(f"z{grid.dims[0]} (prior quantiles)")
    ax.set_ylabel(f"z{grid.dims[1]} (prior quantiles)")
    ax.set_title("The learned manifold: codes on a grid of prior quantiles")
    fig.tight_layout()
    return fig


def plot_latent_scatter(scatter: LatentScatter, title: str = "Codes of the data") -> Figure:
    """Codes in 2-D, coloured (and marked) by label.

    Examples
    --------
    >>> s = LatentScatter(np.zeros((4, 2)), np.array([0, 1, 0, 1]), "identity")
    >>> plot_latent_scatter(s).axes[0].get_xlabel()
    'z0'
    """
    fig = Figure(figsize=(5.5, 5))
    ax = fig.add_subplot()
    xy = scatter.xy
    if scatter.labels is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=4, color=PALETTE[0], alpha=0.5)
    else:
        for i, lab in enumerate(np.unique(scatter.labels)):
            m = scatter.labels == lab
            ax.scatter(
                xy[m, 0],
                xy[m, 1],
                s=6,
                alpha=0.6,
                color=PALETTE[i % len(PALETTE)],
                marker=MARKERS[(i // len(PALETTE)) % len(MARKERS)],
                label=str(lab),
                linewidths=0,
            )
        ax.legend(markerscale=2, fontsize=7, title="label", loc="best")
    names = {"pca": ("PC 1 of the codes", "PC 2 of the codes"), "pad": ("z0", "(none)")}
    xl, yl = names.get(scatter.projection, ("z0", "z1"))
    ax.set_xlabel(xl)
    ax.set_ylabel(yl)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def latent_figures(tour: LatentTour) -> dict[str, Figure]:
    """The figures of a `LatentTour`, keyed by file name.

    ``latent_scatter.png/.svg`` always; for image data also ``interpolation.png``,
    ``traversal.png``, ``quantile_grid.png/.svg`` (latent size 2 and more) and
    ``samples_<sampler>.png``.
    """
    scatter = plot_latent_scatter(tour.scatter)
    files = {"latent_scatter.png": scatter, "latent_scatter.svg": scatter}
    shape = tuple(tour.sample_shape)
    if len(shape) not in (2, 3):
        return files
    files["interpolation.png"] = plot_interpolations(tour.interpolations, shape)
    files["traversal.png"] = plot_traversals(tour.traversals, shape)
    if tour.quantile_grid is not None:
        files["quantile_grid.png"] = files["quantile_grid.svg"] = plot_quantile_grid(
            tour.quantile_grid, shape
        )
    for k, v in tour.samples.items():
        files[f"samples_{k}.png"] = image_grid_figure(_images(v, shape), 8, f"Decoded {k} samples")
    return files
