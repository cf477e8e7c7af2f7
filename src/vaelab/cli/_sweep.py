"""`vaelab sweep-beta`: the balance of the two loss terms."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from vaelab.cli._options import data_options, parse_column, parse_ints, seed_option
from vaelab.errors import ConfigError
from vaelab.experiments.options import DEFAULT_BETAS

if TYPE_CHECKING:
    from vaelab.experiments.sweep import BetaSweep


def parse_floats(value: str, what: str) -> tuple[float, ...]:
    """'0,0.5,1' → (0.0, 0.5, 1.0); a bad list is a `ConfigError`.

    Examples
    --------
    >>> parse_floats("0, 0.5,64", "--betas")
    (0.0, 0.5, 64.0)
    """
    try:
        return tuple(float(v) for v in value.split(","))
    except ValueError:
        raise ConfigError(f"{what}={value!r} must be comma-separated numbers, e.g. 0,1,64") from None


def format_sweep(sweep: BetaSweep) -> str:
    """One row per β: rate, distortion, −ELBO, active units, sample quality, holes and collapse."""

    def f(v: float | None, digits: int = 3) -> str:
        return "" if v is None else f"{v:.{digits}f}"

    head = (
        f"{'beta':>6} {'rate':>8} {'distort':>8} {'-ELBO':>8} {'AU':>4} {'P':>5} {'R':>5} "
        f"{'gap':>5} {'far':>6} {'uncov':>6} {'codeKL':>8} {'NNratio':>7} {'conf':>5} "
        f"{'spread':>6} {'outVar':>6}"
    )
    rows = [head]
    for p in sweep.points:
        prior = p.holes.samplers["prior"]
        rows.append(
            f"{p.beta:>6g} {p.rate:>8.2f} {p.distortion:>8.2f} {p.neg_elbo:>8.2f} "
            f"{p.active_units:>4d} {f(p.precision):>5} {f(p.recall):>5} {f(p.gap_fraction):>5} "
            f"{p.holes.mismatch.far_fraction:>6.3f} "
            f"{p.holes.mismatch.uncovered_fraction:>6.3f} "
            f"{p.holes.mismatch.gaussian_kl:>8.2f} {prior.nn_distance_ratio:>7.2f} "
            f"{f(prior.classifier_confidence, 2):>5} {p.samples_spread:>6.3f} {f(p.output_spread):>6}"
        )
    return "\n".join(rows)


@click.command("sweep-beta")
@data_options
@click.option(
    "--betas",
    default=",".join(f"{b:g}" for b in DEFAULT_BETAS),
    show_default=True,
    help="comma-separated β values; include 0 and a value that collapses the posterior",
)
@click.option("--latent-dim", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--hidden", default="200", show_default=True, help="MLP hidden widths, e.g. 400,200")
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="epochs per β (the main speed knob)",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=128, show_default=True)
@click.option("--lr", type=float, default=1e-3, show_default=True)
@click.option(
    "--max-train",
    type=click.IntRange(min=2),
    default=None,
    help="train on a seeded subset of this many examples (speed knob)",
)
@click.option(
    "--n-samples",
    type=click.IntRange(min=10),
    default=1000,
    show_default=True,
    help="prior samples decoded per β for the holes metrics",
)
@seed_option()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs/sweep-beta"),
    show_default=True,
    help="directory for sweep.json and the figures",
)
def sweep_beta_cmd(
    source,
    data_dir,
    shape,
    label_column,
    betas,
    latent_dim,
    hidden,
    epochs,
    batch_size,
    lr,
    max_train,
    n_samples,
    seed,
    out,
):
    """Train one VAE per β and trace the rate-distortion curve.

    For each β (same architecture, data and seed) it measures on the test data
    the rate (KL, nats), the distortion (-E log p(x|z), nats), the active units
    (Cov_x E_q[z_u] > 0.01), the improved precision "P" and recall "R" of
    decoded prior samples (Kynkäänniemi et al. 2019, PCA features of the real
    training data), "gap", the share of prior draws farther from every code
    than the codes' median nearest-code distance, "outVar", the variance of
    the reconstructions across test inputs relative to the data's (0 =
    collapse), the holes metrics of decoded prior samples (share
    of prior draws far from every code, moment-matched KL of the codes to
    N(0, I), nearest-neighbour distance ratio, classifier confidence) and the
    spread of the samples around the data mean (0 = posterior collapse).

    Writes sweep.json, rate_distortion.png/.svg, sweep_metrics.png/.svg and
    sweep_samples.png to --out, and prints a table.

    Example: vaelab sweep-beta --data digits --betas 0,0.5,1,4,64 --epochs 20
    """
    from vaelab.core.config import ModelConfig
    from vaelab.experiments.sweep import sweep_beta
    from vaelab.report.writers import write_sweep
    from vaelab.runs.run import DataSpec, load_data
    from vaelab.training.config import TrainConfig

    spec = DataSpec(
        source=source,
        data_dir=data_dir,
        shape=parse_ints(shape, "--shape"),
        label_column=parse_column(label_column),
        valid_fraction=0.0,
        seed=seed,
    )
    splits = load_data(spec)
    likelihood = "gaussian" if splits.train.kind == "real" else "bernoulli"
    model = ModelConfig(
        kind="vae", latent_dim=latent_dim, hidden=parse_ints(hidden, "--hidden"), likelihood=likelihood
    )
    train_cfg = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed)

    def report(p) -> None:
        click.echo(
            f"beta={p.beta:g}: rate {p.rate:.2f}, distortion {p.distortion:.2f}, "
            f"active units {p.active_units} ({p.train_seconds:.1f}s)"
        )

    result = sweep_beta(
        splits.train,
        splits.test,
        betas=parse_floats(betas, "--betas"),
        model=model,
        train_config=train_cfg,
        max_train=max_train,
        n_samples=n_samples,
        seed=seed,
        on_point=report,
    )
    write_sweep(out, result)
    click.echo(format_sweep(result))
    click.echo(f"wrote {out / 'sweep.json'} and figures to {out}")
