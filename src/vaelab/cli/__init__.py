"""The `vaelab` command line: thin wrappers over importable functions.

Each command lives in its own module; `main` imports a command's module only
when that command (or the command list of ``vaelab --help``) is asked for, and
the modules import torch and scikit-learn inside the commands, so ``--help``
starts fast. A user error (a `VaelabError`, a bad option, a file system that
refuses a write) prints one line and exits with code 2.
"""

from __future__ import annotations

import importlib
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


# command name -> (module, function); a module is imported when its command is needed
COMMANDS = {
    "explain": ("vaelab.cli._explain", "explain"),
    "train": ("vaelab.cli._train", "train"),
    "evaluate": ("vaelab.cli._evaluate", "evaluate"),
    "sample": ("vaelab.cli._inspect", "sample"),
    "reconstruct": ("vaelab.cli._inspect", "reconstruct"),
    "info": ("vaelab.cli._inspect", "info"),
    "curse": ("vaelab.cli._curse", "curse"),
    "compare": ("vaelab.cli._compare", "compare"),
    "holes": ("vaelab.cli._holes", "holes"),
    "sweep-beta": ("vaelab.cli._sweep", "sweep_beta_cmd"),
}


class _Group(click.Group):
    """A click group that loads commands lazily and turns user errors into one line, exit 2."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr = COMMANDS[name]
        return getattr(importlib.import_module(module), attr)

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


__all__ = ["main"]
