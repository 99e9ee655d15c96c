"""Brute-force oracle for the allocation policy's trades (N <= 4 names, whole shares).

Every integer target of a small account is enumerated. The constraints that act on trades
(turnover, proportional and fixed costs, cost budget, minimum trade: a whole position may
always be sold, minimum invested, lots: a held odd lot may be kept) and the others (weight
caps, cardinality, sector caps, cash after costs) are checked on the *listed* trades,
target - held, in dollars at the decision prices. The policy's targets must pass that
check and reach the brute-force optimum.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tradefolio.portfolio.options import AllocateOptions
from tradefolio.portfolio.policy import AllocationPolicy, whole_targets
from tradefolio.portfolio.scoring import score_universe

SYMBOLS = ["AAA", "BBB", "CCC", "DDD"]
SECTORS = {"AAA": "one", "BBB": "one", "CCC": "two", "DDD": "three"}
TOLERANCE = 1e-7


def _history(rng: np.random.Generator) -> pd.DataFrame:
    start = rng.uniform(30.0, 250.0, len(SYMBOLS))
    steps = rng.normal(0.01, 0.05, (12, len(SYMBOLS)))
    closes = np.round(start * np.exp(np.cumsum(steps, axis=0)), 2)
    index = pd.bdate_range("2024-01-01", periods=12)
    return pd.DataFrame(closes, index=index, columns=SYMBOLS)


def _case(seed: int) -> tuple[pd.DataFrame, dict[str, int], float, dict[str, Any]]:
    rng = np.random.default_rng(seed)
    history = _history(rng)
    held = {s: int(q) for s, q in zip(SYMBOLS, rng.integers(0, 6, len(SYMBOLS)), strict=True)}
    cash = float(rng.uniform(200.0, 1500.0))
    options: dict[str, Any] = {
        "max_weight": float(rng.choice([0.5, 0.7, 1.0])),
        "min_weight": 0.0,
        "max_positions": int(rng.integers(1, 4)),
        "max_turnover": float(rng.choice([0.2, 0.5, 1.0, 2.0])),
        "cost_bps": float(rng.choice([0.0, 10.0, 50.0])),
        "fixed_cost": float(rng.choice([0.0, 1.0, 5.0])),
        "cost_budget": float(rng.choice([20.0, 60.0])) if rng.random() < 0.5 else None,
        "min_trade": float(rng.choice([50.0, 150.0])) if rng.random() < 0.6 else None,
        "min_invested": float(rng.choice([0.3, 0.6])) if rng.random() < 0.4 else None,
        "sector_cap": 0.8 if rng.random() < 0.3 else None,
        "lot": int(rng.choice([1, 1, 2])),
    }
    return history, held, cash, options


def _evaluate(
    targets: np.ndarray,
    held: np.ndarray,
    prices: np.ndarray,
    scores: np.ndarray,
    value: float,
    options: dict[str, Any],
) -> tuple[np.ndarray, np.ndarray]:
    """(feasible, objective) of each row of `targets` (shares), checked on the trades."""
    dollars = targets * prices
    trades = (targets - held) * prices
    traded = np.abs(trades)
    moved = traded > 0
    costs = (options["cost_bps"] / 1e4 * traded + options["fixed_cost"] * moved).sum(axis=1)
    ok = (dollars <= options["max_weight"] * value + TOLERANCE).all(axis=1)
    ok &= (targets > 0).sum(axis=1) <= options["max_positions"]
    ok &= traded.sum(axis=1) <= options["max_turnover"] * value + TOLERANCE
    ok &= dollars.sum(axis=1) + costs <= value + TOLERANCE
    if options["cost_budget"] is not None:
        ok &= costs <= options["cost_budget"] + TOLERANCE
    if options["min_trade"] is not None:
        exit_all = (targets == 0) & (held > 0)  # selling a whole position is always allowed
        big = traded >= options["min_trade"] - TOLERANCE
        ok &= (~moved | big | exit_all).all(axis=1)
    if options["min_invested"] is not None:
        ok &= dollars.sum(axis=1) >= options["min_invested"] * value - TOLERANCE
    if options["sector_cap"] is not None:
        for sector in set(SECTORS.values()):
            members = [i for i, s in enumerate(SYMBOLS) if SECTORS[s] == sector]
            ok &= dollars[:, members].sum(axis=1) <= options["sector_cap"] * value + TOLERANCE
    lot = options["lot"]
    # whole lots, or whole lots plus the odd lot already held
    ok &= ((targets % lot == 0) | (targets % lot == held % lot)).all(axis=1)
    objective = (dollars * scores).sum(axis=1) / value - costs / value
    return ok, objective


@pytest.mark.parametrize("seed", range(24))
def test_policy_trades_are_the_brute_force_optimum(seed: int) -> None:
    history, held_map, cash, extra = _case(seed)
    options = AllocateOptions(
        factor="trailing-return", lookback=10, whole_shares=True, solver="cbc", **extra
    )
    policy = AllocationPolicy(options, sectors=SECTORS)
    decision = policy.decide(history, held_map, cash)
    prices = history.iloc[-1].to_numpy(np.float64)
    scores = score_universe(history, "trailing-return", 10).values.reindex(SYMBOLS).to_numpy()
    held = np.array([held_map[s] for s in SYMBOLS], dtype=np.float64)
    value = cash + float(held @ prices)
    ranges = [range(int(value // p) + 1) for p in prices]
    grid = np.array(list(itertools.product(*ranges)), dtype=np.float64)
    feasible, objective = _evaluate(grid, held, prices, scores, value, extra)
    if decision.failed:
        assert decision.status == "infeasible"
        assert not feasible.any(), f"the policy found nothing, the oracle found {feasible.sum()}"
        return
    assert feasible.any()
    best = float(objective[feasible].max())
    targets = whole_targets(decision, held_map, extra["min_trade"])
    listed = np.array([[targets.get(s, 0) for s in SYMBOLS]], dtype=np.float64)
    ok, value_of_listed = _evaluate(listed, held, prices, scores, value, extra)
    assert ok[0], f"listed trades {targets} from {held_map} break a constraint"
    assert value_of_listed[0] == pytest.approx(decision.objective, abs=1e-9)
    assert value_of_listed[0] >= best - 1e-6 * max(1.0, abs(best))


@pytest.mark.parametrize("seed", range(12))
def test_relaxed_trades_round_towards_the_holdings_within_the_trade_constraints(
    seed: int,
) -> None:
    history, held_map, cash, extra = _case(seed)
    extra = {**extra, "lot": 1, "min_invested": None}
    options = AllocateOptions(factor="trailing-return", lookback=10, fractional=True, **extra)
    decision = AllocationPolicy(options, sectors=SECTORS).decide(history, held_map, cash)
    if decision.failed:
        return
    prices = history.iloc[-1].to_numpy(np.float64)
    held = np.array([held_map[s] for s in SYMBOLS], dtype=np.float64)
    value = cash + float(held @ prices)
    wanted = np.array([decision.target_shares.get(s, 0.0) for s in SYMBOLS])
    targets = whole_targets(decision, held_map, extra["min_trade"])
    listed = np.array([targets.get(s, 0) for s in SYMBOLS], dtype=np.float64)
    assert np.all(np.abs(listed - held) <= np.abs(wanted - held) + 1e-9)  # never a bigger trade
    assert np.all(np.sign(listed - held) * np.sign(wanted - held) >= 0)  # never the other way
    no_cash_row = {**extra, "max_weight": 1.0, "min_invested": None}
    ok, _ = _evaluate(listed[None, :], held, prices, np.zeros(len(SYMBOLS)), 10 * value, {
        **no_cash_row,
        "max_turnover": extra["max_turnover"] / 10,
        "min_trade": extra["min_trade"],
    })  # fmt: skip
    assert ok[0], f"rounded trades {targets} from {held_map} break a trade constraint"
    traded = np.abs(listed - held) * prices
    assert traded.sum() <= extra["max_turnover"] * value + TOLERANCE
    # cash: short of the model's by less than one share of each name the model sold
    costs = float((extra["cost_bps"] / 1e4 * traded + extra["fixed_cost"] * (traded > 0)).sum())
    cash_after = value - float(listed @ prices) - costs
    assert cash_after >= -float(prices @ (wanted < held - 1e-9)) - TOLERANCE


@pytest.mark.parametrize(
    "files",
    [
        {"covariance_file": "cov.csv"},
        {"expected_returns": "mu.csv"},
        {"factor_loadings": "b.csv", "factor_covariance": "f.csv", "specific_variance": "s.csv"},
    ],
)
def test_one_date_files_are_refused_with_the_reason(files: dict[str, str]) -> None:
    from pathlib import Path

    from tradefolio.errors import InvalidParameter
    from tradefolio.portfolio.policy import ONE_DATE_INPUTS

    options = AllocateOptions(
        objective="mean-variance", **{name: Path(value) for name, value in files.items()}
    )
    with pytest.raises(InvalidParameter) as raised:
        AllocationPolicy(options)
    assert str(raised.value) == ONE_DATE_INPUTS
