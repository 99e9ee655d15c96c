"""The typer application behind `tradefolio`: lazy command registration and the root options.

`app.main` builds it only when a command needs typer (every command but the fast path of
`allocate --candidates`, `allocate_quick.py`), so importing `tradefolio.cli.app` loads
neither typer nor click. Commands are registered lazily: `tradefolio --help` lists them
from `registry.COMMANDS` (name and one-line help) without importing a command module, and a
command's module (with pandas, OR-Tools, plotly, ...) is imported only when that command
runs or shows its own help.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator, MutableMapping, Sequence
from typing import Any

import click
import typer
from typer.core import TyperGroup

from tradefolio import __version__
from tradefolio.cli.registry import COMMANDS, EXIT_BAD_INPUT, EXIT_OK, CommandSpec, print_error
from tradefolio.cli.start_up import long_lived_imports


def load_commands(module_name: str) -> dict[str, click.Command]:
    """Import `tradefolio.cli.<module_name>` and return the click commands it registers
    (imported with the collector paused, its objects frozen: `start_up.py`)."""
    with long_lived_imports():
        module = importlib.import_module(f"tradefolio.cli.{module_name}")
    holder = typer.Typer()
    holder.callback()(_root)  # a callback makes typer build a group even for one command
    module.register(holder)
    group = typer.main.get_group(holder)
    return dict(group.commands)


class LazyCommands(MutableMapping[str, click.Command]):
    """The root group's commands: names known up front, each module imported on first use."""

    def __init__(self, specs: Sequence[CommandSpec]) -> None:
        self._modules = {spec.name: spec.module for spec in specs}
        self._loaded: dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        if name not in self._loaded:
            if name not in self._modules:
                raise KeyError(name)
            for loaded_name, command in load_commands(self._modules[name]).items():
                self._loaded.setdefault(loaded_name, command)
        return self._loaded[name]

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        self._loaded.pop(name, None)
        self._modules.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        yield from self._modules
        yield from (name for name in self._loaded if name not in self._modules)

    def __len__(self) -> int:
        return len(set(self._modules) | set(self._loaded))


class LazyGroup(TyperGroup):
    """The root group: lists `COMMANDS` without importing them, imports one when it runs."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        lazy = LazyCommands(COMMANDS)
        for name, command in self.commands.items():
            lazy[name] = command
        self.commands = lazy
        self._listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if self._listing:  # the root help only needs names and one-line help
            for spec in COMMANDS:
                if spec.name == cmd_name:
                    return click.Command(spec.name, short_help=spec.short_help)
        return self.commands.get(cmd_name)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


def build_app() -> typer.Typer:
    """The typer application; its commands are imported when used (see `LazyGroup`)."""
    app = typer.Typer(
        cls=LazyGroup,
        rich_markup_mode=None,  # plain root help: rich's help renderer alone doubles start-up
        name="tradefolio",
        help="Scores become MIP-optimal weights; weights become sized positions.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(_root)
    return app


def _version(value: bool) -> None:
    if value:
        click.echo(f"tradefolio {__version__}")
        raise typer.Exit()


def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Scores become MIP-optimal weights; weights become sized positions."""


#: allocate's one-date risk and return files, which a rebalancing command refuses.
_ONE_DATE_FLAGS = frozenset(
    {
        "--covariance-file",
        "--factor-loadings",
        "--factor-covariance",
        "--specific-variance",
        "--expected-returns",
    }
)
_REBALANCING_COMMANDS = frozenset({"backtest", "live", "sweep", "walk-forward"})


def _usage_message(exc: click.exceptions.UsageError) -> str:
    """click's message, or for an allocate-only file flag on a rebalancing command why it
    is not taken (`portfolio.policy.ONE_DATE_INPUTS`; imported only then: pandas)."""
    command = exc.ctx.command.name if exc.ctx is not None else None
    if (
        isinstance(exc, click.exceptions.NoSuchOption)
        and exc.option_name in _ONE_DATE_FLAGS
        and command in _REBALANCING_COMMANDS
    ):
        from tradefolio.portfolio.policy import ONE_DATE_INPUTS

        return f"{command} takes no {exc.option_name}: {ONE_DATE_INPUTS}"
    return exc.format_message()


def run_app(args: Sequence[str]) -> int:
    """Run the application on `args` and return its exit code; a usage error exits 2 and
    an abort 130, each with one `error:` line."""
    command = typer.main.get_command(build_app())
    try:
        code = command.main(args=list(args), prog_name="tradefolio", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:  # `tradefolio`, `tradefolio data`
        if help_text := str(exc.format_message()).strip():  # rich help prints itself
            click.echo(help_text, err=True)
        sys.exit(EXIT_BAD_INPUT)
    except click.exceptions.UsageError as exc:
        print_error(_usage_message(exc))
        sys.exit(EXIT_BAD_INPUT)
    except click.exceptions.Abort:
        print_error("aborted")
        sys.exit(130)
    return code if isinstance(code, int) else EXIT_OK


__all__ = ["LazyCommands", "LazyGroup", "build_app", "load_commands", "run_app"]
