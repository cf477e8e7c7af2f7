"""`vaelab sample`, `reconstruct`, `info`: look inside a trained run directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from vaelab.cli._options import seed_option

if TYPE_CHECKING:  # torch stays unimported until a command runs
    from vaelab.core.models import Model


MAX_SAMPLES = 100_000  # decoded samples per call: 300 MB for 784 features, a 316-row grid


def report_run(run_dir: Path, net: Model, seed: int) -> None:
    """Print a finished run's test scores and write its figures (images only)."""
    from vaelab.runs.files import read_summary

    summary = read_summary(run_dir)
    if summary is not None:
        click.echo(f"{_test_scores(summary, net.config.kind)} in {summary['train_seconds']:.1f}s")
    if len(net.config.input_shape) == 3:
        _write_samples(run_dir, 64, seed, run_dir / "figures" / "samples.png")
        _write_reconstructions(run_dir, 16, run_dir / "figures" / "reconstructions.png")
    click.echo(f"run directory: {run_dir}")


@click.command()
@click.argument("run", type=click.Path(file_okay=False))
@click.option(
    "-n",
    "n",
    type=click.IntRange(min=1, max=MAX_SAMPLES),
    default=64,
    show_default=True,
    help="number of samples",
)
@seed_option()
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default=None,
    help="output file: .png for image data, .npy for tables "
    "[default: RUN/figures/samples.png or RUN/samples.npy]",
)
def sample(run, n, seed, out):
    """Decode N(0, I) codes of a trained RUN into a PNG grid (or .npy for tables).

    For a VAE these are samples from its prior. An autoencoder has no prior:
    its decoded N(0, I) codes show the holes in its code space.

    Example: vaelab sample runs/vae-digits-20261124-101500 -n 64
    """
    from vaelab.runs.run import load_run

    if out is not None:  # the file type follows the run's data: refuse a mismatch up front
        from vaelab.errors import ConfigError

        want = ".png" if len(load_run(Path(run))[0].config.input_shape) == 3 else ".npy"
        if Path(out).suffix.lower() != want:
            raise ConfigError(
                f"--out={out}: this run's samples are written as a {want} file, so --out must end in {want}"
            )
    path = _write_samples(Path(run), n, seed, Path(out) if out else None)
    click.echo(f"wrote {path}")


@click.command()
@click.argument("run", type=click.Path(file_okay=False))
@click.option(
    "-n",
    "n",
    type=click.IntRange(min=1, max=MAX_SAMPLES),
    default=16,
    show_default=True,
    help="number of test inputs",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default=None,
    help="output .png file [default: RUN/figures/reconstructions.png]",
)
def reconstruct(run, n, out):
    """Show test inputs of a trained RUN beside their reconstructions, as a PNG.

    Rows alternate: test inputs, then the decoder mean at their codes.

    Example: vaelab reconstruct runs/vae-digits-20261124-101500 -n 16
    """
    if out is not None and Path(out).suffix.lower() != ".png":
        from vaelab.errors import ConfigError

        raise ConfigError(f"--out={out}: reconstructions are drawn as a PNG image, so --out must end in .png")
    path = _write_reconstructions(Path(run), n, Path(out) if out else None)
    click.echo(f"wrote {path}")


@click.command()
@click.argument("run", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="print machine-readable JSON")
def info(run, as_json):
    """Print a RUN's config and its final metrics.

    Shows the model, data and training settings from config.json, the last
    epoch of metrics.jsonl and the test scores of summary.json. Every file is
    checked as fully as the other commands check it: a damaged run is an error.

    Example: vaelab info runs/vae-digits-20261124-101500
    """
    from vaelab.runs.files import read_config, read_metrics, read_summary

    config = read_config(Path(run))  # completed with the defaults of each section
    metrics = [r for r in read_metrics(Path(run)) if "epoch" in r]  # events (resumes) aside
    summary = read_summary(Path(run))
    if as_json:
        click.echo(
            json.dumps(
                {"config": config, "summary": summary, "last_epoch": metrics[-1] if metrics else None},
                indent=2,
            )
        )
        return
    m = config["model"]
    click.echo(
        f"{run}: {m['kind'].upper()} {m['network']} hidden={m['hidden']} "
        f"latent_dim={m['latent_dim']} likelihood={m['likelihood']} beta={m['beta']}"
    )
    if "data" in config:
        d = config["data"]
        click.echo(f"data: {d['source']} (binarize={d['binarize']}, seed={d['seed']})")
    if "train" in config:
        t = config["train"]
        click.echo(
            f"train: epochs={t['epochs']} batch_size={t['batch_size']} lr={t['lr']} "
            f"precision={t['precision']}"
        )
    if metrics:
        last = metrics[-1]
        click.echo(
            f"last epoch {last['epoch']}: train loss {last['train_loss']:.3f}"
            + (f", valid −ELBO {last['valid_loss']:.3f}" if "valid_loss" in last else "")
        )
    if summary:
        click.echo(f"{_test_scores(summary, m['kind'])}; trained {summary['train_seconds']:.1f}s")


def _test_scores(summary: dict, kind: str) -> str:
    """The summary's test scores in words: a VAE's −ELBO, an autoencoder's reconstruction."""
    if kind == "ae":
        return f"test reconstruction −log p(x|f(x)) {summary['test_reconstruction']:.3f} nats"
    return (
        f"test −ELBO {summary['test_loss']:.3f} nats (reconstruction "
        f"{summary['test_reconstruction']:.3f}, KL {summary['test_kl']:.3f})"
    )


def _write_samples(run_dir: Path, n: int, seed: int, out: Path | None) -> Path:
    import numpy as np

    from vaelab.core.inference import decode
    from vaelab.experiments.latent import prior_codes
    from vaelab.report.figures.images import as_images, image_grid_figure, save_figure
    from vaelab.runs.run import load_run

    model, _ = load_run(run_dir)
    x = decode(model, prior_codes(n, model.config.latent_dim, seed))
    shape = model.config.input_shape
    if len(shape) != 3:
        out = out or run_dir / "samples.npy"
        np.save(out, x.reshape(n, *shape))
        return out
    fig = image_grid_figure(
        as_images(x, shape),
        n_cols=min(n, 8),
        title=f"{n} decoded N(0, I) codes ({model.config.kind.upper()})",
    )
    return save_figure(fig, out or run_dir / "figures" / "samples.png")


def _write_reconstructions(run_dir: Path, n: int, out: Path | None) -> Path:
    import numpy as np

    from vaelab.core.inference import decode, encode
    from vaelab.errors import ConfigError
    from vaelab.report.figures.images import as_images, image_grid_figure, save_figure
    from vaelab.runs.run import eval_split, load_run, run_data

    model, config = load_run(run_dir)
    shape = model.config.input_shape
    if len(shape) != 3:
        raise ConfigError(f"reconstruct draws images, but this run's samples have shape {shape}")
    splits, train, seed = run_data(config)
    test = eval_split(splits, "test", train, seed)
    x = test.x[:n].reshape(min(n, len(test)), -1)
    rec = decode(model, encode(model, x))
    cols = min(n, 8)
    rows = []
    for i in range(0, len(x), cols):
        rows += [x[i : i + cols], rec[i : i + cols]]
    grid = as_images(np.concatenate(rows), shape)
    labels = ["input", "recon."] * (len(rows) // 2)
    fig = image_grid_figure(
        grid, n_cols=cols, title="test inputs and their reconstructions", row_labels=labels
    )
    return save_figure(fig, out or run_dir / "figures" / "reconstructions.png")
