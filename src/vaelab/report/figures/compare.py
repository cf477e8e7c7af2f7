"""Figures of `vaelab.experiments.compare`: 2-D scatters of each method's codes, and a metrics chart.

Palette. Ten classes is more than any colour-blind-safe palette separates by colour
alone, so each class gets two cues: a colour from Okabe & Ito (2008)'s eight (black,
orange, sky blue, bluish green, yellow, blue, vermillion, reddish purple) plus grey
and Paul Tol's wine for classes 9 and 10, *and* its own marker shape; the class
label is also written at each class's median code. Methods in the metrics chart are
told apart by their position and axis label, not by colour.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from vaelab.core.inference import seeded_subset
from vaelab.experiments.compare import CompareResult

__all__ = ["CLASS_COLOURS", "CLASS_MARKERS", "compare_figures", "plot_metrics", "plot_scatter_grid"]

CLASS_COLOURS = (
    "#000000",
    "#E69F00",
    "#56B4E9",
    "#009E73",
    "#F0E442",
    "#0072B2",
    "#D55E00",
    "#CC79A7",
    "#999999",
    "#882255",
)
CLASS_MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*", "<", ">")
_BAR = "#0072B2"


def plot_scatter_grid(result: CompareResult, max_points: int = 3000) -> Figure:
    """One panel per method that has codes: its first two code dimensions, coloured by label.

    Parameters
    ----------
    result : CompareResult
        Output of `vaelab.experiments.compare.compare_methods`.
    max_points : int
        Draw at most this many test points per panel (a fixed seeded subsample).

    Returns
    -------
    Figure

    Examples
    --------
    >>> from vaelab.experiments.compare import compare_methods
    >>> from vaelab.data import load_dataset
    >>> s = load_dataset("digits")
    >>> fig = plot_scatter_grid(compare_methods(s.train, s.test, methods=("pca", "random")))
    >>> len(fig.axes)
    2
    """
    shown = [m for m, r in result.methods.items() if r.codes is not None]
    n = max(len(shown), 1)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(4.2 * cols, 4.0 * rows + 0.6), layout="constrained")
    labels = None if result.labels is None else np.asarray(result.labels)
    class_names = result.class_names or []
    keep = seeded_subset(np.arange(result.n_test), max_points, seed=0)
    for i, method in enumerate(shown):
        ax = fig.add_subplot(rows, cols, i + 1)
        r = result.methods[method]
        z = result.codes(method)[keep]  # (n, K)
        x, y = z[:, 0], (z[:, 1] if z.shape[1] > 1 else np.zeros(len(z)))
        if labels is None:
            ax.scatter(x, y, s=6, color=_BAR, alpha=0.6, linewidths=0)
        else:
            lab = labels[keep]
            for j, c in enumerate(np.unique(lab)):
                sel = lab == c
                ax.scatter(
                    x[sel],
                    y[sel],
                    s=8,
                    alpha=0.6,
                    linewidths=0,
                    color=CLASS_COLOURS[j % len(CLASS_COLOURS)],
                    marker=CLASS_MARKERS[j % len(CLASS_MARKERS)],
                    label=f"{c} {class_names[c]}" if 0 <= c < len(class_names) else str(c),
                )
                ax.text(
                    np.median(x[sel]),
                    np.median(y[sel]),
                    str(c),
                    fontsize=11,
                    weight="bold",
                    ha="center",
                    va="center",
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "alpha": 0.7, "lw": 0},
                )
        acc = r.knn_accuracy[0] if r.knn_accuracy else None
        extra = "" if acc is None else f"\nkNN acc (k={result.knn_k[0]}) {acc:.3f}"
        extra += " (transductive)" if r.protocol == "transductive" else ""
        ax.set_title(f"{r.label}{extra}", fontsize=10)
        ax.set_xlabel(f"{r.label} code 1")
        ax.set_ylabel(f"{r.label} code 2" if z.shape[1] > 1 else "(1-D code)")
        ax.set_xticks([])
        ax.set_yticks([])
    if not shown:
        ax = fig.add_subplot(1, 1, 1)
        ax.set_axis_off()
        ax.text(0.5, 0.5, "no method produced codes", ha="center")
    if labels is not None and shown:
        handles, names = fig.axes[0].get_legend_handles_labels()
        fig.legend(
            handles,
            names,
            loc="outside lower center",
            ncols=min(len(names), 5 if class_names else 10),  # named classes need the width
            markerscale=2,
            title="label",
        )
    fig.suptitle(
        f"{result.n_components}-D codes of {result.n_test} test samples of {result.data}, coloured by label"
    )
    return fig


_PANELS = (
    ("reconstruction_mse", "reconstruction MSE per feature (test)", False),
    ("knn_accuracy", "kNN accuracy (test)", False),
    ("trustworthiness", "trustworthiness (test)", False),
    ("fit_seconds", "fit time (s, log scale)", True),
    ("transform_seconds", "transform time, test set (s, log scale)", True),
)


def plot_metrics(result: CompareResult) -> Figure:
    """Horizontal bars of each metric per method; "n/a" where a method has no value.

    Parameters
    ----------
    result : CompareResult

    Returns
    -------
    Figure

    Examples
    --------
    >>> from vaelab.experiments.compare import compare_methods
    >>> from vaelab.data import load_dataset
    >>> s = load_dataset("digits")
    >>> fig = plot_metrics(compare_methods(s.train, s.test, methods=("pca", "random")))
    >>> len(fig.axes)
    5
    """
    methods = list(result.methods.values())
    names = [m.label for m in methods]
    fig = Figure(figsize=(4.0 * len(_PANELS), 0.45 * len(methods) + 1.8), layout="constrained")
    for i, (key, title, log) in enumerate(_PANELS):
        ax = fig.add_subplot(1, len(_PANELS), i + 1)
        vals = []
        for m in methods:
            v = getattr(m, key)
            vals.append(v[0] if isinstance(v, list) else v)
        pos = np.arange(len(methods))
        present = [v for v in vals if v is not None]
        ax.barh(pos, [0 if v is None else v for v in vals], color=_BAR)
        if log and present and min(present) > 0:
            ax.set_xscale("log")
        right = max(present) if present else 1.0
        for p, v in zip(pos, vals, strict=True):
            text = "n/a" if v is None else f"{v:.3g}"
            x = (min(present) if log and present else 0) if v is None else v
            ax.text(x, float(p), " " + text, va="center", fontsize=8)
        if not log:
            ax.set_xlim(0, right * 1.3 if right > 0 else 1.0)
        if key == "knn_accuracy":
            title = f"kNN accuracy, k={result.knn_k[0]} (test)"
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(title.split(" (")[0])
        ax.set_yticks(pos, names if i == 0 else [""] * len(names))
        if i == 0:
            ax.set_ylabel("method")
        ax.invert_yaxis()
    fig.suptitle(
        f"Dimensionality reduction to {result.n_components}-D on {result.data} "
        f"({result.n_train} train / {result.n_test} test)"
    )
    return fig


def compare_figures(result: CompareResult) -> dict[str, Figure]:
    """``compare_scatter.png`` (+ ``.svg``) and ``compare_metrics.png``, keyed by file name.

    Parameters
    ----------
    result : CompareResult

    Returns
    -------
    dict of str to Figure
    """
    scatter = plot_scatter_grid(result)
    return {
        "compare_scatter.png": scatter,
        "compare_scatter.svg": scatter,
        "compare_metrics.png": plot_metrics(result),
    }
