"""What the root command knows without typer: its commands, exit codes, the error line.

`app.py` (the entry point, light) and `root.py` (the typer application) both read these;
keeping them here keeps the two apart (no import cycle) and `import tradefolio.cli.app`
free of typer and click.
"""

from __future__ import annotations

from dataclasses import dataclass

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """A command of the root group: its name, the `tradefolio.cli` module whose `register`
    adds it, and the one line `tradefolio --help` shows for it."""

    name: str
    module: str
    short_help: str


#: Every command, in the order `tradefolio --help` lists them.
COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "allocate",
        "allocate",
        "Turn scores into an optimal allocation: weights, dollars and shares.",
    ),
    CommandSpec(
        "backtest",
        "backtest",
        "Backtest a strategy: signals at the close, fills at the next bar, exact ledger.",
    ),
    CommandSpec(
        "report",
        "report",
        "Recompute metrics.json and rewrite tearsheet.html (and PNGs) of a run folder.",
    ),
    CommandSpec(
        "sweep",
        "sweep",
        "Sweep backtest parameters over a grid or a random sample; one Parquet row per run.",
    ),
    CommandSpec(
        "walk-forward",
        "walk_forward",
        "Choose parameters on each train window, trade them on the next test window, stitch.",
    ),
    CommandSpec("data", "data", "Price data: fetch from a provider into a file, inspect a file."),
    CommandSpec(
        "live", "live", "Live trading (paper by default): durable journal, exactly-once orders."
    ),
)


def print_error(message: str) -> None:
    """One `error: ...` line on stderr (whitespace and newlines folded)."""
    import click

    first_line = " ".join(message.split())
    click.echo(f"error: {first_line}", err=True)


__all__ = ["COMMANDS", "EXIT_BAD_INPUT", "EXIT_FAILURE", "EXIT_OK", "CommandSpec", "print_error"]
