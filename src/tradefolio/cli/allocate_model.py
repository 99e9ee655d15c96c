"""How `tradefolio allocate` prints a composable-model result: tables, JSON, conflicts.

The model itself is built and solved by `tradefolio.api.allocation` (the command is a
client of `tf.allocate`); its options are `tradefolio.api.options.AllocateOptions`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from tradefolio.api.options import OBJECTIVES
from tradefolio.cli.allocation_json import allocation_json, shares_out
from tradefolio.cli.common import stdout_console
from tradefolio.errors import InfeasibleAllocation

if TYPE_CHECKING:
    from tradefolio.portfolio.model import PortfolioResult


def print_infeasible(error: InfeasibleAllocation) -> None:
    """The explanation as plain lines on stderr: `error: ...` then one line per conflict."""
    lines = str(error).splitlines()
    click.echo(f"error: {lines[0]}", err=True)
    for line in lines[1:]:
        click.echo(line, err=True)


def model_result_to_json(
    result: PortfolioResult, fractional: bool, excluded: dict[str, str]
) -> Any:
    """The score model's JSON contract plus `model`, `costs`, `turnover` and `trades`."""
    return {
        **allocation_json(result, fractional, excluded),
        "model": result.objective_name,
        "costs": round(result.costs, 6),
        "turnover": result.turnover,
        "trades": [
            {
                "symbol": t.symbol,
                "side": t.side,
                "shares": shares_out(abs(t.shares), fractional or not float(t.shares).is_integer()),
                "price": t.price,
                "dollars": abs(t.dollars),
            }
            for t in result.trades
        ],
    }


def render_model_table(result: PortfolioResult, fractional: bool, title: str) -> None:
    """Targets, then trades, then one summary line."""
    console = stdout_console()
    from rich.table import Table

    table = Table(title=f"{result.objective_name} {title}", title_justify="left")
    for name in ("symbol", "weight", "dollars", "shares", "price"):
        table.add_column(name, justify="left" if name == "symbol" else "right")
    for a in result.allocations:
        shares = f"{a.shares:,.6f}" if fractional else f"{int(a.shares):,d}"
        table.add_row(a.symbol, f"{a.weight:.2%}", f"{a.dollars:,.2f}", shares, f"{a.price:,.2f}")
    console.print(table)
    if result.trades:
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
    console.print(
        f"{len(result.allocations)} positions, invested {result.invested:,.2f} of "
        f"{result.capital:,.2f}, cash {result.cash:,.2f}, costs {result.costs:,.2f}, turnover "
        f"{result.turnover:.2%}; objective {result.objective:.6g} ({result.solver}, {proven})"
    )


__all__ = ["OBJECTIVES", "model_result_to_json", "print_infeasible", "render_model_table"]
