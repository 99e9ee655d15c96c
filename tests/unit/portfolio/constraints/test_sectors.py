"""Sector caps: sum over a sector's names <= its cap, against brute force and by hand."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradefolio.errors import InfeasibleAllocation, InvalidParameter
from tradefolio.portfolio.constraints import PositionLimits, SectorCaps, Turnover
from tradefolio.portfolio.context import make_universe
from tradefolio.portfolio.model import PortfolioModel
from tradefolio.portfolio.objectives import ScoreObjective
from tradefolio.portfolio.types import Candidate
from unit.portfolio.model_cases import FEW, assert_matches_brute_force, cases, weights_of

pytest.importorskip("ortools")
pytest.importorskip("scipy.optimize")


@FEW
@given(data=st.data())
def test_one_cap_for_every_sector_matches_brute_force(data: st.DataObject) -> None:
    objective = data.draw(st.sampled_from(["score", "mean-variance", "min-variance"]))
    inst = data.draw(cases(objective, sector_cap=st.sampled_from([0.3, 0.5, 0.7])))
    result = assert_matches_brute_force(inst)
    if result is None:
        return
    weights = weights_of(inst, result)
    for sector in set(inst.sectors):
        members = [i for i, s in enumerate(inst.sectors) if s == sector]
        assert weights[members].sum() <= inst.sector_cap + 1e-6  # type: ignore[operator]


def test_a_cap_per_sector_and_the_unclassified_names() -> None:
    # Tech capped at 0.2, Energy at 0.5; "ZZZ" has no sector: "Unclassified", default cap 0.1.
    candidates = [
        Candidate("AAA", 0.9, 10.0),
        Candidate("BBB", 0.8, 10.0),
        Candidate("CCC", 0.5, 10.0),
        Candidate("ZZZ", 1.0, 10.0),
    ]
    sectors = {"AAA": "Tech", "BBB": "Tech", "CCC": "Energy"}
    model = PortfolioModel(
        ScoreObjective(),
        [SectorCaps(sectors, cap=0.1, caps={"Tech": 0.2, "Energy": 0.5})],
    )
    result = model.solve(make_universe(candidates, 1000.0), fractional=True)
    weights = {a.symbol: a.weight for a in result.allocations}
    # The best use of each cap: Tech's 0.2 on AAA, Energy's 0.5 on CCC, 0.1 on ZZZ.
    assert weights == pytest.approx({"AAA": 0.2, "CCC": 0.5, "ZZZ": 0.1}, abs=1e-7)
    assert result.objective == pytest.approx(0.2 * 0.9 + 0.5 * 0.5 + 0.1 * 1.0)


def test_holdings_over_a_cap_beyond_the_turnover_budget_are_named() -> None:
    # 60 of A at 10 is 0.6 of the 1,000 account; the cap 0.2 forces 0.4 of sells, the
    # turnover budget allows 0.1.
    candidates = [Candidate("A", 0.2, 10.0), Candidate("B", 0.1, 10.0)]
    universe = make_universe(candidates, 400.0, {"A": 60})
    model = PortfolioModel(
        ScoreObjective(),
        [PositionLimits(1.0), SectorCaps({"A": "Tech", "B": "Energy"}, 0.2), Turnover(0.1)],
    )
    with pytest.raises(InfeasibleAllocation, match="sector cap Tech") as caught:
        model.solve(universe, fractional=True)
    assert "forces sells of 0.4000" in str(caught.value)


def test_caps_outside_zero_one_are_refused() -> None:
    with pytest.raises(InvalidParameter, match=r"sector cap must be in \[0, 1\], got 1.2"):
        SectorCaps({}, 1.2)
    with pytest.raises(InvalidParameter, match=r"cap of Tech must be in \[0, 1\], got -0.1"):
        SectorCaps({}, 0.5, {"Tech": -0.1})
