"""`vaelab holes`: what an AE and a VAE decode from random codes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from vaelab.cli._options import data_options, parse_column, parse_ints, seed_option
from vaelab.errors import ConfigError

if TYPE_CHECKING:
    from vaelab.experiments.holes import HolesComparison


def format_holes(result: HolesComparison) -> str:
    """One row per model and sampler: precision/recall, gap and far shares, code KL, NN ratio, classifier."""

    def f(v: float | None) -> str:
        return "" if v is None else f"{v:.3f}"

    rows = [
        f"{'model':>8} {'sampler':>9} {'P':>5} {'R':>5} {'ownP':>5} {'ownR':>5} {'gap':>5} {'far':>6} "
        f"{'uncov':>6} {'codeKL':>8} {'NNratio':>7} {'conf':>5} {'entropy':>7}"
    ]
    for m in result.models:
        for s, r in m.samplers.items():
            rows.append(
                f"{m.name:>8} {s:>9} {f(r.precision):>5} {f(r.recall):>5} {f(r.own_precision):>5} "
                f"{f(r.own_recall):>5} {f(m.mismatch.gap_fraction):>5} {r.far_fraction:>6.3f} "
                f"{m.mismatch.uncovered_fraction:>6.3f} "
                f"{m.mismatch.gaussian_kl:>8.2f} {r.nn_distance_ratio:>7.2f} "
                f"{f(r.classifier_confidence):>5} {f(r.classifier_entropy):>7}"
            )
    if result.test_confidence is not None or result.test_precision is not None:
        rows.append(
            f"{'real':>8} {'test':>9} {f(result.test_precision):>5} {f(result.test_recall):>5} "
            f"{'':>5} {'':>5} {'':>5} {'':>6} {'':>6} {'':>8} {'':>7} "
            f"{f(result.test_confidence):>5} {f(result.test_entropy):>7}"
            + (
                ""
                if result.classifier_accuracy is None
                else f"   (classifier accuracy {result.classifier_accuracy:.3f})"
            )
        )
    return "\n".join(rows)


@click.command()
@click.argument("runs", nargs=-1, type=click.Path(file_okay=False, exists=True))
@data_options
@click.option("--latent-dim", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--hidden", default="400", show_default=True, help="MLP hidden widths, e.g. 400,200")
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="epochs for each of the two models",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=128, show_default=True)
@click.option(
    "--n-samples",
    type=click.IntRange(min=10),
    default=2000,
    show_default=True,
    help="codes drawn per sampler",
)
@seed_option()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs/holes"),
    show_default=True,
    help="directory for holes.json and the figures",
)
def holes(
    runs, source, data_dir, shape, label_column, latent_dim, hidden, epochs, batch_size, n_samples, seed, out
):
    """Measure the holes in an AE's and a VAE's code space.

    With no RUNS, trains an autoencoder and a VAE with the same architecture and
    latent size on --data. With two RUNS (run directories from `vaelab train`),
    compares those models on the data of the first run.

    For decoded codes from N(0, I) ("prior"), from a Gaussian fitted to the
    model's own codes ("gaussian") and from a GaussianMixture fitted to them
    ("gmm") it reports: "P" and "R", improved precision and recall
    (Kynkäänniemi et al. 2019, k = 3) in a PCA feature space of the real
    training data, against real training samples ("ownP", "ownR": against the
    model's reconstructions of them); "gap", the share of prior draws farther
    from every training code than the codes' median nearest-code distance
    (about 0.5 when the codes fill N(0, I)); "far", the share of the codes farther from every
    training code than 99 % of codes are from their nearest other code;
    "uncov", the share of training codes farther from every prior draw than
    99 % of prior draws are from their nearest other draw;
    "codeKL", KL(N(mean, cov of codes) || N(0, I)); "NNratio", the median
    distance of decoded samples to their nearest training example divided by
    the same for reconstructions of test inputs; and a logistic-regression
    classifier's confidence and entropy on the decoded samples, next to real
    test data.

    Writes holes.json, holes_metrics.png/.svg and holes_samples.png to --out.

    Example: vaelab holes --data digits --latent-dim 8 --epochs 50
    """
    from vaelab.experiments.holes import compare_holes
    from vaelab.report.writers import write_holes

    if runs:
        models, train, test = _from_runs(runs)
    else:
        models, train, test = _train_pair(
            source, data_dir, shape, label_column, latent_dim, hidden, epochs, batch_size, seed
        )
    result = compare_holes(models, train, test, n_samples=n_samples, seed=seed)
    write_holes(out, result)
    click.echo(format_holes(result))
    click.echo(f"wrote {out / 'holes.json'} and figures to {out}")


def _train_pair(source, data_dir, shape, label_column, latent_dim, hidden, epochs, batch_size, seed):
    from vaelab.core.config import ModelConfig
    from vaelab.core.models import build_model
    from vaelab.runs.run import DataSpec, load_data
    from vaelab.training.config import TrainConfig
    from vaelab.training.loop import fit

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
    models = {}
    for kind in ("ae", "vae"):
        cfg = ModelConfig(
            kind=kind,
            input_shape=splits.train.sample_shape,
            latent_dim=latent_dim,
            hidden=parse_ints(hidden, "--hidden"),
            likelihood=likelihood,
        )
        net = build_model(cfg, seed=seed)
        hist = fit(
            net, splits.train, TrainConfig(epochs=epochs, batch_size=batch_size, seed=seed), progress=False
        )
        click.echo(f"trained {kind}: train loss {hist.train_loss[-1]:.2f} nats in {sum(hist.seconds):.1f}s")
        models[kind.upper()] = net
    return models, splits.train, splits.test


def _from_runs(runs):
    from vaelab.runs.run import load_run, run_data

    if len(runs) != 2:
        raise ConfigError(f"give two run directories (an AE and a VAE), got {len(runs)}")
    loaded = [load_run(Path(r)) for r in runs]
    nets = [m for m, _ in loaded]
    if nets[0].config.latent_dim != nets[1].config.latent_dim:
        raise ConfigError(
            f"the runs have latent sizes {nets[0].config.latent_dim} and "
            f"{nets[1].config.latent_dim}; compare models of the same latent size"
        )
    if nets[0].config.input_shape != nets[1].config.input_shape:
        raise ConfigError(
            f"the runs take inputs of shapes {nets[0].config.input_shape} and {nets[1].config.input_shape}"
        )
    splits, _, _ = run_data(loaded[0][1])
    names = [n.config.kind.upper() for n in nets]
    if names[0] == names[1]:
        names = [Path(r).name for r in runs]
    return dict(zip(names, nets, strict=True)), splits.train, splits.test
