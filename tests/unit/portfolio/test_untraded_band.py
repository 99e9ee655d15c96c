"""The no-trade band (a weight within 1e-6 of the holding keeps the holding) never lists
trades that spend cash the solver counted on, nor keeps a name the solver dropped: found by
the session-10 diff review, where the cent-exact cash check and the names counted on the
listed shares turned both into failed rebalances."""

from __future__ import annotations

import numpy as np

from tradefolio.portfolio.constraints import Cardinality, PositionLimits
from tradefolio.portfolio.context import make_universe
from tradefolio.portfolio.covariance import RiskModel
from tradefolio.portfolio.model import PortfolioModel
from tradefolio.portfolio.objectives import MinVariance
from tradefolio.portfolio.types import Candidate


def _risk(n: int, specific: list[float]) -> RiskModel:
    rng = np.random.default_rng(3)
    symbols = tuple(f"S{i}" for i in range(n))
    return RiskModel(symbols, rng.normal(0, 0.1, (2, n)), np.array(specific))


def test_a_small_sale_the_solver_counted_on_is_made_not_skipped() -> None:
    prices = [50.0, 80.0, 120.0]
    model = PortfolioModel(MinVariance(_risk(3, [0.01, 0.02, 0.03])), [PositionLimits(0.9)])
    candidates = [Candidate(f"S{i}", 0.1, p) for i, p in enumerate(prices)]
    value = 1_000_000.0
    optimum = model.solve(make_universe(candidates, value), fractional=True)
    s0 = next(a.weight for a in optimum.allocations if a.symbol == "S0")
    held = (s0 * value + 0.6) / 50.0  # S0 held $0.60 above its optimal dollars
    universe = make_universe(candidates, value - held * 50.0, holdings={"S0": held})
    result = model.solve(universe, fractional=True)
    assert result.status == "optimal"
    assert result.cash >= -0.01  # what the listed trades spend, in money
    bought = sum(t.dollars for t in result.trades if t.dollars > 0)
    sold = -sum(t.dollars for t in result.trades if t.dollars < 0)
    assert bought <= universe.cash + sold + 0.01


def test_dust_of_a_dropped_name_is_sold_not_kept_as_an_extra_name() -> None:
    prices = [50.0, 80.0, 120.0, 30.0]
    risk = _risk(4, [0.01, 0.01, 0.01, 0.9])  # S3 far riskier: the solver drops it
    model = PortfolioModel(MinVariance(risk), [PositionLimits(0.6), Cardinality(2)])
    candidates = [Candidate(f"S{i}", 0.1, p) for i, p in enumerate(prices)]
    # 0.01 share of S3 ($0.30 of $1M: a weight of 3e-7, inside the band)
    universe = make_universe(candidates, 1_000_000.0, holdings={"S3": 0.01})
    result = model.solve(universe, fractional=True)
    assert result.status == "optimal"
    held = [a.symbol for a in result.allocations if a.shares > 0]
    assert len(held) <= 2 and "S3" not in held
    assert any(t.symbol == "S3" and t.shares == -0.01 for t in result.trades)
