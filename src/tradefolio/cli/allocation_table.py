"""How `tradefolio allocate` prints a result as a table, and an infeasible model's conflicts.

One renderer for the score model and the composable model (the command is a client of
`tf.allocate`; the model is built and solved by `tradefolio.api.allocation`): targets,
then the trades when the model planned any, then one summary line. The JSON contract is
`tradefolio.cli.allocation_json`.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

from tradefolio.cli.allocation_json import shares_out
from tradefolio.cli.common import stderr_console, stdout_console
from tradefolio.cli.plain_table import plain_line, plain_table, plain_width
from tradefolio.errors import IgnoredInput

if TYPE_CHECKING:
    from tradefolio.errors import InfeasibleAllocation
    from tradefolio.portfolio.holdings import Trade
    from tradefolio.portfolio.types import AllocationResult

#: The targets' columns: name, right-justified.
TARGET_COLUMNS: tuple[tuple[str, bool], ...] = (
    ("symbol", False),
    ("weight", True),
    ("dollars", True),
    ("shares", True),
    ("price", True),
)


def print_infeasible(error: InfeasibleAllocation) -> None:
    """The explanation as plain lines on stderr: `error: ...` then one line per conflict."""
    import click

    lines = str(error).splitlines()
    click.echo(f"error: {lines[0]}", err=True)
    for line in lines[1:]:
        click.echo(line, err=True)


def print_notes(caught: Sequence[warnings.WarningMessage], notes: Sequence[str] = ()) -> None:
    """The warnings of a solve on stderr: one `note:` line per `IgnoredInput` (what was
    left out of the user's files), any other warning as Python shows it; then one `note:`
    line per line of `notes` (the defaults the model chose: `api.allocation.solve_model`)."""
    import click

    for note in notes:
        click.echo(f"note: {note}", err=True)
    for warning in caught:
        if issubclass(warning.category, IgnoredInput):
            click.echo(f"note: {warning.message}", err=True)
        else:
            warnings.showwarning(
                warning.message, warning.category, warning.filename, warning.lineno
            )


def render_allocation_table(
    result: AllocationResult,
    fractional: bool,
    title: str,
    excluded: dict[str, str],
    *,
    model: bool = False,
) -> None:
    """Targets, then trades, then one summary line. `model`: the composable model ran (its
    objective names the title; trades, costs and turnover are shown); the notes (excluded
    and dropped symbols, and the excluded held names sold) follow on stderr. Off a
    terminal, a table without trades is written as plain text with rich's exact layout,
    without importing rich."""
    heading = f"{result.objective_name} {title}" if model else title
    rows = [
        [
            a.symbol,
            f"{a.weight:.2%}",
            f"{a.dollars:,.2f}",
            shares_text(a.shares, fractional),
            f"{a.price:,.2f}",
        ]
        for a in result.allocations
    ]
    summary = _summary(result, model)
    trades = result.trades if model else ()
    if trades or not _print_plain(heading, rows, summary):
        _print_rich(heading, rows, trades, summary, fractional)
    _print_notes(result, excluded)


def shares_text(shares: float, fractional: bool) -> str:
    """A share count as the tables print it, exactly: whole shares with thousands
    separators (`1,435,333`), fractional ones to the 1e-6 they are floored to
    (`93.304803`); a held odd lot of a whole-share run as it is (`10.500000`)."""
    whole = shares_out(shares, fractional)
    return f"{whole:,d}" if isinstance(whole, int) else f"{shares:,.6f}"


def _print_rich(
    title: str,
    rows: list[list[str]],
    trades: Sequence[Trade],
    summary: str,
    fractional: bool,
) -> None:
    """The targets, the trades (if any) and the summary through rich."""
    from rich.table import Table

    console = stdout_console()
    table = Table(title=title, title_justify="left")
    for name, right in TARGET_COLUMNS:
        table.add_column(name, justify="right" if right else "left")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    if trades:
        listed = Table(title="trades", title_justify="left")
        for name in ("symbol", "side", "shares", "dollars"):
            listed.add_column(name, justify="left" if name in ("symbol", "side") else "right")
        for t in trades:
            shares = shares_text(abs(t.shares), fractional)
            listed.add_row(t.symbol, t.side, shares, f"{abs(t.dollars):,.2f}")
        console.print(listed)
    console.print(summary)


def _summary(result: AllocationResult, model: bool) -> str:
    """The one line under the tables."""
    proven = (
        "proven optimal"
        if result.status == "optimal"
        else f"NOT proven optimal (gap {result.gap:.2%}, bound {result.best_bound:.6g})"
    )
    costs = f", costs {result.costs:,.2f}, turnover {result.turnover:.2%}" if model else ""
    return (
        f"{len(result.allocations)} positions, invested {result.invested:,.2f} of "
        f"{result.capital:,.2f}, cash {result.cash:,.2f}{costs}; objective "
        f"{result.objective:.6g} ({result.solver}, {proven})"
    )


def _print_plain(title: str, rows: list[list[str]], summary: str) -> bool:
    """The targets and the summary as rich would print them on a non-terminal stdout,
    without importing rich (`plain_table.py`); False (nothing printed) when rich must."""
    width = plain_width(sys.stdout)
    if width is None:
        return False
    table = plain_table(title, TARGET_COLUMNS, rows, width)
    line = plain_line(summary, width, soft_wrap=True)
    if table is None or line is None:
        return False
    print(f"{table}\n{line}")
    return True


def _print_notes(result: AllocationResult, excluded: dict[str, str]) -> None:
    """Every model's notes on stderr: excluded and dropped symbols (dim on a terminal). A
    held name that could not be scored is not a candidate, and the model sells a held
    name outside its candidates entirely (`portfolio/context.py`): its note says so."""
    sold = {t.symbol for t in result.trades if t.side == "sell"} - {
        a.symbol for a in result.allocations
    }
    notes = [f"excluded {symbol}: {reason}" for symbol, reason in excluded.items()]
    unscored = [symbol for symbol in excluded if symbol in sold]
    if unscored:
        notes.append(f"sold (held, not scored): {', '.join(unscored)}")
    if result.dropped:
        notes.append(f"dropped (score <= 0): {', '.join(result.dropped)}")
    if not notes:
        return
    width = plain_width(sys.stderr)
    plain = [None if width is None else plain_line(n, width, soft_wrap=False) for n in notes]
    if all(line is not None for line in plain):
        print("\n".join(line for line in plain if line is not None), file=sys.stderr)
        return
    messages = stderr_console()
    for note in notes:
        messages.print(note, style="dim")


__all__ = ["print_infeasible", "render_allocation_table", "shares_text"]
