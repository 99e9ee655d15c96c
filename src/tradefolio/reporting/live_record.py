"""A live session's journal as a `RunRecord`, so live runs get the same run folder and
tearsheet as backtests.

Reads only what the journal made durable, through `Journal`'s read methods (never its
tables): the account at the end of every processed bar (`processed_bars`), the position
snapshots (`position_snapshots`), the fills dated by the bar they were recorded on
(`fills_by_bar`) and, for an allocation policy, its decisions (`live.rebalance_log`):
weights.csv and rebalances.csv as a backtest writes them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from tradefolio.errors import DataError
from tradefolio.live.journal import Journal
from tradefolio.live.rebalance_log import journaled_decisions
from tradefolio.reporting.rebalances import rebalance_table
from tradefolio.reporting.record import FILL_COLUMNS, POSITION_COLUMNS, RunRecord
from tradefolio.reporting.run_folder import RunFolder, write_run_folder


def record_from_journal(
    journal: Journal,
    config: Mapping[str, Any],
    *,
    name: str,
    benchmark: pd.Series | None = None,
) -> RunRecord:
    """The whole session recorded in `journal` (every run that resumed it), in analytics form.

    Raises `DataError` when fewer than two bars were processed (no curve to report).
    """
    # Dates as ISO text, parsed once by pandas: the same datetime unit in every frame.
    bars = pd.DataFrame(
        [(a.bar.isoformat(), a.cash, a.equity) for a in journal.processed_bars()],
        columns=["date", "cash", "equity"],
    )
    if len(bars) < 2:
        raise DataError(f"the session has {len(bars)} processed bar(s); a report needs 2")
    index = pd.DatetimeIndex(pd.to_datetime(bars["date"]), name="date")
    equity = pd.DataFrame(
        {
            "equity": bars["equity"].astype("float64").to_numpy(),
            "cash": bars["cash"].astype("float64").to_numpy(),
        },
        index=index,
    )
    equity["invested"] = equity["equity"] - equity["cash"]

    fills = pd.DataFrame(
        [
            (bar.isoformat(), f.symbol, f.side.value, f.quantity, f.price, f.commission, f.slippage)
            for bar, f in journal.fills_by_bar()
        ],
        columns=list(FILL_COLUMNS),
    )
    fills["date"] = pd.to_datetime(fills["date"])
    # slippage: measured from each fill's reference price (0 where the venue gave none)
    for column in ("price", "commission", "slippage"):
        fills[column] = fills[column].astype("float64")
    fills["quantity"] = _quantities(fills["quantity"])

    positions = pd.DataFrame(
        [(p.bar.isoformat(), p.symbol, p.quantity, p.price) for p in journal.position_snapshots()],
        columns=list(POSITION_COLUMNS[:-1]),
    )
    positions["date"] = pd.to_datetime(positions["date"])
    positions["price"] = positions["price"].astype("float64")
    positions["quantity"] = _quantities(positions["quantity"])
    positions["market_value"] = positions["quantity"] * positions["price"]

    level = None if benchmark is None else benchmark.reindex(index).astype("float64")
    if level is not None:
        level.index.name = "date"
    weights, rebalances = _policy_record(journal, index, fills)
    return RunRecord(
        name=name,
        kind="live",
        config=dict(config),
        equity=equity,
        benchmark=level,
        fills=fills,
        positions=positions,
        target_weights=weights,
        rebalances=rebalances,
    )


def _quantities(column: pd.Series) -> pd.Series:
    """Units as the backtest writes them: integers when every one is whole (`17497`, not
    `17497.0`), else floats (fractional units)."""
    values = column.astype("float64")
    return values.astype("int64") if bool((values % 1 == 0).all()) else values


@dataclass(frozen=True, slots=True)
class _JournalFill:
    """A journaled fill as the rebalance record reads it (`RealisedFill`)."""

    bar: int
    side: str
    quantity: float
    price: float
    commission: float
    slippage: float


def _policy_record(
    journal: Journal, sessions: pd.DatetimeIndex, fills: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """weights.csv and rebalances.csv of an allocation policy's session (`live.rebalance_log`),
    as a backtest's: a decision on date d is realised by the fills of the first processed
    session after d (the backtest's bar d + 1), with the slippage each fill paid."""
    decisions, symbols = journaled_decisions(journal)
    if not decisions:
        return pd.DataFrame(index=pd.DatetimeIndex([], name="date")), None
    days = pd.DatetimeIndex([pd.Timestamp(d.day) for d in decisions], name="date")
    weights = pd.DataFrame(
        [[float(d.weights.get(s, 0.0)) for s in symbols] for d in decisions],
        index=days,
        columns=symbols,
        dtype="float64",
    )
    at = sessions.searchsorted(pd.DatetimeIndex(fills["date"]))
    realised = [
        _JournalFill(int(bar), str(side), float(quantity), float(price), float(fee), float(slip))
        for bar, side, quantity, price, fee, slip in zip(
            at,
            fills["side"],
            fills["quantity"],
            fills["price"],
            fills["commission"],
            fills["slippage"],
            strict=True,
        )
    ]
    # decision bar = the last session on or before d, so its "next bar" is the first after d
    bars = sessions.searchsorted(days, side="right") - 1
    table = rebalance_table(list(zip(bars.tolist(), decisions, strict=True)), realised)
    return weights, table


def write_live_run(
    journal: Journal,
    config: Mapping[str, Any],
    out: Path,
    *,
    benchmark: pd.Series | None = None,
    png: bool = False,
) -> RunFolder:
    """The session so far as a run folder `<out>/<UTC time>-live/` with its tearsheet (like
    a backtest's), owner-only. Raises `DataError` when there is no curve to report yet."""
    record = record_from_journal(journal, config, name="live", benchmark=benchmark)
    # Owner-only (folders 0700, files 0600) from the moment they exist: the run folder
    # holds the session's config and trades. The umask is the process's; restored at once.
    previous = os.umask(0o077)
    try:
        return write_run_folder(record, out, png=png)
    finally:
        os.umask(previous)


__all__ = ["record_from_journal", "write_live_run"]
