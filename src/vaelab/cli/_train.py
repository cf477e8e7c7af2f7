"""`vaelab train`, `sample`, `reconstruct`, `info`."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from vaelab.cli import main
from vaelab.cli._options import data_options, parse_ints
from vaelab.likelihoods import LIKELIHOODS, default_likelihood
from vaelab.models import ModelConfig
from vaelab.networks import ACTIVATIONS, NETWORKS
from vaelab.runs import DataSpec, load_run, read_summary, run_data, train_run
from vaelab.train import PRECISIONS, SCHEDULES, TrainConfig

BINARIZE_CHOICES = ("none", "static", "dynamic")


@main.command()
@click.option("--model", "kind", type=click.Choice(["vae", "ae"]), default="vae",
              show_default=True, help="variational or deterministic autoencoder")
@data_options
@click.option("--latent-dim", type=int, default=20, show_default=True, help="size of the code z")
@click.option("--network", type=click.Choice(NETWORKS), default="mlp", show_default=True)
@click.option("--hidden", default="400", show_default=True,
              help="MLP hidden widths, encoder side, e.g. 400,200 ('' for none)")
@click.option("--activation", type=click.Choice(sorted(ACTIVATIONS)), default="relu",
              show_default=True)
@click.option("--likelihood", type=click.Choice(LIKELIHOODS), default=None,
              help="p(x|z) [default: bernoulli for data in [0,1], gaussian otherwise]")
@click.option("--beta", type=float, default=1.0, show_default=True, help="weight on the KL term")
@click.option("--epochs", type=int, default=30, show_default=True)
@click.option("--batch-size", type=int, default=128, show_default=True)
@click.option("--lr", type=float, default=1e-3, show_default=True, help="Adam learning rate")
@click.option("--lr-schedule", type=click.Choice(SCHEDULES), default="constant",
              show_default=True,
              help="learning-rate decay, moved every step: cosine to zero over the run, or "
              "iwae: the IWAE paper's stages lr·10^(-i/7), i = 0..7, lasting as 3^i")
@click.option("--adam-eps", type=float, default=1e-8, show_default=True,
              help="Adam's epsilon (the IWAE protocol uses 1e-4)")
@click.option("--kl-warmup", type=int, default=0, show_default=True,
              help="epochs over which beta ramps up from 0")
@click.option("--importance-samples", type=int, default=1, show_default=True,
              help="K of the training objective: 1 trains on the ELBO, K > 1 on the "
              "IWAE bound L_K (Burda et al. 2015; about K times the decoder's work)")
@click.option("--patience", type=int, default=None,
              help="early stopping: epochs without validation improvement")
@click.option("--valid-fraction", type=float, default=0.1, show_default=True,
              help="share of train held out for validation (0: none)")
@click.option("--binarize", type=click.Choice(BINARIZE_CHOICES), default="none",
              show_default=True, help="static: one seeded draw; dynamic: a fresh draw per batch")
@click.option("--standardize", is_flag=True, help="zero mean, unit variance per feature")
@click.option("--precision", type=click.Choice(PRECISIONS), default="auto", show_default=True)
@click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), default="auto",
              show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="run directory [default: runs/<model>-<data>-<time>]")
@click.option("--overwrite", is_flag=True, help="replace an existing run directory")
@click.option("--quiet", is_flag=True, help="no progress bar")
@click.option("--checkpoint-every", type=int, default=1, show_default=True,
              help="epochs between checkpoints (0: only by --checkpoint-minutes)")
@click.option("--checkpoint-minutes", type=float, default=None,
              help="also checkpoint when this many minutes have passed (checked each epoch)")
@click.option("--on-divergence", type=click.Choice(["stop", "rollback"]), default="stop",
              show_default=True,
              help="on NaN/inf: stop with an error, or roll back and continue at lr x 0.1")
@click.option("--resume", type=click.Path(file_okay=False), default=None, metavar="RUN",
              help="continue the interrupted run directory RUN from its last checkpoint "
                   "(all other options come from RUN/config.json)")
def train(kind, source, data_dir, shape, label_column, latent_dim, network, hidden, activation,
          likelihood, beta, epochs, batch_size, lr, lr_schedule, adam_eps, kl_warmup,
          importance_samples,
          patience, valid_fraction,
          binarize, standardize, precision, device, seed, out, overwrite, quiet,
          checkpoint_every, checkpoint_minutes, on_divergence, resume):
    """Train an autoencoder or a VAE and write a run directory.

    The run directory holds config.json, model.safetensors, metrics.jsonl,
    summary.json and, for images, figures/samples.png and
    figures/reconstructions.png.

    Example: vaelab train --model vae --data mnist --data-dir ../shared/data/mnist
    --latent-dim 20 --epochs 10

    Under torchrun (torchrun --nproc_per_node N -m vaelab train ...) it trains
    with DistributedDataParallel; rank 0 alone writes the run directory.
    """
    from vaelab import distributed

    distributed.init_from_env(device)
    if resume is not None:
        from vaelab.runs import resume_run

        run_dir = Path(resume)
        net, _ = resume_run(run_dir, progress=not quiet)
        if distributed.is_main():
            _report_run(run_dir, net, seed)
        return
    spec = DataSpec(
        source=source, data_dir=data_dir, shape=parse_ints(shape, "--shape"),
        label_column=_column(label_column), valid_fraction=valid_fraction,
        binarize="static" if binarize == "static" else "none", standardize=standardize,
        seed=seed,
    )
    from vaelab.runs import load_data

    splits = load_data(spec)
    likelihood = likelihood or default_likelihood(splits.train.kind)
    model = ModelConfig(
        kind=kind, latent_dim=latent_dim, network=network,
        hidden=parse_ints(hidden, "--hidden"), activation=activation,
        likelihood=likelihood, beta=beta,
    )
    config = TrainConfig(
        epochs=epochs, batch_size=batch_size, lr=lr, lr_schedule=lr_schedule,
        adam_eps=adam_eps, kl_warmup_epochs=kl_warmup,
        importance_samples=importance_samples,
        patience=patience, binarize="dynamic" if binarize == "dynamic" else "none",
        seed=seed, device=device, precision=precision, checkpoint_every=checkpoint_every,
        checkpoint_minutes=checkpoint_minutes, on_divergence=on_divergence,
    )
    run_dir = Path(out or f"runs/{kind}-{Path(source).stem}-{time.strftime('%Y%m%d-%H%M%S')}")
    net, _ = train_run(spec, model, config, run_dir, overwrite=overwrite, progress=not quiet,
                       splits=splits)
    if distributed.is_main():
        _report_run(run_dir, net, seed)


def _report_run(run_dir: Path, net, seed: int) -> None:
    summary = read_summary(run_dir)
    click.echo(f"{_test_scores(summary, net.config.kind)} in {summary['train_seconds']:.1f}s")
    if len(net.config.input_shape) == 3:
        _write_samples(run_dir, 64, seed, run_dir / "figures" / "samples.png")
        _write_reconstructions(run_dir, 16, run_dir / "figures" / "reconstructions.png")
    click.echo(f"run directory: {run_dir}")


@main.command()
@click.argument("run", type=click.Path(file_okay=False))
@click.option("-n", "n", type=int, default=64, show_default=True, help="number of samples")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="output file [default: RUN/figures/samples.png]; .npy for non-image data")
def sample(run, n, seed, out):
    """Decode N(0, I) codes of a trained RUN into a PNG grid (or .npy for tables).

    For a VAE these are samples from its prior. An autoencoder has no prior:
    its decoded N(0, I) codes show the holes in its code space.

    Example: vaelab sample runs/vae-digits-20261124-101500 -n 64
    """
    path = _write_samples(Path(run), n, seed, Path(out) if out else None)
    click.echo(f"wrote {path}")


@main.command()
@click.argument("run", type=click.Path(file_okay=False))
@click.option("-n", "n", type=int, default=16, show_default=True, help="number of test inputs")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="output PNG [default: RUN/figures/reconstructions.png]")
def reconstruct(run, n, out):
    """Show test inputs of a trained RUN beside their reconstructions, as a PNG.

    Rows alternate: test inputs, then the decoder mean at their codes.

    Example: vaelab reconstruct runs/vae-digits-20261124-101500 -n 16
    """
    path = _write_reconstructions(Path(run), n, Path(out) if out else None)
    click.echo(f"wrote {path}")


@main.command()
@click.argument("run", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="print machine-readable JSON")
def info(run, as_json):
    """Print a RUN's config and its final metrics.

    Shows the model, data and training settings from config.json, the last
    epoch of metrics.jsonl and the test scores of summary.json.

    Example: vaelab info runs/vae-digits-20261124-101500
    """
    from vaelab.io import read_config, read_metrics

    config = read_config(Path(run))
    metrics = read_metrics(Path(run))
    summary = read_summary(Path(run))
    if as_json:
        click.echo(json.dumps({"config": config, "summary": summary,
                               "last_epoch": metrics[-1] if metrics else None}, indent=2))
        return
    m = config["model"]
    click.echo(f"{run}: {m['kind'].upper()} {m['network']} hidden={m['hidden']} "
               f"latent_dim={m['latent_dim']} likelihood={m['likelihood']} beta={m['beta']}")
    if "data" in config:
        d = config["data"]
        click.echo(f"data: {d['source']} (binarize={d['binarize']}, seed={d['seed']})")
    if "train" in config:
        t = config["train"]
        click.echo(f"train: epochs={t['epochs']} batch_size={t['batch_size']} lr={t['lr']} "
                   f"precision={t['precision']}")
    if metrics:
        last = metrics[-1]
        click.echo(f"last epoch {last['epoch']}: train loss {last['train_loss']:.3f}"
                   + (f", valid −ELBO {last['valid_loss']:.3f}" if "valid_loss" in last else ""))
    if summary:
        click.echo(f"{_test_scores(summary, m['kind'])}; trained {summary['train_seconds']:.1f}s")


def _test_scores(summary: dict, kind: str) -> str:
    """The summary's test scores in words: a VAE's −ELBO, an autoencoder's reconstruction."""
    if kind == "ae":
        return f"test reconstruction −log p(x|f(x)) {summary['test_reconstruction']:.3f} nats"
    return (f"test −ELBO {summary['test_loss']:.3f} nats (reconstruction "
            f"{summary['test_reconstruction']:.3f}, KL {summary['test_kl']:.3f})")


def _column(value: str | None) -> str | int | None:
    if value is None:
        return None
    return int(value) if value.lstrip("-").isdigit() else value


def _write_samples(run_dir: Path, n: int, seed: int, out: Path | None) -> Path:
    import numpy as np

    from vaelab.latent import decode, prior_codes
    from vaelab.plots.images import as_images, image_grid_figure, save_figure

    model, _ = load_run(run_dir)
    x = decode(model, prior_codes(n, model.config.latent_dim, seed))
    shape = model.config.input_shape
    if len(shape) != 3:
        out = out or run_dir / "samples.npy"
        np.save(out, x.reshape(n, *shape))
        return out
    fig = image_grid_figure(as_images(x, shape), n_cols=min(n, 8),
                            title=f"{n} decoded N(0, I) codes ({model.config.kind.upper()})")
    return save_figure(fig, out or run_dir / "figures" / "samples.png")


def _write_reconstructions(run_dir: Path, n: int, out: Path | None) -> Path:
    import numpy as np

    from vaelab.errors import ConfigError
    from vaelab.latent import decode, encode
    from vaelab.plots.images import as_images, image_grid_figure, save_figure
    from vaelab.runs import eval_view

    model, config = load_run(run_dir)
    shape = model.config.input_shape
    if len(shape) != 3:
        raise ConfigError(f"reconstruct draws images, but this run's samples have shape {shape}")
    splits, train, seed = run_data(config)
    test = eval_view(splits.test, train, seed + 4)
    x = test.x[:n].reshape(min(n, len(test)), -1)
    rec = decode(model, encode(model, x))
    cols = min(n, 8)
    rows = []
    for i in range(0, len(x), cols):
        rows += [x[i : i + cols], rec[i : i + cols]]
    grid = as_images(np.concatenate(rows), shape)
    labels = ["input", "recon."] * (len(rows) // 2)
    fig = image_grid_figure(grid, n_cols=cols, title="test inputs and their reconstructions",
                            row_labels=labels)
    return save_figure(fig, out or run_dir / "figures" / "reconstructions.png")
