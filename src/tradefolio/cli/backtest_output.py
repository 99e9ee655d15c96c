"""How `tradefolio backtest` prints a run: the JSON contract, the metrics table, the exits.

The run itself is `tf.backtest`'s (`tradefolio.api.backtesting`); these render its engine
result and the validated config it ran with.
"""

from __future__ import annotations

import contextlib
import math
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from tradefolio.backtest.config import BacktestConfig
from tradefolio.backtest.engine import BacktestResult
from tradefolio.backtest.metric_registry import HEADLINE_PERCENT
from tradefolio.backtest.metrics import Metrics
from tradefolio.backtest.runner import exits_note
from tradefolio.cli.common import stdout_console
from tradefolio.reporting.rebalances import rebalance_summary, rebalance_table

if TYPE_CHECKING:
    import pandas as pd

FILL_FIELDS = ["date", "symbol", "side", "quantity", "price", "commission"]


def rebalances_json(result: BacktestResult, table: pd.DataFrame | None = None) -> Any:
    """The `rebalances` object of the contract: None without the allocation model, else
    its summary and one row per solve (NaN as null); `table` is the run's
    `rebalance_table` when the caller has it (a run folder's record)."""
    if not result.decisions:
        return None
    if table is None:
        table = rebalance_table(result.decisions, result.fills)
    rows = []
    for record in table.to_dict("records"):
        row = {k: (None if isinstance(v, float) and v != v else v) for k, v in record.items()}
        row["date"] = record["date"].date().isoformat()
        rows.append(row)
    return {**rebalance_summary(table), "rows": rows}


def rebalance_lines(result: BacktestResult, table: pd.DataFrame | None = None) -> list[str]:
    """`rebalance_line`, then `failure_line` when a rebalance was not solved (`table`: the
    run's `rebalance_table`, when the caller has it)."""
    if table is None:
        table = rebalance_table(result.decisions, result.fills)
    failure = failure_line(table)
    return [rebalance_line(table)] + ([failure] if failure is not None else [])


def failure_line(table: pd.DataFrame) -> str | None:
    """One line on the first rebalance of `table` (`rebalance_table`) that was not solved:
    its date and the solver's reason, said plainly when no rebalance was solved at all (a
    run that then never traded); None when every rebalance was solved."""
    from tradefolio.portfolio.policy import FAILED_STATUSES

    failed = table[table["status"].isin(sorted(FAILED_STATUSES))]
    if failed.empty:
        return None
    first = failed.iloc[0]
    when = first["date"].date().isoformat()
    reason = " ".join(str(first["message"] or "").split()) or str(first["status"])
    if len(failed) == len(table):
        return (
            f"no rebalance was solved ({len(table)} of {len(table)} failed; positions "
            f"held, nothing traded by the model); the first, {when}: {reason}"
        )
    return f"first rebalance not solved, {when}: {reason}"


def rebalance_line(table: pd.DataFrame) -> str:
    """One line on the allocation model's solves of a `--portfolio` run (`table`, its
    `rebalance_table`): how many were proven, feasible or failed (held), the costs expected
    and paid, the solver's time."""
    summary = rebalance_summary(table)
    largest = summary["max_gap"]
    gap = f"{largest:.2%}" if math.isfinite(largest) else "unknown: no bound"
    return (
        f"{summary['rebalances']} rebalances: {summary['proven']} proven optimal, "
        f"{summary['not_proven']} feasible not proven (largest gap "
        f"{gap}), {summary['failed']} not solved (positions held); "
        f"costs expected {summary['expected_costs']:,.2f}, paid "
        f"{summary['realised_costs']:,.2f}; solver {summary['solver_seconds']:.1f} s"
    )


def result_to_json(
    result: BacktestResult,
    metrics: Metrics,
    exits: dict[str, Any] | None = None,
    rebalances: pd.DataFrame | None = None,
) -> Any:
    """The stable JSON contract of `backtest` (see README); `rebalances`: the run's
    `rebalance_table`, when the caller has it."""
    return {
        "final_equity": float(result.final_equity),
        "n_fills": len(result.fills),
        "exits": exits,
        "rebalances": rebalances_json(result, rebalances),
        "metrics": metrics.as_dict(),
        "fills": [
            {
                "date": fill.date.isoformat(),
                "symbol": fill.symbol,
                "side": fill.side,
                "quantity": fill.quantity,
                "price": float(fill.price),
                "commission": float(fill.commission),
            }
            for fill in result.fills
        ],
    }


def render_table(result: BacktestResult, metrics: Metrics, title: str) -> None:
    """The metrics table, then one line of final equity, fills, positions and cash."""
    console = stdout_console()
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    percent = HEADLINE_PERCENT
    for name, value in metrics.as_dict().items():
        if name in percent:
            text = f"{value:.2%}"
        elif isinstance(value, int):
            text = f"{value:,d}"
        else:
            text = f"{value:.3f}"
        table.add_row(name.replace("_", " "), text)
    console.print(table)
    buys = sum(1 for fill in result.fills if fill.side == "buy")
    console.print(
        f"final equity {result.final_equity:,.2f} from {result.initial_cash:,.2f}; "
        f"{len(result.fills):,d} fills ({buys:,d} buys, {len(result.fills) - buys:,d} sells), "
        f"{len(result.final_positions)} positions open, cash {result.final_cash:,.2f}"
    )


class StderrObserver:
    """The run seen on stderr: notes in yellow, a spinner while it runs on a terminal."""

    def __init__(self, messages: Console, spinner: bool) -> None:
        self._messages = messages
        self._spinner = spinner

    def note(self, text: str) -> None:
        self._messages.print(text, style="yellow")

    def running(self) -> AbstractContextManager[object]:
        if self._spinner:
            return self._messages.status("backtesting ...")
        return contextlib.nullcontext()


def exits_json(config: BacktestConfig) -> dict[str, Any]:
    """The `exits` object of the JSON contract: what every entry's protective orders were."""
    return {
        "stop_loss": config.placed_stop,
        "take_profit": config.take_profit,
        "trailing_stop": config.trailing_stop,
        # a --portfolio run trades to weights: no sizer, so no sizing stop
        "sizing_stop": config.sizing_stop if config.risk_sized and not config.portfolio else None,
    }


__all__ = [
    "FILL_FIELDS",
    "StderrObserver",
    "exits_json",
    "exits_note",
    "failure_line",
    "rebalance_line",
    "rebalance_lines",
    "rebalances_json",
    "render_table",
    "result_to_json",
]
