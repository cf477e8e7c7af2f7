"""`vaelab compare`: PCA, AE, VAE, t-SNE and UMAP side by side on the same data."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from vaelab.cli._options import data_options, device_option, parse_column, parse_ints, seed_option
from vaelab.experiments.options import DEFAULT_METHODS, METHODS

if TYPE_CHECKING:
    from vaelab.experiments.compare import CompareResult


def format_table(result: CompareResult) -> str:
    """One row per method: reconstruction MSE, kNN accuracies, trustworthiness, times.

    Parameters
    ----------
    result : CompareResult

    Returns
    -------
    str
        A fixed-width table; "-" marks a value the method cannot give (see the notes).

    Examples
    --------
    >>> from vaelab.data import load_dataset
    >>> from vaelab.experiments.compare import compare_methods
    >>> s = load_dataset("digits")
    >>> table = format_table(compare_methods(s.train, s.test, methods=("pca",)))
    >>> table.splitlines()[0].split()[:3]
    ['method', 'recon', 'kNN@10']
    """

    def fmt(v: float | None, spec: str) -> str:
        return "-".rjust(int(spec.split(".")[0])) if v is None else format(v, spec)

    knn = [f"kNN@{k}" for k in result.knn_k]
    header = (
        f"{'method':<18} {'recon':>8} "
        + " ".join(f"{h:>8}" for h in knn)
        + (f" {'trust':>7} {'fit s':>8} {'transf s':>9}")
    )
    rows = [header]
    for r in result.methods.values():
        if not r.available:
            rows.append(f"{r.label:<18} {r.notes[0]}")
            continue
        label = r.label + (" *" if r.protocol == "transductive" else "")
        rows.append(
            f"{label:<18} {fmt(r.reconstruction_mse, '8.4f')} "
            + " ".join(f"{fmt(a, '8.3f'):>8}" for a in r.knn_accuracy)
            + f" {fmt(r.trustworthiness, '7.3f')} {fmt(r.fit_seconds, '8.2f')}"
            f" {fmt(r.transform_seconds, '9.4f'):>9}"
        )
    if any(r.protocol == "transductive" for r in result.methods.values()):
        rows.append("* transductive: train and test embedded together (no transform for new points)")
    return "\n".join(rows)


@click.command()
@data_options
@click.option(
    "--n-components",
    "--latent-dim",
    "n_components",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="code size of every method",
)
@click.option(
    "--methods",
    default=",".join(DEFAULT_METHODS),
    show_default=True,
    help=f"comma-separated subset of {', '.join(METHODS)} (random: a random projection)",
)
@click.option(
    "--epochs", type=click.IntRange(min=1), default=30, show_default=True, help="AE and VAE training epochs"
)
@click.option(
    "--hidden",
    default="256",
    show_default=True,
    help="AE and VAE MLP hidden widths, encoder side, e.g. 400,200",
)
@click.option(
    "--knn-k",
    default="10",
    show_default=True,
    help="neighbours of the kNN classifier, comma-separated for several",
)
@click.option(
    "--max-train",
    type=click.IntRange(min=2),
    default=5000,
    show_default=True,
    help="seeded subsample of the training set (t-SNE cost grows with it)",
)
@click.option(
    "--max-test",
    type=click.IntRange(min=2),
    default=1000,
    show_default=True,
    help="seeded subsample of the test set",
)
@click.option(
    "--n-trust",
    type=click.IntRange(min=2),
    default=1000,
    show_default=True,
    help="test samples that trustworthiness is computed on",
)
@seed_option()
@device_option("cpu", "device of the AE and VAE")
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="cap on scikit-learn/UMAP native threads (1 helps on a busy shared machine)",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs/compare"),
    show_default=True,
    help="directory for compare.json and the figures (created if missing)",
)
@click.option("--no-figures", is_flag=True, help="write compare.json only")
def compare(
    source,
    data_dir,
    shape,
    label_column,
    n_components,
    methods,
    epochs,
    hidden,
    knn_k,
    max_train,
    max_test,
    n_trust,
    seed,
    device,
    threads,
    out,
    no_figures,
):
    """Reduce the same data with PCA, an AE, a VAE, t-SNE and UMAP, and measure each.

    PCA, the AE and the VAE get the same code size; the AE and VAE share one MLP.
    Per method: test reconstruction MSE (where the method can invert), kNN
    accuracy in code space (fit on train codes, scored on test codes), trustworthiness,
    fit time and the time to encode new points. t-SNE cannot encode new points: it
    embeds train and test together (marked transductive) and has no transform time.
    UMAP needs the optional extra: pip install 'vaelab[umap]'.

    Writes compare.json, compare_scatter.png/.svg and compare_metrics.png to --out.

    Example: vaelab compare --data mnist --data-dir ../shared/data/mnist
    --max-train 5000 --max-test 1000 --knn-k 10,100
    """
    from vaelab.experiments.compare import compare_methods
    from vaelab.report.writers import write_compare
    from vaelab.runs.run import DataSpec, load_data

    spec = DataSpec(
        source=source,
        data_dir=data_dir,
        shape=parse_ints(shape, "--shape"),
        label_column=parse_column(label_column),
        valid_fraction=0.0,
        seed=seed,
    )
    splits = load_data(spec)
    result = compare_methods(
        splits.train,
        splits.test,
        n_components=n_components,
        methods=[m.strip() for m in methods.split(",") if m.strip()],
        epochs=epochs,
        hidden=parse_ints(hidden, "--hidden"),
        knn_k=parse_ints(knn_k, "--knn-k") or (10,),
        n_trust=n_trust,
        max_train=max_train,
        max_test=max_test,
        seed=seed,
        device=device,
        n_threads=threads,
    )
    write_compare(out, result, figures=not no_figures)
    click.echo(format_table(result))
    click.echo(f"wrote {out / 'compare.json'}" + ("" if no_figures else f" and figures to {out}"))
