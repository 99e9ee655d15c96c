"""The investment floor a risk minimiser implies, on what the user receives: the invested
fraction of the listed shares against a brute-force maximum over every whole-lot portfolio
of small instances, and the claimed optimum against the brute-force optimum at that floor."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import tradefolio as tf
from tradefolio.portfolio.constraints import Cardinality, PositionLimits, WholeShares
from tradefolio.portfolio.context import make_universe
from tradefolio.portfolio.covariance import RiskModel
from tradefolio.portfolio.model import PortfolioModel
from tradefolio.portfolio.objectives import MinVariance
from tradefolio.portfolio.types import Candidate

# the listed shares are exact; the rows hold to the solvers' feasibility tolerance
EXACT = 1e-6


def instance(seed: int) -> tuple[PortfolioModel, list[Candidate], float, dict[str, object]]:
    """A small whole-lot min-variance model: 2-5 names of $20-$300, lots of 1 or 5, a
    $400-$3,000 account (a few lots per name), caps and a cardinality cap sometimes binding."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 6))
    symbols = [f"S{i}" for i in range(n)]
    prices = np.round(rng.uniform(20, 300, n), 2)
    capital = float(np.round(rng.uniform(400, 3000), 2))
    lot = int(rng.choice([1, 5])) if capital > 1500 else 1
    max_weight = float(rng.choice([1.0, 0.6, 0.45]))
    max_positions = int(rng.integers(1, n + 1)) if rng.random() < 0.4 else n
    risk = RiskModel(tuple(symbols), rng.normal(0, 0.1, (2, n)), rng.uniform(0.005, 0.05, n))
    model = PortfolioModel(
        MinVariance(risk),
        [PositionLimits(max_weight), Cardinality(max_positions), WholeShares(lot)],
    )
    candidates = [Candidate(s, 0.1, float(p)) for s, p in zip(symbols, prices, strict=True)]
    rules = {"lot": lot, "max_weight": max_weight, "max_positions": max_positions, "risk": risk}
    return model, candidates, capital, rules


def whole_lot_portfolios(
    prices: np.ndarray, capital: float, rules: dict[str, object]
) -> np.ndarray:
    """Every feasible target (shares per name): whole lots, within the caps, the cardinality
    cap and the cash."""
    lot = int(rules["lot"])  # type: ignore[call-overload]
    cap = float(rules["max_weight"]) * capital  # type: ignore[arg-type]
    most = [int(min(cap, capital) // (lot * p)) for p in prices]
    grid = np.array(list(itertools.product(*(range(m + 1) for m in most))), dtype=float) * lot
    spent = grid @ prices
    ok = (spent <= capital + 1e-9) & ((grid > 0).sum(axis=1) <= rules["max_positions"])
    return grid[ok]


def variance(risk: RiskModel, weights: np.ndarray) -> np.ndarray:
    """w^T Sigma w per row of `weights`, from the dense covariance."""
    return np.asarray(np.einsum("ki,ij,kj->k", weights, risk.covariance(), weights))


@pytest.mark.parametrize("seed", range(40))
def test_min_variance_invests_what_whole_lots_allow(seed: int) -> None:
    model, candidates, capital, rules = instance(seed)
    prices = np.array([c.price for c in candidates])
    result = model.solve(make_universe(candidates, capital))
    listed = {a.symbol: a.shares for a in result.allocations}
    shares = np.array([listed.get(c.symbol, 0.0) for c in candidates])
    invested = float(shares @ prices) / capital

    feasible = whole_lot_portfolios(prices, capital, rules)
    reachable = float((feasible @ prices).max()) / capital  # brute-force maximum
    tight = 1.0 - rules["lot"] * prices.min() / capital  # type: ignore[operator]
    # within one lot of the cheapest name of the whole account, or as much as any
    # whole-lot portfolio can invest
    assert invested >= min(tight, reachable) - EXACT

    # the claim stays honest: no whole-lot portfolio above the floor (the module's
    # formula, from the brute-force maximum) has less variance
    risk = rules["risk"]
    assert isinstance(risk, RiskModel)
    count = min(len(candidates), int(rules["max_positions"]))  # type: ignore[call-overload]
    loose = max(0.0, 1.0 - count * rules["lot"] * prices.max() / capital)  # type: ignore[operator]
    floor = min(tight, max(loose, reachable - 1e-6))
    assert invested >= floor - EXACT
    weights = feasible * prices / capital
    eligible = weights.sum(axis=1) >= floor - 1e-9
    best = float(variance(risk, weights[eligible]).min())
    mine = float(variance(risk, (shares * prices / capital)[None, :])[0])
    assert mine == pytest.approx(result.objective, rel=1e-6, abs=1e-12)
    if result.status == "optimal":
        assert mine <= best * (1 + 1e-4) + 1e-12


@pytest.mark.parametrize("objective", ["min-variance", "cvar"])
def test_sample_risk_minimiser_in_lots_of_100_invests_fully(objective: str) -> None:
    # review 10 item 4: 47.6% invested ("proven optimal") while 99.0% was reachable
    result = tf.allocate(objective=objective, capital=1_000_000, whole_shares=True, lot=100)
    assert result.invested / result.capital >= 0.99


def test_the_probes_follow_the_time_limit_and_the_floor_chosen_is_reported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tradefolio.portfolio import invested_floor

    model, candidates, capital, _ = instance(3)
    universe = make_universe(candidates, capital)
    seconds: list[float] = []
    solve = invested_floor.solve_program

    def recording(program: object, solver: str, time_limit: float) -> object:
        seconds.append(time_limit)
        return solve(program, solver, time_limit)  # type: ignore[arg-type]

    monkeypatch.setattr(invested_floor, "solve_program", recording)
    with invested_floor.floor_scope(1.5) as outer, invested_floor.floor_scope(0.5):
        floor = invested_floor.default_min_invested(model, universe)
    assert seconds and all(s == pytest.approx(0.5 * invested_floor.PROBE_FRACTION) for s in seconds)
    assert outer.chosen == [floor]  # an inner scope reports into the outer one
    seconds.clear()
    invested_floor.default_min_invested(model, universe)  # no scope: the fixed default
    assert seconds and all(s == invested_floor.PROBE_SECONDS for s in seconds)
