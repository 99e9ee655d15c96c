"""The `allocate --format json` contract, written once for the score model and the
composable model (which adds `model`, `costs`, `turnover` and `trades`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # annotations only: `allocate --candidates` imports no numpy
    from tradefolio.portfolio.holdings import Trade
    from tradefolio.portfolio.types import Allocation


class AllocationOutcome(Protocol):
    """What both `AllocationResult` and `PortfolioResult` expose to the JSON contract."""

    @property
    def status(self) -> str: ...
    @property
    def objective(self) -> float: ...
    @property
    def capital(self) -> float: ...
    @property
    def cash(self) -> float: ...
    @property
    def allocations(self) -> Sequence[Allocation]: ...
    @property
    def solver(self) -> str: ...
    @property
    def best_bound(self) -> float: ...
    @property
    def gap(self) -> float: ...
    @property
    def dropped(self) -> Sequence[str]: ...
    @property
    def objective_name(self) -> str: ...
    @property
    def costs(self) -> float: ...
    @property
    def turnover(self) -> float: ...
    @property
    def trades(self) -> Sequence[Trade]: ...


def shares_out(shares: float, fractional: bool) -> float | int:
    """Whole shares print as integers, fractional ones as floats. A whole-share run lists
    a held fraction it does not trade as it is (10.5 held, no trade: 10.5, never 10)."""
    return int(shares) if not fractional and float(shares).is_integer() else shares


def allocation_json(
    result: AllocationOutcome, fractional: bool, excluded: dict[str, str], *, model: bool = False
) -> dict[str, Any]:
    """The stable JSON contract of `allocate` (documented in the README); `model`: the
    composable model ran, and its `model`, `costs`, `turnover` and `trades` follow."""
    payload = {
        "status": result.status,
        "objective": result.objective,
        "capital": result.capital,
        "cash": round(result.cash, 6),
        "allocations": [
            {
                "symbol": a.symbol,
                "weight": a.weight,
                "dollars": a.dollars,
                "shares": shares_out(a.shares, fractional),
                "price": a.price,
            }
            for a in result.allocations
        ],
        "solver": result.solver,
        "best_bound": result.best_bound,
        "gap": result.gap,
        "dropped": list(result.dropped),
        "excluded": excluded,
    }
    if not model:
        return payload
    return {
        **payload,
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


__all__ = ["AllocationOutcome", "allocation_json", "shares_out"]
