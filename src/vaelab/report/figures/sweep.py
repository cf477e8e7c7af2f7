"""Figures of the β sweep in `vaelab.experiments.sweep`: numbers in, `Figure` out, no pyplot."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from vaelab.experiments.sweep import BetaSweep
from vaelab.report.figures.images import image_grid_figure

__all__ = ["plot_rate_distortion", "plot_sweep_metrics", "plot_sweep_samples", "sweep_figures"]

OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")


def _beta_axis(sweep: BetaSweep) -> tuple[np.ndarray, list[str]]:
    """β on a symlog-like position axis: evenly spaced ticks labelled by β."""
    return np.arange(len(sweep.points)), [f"{b:g}" for b in sweep.betas]


def plot_rate_distortion(sweep: BetaSweep) -> Figure:
    """Distortion against rate, one point per β (labelled), with the ELBO = −(R + D) diagonals.

    Examples
    --------
    >>> from vaelab.experiments.sweep import BetaSweep
    >>> fig = plot_rate_distortion(BetaSweep([], "toy", [4], 0, 0, {}, {}, None, None))
    >>> fig.axes[0].get_xlabel()
    'rate = KL(q(z|x) ‖ p(z)), nats'
    """
    fig = Figure(figsize=(5, 4))
    ax = fig.add_subplot()
    rate, dist = sweep.column("rate"), sweep.column("distortion")
    ax.plot(rate, dist, "-o", color=OKABE_ITO[0])
    for b, r, d in zip(sweep.betas, rate, dist, strict=True):
        ax.annotate(f"β={b:g}", (r, d), textcoords="offset points", xytext=(4, 4), fontsize=7)
    if rate:
        best = min(r + d for r, d in zip(rate, dist, strict=True))
        xs = np.linspace(0, max(rate) * 1.05 + 1e-9, 2)
        ax.plot(xs, best - xs, ":", color="0.5", label=f"R + D = {best:.1f} (best −ELBO)")
        ax.legend(fontsize=7)
    ax.set_xlabel("rate = KL(q(z|x) ‖ p(z)), nats")
    ax.set_ylabel("distortion = −E log p(x|z), nats")
    ax.set_title(f"Rate–distortion across β ({sweep.data})")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_sweep_metrics(sweep: BetaSweep) -> Figure:
    """Four panels against β: rate and distortion; active units; holes; collapse."""
    pos, labels = _beta_axis(sweep)
    fig = Figure(figsize=(11, 3.2))
    panels = [
        ("rate and distortion", "nats", [("rate", "rate (KL)"), ("distortion", "distortion")]),
        ("active units", "units with Cov(E_q z) > 0.01", [("active_units", "active units")]),
        (
            "holes",
            "share",
            [
                ("mismatch.far_fraction", "prior draws far from codes"),
                ("mismatch.uncovered_fraction", "codes far from prior draws"),
                ("prior.classifier_confidence", "classifier confidence"),
            ],
        ),
        (
            "collapse to the data mean",
            "÷ real data",
            [("samples_spread", "sample spread"), ("prior.nn_distance_ratio", "NN distance")],
        ),
    ]
    for i, (title, ylabel, series) in enumerate(panels):
        ax = fig.add_subplot(1, 4, i + 1)
        for j, (col, label) in enumerate(series):
            values = [np.nan if v is None else v for v in sweep.column(col)]
            ax.plot(pos, values, "-o", color=OKABE_ITO[j], label=label, markersize=4)
        ax.set_xticks(pos, labels, fontsize=7)
        ax.set_xlabel("β")
        ax.set_ylabel(ylabel, fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle(f"What β does ({sweep.data}, latent size {sweep.model.get('latent_dim')})")
    fig.tight_layout()
    return fig


def plot_sweep_samples(sweep: BetaSweep, n_cols: int = 10) -> Figure:
    """One row of decoded prior samples per β (image data only)."""
    shape = tuple(sweep.sample_shape)
    if len(shape) not in (2, 3):
        raise ValueError(f"samples of shape {shape} are not images")
    hw = shape[-2:]
    rows = []
    for p in sweep.points:
        imgs = np.clip(p.samples[:n_cols].reshape(-1, *hw), 0, 1)
        rows.append(np.concatenate([imgs, np.zeros((n_cols - len(imgs), *hw), imgs.dtype)]))
    return image_grid_figure(
        np.concatenate(rows),
        n_cols,
        f"Prior samples across β ({sweep.data})",
        [f"β={b:g}" for b in sweep.betas],
    )


def sweep_figures(sweep: BetaSweep) -> dict[str, Figure]:
    """rate_distortion and sweep_metrics (.png and .svg), sweep_samples.png (images), by file name."""
    files = {}
    for name, fig in (
        ("rate_distortion", plot_rate_distortion(sweep)),
        ("sweep_metrics", plot_sweep_metrics(sweep)),
    ):
        files[f"{name}.png"] = files[f"{name}.svg"] = fig
    if len(sweep.sample_shape) in (2, 3):
        files["sweep_samples.png"] = plot_sweep_samples(sweep)
    return files
