"""`vaelab explain`: build the interactive page that teaches the VAE on your data."""

from __future__ import annotations

import time
from pathlib import Path

import click

from vaelab.cli._options import device_option, parse_column, parse_ints, seed_option


@click.command()
@click.option(
    "--data",
    "source",
    default="digits",
    show_default=True,
    help="digits (offline), mnist, fashion-mnist, or a path to a .npy/.npz/.csv file",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="local directory holding a named dataset's files",
)
@click.option("--shape", default=None, metavar="H,W|C,H,W", help="read flat rows as images of this shape")
@click.option(
    "--label-column",
    default=None,
    help="CSV: name or index of the label column (the page then colours codes by it and "
    "measures kNN accuracy; without it every column is a feature)",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("explain-out"),
    show_default=True,
    help="directory for explain.html (or .md, with figures/) and explain.json; "
    "written when the run succeeds, other files in it are left alone",
)
@click.option(
    "--quick", "preset", flag_value="quick", help="tiny training budget: a smoke test, numbers are rough"
)
@click.option(
    "--full", "preset", flag_value="full", help="longer training on the whole training set (MNIST: ~20 min)"
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "md"]),
    default="html",
    show_default=True,
    help="interactive HTML page, or markdown + PNG figures",
)
@seed_option()
@device_option(
    help="where the page's models train (auto: a CUDA GPU where there is one); every measure runs on the CPU"
)
def explain(
    source: str,
    data_dir: str | None,
    shape: str | None,
    label_column: str | None,
    out: Path,
    preset: str | None,
    fmt: str,
    seed: int,
    device: str,
) -> None:
    """Teach the VAE, from the curse of dimensionality to the ELBO, on your data.

    Trains PCA, a 2-D autoencoder and VAE, a larger VAE, a small β sweep and a
    linear VAE against probabilistic PCA; measures every step; writes one
    self-contained page (no network needed) plus explain.json, and prints its path.

    Example: vaelab explain --out explain-out && open explain-out/explain.html
    """
    from vaelab.report.explain import ExplainConfig, build_explain

    cfg = ExplainConfig(
        source=source,
        data_dir=data_dir,
        shape=parse_ints(shape, "--shape"),
        label_column=parse_column(label_column),
        preset=preset or "default",
        seed=seed,
        device=device,
    )
    t0 = time.perf_counter()

    def on_stage(stage: str, message: str) -> None:
        click.echo(f"[{time.perf_counter() - t0:6.1f} s] {stage}: {message}", err=True)

    path = build_explain(cfg, out, fmt, on_stage=on_stage)
    click.echo(str(path))
