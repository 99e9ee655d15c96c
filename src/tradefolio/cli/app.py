"""The `tradefolio` command: registers each command module and turns errors into one line.

Exit codes: 0 success, 1 a failure while running (solver, broker), 2 bad input. Bad input
prints a single `error: ...` line on stderr, never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click
import typer

from tradefolio import __version__
from tradefolio.cli import allocate as allocate_cmd
from tradefolio.cli import backtest as backtest_cmd
from tradefolio.cli import data as data_cmd
from tradefolio.cli import live as live_cmd
from tradefolio.cli import report as report_cmd
from tradefolio.cli import sweep as sweep_cmd
from tradefolio.errors import (
    DataError,
    InfeasibleAllocation,
    InvalidParameter,
    TradefolioError,
)

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2

#: Errors caused by what the user passed in (exit 2); any other TradefolioError exits 1.
BAD_INPUT_ERRORS: tuple[type[TradefolioError], ...] = (
    InvalidParameter,
    DataError,
    InfeasibleAllocation,
)


def build_app() -> typer.Typer:
    """The typer application with every command registered."""
    app = typer.Typer(
        name="tradefolio",
        help="Scores become MIP-optimal weights; weights become sized positions.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(_root)
    allocate_cmd.register(app)
    backtest_cmd.register(app)
    data_cmd.register(app)
    live_cmd.register(app)
    report_cmd.register(app)
    sweep_cmd.register(app)
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


def _print_error(message: str) -> None:
    first_line = " ".join(message.split())
    click.echo(f"error: {first_line}", err=True)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the console script and `python -m tradefolio`."""
    command = typer.main.get_command(build_app())
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        code = command.main(args=args, prog_name="tradefolio", standalone_mode=False)
    except click.exceptions.UsageError as exc:
        _print_error(exc.format_message())
        sys.exit(EXIT_BAD_INPUT)
    except click.exceptions.Abort:
        _print_error("aborted")
        sys.exit(130)
    except BAD_INPUT_ERRORS as exc:
        _print_error(str(exc))
        sys.exit(EXIT_BAD_INPUT)
    except TradefolioError as exc:
        _print_error(str(exc))
        if trace := getattr(exc, "strategy_traceback", ""):
            click.echo(trace, err=True)  # a user strategy's own traceback (issue 14)
        sys.exit(EXIT_FAILURE)
    except BrokenPipeError:
        sys.exit(EXIT_OK)
    except OSError as exc:  # a file we read or write: one line, never a traceback
        where = f"{exc.filename}: " if exc.filename else ""
        _print_error(f"{where}{exc.strerror or exc}")
        sys.exit(EXIT_FAILURE)
    sys.exit(code if isinstance(code, int) else EXIT_OK)


__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILURE", "EXIT_OK", "build_app", "main"]
