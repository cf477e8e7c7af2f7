"""The `vaelab` command line: thin wrappers over importable functions.

Each command lives in its own module and registers itself on `main`. A user
error (a `VaelabError`, a bad option) prints one line and exits with code 2.
"""

from __future__ import annotations

import sys

import click

from vaelab.errors import VaelabError


class _OneLineUsageError(click.ClickException):
    """A bad option, argument or command name, shown as one line (click shows four)."""

    exit_code = 2

    def __init__(self, err: click.UsageError) -> None:
        hint = f" (see '{err.ctx.command_path} --help')" if err.ctx is not None else ""
        super().__init__(err.format_message() + hint)

    def show(self, file=None) -> None:  # noqa: ANN001
        click.echo(f"error: {self.format_message()}", err=True)


def _one_line(err: click.UsageError) -> click.ClickException:
    # `vaelab` alone prints the help (click's NoArgsIsHelpError): keep that as it is
    return err if isinstance(err, click.exceptions.NoArgsIsHelpError) else _OneLineUsageError(err)


class _Group(click.Group):
    """A click group that turns user errors into one line and exit code 2."""

    def make_context(self, *args, **kwargs) -> click.Context:  # noqa: ANN002, ANN003
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as err:  # a bad option of `vaelab` itself
            raise _one_line(err) from None

    def invoke(self, ctx: click.Context):  # noqa: ANN201
        try:
            return super().invoke(ctx)
        except VaelabError as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(2)
        except OSError as err:  # the file system refused: disk full, read-only, no such device
            where = f"{err.filename}: " if err.filename else ""
            click.echo(f"error: {where}{err.strerror or err}", err=True)
            sys.exit(2)
        except click.UsageError as err:  # an unknown command, a bad option of a command
            raise _one_line(err) from None


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
    _inspect,  # noqa: E402,F401
    _sweep,  # noqa: E402,F401
    _train,  # noqa: E402,F401
)

__all__ = ["main"]
