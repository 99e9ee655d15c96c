"""`tf.backtest`'s fills in the shape of `tradefolio backtest --format json`'s `fills`."""

from __future__ import annotations

from typing import Any

import tradefolio as tf


def fills_as_cli(run: tf.BacktestResult) -> list[dict[str, Any]]:
    """The API's fills in the shape of the CLI's JSON fills."""
    return [
        {
            "date": row.date.date().isoformat(),
            "symbol": row.symbol,
            "side": row.side,
            "quantity": int(row.quantity),
            "price": float(row.price),
            "commission": float(row.commission),
        }
        for row in run.fills.itertuples(index=False)
    ]
