"""`vaelab train`: train an autoencoder or a VAE into a run directory."""

from __future__ import annotations

import time
from pathlib import Path

import click

from vaelab.cli._options import data_options, device_option, parse_column, parse_ints, seed_option
from vaelab.core.config import ACTIVATIONS, LIKELIHOODS, NETWORKS, ModelConfig, default_likelihood
from vaelab.errors import ConfigError
from vaelab.training.config import PRECISIONS, SCHEDULES, STEPS, TrainConfig

BINARIZE_CHOICES = ("none", "static", "dynamic")


@click.command()
@click.option(
    "--model",
    "kind",
    type=click.Choice(["vae", "ae"]),
    default="vae",
    show_default=True,
    help="variational or deterministic autoencoder",
)
@data_options
@click.option("--latent-dim", type=int, default=20, show_default=True, help="size of the code z")
@click.option("--network", type=click.Choice(NETWORKS), default="mlp", show_default=True)
@click.option(
    "--hidden",
    default="400",
    show_default=True,
    help="MLP hidden widths, encoder side, e.g. 400,200 ('' for none)",
)
@click.option("--activation", type=click.Choice(sorted(ACTIVATIONS)), default="relu", show_default=True)
@click.option(
    "--latent-dim2",
    type=int,
    default=0,
    show_default=True,
    help="a second stochastic layer z2 of this size above z (two-layer VAE; 0: none)",
)
@click.option("--hidden2", default="", help="MLP widths between z and z2, e.g. 100,100 (with --latent-dim2)")
@click.option(
    "--likelihood",
    type=click.Choice(LIKELIHOODS),
    default=None,
    help="p(x|z) [default: bernoulli for data in [0,1], gaussian otherwise]",
)
@click.option("--beta", type=float, default=1.0, show_default=True, help="weight on the KL term")
@click.option("--epochs", type=int, default=30, show_default=True)
@click.option("--batch-size", type=int, default=128, show_default=True)
@click.option("--lr", type=float, default=1e-3, show_default=True, help="Adam learning rate")
@click.option(
    "--lr-schedule",
    type=click.Choice(SCHEDULES),
    default="constant",
    show_default=True,
    help="learning-rate decay, moved every step: cosine to zero over the run, or "
    "iwae: the IWAE paper's stages lr·10^(-i/7), i = 0..7, lasting as 3^i",
)
@click.option(
    "--adam-eps",
    type=float,
    default=1e-8,
    show_default=True,
    help="Adam's epsilon (the IWAE protocol uses 1e-4)",
)
@click.option(
    "--kl-warmup", type=int, default=0, show_default=True, help="epochs over which beta ramps up from 0"
)
@click.option(
    "--importance-samples",
    type=int,
    default=1,
    show_default=True,
    help="K of the training objective: 1 trains on the ELBO, K > 1 on the "
    "IWAE bound L_K (Burda et al. 2015; about K times the decoder's work)",
)
@click.option(
    "--patience", type=int, default=None, help="early stopping: epochs without validation improvement"
)
@click.option(
    "--valid-fraction",
    type=float,
    default=0.1,
    show_default=True,
    help="share of train held out for validation (0: none)",
)
@click.option(
    "--binarize",
    type=click.Choice(BINARIZE_CHOICES),
    default="none",
    show_default=True,
    help="static: one seeded draw; dynamic: a fresh draw per batch",
)
@click.option("--standardize", is_flag=True, help="zero mean, unit variance per feature")
@click.option("--precision", type=click.Choice(PRECISIONS), default="auto", show_default=True)
@click.option(
    "--step",
    type=click.Choice(STEPS),
    default="auto",
    show_default=True,
    help="fused: gradients written by hand (MLP networks, the ELBO); autograd; auto: fused where it applies",
)
@device_option(help="where training runs (auto: a CUDA GPU where there is one)")
@seed_option()
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="run directory [default: runs/<model>-<data>-<time>]",
)
@click.option("--overwrite", is_flag=True, help="replace an existing run directory")
@click.option("--quiet", is_flag=True, help="no progress bar")
@click.option(
    "--checkpoint-every",
    type=int,
    default=1,
    show_default=True,
    help="epochs between checkpoints (0: only by --checkpoint-minutes)",
)
@click.option(
    "--checkpoint-minutes",
    type=float,
    default=None,
    help="also checkpoint when this many minutes have passed (checked each epoch)",
)
@click.option(
    "--on-divergence",
    type=click.Choice(["stop", "rollback"]),
    default="stop",
    show_default=True,
    help="on NaN/inf: stop with an error, or roll back and continue at lr x 0.1",
)
@click.option(
    "--resume",
    type=click.Path(file_okay=False),
    default=None,
    metavar="RUN",
    help="continue the interrupted run directory RUN from its last checkpoint; "
    "settings come from RUN/config.json, except --epochs, --lr, "
    "--on-divergence, --checkpoint-every and --checkpoint-minutes, which "
    "may be given to change them",
)
def train(
    kind,
    source,
    data_dir,
    shape,
    label_column,
    latent_dim,
    network,
    hidden,
    activation,
    latent_dim2,
    hidden2,
    likelihood,
    beta,
    epochs,
    batch_size,
    lr,
    lr_schedule,
    adam_eps,
    kl_warmup,
    importance_samples,
    patience,
    valid_fraction,
    binarize,
    standardize,
    precision,
    step,
    device,
    seed,
    out,
    overwrite,
    quiet,
    checkpoint_every,
    checkpoint_minutes,
    on_divergence,
    resume,
):
    """Train an autoencoder or a VAE and write a run directory.

    The run directory holds config.json, model.safetensors, metrics.jsonl,
    summary.json and, for images, figures/samples.png and
    figures/reconstructions.png.

    Example: vaelab train --model vae --data mnist --data-dir ../shared/data/mnist
    --latent-dim 20 --epochs 10

    Under torchrun (torchrun --nproc_per_node N -m vaelab train ...) it trains
    with DistributedDataParallel; rank 0 alone writes the run directory.
    """
    from vaelab.cli._inspect import report_run
    from vaelab.data import DataSpec
    from vaelab.runs.run import train_run
    from vaelab.training import distributed

    if resume is not None:
        from vaelab.runs.run import resume_run

        changes = _resume_changes(click.get_current_context())
        distributed.init_from_env(device)
        run_dir = Path(resume)
        try:
            net, _ = resume_run(run_dir, progress=not quiet, changes=changes)
            if distributed.is_main():
                report_run(run_dir, net, seed)
        finally:
            distributed.shutdown()
        return
    spec = DataSpec(
        source=source,
        data_dir=data_dir,
        shape=parse_ints(shape, "--shape"),
        label_column=parse_column(label_column),
        valid_fraction=valid_fraction,
        binarize="static" if binarize == "static" else "none",
        standardize=standardize,
        seed=seed,
    )
    from vaelab.runs.run import load_data

    splits = load_data(spec)
    likelihood = likelihood or default_likelihood(splits.train.kind)
    model = ModelConfig(
        kind=kind,
        input_shape=splits.train.sample_shape,
        latent_dim=latent_dim,
        network=network,
        hidden=parse_ints(hidden, "--hidden"),
        activation=activation,
        latent_dim2=latent_dim2,
        hidden2=parse_ints(hidden2, "--hidden2"),
        likelihood=likelihood,
        beta=beta,
    )
    config = TrainConfig(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        lr_schedule=lr_schedule,
        adam_eps=adam_eps,
        kl_warmup_epochs=kl_warmup,
        importance_samples=importance_samples,
        patience=patience,
        binarize="dynamic" if binarize == "dynamic" else "none",
        seed=seed,
        device=device,
        precision=precision,
        step=step,
        checkpoint_every=checkpoint_every,
        checkpoint_minutes=checkpoint_minutes,
        on_divergence=on_divergence,
    )
    run_dir = Path(out or f"runs/{kind}-{Path(source).stem}-{time.strftime('%Y%m%d-%H%M%S')}")
    distributed.init_from_env(device)
    try:
        net, _ = train_run(
            spec, model, config, run_dir, overwrite=overwrite, progress=not quiet, splits=splits
        )
        if distributed.is_main():
            report_run(run_dir, net, seed)
    finally:
        distributed.shutdown()


# `vaelab train --resume RUN` options that change the rest of training, by TrainConfig field
_RESUME_OPTIONS = {
    "epochs": "epochs",
    "lr": "lr",
    "on_divergence": "on_divergence",
    "checkpoint_every": "checkpoint_every",
    "checkpoint_minutes": "checkpoint_minutes",
}


def _resume_changes(ctx: click.Context) -> dict:
    """The options given with --resume: the ones a resume may change, others refused."""
    given = [
        p
        for p in ctx.command.params
        if ctx.get_parameter_source(p.name) == click.core.ParameterSource.COMMANDLINE
        and p.name not in ("resume", "quiet")
    ]
    fixed = [p.opts[0] for p in given if p.name not in _RESUME_OPTIONS]
    if fixed:
        allowed = ", ".join("--" + k.replace("_", "-") for k in _RESUME_OPTIONS)
        raise ConfigError(
            f"{', '.join(fixed)} cannot change when resuming: the run keeps the "
            f"settings in its config.json; a resume can change {allowed}"
        )
    return {_RESUME_OPTIONS[p.name]: ctx.params[p.name] for p in given}
