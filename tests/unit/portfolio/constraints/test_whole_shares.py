"""Whole shares inside the optimisation: targets are whole lots (odd lots kept or sold
whole), against an enumeration of every share vector."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradefolio.errors import InvalidParameter
from tradefolio.portfolio.constraints import PositionLimits, WholeShares
from tradefolio.portfolio.constraints.whole_shares import odd_lot
from tradefolio.portfolio.context import make_universe
from tradefolio.portfolio.model import PortfolioModel
from tradefolio.portfolio.objectives import ScoreObjective
from tradefolio.portfolio.types import Candidate
from unit.portfolio.model_cases import FEW, assert_matches_brute_force, cases

pytest.importorskip("ortools")
pytest.importorskip("scipy.optimize")


@FEW
@given(data=st.data())
def test_lots_of_one_match_the_enumeration_of_share_vectors(data: st.DataObject) -> None:
    objective = data.draw(st.sampled_from(["score", "mean-variance", "min-variance"]))
    inst = data.draw(
        cases(objective, whole_shares=True, holdings=True, max_weight=st.sampled_from([0.6, 1.0]))
    )
    result = assert_matches_brute_force(inst)
    if result is not None:
        assert all(float(a.shares).is_integer() for a in result.allocations)
        assert result.cash >= -1e-9


@settings(max_examples=20, deadline=None)
@given(
    prices=st.lists(st.sampled_from([7.0, 13.0, 31.0]), min_size=1, max_size=3),
    lot=st.sampled_from([1, 5, 10]),
)
def test_lots_of_several_shares_are_the_best_affordable_multiples(
    prices: list[float], lot: int
) -> None:
    scores = [0.3, 0.2, 0.1][: len(prices)]
    cash = 500.0
    candidates = [
        Candidate(f"S{i}", s, p) for i, (s, p) in enumerate(zip(scores, prices, strict=True))
    ]
    model = PortfolioModel(ScoreObjective(), [PositionLimits(1.0), WholeShares(lot=lot)])
    result = model.solve(make_universe(candidates, cash))
    best = max(
        sum(n * lot * p * s for n, p, s in zip(counts, prices, scores, strict=True)) / cash
        for counts in itertools.product(*(range(int(cash // (lot * p)) + 1) for p in prices))
        if sum(n * lot * p for n, p in zip(counts, prices, strict=True)) <= cash
    )
    assert result.objective == pytest.approx(best, abs=1e-9)
    assert all(a.shares % lot == 0 for a in result.allocations)


def test_an_odd_lot_is_kept_as_it_is_or_sold_with_the_rest() -> None:
    assert odd_lot(10.5, 1) == pytest.approx(0.5)
    assert odd_lot(23.0, 10) == pytest.approx(3.0)
    assert odd_lot(20.0, 10) == 0.0
    # 10.5 A held at 10 (105 dollars), 5 cash, B better: the model may keep A as it is or
    # move by whole shares; it never leaves a fractional remainder other than the 0.5 held.
    candidates = [Candidate("A", 0.1, 10.0), Candidate("B", 0.3, 10.0)]
    universe = make_universe(candidates, 5.0, {"A": 10.5})
    result = PortfolioModel(ScoreObjective(), [PositionLimits(1.0), WholeShares()]).solve(universe)
    shares = {a.symbol: a.shares for a in result.allocations}
    # Selling A entirely (105 + 5 = 110 dollars) buys 11 B: the best score-weighted answer.
    assert shares == {"B": 11}
    assert result.cash == pytest.approx(0.0, abs=1e-9)


def test_lot_sizes_must_be_whole_numbers() -> None:
    with pytest.raises(InvalidParameter, match="lot sizes must be integers >= 1, got 0"):
        WholeShares(lot=0)
    with pytest.raises(InvalidParameter, match=r"got 2\.5"):
        WholeShares(lots={"A": 2.5})  # type: ignore[dict-item]
