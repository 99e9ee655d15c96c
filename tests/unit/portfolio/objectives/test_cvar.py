"""CVaR (Rockafellar-Uryasev): the mean of the worst (1 - α) share of scenario losses; the
exact formula, the LP against brute force."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradefolio.errors import InvalidParameter
from tradefolio.portfolio.constraints import Budget, PositionLimits
from tradefolio.portfolio.context import make_universe
from tradefolio.portfolio.model import PortfolioModel
from tradefolio.portfolio.objectives import CVaR
from tradefolio.portfolio.objectives.cvar import cvar_of
from tradefolio.portfolio.types import Candidate
from unit.portfolio.model_cases import FEW, assert_matches_brute_force, risk_cases, weights_of

pytest.importorskip("ortools")
pytest.importorskip("scipy.optimize")


def tail_mean(losses: np.ndarray, alpha: float) -> float:
    """The average of the worst (1 - α) T losses, the last one counted fractionally."""
    ordered = np.sort(losses)[::-1]
    tail = (1 - alpha) * len(ordered)
    whole = math.floor(tail + 1e-12)
    partial = (tail - whole) * (ordered[whole] if whole < len(ordered) else 0.0)
    return float((ordered[:whole].sum() + partial) / tail)


@settings(max_examples=100, deadline=None)
@given(
    losses=st.lists(st.floats(-1.0, 1.0), min_size=1, max_size=30),
    alpha=st.sampled_from([0.5, 0.75, 0.9, 0.95, 0.99]),
)
def test_cvar_of_is_the_mean_of_the_worst_tail(losses: list[float], alpha: float) -> None:
    values = np.array(losses)
    assert cvar_of(values, alpha) == pytest.approx(tail_mean(values, alpha), abs=1e-12)
    assert cvar_of(values, alpha) >= float(np.mean(values)) - 1e-12


@FEW
@given(inst=risk_cases("cvar"))
def test_the_optimum_matches_brute_force(inst) -> None:  # type: ignore[no-untyped-def]
    result = assert_matches_brute_force(inst)
    if result is not None:
        losses = -(inst.scenarios @ weights_of(inst, result))
        assert result.objective == pytest.approx(cvar_of(losses, 0.75), abs=1e-7)


def test_it_holds_the_name_whose_worst_days_are_mildest() -> None:
    # A gains 5% on three days and loses 10% on the fourth, B loses 3% every day. At α = 0.75
    # over four days the CVaR is the worst day's loss: max(0.03 + 0.07 a, 0.03 - 0.08 a) with
    # a the weight of A, fully invested; least at a = 0: all B, CVaR 0.03.
    scenarios = pd.DataFrame({"A": [0.05, 0.05, 0.05, -0.10], "B": [-0.03] * 4})
    universe = make_universe([Candidate("A", 0.1, 10.0), Candidate("B", 0.1, 10.0)], 1000.0)
    model = PortfolioModel(CVaR(scenarios, 0.75), [PositionLimits(1.0), Budget(1.0)])
    result = model.solve(universe, fractional=True)
    weights = {a.symbol: a.weight for a in result.allocations}
    assert weights == pytest.approx({"B": 1.0}, abs=1e-7)
    assert result.objective == pytest.approx(0.03, abs=1e-9)


def test_alpha_must_be_inside_zero_one() -> None:
    with pytest.raises(InvalidParameter, match=r"cvar alpha must be in \(0, 1\), got 1"):
        CVaR(pd.DataFrame({"A": [0.0]}), 1.0)
