"""The `tradefolio` entry point: runs a command and turns its errors into one line.

Exit codes: 0 success, 1 a failure while running (solver, broker), 2 bad input. Bad input
prints a single `error: ...` line on stderr, never a traceback.

Commands are registered lazily: `tradefolio --help` lists them from `COMMANDS` (name and
one-line help) without importing a command module, and a command's module (with pandas,
OR-Tools, plotly, ...) is imported only when that command runs or shows its own help. A
unit test checks `COMMANDS` against each command's real docstring so the two cannot drift.
The typer application itself lives in `root.py`, imported by `main` only when needed:
`allocate --candidates FILE` with the score model's flags runs without typer, click or
rich (`allocate_quick.py`), as fast as a bare pywraplp script allows.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tradefolio.cli.registry import (
    COMMANDS,
    EXIT_BAD_INPUT,
    EXIT_FAILURE,
    EXIT_OK,
    CommandSpec,
    print_error,
)
from tradefolio.cli.start_up import long_lived_imports
from tradefolio.errors import (
    DataError,
    InfeasibleAllocation,
    InvalidParameter,
    TradefolioError,
)

if TYPE_CHECKING:  # the typer side, imported lazily (`__getattr__` below)
    from tradefolio.cli.root import LazyGroup, build_app, load_commands

#: Errors caused by what the user passed in (exit 2); any other TradefolioError exits 1.
BAD_INPUT_ERRORS: tuple[type[TradefolioError], ...] = (
    InvalidParameter,
    DataError,
    InfeasibleAllocation,
)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the console script and `python -m tradefolio`."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args[:1] == ["allocate"] and _run_quick(args[1:]):
            sys.exit(EXIT_OK)
        with long_lived_imports(freeze=False):  # frozen with the command's own imports
            from tradefolio.cli.root import run_app

        code = run_app(args)
    except BAD_INPUT_ERRORS as exc:
        print_error(str(exc))
        sys.exit(EXIT_BAD_INPUT)
    except TradefolioError as exc:
        print_error(str(exc))
        if trace := getattr(exc, "strategy_traceback", ""):
            import click

            click.echo(trace, err=True)  # a user strategy's own traceback
        sys.exit(EXIT_FAILURE)
    except KeyboardInterrupt:  # click turns it into an abort; the quick path meets it bare
        print_error("aborted")
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(EXIT_OK)
    except OSError as exc:  # a file we read or write: one line, never a traceback
        where = f"{exc.filename}: " if exc.filename else ""
        print_error(f"{where}{exc.strerror or exc}")
        sys.exit(EXIT_FAILURE)
    sys.exit(code)


def _run_quick(args: Sequence[str]) -> bool:
    """`allocate ARGS` without typer when `allocate_quick.py` takes them."""
    from tradefolio.cli.allocate_quick import run_quick

    return run_quick(args)


def __getattr__(name: str) -> Any:
    """The typer side's names (`root.py`), imported on first use."""
    if name in ("LazyCommands", "LazyGroup", "build_app", "load_commands", "run_app"):
        return getattr(importlib.import_module("tradefolio.cli.root"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "COMMANDS",
    "EXIT_BAD_INPUT",
    "EXIT_FAILURE",
    "EXIT_OK",
    "CommandSpec",
    "LazyGroup",
    "build_app",
    "load_commands",
    "main",
    "print_error",
]
