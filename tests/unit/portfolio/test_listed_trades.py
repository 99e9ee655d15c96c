"""The trades listed are what the optimiser proved: every constraint on trades holds on them.

Each check here reads only what the user receives (`result.trades`, the target shares in
`result.allocations`, `result.costs`, `result.cash`) and recomputes the constraint from
those numbers, never from the model's weights. The five examples of issue 15 are pinned
(each broke its constraint when shares were floored after the solve); the oracle test
enumerates every vector of target shares of small instances.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradefolio.errors import InfeasibleAllocation
from tradefolio.portfolio.constraints import (
    Budget,
    Cardinality,
    Constraint,
    MinimumTrade,
    PositionLimits,
    TransactionCosts,
    Turnover,
    WholeShares,
)
from tradefolio.portfolio.context import Universe, make_universe
from tradefolio.portfolio.covariance import RiskModel
from tradefolio.portfolio.model import PortfolioModel, PortfolioResult
from tradefolio.portfolio.objectives import MeanVariance, Objective, ScoreObjective
from tradefolio.portfolio.types import Candidate

pytest.importorskip("ortools")

# Whole shares make every listed number an exact function of integers: only round-off.
EXACT = 1e-9


def listed_targets(result: PortfolioResult) -> dict[str, float]:
    return {a.symbol: a.shares for a in result.allocations}


def listed_turnover(result: PortfolioResult) -> float:
    return sum(abs(t.shares) * t.price for t in result.trades) / result.capital


def listed_costs(result: PortfolioResult, bps: float, fixed: float) -> float:
    return sum(bps / 1e4 * abs(t.shares) * t.price + fixed for t in result.trades)


def listed_invested(result: PortfolioResult) -> float:
    return sum(a.shares * a.price for a in result.allocations) / result.capital


def assert_trades_reproduce_targets(result: PortfolioResult, held: dict[str, float]) -> None:
    targets = listed_targets(result)
    traded = {t.symbol: t.shares for t in result.trades}
    for symbol in set(held) | set(targets) | set(traded):
        assert held.get(symbol, 0.0) + traded.get(symbol, 0.0) == pytest.approx(
            targets.get(symbol, 0.0), abs=1e-12
        )


# ----------------------------------------------------------------- the examples of issue 15


def test_minimum_trade_holds_on_the_listed_buys() -> None:
    """Cap 0.275 of $2,000 = $550 of a $300 stock: floored after the solve that was one
    share, a $300 buy under a $500 minimum trade. Whole shares can't buy $500-$550 of it."""
    candidates = [Candidate("AAA", 0.3, 300.0), Candidate("BBB", 0.1, 40.0)]
    universe = make_universe(candidates, 2000.0)
    model = PortfolioModel(ScoreObjective(), [PositionLimits(0.275), MinimumTrade(500.0)])
    result = model.solve(universe)
    assert result.trades
    for trade in result.trades:
        assert abs(trade.shares) * trade.price >= 500.0 - EXACT
        assert float(trade.shares).is_integer()
    assert "AAA" not in listed_targets(result)


def _rotation_universe() -> Universe:
    # 40 BBB at $24 and $40 cash (V = $1,000); AAA scores higher: the model rotates into it
    return make_universe(
        [Candidate("AAA", 0.3, 9.0), Candidate("BBB", 0.01, 24.0)], 40.0, {"BBB": 40.0}
    )


def test_turnover_cap_holds_on_the_listed_trades() -> None:
    """Floored, the weights' 0.1 of turnover sold 2 BBB ($48, not $30) and was 0.111."""
    universe = _rotation_universe()
    result = PortfolioModel(ScoreObjective(), [PositionLimits(1.0), Turnover(0.1)]).solve(universe)
    assert result.trades
    assert listed_turnover(result) <= 0.1 + EXACT
    assert result.turnover == pytest.approx(listed_turnover(result), abs=EXACT)
    assert_trades_reproduce_targets(result, {"BBB": 40.0})


def test_cost_budget_holds_on_the_listed_trades() -> None:
    """50 bps on at most $100 of trades is a $0.50 budget; floored trades cost $0.555."""
    universe = _rotation_universe()
    costs = TransactionCosts(bps=50.0, budget=0.5)
    result = PortfolioModel(ScoreObjective(), [PositionLimits(1.0), costs]).solve(universe)
    assert result.trades
    assert listed_costs(result, 50.0, 0.0) <= 0.5 + EXACT
    assert result.costs == pytest.approx(listed_costs(result, 50.0, 0.0), abs=EXACT)
    assert result.cash == pytest.approx(
        result.capital - listed_invested(result) * result.capital - result.costs, abs=1e-9
    )
    assert result.cash >= -EXACT


def test_minimum_investment_holds_on_the_listed_shares() -> None:
    """0.7 of $1,000 in a $300 stock and 0.29 in a $39 one floor to 2 + 7 shares, 0.873
    invested; 2 AAA + 10 BBB = $990 meets --min-invested 0.99 with whole shares."""
    candidates = [Candidate("AAA", 0.3, 300.0), Candidate("BBB", 0.1, 39.0)]
    model = PortfolioModel(ScoreObjective(), [PositionLimits(0.7), Budget(0.99, 1.0)])
    result = model.solve(make_universe(candidates, 1000.0))
    assert listed_invested(result) >= 0.99 - EXACT
    assert listed_targets(result) == {"AAA": 2.0, "BBB": 10.0}
    assert result.cash == pytest.approx(10.0)


@pytest.mark.parametrize("explicit_whole_shares", [True, False])
def test_a_held_odd_lot_is_not_traded_under_a_zero_turnover_cap(
    explicit_whole_shares: bool,
) -> None:
    """10.5 held shares and --max-turnover 0: integer targets sold the 0.5."""
    candidates = [Candidate("AAA", 0.3, 100.0), Candidate("BBB", 0.2, 10.0)]
    universe = make_universe(candidates, 100.0, {"AAA": 10.5})
    constraints: list[Constraint] = [PositionLimits(1.0), Turnover(0.0)]
    if explicit_whole_shares:
        constraints.append(WholeShares())
    result = PortfolioModel(ScoreObjective(), constraints).solve(universe)
    assert result.trades == ()
    assert listed_targets(result) == {"AAA": 10.5}
    assert result.turnover == 0.0


def test_an_odd_lot_can_still_be_sold_entirely_or_completed() -> None:
    """The odd lot is a choice, not a pin: without a turnover cap the low score goes."""
    candidates = [Candidate("AAA", 0.01, 100.0), Candidate("BBB", 0.3, 10.0)]
    universe = make_universe(candidates, 0.0, {"AAA": 10.5})
    model = PortfolioModel(ScoreObjective(), [PositionLimits(1.0), MinimumTrade(20.0)])
    result = model.solve(universe)
    assert listed_targets(result) == {"BBB": 105.0}
    assert {t.symbol: t.shares for t in result.trades} == {"AAA": -10.5, "BBB": 105.0}


def test_fractional_trades_stay_within_the_limits_and_never_overspend() -> None:
    universe = _rotation_universe()
    model = PortfolioModel(
        ScoreObjective(),
        [PositionLimits(1.0), Turnover(0.1), TransactionCosts(bps=50.0, budget=0.5)],
    )
    result = model.solve(universe, fractional=True)
    tolerance = 1e-6  # the solvers' feasibility tolerance, as a fraction of the account
    assert listed_turnover(result) <= 0.1 + tolerance
    assert listed_costs(result, 50.0, 0.0) <= 0.5 + tolerance * result.capital
    assert result.cash >= -tolerance * result.capital
    for trade in result.trades:
        assert round(trade.shares, 6) == pytest.approx(trade.shares, abs=1e-12)
    assert_trades_reproduce_targets(result, {"BBB": 40.0})


# ----------------------------------------------------------------- brute force on shares


def _targets_for(held: float, most: int) -> list[float]:
    """Every target an odd-lot-aware whole-share model may choose for one name."""
    whole = list(range(most + 1))
    odd = held - math.floor(held)
    return [float(k) for k in whole] + ([k + odd for k in whole] if odd > 0 else [])


def brute_force(
    value_of: Callable[[np.ndarray], float],
    prices: np.ndarray,
    held: np.ndarray,
    cash: float,
    cap: float,
    max_positions: int,
    rules: dict[str, float],
) -> float | None:
    """Best objective (`value_of` the weights) minus costs over every vector of target
    shares that keeps every rule on the trades it implies (None if none does). Written from
    the rules, not the model."""
    value = cash + float(held @ prices)
    bps, fixed = rules.get("bps", 0.0), rules.get("fixed", 0.0)
    ranges = [
        [t for t in _targets_for(h, int(cap * value // p) + 1) if t * p <= cap * value + 1e-9]
        for h, p in zip(held, prices, strict=True)
    ]
    best: float | None = None
    for combo in itertools.product(*ranges):
        target = np.array(combo)
        trade = target - held
        traded = np.abs(trade) > 1e-12
        dollars = np.abs(trade) * prices
        cost = float(bps / 1e4 * dollars.sum() + fixed * traded.sum())
        if np.count_nonzero(target) > max_positions:
            continue
        if float(target @ prices) + cost > value + 1e-9:
            continue
        if "turnover" in rules and dollars.sum() / value > rules["turnover"] + 1e-12:
            continue
        if "budget" in rules and cost > rules["budget"] + 1e-9:
            continue
        if "min_invested" in rules and target @ prices / value < rules["min_invested"] - 1e-12:
            continue
        if "min_trade" in rules:
            small = traded & (dollars < rules["min_trade"] - 1e-9) & ~(target == 0)
            if small.any():
                continue
        objective = value_of(target * prices / value) - cost / value
        if best is None or objective > best:
            best = objective
    return best


def oracle_for(
    universe: Universe,
    cash: float,
    rules: dict[str, float],
    value_of: Callable[[np.ndarray], float],
) -> float | None:
    return brute_force(
        value_of,
        universe.prices,
        universe.held_shares,
        cash,
        rules["cap"],
        int(rules["max_positions"]),
        rules,
    )


def check_listed(result: PortfolioResult, held: dict[str, float], rules: dict[str, float]) -> None:
    """Every rule, recomputed from the listed trades and targets."""
    assert_trades_reproduce_targets(result, held)
    bps, fixed = rules.get("bps", 0.0), rules.get("fixed", 0.0)
    cost = listed_costs(result, bps, fixed)
    assert result.costs == pytest.approx(cost, abs=EXACT)
    assert listed_invested(result) * result.capital + cost <= result.capital + EXACT
    if "turnover" in rules:
        assert listed_turnover(result) <= rules["turnover"] + EXACT
    if "budget" in rules:
        assert cost <= rules["budget"] + EXACT
    if "min_invested" in rules:
        assert listed_invested(result) >= rules["min_invested"] - EXACT
    if "min_trade" in rules:
        targets = listed_targets(result)
        for trade in result.trades:
            full_sale = targets.get(trade.symbol, 0.0) == 0.0 and trade.shares < 0
            assert full_sale or abs(trade.shares) * trade.price >= rules["min_trade"] - EXACT


@st.composite
def instances(draw: st.DrawFn) -> tuple[Sequence[Candidate], float, dict[str, float], dict]:
    n = draw(st.integers(2, 3))
    scores = [draw(st.sampled_from([0.05, 0.1, 0.2, 0.3])) for _ in range(n)]
    prices = [draw(st.sampled_from([45.0, 90.0, 130.0, 240.0])) for _ in range(n)]
    held = [draw(st.sampled_from([0.0, 0.0, 1.0, 2.0, 2.5])) for _ in range(n)]
    cash = draw(st.sampled_from([150.0, 400.0, 700.0]))
    rules: dict[str, float] = {}
    if draw(st.booleans()):
        rules["turnover"] = draw(st.sampled_from([0.0, 0.15, 0.4, 0.8]))
    if draw(st.booleans()):
        rules["bps"] = draw(st.sampled_from([10.0, 50.0]))
    if draw(st.booleans()):
        rules["fixed"] = draw(st.sampled_from([1.0, 3.0]))
    if draw(st.booleans()):
        rules["budget"] = draw(st.sampled_from([2.0, 5.0, 12.0]))
    if draw(st.booleans()):
        rules["min_trade"] = draw(st.sampled_from([60.0, 150.0]))
    if draw(st.booleans()):
        rules["min_invested"] = draw(st.sampled_from([0.3, 0.6, 0.85]))
    if not rules:  # without a rule on trades, shares are floored after the solve (seed)
        rules["turnover"] = 1.0
    rules["cap"] = draw(st.sampled_from([0.5, 0.7, 1.0]))
    rules["max_positions"] = draw(st.integers(1, n))
    candidates = [
        Candidate(f"S{i}", s, p) for i, (s, p) in enumerate(zip(scores, prices, strict=True))
    ]
    holdings = {f"S{i}": h for i, h in enumerate(held) if h > 0}
    return candidates, cash, holdings, rules


def model_for(rules: dict[str, float], objective: Objective | None = None) -> PortfolioModel:
    constraints: list[Constraint] = [
        PositionLimits(rules["cap"]),
        Cardinality(int(rules["max_positions"])),
    ]
    if "turnover" in rules:
        constraints.append(Turnover(rules["turnover"]))
    if "bps" in rules or "fixed" in rules or "budget" in rules:
        constraints.append(
            TransactionCosts(
                rules.get("bps", 0.0), rules.get("fixed", 0.0), budget=rules.get("budget")
            )
        )
    if "min_trade" in rules:
        constraints.append(MinimumTrade(rules["min_trade"]))
    if "min_invested" in rules:
        constraints.append(Budget(rules["min_invested"], 1.0))
    return PortfolioModel(objective or ScoreObjective(), constraints)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instance=instances())
def test_every_trade_rule_matches_brute_force_on_the_listed_trades(
    instance: tuple[Sequence[Candidate], float, dict[str, float], dict[str, float]],
) -> None:
    candidates, cash, holdings, rules = instance
    universe = make_universe(candidates, cash, holdings)
    oracle = oracle_for(universe, cash, rules, lambda w: float(universe.expected @ w))
    try:
        result = model_for(rules).solve(universe, time_limit=20.0)
    except InfeasibleAllocation:
        assert oracle is None
        return
    assert oracle is not None
    assert result.status == "optimal"
    check_listed(result, holdings, rules)
    assert result.objective == pytest.approx(oracle, abs=1e-7)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instance=instances(), seed=st.integers(0, 1000))
def test_mean_variance_trade_rules_match_brute_force_on_the_listed_trades(
    instance: tuple[Sequence[Candidate], float, dict[str, float], dict[str, float]], seed: int
) -> None:
    """The same rules with a quadratic objective (SCIP with integer lots, 1e-5 target)."""
    candidates, cash, holdings, rules = instance
    universe = make_universe(candidates, cash, holdings)
    rng = np.random.default_rng(seed)
    n = universe.size
    risk = RiskModel(universe.symbols, rng.normal(0, 0.2, (1, n)), rng.uniform(0.01, 0.05, n))
    objective = MeanVariance(risk, 2.0)
    oracle = oracle_for(
        universe, cash, rules, lambda w: float(universe.expected @ w) - 2.0 * risk.variance(w)
    )
    try:
        result = model_for(rules, objective).solve(universe, time_limit=20.0)
    except InfeasibleAllocation:
        assert oracle is None
        return
    assert oracle is not None
    check_listed(result, holdings, rules)
    assert result.objective <= oracle + 1e-9  # never better than the best share vector
    assert result.objective >= oracle - max(1e-5 * abs(oracle), 1e-7) - result.gap * abs(oracle)


def test_listed_cash_and_names_are_counted_in_money_and_shares() -> None:
    # a $4.2M account: the solvers' 1e-6 of it would let the listed targets spend $4 more
    # than the account; a 1-share position is a name on its own
    from tradefolio.portfolio.holdings import trades_between
    from tradefolio.portfolio.listed import CASH_ROUND_OFF, ListedTrades

    universe = make_universe(
        [Candidate("A", 1.0, 100.0), Candidate("B", 1.0, 13.44)], 0.0, {"A": 42_000}
    )

    def listed(target_a: float, target_b: float, costs: float) -> ListedTrades:
        targets = {s: n for s, n in (("A", target_a), ("B", target_b)) if n > 0}
        trades = trades_between({"A": 42_000}, targets, {"A": 100.0, "B": 13.44})
        return ListedTrades(universe, np.array([target_a, target_b]), trades, costs, targets)

    assert listed(41_999, 7, 5.0).overspent() == []  # 4,200,000 - 4,199,994.08 - 5 = 0.92
    broken = listed(41_999, 7, 6.04).overspent()  # 0.12 more than the account
    assert broken == ["the targets and costs spend 0.12 more than the account"]
    assert listed(41_999, 7, 5.92 + CASH_ROUND_OFF / 2).overspent() == []  # round-off
    assert listed(41_999, 7, 5.92 + 2 * CASH_ROUND_OFF).overspent() != []
    assert (listed(41_999, 1, 0.0).positions, listed(42_000, 0, 0.0).positions) == (2, 1)
