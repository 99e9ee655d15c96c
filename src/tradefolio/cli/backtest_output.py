"""How `tradefolio backtest` prints a run: the JSON contract, the metrics table, the exits.

The run itself is `tf.backtest`'s (`tradefolio.api.backtesting`); these render its engine
result and the validated config it ran with.
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager
from typing import Any

from rich.console import Console
from rich.table import Table

from tradefolio.backtest.config import BacktestConfig
from tradefolio.backtest.engine import BacktestResult
from tradefolio.backtest.metric_registry import HEADLINE_PERCENT
from tradefolio.backtest.metrics import Metrics
from tradefolio.backtest.runner import exits_note
from tradefolio.cli.common import stdout_console

FILL_FIELDS = ["date", "symbol", "side", "quantity", "price", "commission"]


def result_to_json(
    result: BacktestResult, metrics: Metrics, exits: dict[str, Any] | None = None
) -> Any:
    """The stable JSON contract of `backtest` (see README)."""
    return {
        "final_equity": float(result.final_equity),
        "n_fills": len(result.fills),
        "exits": exits,
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
        "sizing_stop": config.sizing_stop if config.risk_sized else None,
    }


__all__ = [
    "FILL_FIELDS",
    "StderrObserver",
    "exits_json",
    "exits_note",
    "render_table",
    "result_to_json",
]
