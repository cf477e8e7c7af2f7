"""The `vaelab` command line: thin wrappers over importable functions.

Each command lives in its own module and registers itself on `main`. A user
error (a `VaelabError`, a bad option) prints one line and exits with code 2.
"""

from __future__ import annotations

import sys

import click

from vaelab.errors import VaelabError


class _Group(click.Group):
    """A click group that turns user errors into one line and exit code 2."""

    def invoke(self, ctx: click.Context):  # noqa: ANN201
        try:
            return super().invoke(ctx)
        except VaelabError as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="vaelab")
def main() -> None:
    """vaelab: variational autoencoders as probabilistic dimensionality reduction.

    Train autoencoders and VAEs on real data, measure them honestly, and
    explain them with an interactive page built from your own runs.
    """


# Commands register themselves on `main` when imported.
from vaelab.cli import (  # noqa: E402
    _compare,  # noqa: E402,F401
    _curse,  # noqa: E402,F401
    _evaluate,  # noqa: E402,F401
    _explain,  # noqa: E402,F401
    _holes,  # noqa: E402,F401
    _sweep,  # noqa: E402,F401
    _train,  # noqa: E402,F401
)

__all__ = ["main"]
