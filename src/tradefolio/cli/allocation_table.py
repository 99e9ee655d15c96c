"""How `tradefolio allocate` prints a result as a table, and an infeasible model's conflicts.

One renderer for the score model and the composable model (the command is a client of
`tf.allocate`; the model is built and solved by `tradefolio.api.allocation`): targets,
then the trades when the model planned any, then one summary line. The JSON contract is
`tradefolio.cli.allocation_json`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from tradefolio.cli.common import stderr_console, stdout_console
from tradefolio.errors import InfeasibleAllocation

if TYPE_CHECKING:
    from tradefolio.portfolio.types import AllocationResult


def print_infeasible(error: InfeasibleAllocation) -> None:
    """The explanation as plain lines on stderr: `error: ...` then one line per conflict."""
    lines = str(error).splitlines()
    click.echo(f"error: {lines[0]}", err=True)
    for line in lines[1:]:
        click.echo(line, err=True)


def render_allocation_table(
    result: AllocationResult,
    fractional: bool,
    title: str,
    excluded: dict[str, str],
    *,
    model: bool = False,
) -> None:
    """Targets, then trades, then one summary line. `model`: the composable model ran (its
    objective names the title; trades, costs and turnover are shown); the score model's notes
    (excluded and dropped symbols) follow on stderr."""
    from rich.table import Table

    console = stdout_console()
    table = Table(
        title=f"{result.objective_name} {title}" if model else title, title_justify="left"
    )
    for name in ("symbol", "weight", "dollars", "shares", "price"):
        table.add_column(name, justify="left" if name == "symbol" else "right")
    for a in result.allocations:
        shares = f"{a.shares:,.6f}" if fractional else f"{int(a.shares):,d}"
        table.add_row(a.symbol, f"{a.weight:.2%}", f"{a.dollars:,.2f}", shares, f"{a.price:,.2f}")
    console.print(table)
    if model and result.trades:
        trades = Table(title="trades", title_justify="left")
        for name in ("symbol", "side", "shares", "dollars"):
            trades.add_column(name, justify="left" if name in ("symbol", "side") else "right")
        for t in result.trades:
            trades.add_row(t.symbol, t.side, f"{abs(t.shares):,.6g}", f"{abs(t.dollars):,.2f}")
        console.print(trades)
    proven = (
        "proven optimal"
        if result.status == "optimal"
        else f"NOT proven optimal (gap {result.gap:.2%}, bound {result.best_bound:.6g})"
    )
    costs = f", costs {result.costs:,.2f}, turnover {result.turnover:.2%}" if model else ""
    console.print(
        f"{len(result.allocations)} positions, invested {result.invested:,.2f} of "
        f"{result.capital:,.2f}, cash {result.cash:,.2f}{costs}; objective "
        f"{result.objective:.6g} ({result.solver}, {proven})"
    )
    if model:
        return
    messages = stderr_console()
    for symbol, reason in excluded.items():
        messages.print(f"excluded {symbol}: {reason}", style="dim")
    if result.dropped:
        messages.print(f"dropped (score <= 0): {', '.join(result.dropped)}", style="dim")


__all__ = ["print_infeasible", "render_allocation_table"]
