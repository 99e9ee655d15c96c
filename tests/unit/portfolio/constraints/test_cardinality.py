"""Cardinality: sum x <= max_positions, on real solves against brute force."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradefolio.errors import InvalidParameter
from unit.portfolio.model_cases import FEW, assert_matches_brute_force, cases, solve, weights_of

pytest.importorskip("ortools")
pytest.importorskip("scipy.optimize")


@FEW
@given(data=st.data())
def test_the_limit_matches_brute_force_and_holds(data: st.DataObject) -> None:
    objective = data.draw(st.sampled_from(["score", "mean-variance", "cvar"]))
    inst = data.draw(cases(objective, max_positions=st.integers(1, 3), max_weight=0.6))
    result = assert_matches_brute_force(inst)
    if result is not None:
        assert (weights_of(inst, result) > 1e-6).sum() <= inst.max_positions


@FEW
@given(inst=cases("score", max_weight=0.3))
def test_one_more_name_allowed_never_lowers_a_maximised_objective(inst) -> None:  # type: ignore[no-untyped-def]
    values = []
    for limit in range(1, len(inst.symbols) + 1):
        inst.max_positions = limit
        result = solve(inst)
        assert result is not None
        values.append(result.objective)
    assert all(b >= a - 1e-9 for a, b in itertools.pairwise(values))
    # With caps of 0.3 and positive scores, every name taken adds its full cap.
    ranked = sorted(inst.scores, reverse=True)
    assert values[0] == pytest.approx(0.3 * ranked[0])


def test_the_limit_must_be_a_positive_integer() -> None:
    from tradefolio.portfolio.constraints import Cardinality

    with pytest.raises(InvalidParameter, match="max_positions must be >= 1, got 0"):
        Cardinality(0)
    with pytest.raises(InvalidParameter, match="must be an integer, got True"):
        Cardinality(True)
    with pytest.raises(InvalidParameter, match=r"must be an integer, got 2\.5"):
        Cardinality(2.5)  # type: ignore[arg-type]
