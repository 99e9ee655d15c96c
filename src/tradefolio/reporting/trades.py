"""Round trips: the trade list of a run, rebuilt from its fills.

A round trip of a symbol opens with the buy that takes it from flat to long and closes with
the sell that brings it back to flat (partial buys and sells in between belong to the same
trip). For a trip with buys `(q_i, p_i, c_i)` and sells `(q_j, p_j, c_j)`:

    cost     C = Σ_i (q_i · p_i + c_i)                 (cash put in, commissions included)
    pnl      P = Σ_j (q_j · p_j − c_j) − C             (net cash flow of the trip)
    return   R = P / C

Sums are exact (`Decimal` over the prices' micro-units); `P` is the same number the
backtest's `round_trips` counts wins with, so the hit rate here and there agree. A trip still
open at the end is listed with status `open` and no exit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import pandas as pd

TRADE_COLUMNS = (
    "symbol",
    "entry_date",
    "exit_date",
    "status",
    "quantity",
    "entry_price",
    "exit_price",
    "cost",
    "pnl",
    "return",
    "days",
)


def _exact(value: object) -> Decimal:
    """A CSV/float number as the exact decimal it was printed from."""
    return Decimal(str(value))


@dataclass(slots=True)
class _OpenTrip:
    entry_date: pd.Timestamp
    held: Decimal = Decimal(0)
    bought: Decimal = Decimal(0)
    sold: Decimal = Decimal(0)
    buy_notional: Decimal = Decimal(0)
    sell_notional: Decimal = Decimal(0)
    cost: Decimal = Decimal(0)
    proceeds: Decimal = Decimal(0)
    fills: list[int] = field(default_factory=list)


def _row(symbol: str, trip: _OpenTrip, exit_date: pd.Timestamp | None) -> dict[str, object]:
    pnl = trip.proceeds - trip.cost
    closed = exit_date is not None
    return {
        "symbol": symbol,
        "entry_date": trip.entry_date,
        "exit_date": exit_date if closed else pd.NaT,
        "status": "closed" if closed else "open",
        "quantity": float(trip.bought),
        "entry_price": float(trip.buy_notional / trip.bought) if trip.bought else 0.0,
        "exit_price": float(trip.sell_notional / trip.sold) if trip.sold else float("nan"),
        "cost": float(trip.cost),
        "pnl": float(pnl) if closed else float("nan"),
        "return": float(pnl) / float(trip.cost) if closed and trip.cost else float("nan"),
        "days": (exit_date - trip.entry_date).days if exit_date is not None else -1,
    }


def round_trip_table(fills: pd.DataFrame) -> pd.DataFrame:
    """Closed trips (in order of closing), then the open ones, as a `TRADE_COLUMNS` frame."""
    trips: dict[str, _OpenTrip] = {}
    rows: list[dict[str, object]] = []
    columns = ("date", "symbol", "side", "quantity", "price", "commission")
    for date, symbol, side, quantity, price, commission in fills.loc[:, columns].itertuples(
        index=False, name=None
    ):
        units, unit_price, paid = _exact(quantity), _exact(price), _exact(commission)
        trip = trips.get(symbol)
        if trip is None:
            if side != "buy":
                continue  # a sell while flat never opened a trip (cannot happen long-only)
            trip = trips[symbol] = _OpenTrip(entry_date=pd.Timestamp(date))
        if side == "buy":
            trip.held += units
            trip.bought += units
            trip.buy_notional += units * unit_price
            trip.cost += units * unit_price + paid
        else:
            trip.held -= units
            trip.sold += units
            trip.sell_notional += units * unit_price
            trip.proceeds += units * unit_price - paid
        if trip.held == 0:
            rows.append(_row(symbol, trip, pd.Timestamp(date)))
            del trips[symbol]
    rows.extend(_row(symbol, trip, None) for symbol, trip in trips.items())
    table = pd.DataFrame(rows, columns=list(TRADE_COLUMNS))
    for column in ("entry_date", "exit_date"):
        table[column] = pd.to_datetime(table[column])
    return table


def closed_trip_returns(trades: pd.DataFrame) -> pd.Series:
    """Return `R` of every closed trip, in order of closing (float64)."""
    closed = trades.loc[trades["status"] == "closed", "return"]
    return closed.astype("float64").reset_index(drop=True)


__all__ = ["TRADE_COLUMNS", "closed_trip_returns", "round_trip_table"]
