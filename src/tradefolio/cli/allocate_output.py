"""What `tradefolio allocate` prints: the result as JSON, CSV or a table.

Apart from the command's module (typer, the allocator) so that `allocate_quick.py`, the
fast path of `allocate --candidates`, prints through exactly the same code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tradefolio.cli.allocation_json import allocation_json, shares_out
from tradefolio.cli.allocation_table import render_allocation_table
from tradefolio.cli.common import OutputFormat, print_csv, print_json

if TYPE_CHECKING:
    from tradefolio.portfolio.types import AllocationResult


def print_allocation(
    result: AllocationResult,
    fractional: bool,
    excluded: dict[str, str],
    title: str,
    output: OutputFormat,
    *,
    model: bool = False,
) -> None:
    """The result as JSON, CSV or a table; `model`: the composable model ran (its JSON and
    table add the model's name, trades, costs and turnover)."""
    if output is OutputFormat.json:
        print_json(allocation_json(result, fractional, excluded, model=model))
        return
    if output is OutputFormat.csv:
        print_csv(
            ["symbol", "weight", "dollars", "shares", "price"],
            [
                [a.symbol, a.weight, a.dollars, shares_out(a.shares, fractional), a.price]
                for a in result.allocations
            ],
        )
        _csv_note(result, model)
        return
    render_allocation_table(result, fractional, title, excluded, model=model)


def _csv_note(result: AllocationResult, model: bool) -> None:
    """The CSV is the targets, its columns a stable contract; what it leaves out that a
    user acts on (the trades of a rebalance, a status short of proven) is named on stderr
    with where to find it."""
    trades = len(result.trades) if model else 0
    if not trades and result.status == "optimal":
        return
    import click

    status = f"the status ({result.status})"
    left_out = (
        f"the {trades} trades, {status}, costs and turnover are" if trades else f"{status} is"
    )
    click.echo(f"note: --format csv lists the targets; {left_out} in --format json", err=True)


__all__ = ["print_allocation"]
