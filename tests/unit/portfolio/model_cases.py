"""Small allocation problems for the per-module tests, solved by the model and by brute force.

The oracle is `test_model.py`'s (it enumerates the discrete choices and solves each convex
remainder with scipy, written from the formulas, never from the model's code); this module
builds instances in which every rule is neutral except the ones a test turns on, so each
constraint and objective module is checked on its own against it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from tradefolio.errors import InfeasibleAllocation
from tradefolio.portfolio.model import SCIP_AFTER_REPAIR_GAP
from tradefolio.portfolio.types import AllocationResult
from unit.portfolio.test_model import (
    Instance,
    brute_force,
    brute_force_whole_shares,
    model_for,
)

#: Each example is a real solve plus a brute-force enumeration: a few per test.
FEW = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])

NEUTRAL: dict[str, Any] = {
    "max_weight": 1.0,
    "min_weight": 0.0,
    "min_invested": 0.0,
    "sector_cap": None,
    "max_turnover": None,
    "bps": 0.0,
    "fixed": 0.0,
    "min_trade": None,
    "whole_shares": False,
}


@st.composite
def cases(draw: st.DrawFn, objective: str, *, holdings: bool = False, **rules: Any) -> Instance:
    """An instance of 2-4 names (2-3 with whole shares) with only `rules` switched on; a
    rule given as a strategy is drawn."""
    whole = bool(rules.get("whole_shares", False))
    n = draw(st.integers(2, 3 if whole else 4))
    floats = st.floats(-0.1, 0.3, allow_nan=False).map(lambda v: round(v, 3))
    scores = np.array([draw(floats) for _ in range(n)])
    if objective == "score":
        scores = np.abs(scores) + 0.01
    if whole:
        prices = np.array([draw(st.sampled_from([90.0, 130.0, 170.0, 240.0])) for _ in range(n)])
        lots = [0.0, 0.0, 1.0, 2.0]
    else:
        prices = np.array([draw(st.sampled_from([10.0, 25.0, 40.0])) for _ in range(n)])
        lots = [0.0, 0.0, 4.0, 10.0]
    held = np.array([draw(st.sampled_from(lots)) if holdings else 0.0 for _ in range(n)])
    rng = np.random.default_rng(draw(st.integers(0, 10_000)))
    settings = {**NEUTRAL, "max_positions": n}
    if objective in ("min-variance", "cvar", "mad"):
        settings["min_invested"] = 0.5  # an empty portfolio is no answer for a risk minimiser
    for name, value in rules.items():
        settings[name] = draw(value) if isinstance(value, st.SearchStrategy) else value
    settings["max_positions"] = min(settings["max_positions"], n)
    settings["min_weight"] = min(settings["min_weight"], settings["max_weight"])
    return Instance(
        objective=objective,
        scores=scores,
        prices=prices,
        held=held,
        cash=1000.0,
        loadings=rng.normal(0.0, 0.2, size=(2, n)).round(3),
        scenarios=rng.normal(0.002, 0.03, size=(6, n)).round(4),
        sectors=[draw(st.sampled_from(["A", "B"])) for _ in range(n)],
        symbols=[f"S{i}" for i in range(n)],
        **settings,
    )


def risk_cases(objective: str) -> st.SearchStrategy[Instance]:
    """Instances for a risk minimiser: half or fully invested, caps, a cardinality."""
    return cases(
        objective,
        min_invested=st.sampled_from([0.5, 1.0]),
        max_weight=st.sampled_from([0.6, 1.0]),
        max_positions=st.integers(1, 4),
    )


def solve(inst: Instance, *, fractional: bool = True) -> AllocationResult | None:
    """The model's answer (None when it proves the model infeasible)."""
    model, universe = model_for(inst)
    try:
        return model.solve(universe, time_limit=20.0, fractional=fractional)  # type: ignore[arg-type]
    except InfeasibleAllocation:
        return None


def oracle(inst: Instance) -> float | None:
    """The brute-force optimum (None when no choice is feasible)."""
    best: float | None = brute_force_whole_shares(inst) if inst.whole_shares else brute_force(inst)
    return best


def assert_matches_brute_force(inst: Instance) -> AllocationResult | None:
    """Solve `inst`, check the optimum against brute force, return the model's answer."""
    result = solve(inst, fractional=not inst.whole_shares)
    best = oracle(inst)
    assert (result is None) == (best is None), (result, best)
    if result is None or best is None:
        return None
    tolerance = 2e-6 + 1e-5 * abs(best) + (1e-7 if inst.objective == "kelly" else 0.0)
    assert result.objective == pytest.approx(best, abs=tolerance)
    if result.status != "optimal":
        # A whole-share answer repaired from its fractional twin within
        # `SCIP_AFTER_REPAIR_GAP` is not sent to SCIP for a proof: it may be the optimum
        # and say "feasible", but then its bound must hold the optimum and its gap be small.
        assert inst.whole_shares and inst.objective in ("mean-variance", "min-variance")
        assert result.gap is not None and 0 < result.gap <= SCIP_AFTER_REPAIR_GAP * (1 + 1e-9)
        sign = 1.0 if inst.objective == "mean-variance" else -1.0
        assert sign * (result.best_bound - best) >= -tolerance
    return result


def weights_of(inst: Instance, result: AllocationResult) -> np.ndarray:
    """The target weights of `result` in the instance's symbol order (fractions of V)."""
    by_symbol = {a.symbol: a.weight for a in result.allocations}
    return np.array([by_symbol.get(s, 0.0) for s in inst.symbols])
