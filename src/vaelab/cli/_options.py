"""Option parsing shared by several commands."""

from __future__ import annotations

import click

from vaelab.errors import ConfigError
from vaelab.training.config import MAX_SEED


def parse_ints(value: str | None, what: str) -> tuple[int, ...] | None:
    """'400,200' → (400, 200); '' → (); None → None. A bad list is a `ConfigError`."""
    if value is None:
        return None
    if value.strip() == "":
        return ()
    try:
        out = tuple(int(v) for v in value.split(","))
    except ValueError:
        raise ConfigError(f"{what}={value!r} must be comma-separated integers, e.g. 400,200") from None
    if any(v < 1 for v in out):
        raise ConfigError(f"{what}={value!r} must hold positive integers")
    return out


def parse_column(value: str | None) -> str | int | None:
    """A CSV label column: '3' → 3 (an index), 'label' → 'label' (a name), None → None."""
    if value is None:
        return None
    return int(value) if value.lstrip("-").isdigit() else value


def data_options(f):
    """--data, --data-dir, --shape, --label-column: where data comes from."""
    for opt in reversed(
        [
            click.option(
                "--data",
                "source",
                default="digits",
                show_default=True,
                help="digits, mnist, fashion-mnist, kmnist, binarized-mnist, "
                "or a path to a .npy/.npz/.csv file",
            ),
            click.option(
                "--data-dir",
                type=click.Path(file_okay=False),
                default=None,
                help="local directory holding a named dataset's files "
                "(default: $VAELAB_DATA, else download to the user cache)",
            ),
            click.option(
                "--shape", default=None, metavar="H,W|C,H,W", help="read flat rows as images of this shape"
            ),
            click.option("--label-column", default=None, help="CSV: name or index of the label column"),
        ]
    ):
        f = opt(f)
    return f


def device_option(
    default: str = "auto", help: str = "where the model runs (auto: a CUDA GPU where there is one)"
):
    """--device: cpu, cuda, or auto (`vaelab.training.runtime.resolve_device`)."""
    return click.option(
        "--device", type=click.Choice(["cpu", "cuda", "auto"]), default=default, show_default=True, help=help
    )


def seed_option(help: str = "random seed: the same seed gives the same result in any process"):
    """--seed, an integer in [0, MAX_SEED] (what numpy and torch both accept)."""
    return click.option("--seed", type=click.IntRange(0, MAX_SEED), default=0, show_default=True, help=help)
