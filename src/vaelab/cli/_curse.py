"""`vaelab curse`: the curse-of-dimensionality experiments."""

from __future__ import annotations

from pathlib import Path

import click

from vaelab.cli import main
from vaelab.curse import DEFAULT_DIMS, CurseResult, run_curse


def format_table(result: CurseResult) -> str:
    """One row per d: relative contrast (uniform, Gaussian), NN / mean distance, norm / sqrt(d).

    Parameters
    ----------
    result : CurseResult
        The measurements.

    Returns
    -------
    str
        A fixed-width table with a header line.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     table = format_table(run_curse(tmp, dims=(2, 50), n_points=50, figures=False))
    >>> table.splitlines()[0].split()[:3]
    ['d', 'contrast', 'contrast']
    """
    uni, gau = result.concentration["uniform"], result.concentration["gaussian"]
    nn, ann = result.emptiness["uniform"], result.annulus
    header = f"{'d':>6} {'contrast':>10} {'contrast':>10} {'NN/mean':>8} {'|z|/sqrt(d)':>12}"
    sub = f"{'':>6} {'uniform':>10} {'gaussian':>10} {'uniform':>8} {'gaussian':>12}"
    rows = [
        f"{d:>6} {cu:>10.4g} {cg:>10.4g} {r:>8.3f} {a:>12.3f}"
        for d, cu, cg, r, a in zip(
            uni.dims,
            uni.contrast_mean,
            gau.contrast_mean,
            nn.nn_to_mean_mean,
            ann.norm_over_sqrt_d,
            strict=True,
        )
    ]
    return "\n".join([header, sub, *rows])


@main.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs/curse"),
    show_default=True,
    help="directory for curse.json and the figures (created if missing)",
)
@click.option(
    "--max-dim",
    type=click.IntRange(min=1),
    default=max(DEFAULT_DIMS),
    show_default=True,
    help=f"largest dimension d; d runs over {', '.join(map(str, DEFAULT_DIMS))} up to it",
)
@click.option(
    "--n-points",
    type=click.IntRange(min=2),
    default=1000,
    show_default=True,
    help="points per dimension (the Gaussian-norm experiment uses 10x as many)",
)
@click.option("--seed", type=int, default=0, show_default=True, help="random seed")
def curse(out: Path, max_dim: int, n_points: int, seed: int) -> None:
    """Measure the curse of dimensionality on synthetic data.

    For uniform [0,1]^d and Gaussian N(0, I_d) data at each dimension d:
    the relative contrast (Dmax - Dmin) / Dmin between a query's farthest
    and nearest neighbour (it goes to 0), the nearest-neighbour distance over
    the mean distance (it goes to 1), the share of points in a ball half as
    wide as the typical distance (it goes to 0), histograms of pairwise
    distances, and the norms of Gaussian samples (a shell of radius sqrt(d)).

    Writes curse.json and PNG figures (plus curse_contrast.svg) to --out and
    prints a summary table.

    Example: vaelab curse --max-dim 500 --n-points 500 --out runs/curse
    """
    dims = [d for d in DEFAULT_DIMS if d <= max_dim]
    result = run_curse(out, dims=dims, n_points=n_points, seed=seed)
    click.echo(format_table(result))
    click.echo(f"wrote {out / 'curse.json'} and figures to {out}")
