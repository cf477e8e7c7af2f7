"""Figures of the curse-of-dimensionality experiments in `vaelab.experiments.curse`.

Every function takes result dataclasses (numbers) and returns a
`matplotlib.figure.Figure`, built without pyplot: no global state, no display.
Colours are the Okabe-Ito palette, safe for colour-blind readers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from vaelab.experiments.curse import (
    CurseResult,
    DistanceConcentration,
    GaussianAnnulus,
    NeighbourhoodEmptiness,
    PairwiseDistanceHistograms,
    RepresentationContrast,
)

__all__ = [
    "OKABE_ITO",
    "curse_figures",
    "plot_annulus",
    "plot_contrast",
    "plot_distance_histograms",
    "plot_emptiness",
    "plot_representation_contrast",
]

# Okabe & Ito (2008), without black and yellow (weak on white).
OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
_DIST_COLOUR = {"uniform": OKABE_ITO[0], "gaussian": OKABE_ITO[1]}
_DIST_LABEL = {"uniform": "uniform on [0, 1]^d", "gaussian": "Gaussian N(0, I_d)"}


def _colour(name: str, i: int) -> str:
    return _DIST_COLOUR.get(name, OKABE_ITO[i % len(OKABE_ITO)])


def _pick_dims(dims: Sequence[int], show_dims: Sequence[int] | None, k: int = 4) -> list[int]:
    """Indices into ``dims`` of the dims to draw: ``show_dims`` or k spread-out ones."""
    if show_dims is not None:
        missing = sorted(set(show_dims) - set(dims))
        if missing:
            raise ValueError(f"show_dims={list(show_dims)} has {missing}, not in dims={dims}")
        return [list(dims).index(d) for d in show_dims]
    return np.unique(np.linspace(0, len(dims) - 1, min(k, len(dims))).round().astype(int)).tolist()


def _dim_axis(ax: Axes) -> None:
    ax.set_xscale("log")
    ax.set_xlabel("dimension d (log scale)")
    ax.grid(True, which="major", alpha=0.3)


def plot_contrast(concentration: Mapping[str, DistanceConcentration]) -> Figure:
    """Plot relative contrast and Dmax/Dmin against d, one line per distribution.

    The band is the 10th-90th percentile over queries rather than mean +- sd: at small
    d the sd exceeds the mean, and mean - sd has no place on a log axis.

    Parameters
    ----------
    concentration : mapping of str to DistanceConcentration
        Results keyed by distribution, as in `CurseResult.concentration`.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels: relative contrast (log-log) and Dmax / Dmin.

    Examples
    --------
    >>> from vaelab.experiments.curse import distance_concentration
    >>> r = distance_concentration(dims=(2, 20), n_points=50, n_queries=5)
    >>> len(plot_contrast({"uniform": r}).axes)
    2
    """
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax_c, ax_r = fig.subplots(1, 2)
    for i, (name, r) in enumerate(concentration.items()):
        c, label = _colour(name, i), _DIST_LABEL.get(name, name)
        ax_c.plot(r.dims, r.contrast_mean, "o-", color=c, label=f"{label}: mean")
        ax_c.fill_between(
            r.dims,
            r.contrast_p10,
            r.contrast_p90,
            color=c,
            alpha=0.2,
            label=f"{label}: 10-90% of queries",
        )
        ratio_lo = np.subtract(r.ratio_mean, r.ratio_sd)
        ax_r.plot(r.dims, r.ratio_mean, "o-", color=c, label=label)
        ax_r.fill_between(
            r.dims, np.maximum(ratio_lo, 1.0), np.add(r.ratio_mean, r.ratio_sd), color=c, alpha=0.2
        )
    n = next(iter(concentration.values())).n_points
    ax_c.set(
        yscale="log",
        ylabel="relative contrast (Dmax - Dmin) / Dmin (log scale)",
        title=f"Nearest and farthest neighbours become alike (n = {n})",
    )
    ax_r.axhline(1.0, color="black", lw=0.8, ls="--", label="Dmax = Dmin")
    ax_r.set(
        yscale="log",
        ylabel="Dmax / Dmin (log scale), mean +- sd",
        title="Farthest / nearest distance tends to 1",
    )
    for ax in (ax_c, ax_r):
        _dim_axis(ax)
        ax.legend(fontsize=8)
    return fig


def plot_emptiness(emptiness: Mapping[str, NeighbourhoodEmptiness]) -> Figure:
    """Plot nearest/mean distance and the fraction of points within the radius against d.

    Parameters
    ----------
    emptiness : mapping of str to NeighbourhoodEmptiness
        Results keyed by distribution, as in `CurseResult.emptiness`.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels, each mean +- sd over queries.

    Examples
    --------
    >>> from vaelab.experiments.curse import neighbourhood_emptiness
    >>> r = neighbourhood_emptiness(dims=(2, 20), n_points=50, n_queries=5)
    >>> len(plot_emptiness({"uniform": r}).axes)
    2
    """
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax_nn, ax_f = fig.subplots(1, 2)
    for i, (name, r) in enumerate(emptiness.items()):
        c, label = _colour(name, i), _DIST_LABEL.get(name, name)
        for ax, mean, sd in (
            (ax_nn, r.nn_to_mean_mean, r.nn_to_mean_sd),
            (ax_f, r.fraction_within_mean, r.fraction_within_sd),
        ):
            ax.plot(r.dims, mean, "o-", color=c, label=label)
            lo, hi = np.subtract(mean, sd), np.add(mean, sd)
            ax.fill_between(r.dims, np.clip(lo, 0, 1), np.clip(hi, 0, 1), color=c, alpha=0.2)
    frac = next(iter(emptiness.values())).radius_fraction
    ax_nn.axhline(1.0, color="black", lw=0.8, ls="--")
    ax_nn.set(
        ylim=(0, 1.05),
        ylabel="nearest-neighbour distance / mean distance",
        title="The nearest neighbour is almost as far as any point",
    )
    ax_f.set(
        ylim=(0, None),
        ylabel="fraction of points within the radius",
        title=f"A ball of radius {frac:g} x RMS distance empties",
    )
    for ax in (ax_nn, ax_f):
        _dim_axis(ax)
        ax.legend(fontsize=8)
    return fig


def plot_annulus(annulus: GaussianAnnulus, show_dims: Sequence[int] | None = None) -> Figure:
    """Plot the norms of N(0, I_d) samples: mean grows like sqrt(d), spread stays put.

    Parameters
    ----------
    annulus : GaussianAnnulus
        The measured norms.
    show_dims : sequence of int, optional
        Dims whose norm / sqrt(d) histogram to draw; by default four spread out.

    Returns
    -------
    matplotlib.figure.Figure
        Left: norm mean +- sd and sd against d, with sqrt(d). Right: histograms.

    Examples
    --------
    >>> from vaelab.experiments.curse import gaussian_annulus
    >>> len(plot_annulus(gaussian_annulus(dims=(1, 10), n_samples=100)).axes)
    2
    """
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax_n, ax_h = fig.subplots(1, 2)
    dims = np.asarray(annulus.dims)
    mean, sd = np.asarray(annulus.norm_mean), np.asarray(annulus.norm_sd)
    ax_n.plot(dims, mean, "o-", color=OKABE_ITO[0], label="norm ||z||: mean +- sd")
    ax_n.fill_between(dims, np.maximum(mean - sd, 1e-3), mean + sd, color=OKABE_ITO[0], alpha=0.2)
    ax_n.plot(dims, np.sqrt(dims), "--", color="black", lw=0.8, label="sqrt(d)")
    ax_n.plot(dims, sd, "s-", color=OKABE_ITO[1], label="sd of the norm (shell thickness)")
    ax_n.axhline(
        annulus.prior_mean_norm + 1,
        color=OKABE_ITO[2],
        ls=":",
        label="radius 1 around the prior mean",
    )
    ax_n.set(
        yscale="log",
        ylabel="norm (log scale)",
        title="Gaussian samples live in a shell of radius sqrt(d)",
    )
    _dim_axis(ax_n)
    edges = np.asarray(annulus.hist_edges)
    for j, i in enumerate(_pick_dims(annulus.dims, show_dims)):
        counts = np.asarray(annulus.hist_counts[i])
        ax_h.stairs(
            counts / (counts.sum() * np.diff(edges)),
            edges,
            color=OKABE_ITO[j % len(OKABE_ITO)],
            lw=1.5,
            label=f"d = {dims[i]}",
        )
    ax_h.set(
        xlabel="||z|| / sqrt(d)",
        ylabel="density",
        title="Norms divided by sqrt(d) concentrate at 1",
    )
    for ax in (ax_n, ax_h):
        ax.legend(fontsize=8)
    return fig


def plot_distance_histograms(
    histograms: Mapping[str, PairwiseDistanceHistograms], show_dims: Sequence[int] | None = None
) -> Figure:
    """Plot pairwise distance / mean distance histograms for a few d, a panel per distribution.

    Parameters
    ----------
    histograms : mapping of str to PairwiseDistanceHistograms
        Results keyed by distribution, as in `CurseResult.histograms`.
    show_dims : sequence of int, optional
        Dims to draw; by default four spread out.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per distribution, one density curve per d.

    Examples
    --------
    >>> from vaelab.experiments.curse import pairwise_distance_histograms
    >>> r = pairwise_distance_histograms(dims=(2, 20), n_points=30, bins=10)
    >>> len(plot_distance_histograms({"uniform": r}).axes)
    1
    """
    fig = Figure(figsize=(5 * len(histograms), 4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(histograms)))
    for ax, (name, r) in zip(axes, histograms.items(), strict=True):
        edges = np.asarray(r.edges)
        for j, i in enumerate(_pick_dims(r.dims, show_dims)):
            density = np.asarray(r.counts[i]) / (r.n_pairs * np.diff(edges))
            ax.stairs(
                density,
                edges,
                color=OKABE_ITO[j % len(OKABE_ITO)],
                lw=1.5,
                label=f"d = {r.dims[i]} (sd/mean = {r.relative_sd[i]:.2f})",
            )
        ax.set(
            xlabel="pairwise distance / mean pairwise distance",
            ylabel="density",
            title=f"Pairwise distances concentrate: {_DIST_LABEL.get(name, name)}",
        )
        ax.legend(fontsize=8)
    return fig


def plot_representation_contrast(rep: RepresentationContrast) -> Figure:
    """Bar charts of relative contrast and nearest/mean distance per representation.

    Parameters
    ----------
    rep : RepresentationContrast
        Measurements on real representations (e.g. pixels, PCA, AE, VAE codes).

    Returns
    -------
    matplotlib.figure.Figure
        Two panels of bars: mean contrast (log scale, values written on the bars) and
        mean +- sd nearest / mean distance, over queries; labelled with each dimension.

    Examples
    --------
    >>> from vaelab.experiments.curse import representation_contrast
    >>> x = np.random.default_rng(0).random((40, 3))
    >>> len(plot_representation_contrast(representation_contrast({"x": x})).axes)
    2
    """
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax_c, ax_nn = fig.subplots(1, 2)
    labels = [f"{n}\n(d = {d})" for n, d in zip(rep.names, rep.dims, strict=True)]
    colours = [OKABE_ITO[i % len(OKABE_ITO)] for i in range(len(labels))]
    bars = ax_c.bar(labels, rep.contrast_mean, color=colours)
    ax_c.bar_label(bars, labels=[f"{c:.3g}" for c in rep.contrast_mean])
    ax_c.margins(y=0.15)
    ax_c.set(
        yscale="log",
        ylabel="relative contrast (Dmax - Dmin) / Dmin (log scale)",
        title="Relative contrast\n(near 0: distances no longer separate points)",
    )
    ax_nn.bar(labels, rep.nn_to_mean_mean, color=colours)
    ax_nn.errorbar(labels, rep.nn_to_mean_mean, yerr=rep.nn_to_mean_sd, fmt="none", ecolor="black")
    ax_nn.axhline(1.0, color="black", lw=0.8, ls="--")
    ax_nn.set(
        ylim=(0, 1.05),
        ylabel="nearest-neighbour distance / mean distance",
        title="Nearest-neighbour / mean distance\n(near 1: the nearest point is not near)",
    )
    for ax in (ax_c, ax_nn):
        ax.set_xlabel("representation")
    return fig


def curse_figures(result: CurseResult) -> dict[str, Figure]:
    """Every figure of a `CurseResult`, keyed by file name: PNGs, and the main one also as SVG.

    Parameters
    ----------
    result : CurseResult
        From `vaelab.experiments.curse.curse_experiments`.

    Returns
    -------
    dict of str to Figure
        ``curse_<name>.png`` per figure (``representations`` only with
        representations) and ``curse_contrast.svg``.

    Examples
    --------
    >>> from vaelab.experiments.curse import curse_experiments
    >>> sorted(curse_figures(curse_experiments(dims=(2, 20), n_points=30)))  # doctest: +NORMALIZE_WHITESPACE
    ['curse_annulus.png', 'curse_contrast.png', 'curse_contrast.svg',
     'curse_distance_histograms.png', 'curse_emptiness.png']
    """
    figures = {
        "contrast": plot_contrast(result.concentration),
        "emptiness": plot_emptiness(result.emptiness),
        "annulus": plot_annulus(result.annulus),
        "distance_histograms": plot_distance_histograms(result.histograms),
    }
    if result.representations is not None:
        figures["representations"] = plot_representation_contrast(result.representations)
    files = {f"curse_{name}.png": fig for name, fig in figures.items()}
    files["curse_contrast.svg"] = figures["contrast"]
    return files
