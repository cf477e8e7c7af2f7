"""`vaelab curse`: the curse-of-dimensionality experiments."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from vaelab.cli._options import seed_option
from vaelab.experiments.options import DEFAULT_DIMS

if TYPE_CHECKING:
    from vaelab.experiments.curse import CurseResult


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
    >>> from vaelab.experiments.curse import curse_experiments
    >>> table = format_table(curse_experiments(dims=(2, 50), n_points=50))
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


@click.command()
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
@seed_option()
@click.option(
    "--data",
    "source",
    default=None,
    help="also measure real data: digits, mnist, ... or a .npy/.npz/.csv path; "
    "raw features against their PCA, AE and VAE codes (test split)",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="local directory holding a named dataset's files",
)
@click.option(
    "--latent-dim",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="--data: code size of PCA, AE and VAE",
)
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="--data: AE and VAE training epochs",
)
@click.option(
    "--max-samples",
    type=click.IntRange(min=2),
    default=5000,
    show_default=True,
    help="--data: seeded subsample of train (codes are of at most 2000 test samples)",
)
def curse(
    out: Path,
    max_dim: int,
    n_points: int,
    seed: int,
    source: str | None,
    data_dir: str | None,
    latent_dim: int,
    epochs: int,
    max_samples: int,
) -> None:
    """Measure the curse of dimensionality on synthetic data.

    For uniform [0,1]^d and Gaussian N(0, I_d) data at each dimension d:
    the relative contrast (Dmax - Dmin) / Dmin between a query's farthest
    and nearest neighbour (it goes to 0), the nearest-neighbour distance over
    the mean distance (it goes to 1), the share of points in a ball half as
    wide as the typical distance (it goes to 0), histograms of pairwise
    distances, and the norms of Gaussian samples (a shell of radius sqrt(d)).

    Writes curse.json and PNG figures (plus curse_contrast.svg) to --out and
    prints a summary table.

    With --data, the same distance statistics on real data: its raw features
    against their PCA, AE and VAE codes (models fitted on the train split by
    vaelab.experiments.compare, statistics on test samples).

    Example: vaelab curse --max-dim 500 --n-points 500 --out runs/curse
    --data digits
    """
    from vaelab.experiments.curse import curse_experiments
    from vaelab.report.writers import write_curse

    dims = [d for d in DEFAULT_DIMS if d <= max_dim]
    reps = None
    if source is not None:
        from vaelab.experiments.compare import code_representations
        from vaelab.runs.run import DataSpec, load_data

        splits = load_data(DataSpec(source=source, data_dir=data_dir, valid_fraction=0.0, seed=seed))
        reps = code_representations(
            splits.train,
            splits.test,
            n_components=latent_dim,
            epochs=epochs,
            max_train=max_samples,
            max_test=2000,
            seed=seed,
        )
    result = curse_experiments(dims=dims, n_points=n_points, seed=seed, representations=reps)
    write_curse(out, result)
    click.echo(format_table(result))
    if result.representations is not None:
        rep = result.representations
        click.echo(f"\n{'representation':<16} {'dim':>5} {'contrast':>10} {'Dmax/Dmin':>10} {'NN/mean':>8}")
        for name, d, c, r, nn in zip(
            rep.names, rep.dims, rep.contrast_mean, rep.ratio_mean, rep.nn_to_mean_mean, strict=True
        ):
            click.echo(f"{name:<16} {d:>5} {c:>10.4g} {r:>10.4g} {nn:>8.3f}")
    click.echo(f"wrote {out / 'curse.json'} and figures to {out}")
