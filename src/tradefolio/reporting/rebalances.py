"""The rebalance record of an allocation-policy run: one row per solve, expected vs realised.

`rebalances.csv` (and `BacktestResult.rebalances` in the Python API) has one row per
rebalance decision of `--portfolio` with the allocation model:

    date               the decision bar (the close the model saw; trades fill at the next bar)
    solver, status     the solver that ran and its claim: optimal (proven within its gap),
                       feasible (an incumbent, not proven), infeasible / error (no answer:
                       the positions were held, or the run stopped)
    objective          the model's objective at the answer (NaN when none)
    best_bound, gap    the solver's proven bound and relative gap
    expected_turnover  sum |trade $| / account value, as the model listed the trades
    expected_costs     the model's cost of those trades (its bps + fixed per traded name)
    realised_turnover  sum |fill $| / the same account value, at the fill prices
    realised_costs     commissions + slippage the fills paid (each fill's own, measured
                       from its reference price)
    names              names held in the target
    seconds            wall time of the decision (scoring, model build, solve)
    message            why a rebalance failed (empty otherwise)

Expected and realised differ only by the move from the decision close to the fill price,
and by buys the cash could no longer pay for at the fill (cut, as every buy is).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Protocol

import numpy as np
import pandas as pd

from tradefolio.backtest.ledger import MICRO, Fill
from tradefolio.portfolio.policy import RebalanceDecision


class RealisedFill(Protocol):
    """What the record reads of a fill: a backtest ledger's `Fill`, or a live journal's
    (`reporting.live_record`), `bar` numbered over the run's sessions."""

    @property
    def bar(self) -> int: ...
    @property
    def side(self) -> str: ...
    @property
    def quantity(self) -> int | float | Decimal: ...
    @property
    def price(self) -> float | Decimal: ...
    @property
    def commission(self) -> float | Decimal: ...
    @property
    def slippage(self) -> float | Decimal: ...


REBALANCE_COLUMNS: tuple[str, ...] = (
    "date",
    "solver",
    "status",
    "objective",
    "best_bound",
    "gap",
    "expected_turnover",
    "expected_costs",
    "realised_turnover",
    "realised_costs",
    "names",
    "seconds",
    "message",
)
_FLOATS = (
    "objective",
    "best_bound",
    "gap",
    "expected_turnover",
    "expected_costs",
    "realised_turnover",
    "realised_costs",
    "seconds",
)


def empty_rebalances() -> pd.DataFrame:
    """A rebalance table with no rows and the right columns."""
    frame = pd.DataFrame({name: pd.Series(dtype=object) for name in REBALANCE_COLUMNS})
    frame["date"] = pd.to_datetime(frame["date"])
    return typed_rebalances(frame)


def typed_rebalances(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with the table's dtypes (floats, integer names, text)."""
    table = frame.loc[:, list(REBALANCE_COLUMNS)].copy()
    table["date"] = pd.to_datetime(table["date"]).astype("datetime64[ns]")
    for name in _FLOATS:  # a CSV's empty cell is NaN (nothing solved)
        column = table[name]
        if not pd.api.types.is_numeric_dtype(column):
            column = column.astype(str).replace("", "nan")
        table[name] = column.astype("float64")
    table["names"] = table["names"].astype("int64")
    for name in ("solver", "status", "message"):
        table[name] = table[name].fillna("").astype(str)
    return table


def _amounts(fill: RealisedFill) -> tuple[float, float, float, float]:
    """A fill's quantity, price, commission and slippage as floats; a ledger `Fill`'s from
    its micro-units (`int / int` rounds as `float(Decimal)` does: the same floats)."""
    if isinstance(fill, Fill):
        return (
            float(fill.quantity),
            fill.price_micro / MICRO,
            fill.commission_micro / MICRO,
            fill.slippage_micro / MICRO,
        )
    return (
        float(fill.quantity),
        float(fill.price),
        float(fill.commission),
        float(fill.slippage),
    )


def rebalance_table(
    decisions: Sequence[tuple[int, RebalanceDecision]],
    fills: Sequence[RealisedFill],
) -> pd.DataFrame:
    """One row per decision (see the module docstring); the fills of bar `b + 1` are the
    realised trades of the decision at bar `b`, their costs the commission and slippage
    each fill paid."""
    by_bar: dict[int, list[RealisedFill]] = {}
    for fill in fills:
        by_bar.setdefault(fill.bar, []).append(fill)
    rows: list[dict[str, Any]] = []
    for bar, decision in decisions:
        traded = 0.0
        costs = 0.0
        for fill in by_bar.get(bar + 1, ()):
            quantity, price, commission, slippage = _amounts(fill)
            traded += quantity * price
            costs += commission + slippage
        capital = decision.capital if decision.capital > 0 else np.nan
        rows.append(
            {
                "date": pd.Timestamp(decision.day),
                "solver": decision.solver,
                "status": decision.status,
                "objective": decision.objective,
                "best_bound": decision.best_bound,
                "gap": decision.gap,
                "expected_turnover": decision.expected_turnover,
                "expected_costs": decision.expected_costs,
                "realised_turnover": traded / capital,
                "realised_costs": costs,
                "names": decision.names,
                "seconds": decision.seconds,
                "message": decision.message,
            }
        )
    if not rows:
        return empty_rebalances()
    return typed_rebalances(pd.DataFrame(rows))


def rebalance_summary(table: pd.DataFrame) -> dict[str, Any]:
    """Counts and totals of a rebalance table (the `rebalances` object of metrics.json and
    the JSON contract): rebalances, proven (optimal), not_proven (feasible: an incumbent
    whose gap was not closed), failed (infeasible or error: positions held), the largest
    gap, expected and realised costs and mean turnover, and solver seconds."""
    status = table["status"]
    failed = status.isin(["infeasible", "error"])
    # a feasible row without a finite gap has an unknown one (no bound): the largest is
    # then inf (null in JSON, "unknown" in the line), never the largest known one or 0
    gaps = table["gap"].to_numpy(np.float64)[(status == "feasible").to_numpy()]
    largest = float(np.where(np.isfinite(gaps), gaps, np.inf).max()) if gaps.size else 0.0
    return {
        "rebalances": len(table),
        "proven": int((status == "optimal").sum()),
        "not_proven": int((status == "feasible").sum()),
        "failed": int(failed.sum()),
        "max_gap": largest,
        "expected_costs": float(table["expected_costs"].sum()),
        "realised_costs": float(table["realised_costs"].sum()),
        "mean_expected_turnover": float(table["expected_turnover"].mean()) if len(table) else 0.0,
        "mean_realised_turnover": float(table["realised_turnover"].mean()) if len(table) else 0.0,
        "solver_seconds": float(table["seconds"].sum()),
    }


__all__ = [
    "REBALANCE_COLUMNS",
    "RealisedFill",
    "empty_rebalances",
    "rebalance_summary",
    "rebalance_table",
    "typed_rebalances",
]
