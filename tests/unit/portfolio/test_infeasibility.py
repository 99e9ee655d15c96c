"""Explained infeasibility: one conflicting constraint group, named with the amount to move.

Every instance here has exactly one conflict, and the amount is computed by hand in the
test. Pre-check conflicts must be raised before any solver runs (the solve entry point is
replaced by one that fails the test); conflicts the pre-checks cannot see go through the
elastic re-solve (checked by spying on `explain_infeasible`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pytest

from tradefolio.errors import InfeasibleAllocation
from tradefolio.portfolio import model as model_module
from tradefolio.portfolio.constraints import (
    Budget,
    Cardinality,
    Conflict,
    Constraint,
    MinimumTrade,
    PositionLimits,
    SectorCaps,
    TransactionCosts,
    Turnover,
)
from tradefolio.portfolio.context import Universe, make_universe
from tradefolio.portfolio.covariance import RiskModel
from tradefolio.portfolio.infeasibility import cross_checks, elastic_program, explain_infeasible
from tradefolio.portfolio.model import PortfolioModel
from tradefolio.portfolio.objectives import MinVariance, ScoreObjective
from tradefolio.portfolio.program import Program
from tradefolio.portfolio.types import Candidate

pytest.importorskip("ortools")

SYMBOLS = ["AAA", "BBB", "CCC", "DDD"]


def universe(
    cash: float = 10_000.0,
    holdings: dict[str, float] | None = None,
    holding_prices: dict[str, float] | None = None,
) -> Universe:
    candidates = [Candidate(s, 0.1 + 0.05 * i, 10.0) for i, s in enumerate(SYMBOLS)]
    return make_universe(candidates, cash, holdings, holding_prices)


def conflict_lines(exc: pytest.ExceptionInfo[InfeasibleAllocation]) -> list[str]:
    """The conflict of the one-line message (its first, and any others it names)."""
    message = str(exc.value)
    assert "\n" not in message
    assert message.startswith("the allocation is infeasible: ")
    first, _, others = message.removeprefix("the allocation is infeasible: ").partition(
        " (also in conflict: "
    )
    return [first, *(others.removesuffix(")").split(", ") if others else [])]


def amounts_in(line: str) -> list[float]:
    return [float(x) for x in re.findall(r"\d+\.\d+(?:e-?\d+)?", line)]


@pytest.fixture
def no_solver(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any solve is a test failure: pre-checks must decide before a solver runs."""

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("a solver ran although a pre-check should have caught this")

    monkeypatch.setattr(model_module, "solve_program", fail)
    monkeypatch.setattr(model_module, "explain_infeasible", fail)


def precheck_conflicts(model: PortfolioModel, u: Universe) -> list[Conflict]:
    """Every conflict the pre-checks find (cross checks, constraints, objective)."""
    ctx = model.build(u)
    found = list(cross_checks(ctx))
    for constraint in model._all_constraints(u):
        found.extend(constraint.precheck(ctx))
    found.extend(model.objective.precheck(ctx))
    return found


def only_conflict(model: PortfolioModel, u: Universe) -> Conflict:
    found = precheck_conflicts(model, u)
    assert len(found) == 1, found
    return found[0]


# ----------------------------------------------------------------------------- pre-checks


@pytest.mark.usefixtures("no_solver")
def test_sector_caps_cannot_hold_the_minimum_investment() -> None:
    sectors = {"AAA": "Energy", "BBB": "Energy", "CCC": "Utilities", "DDD": "Utilities"}
    # two sectors capped at 0.3 hold 0.6 at most; 0.9 must be invested -> raise by 0.3
    model = PortfolioModel(ScoreObjective(), [SectorCaps(sectors, 0.3), Budget(0.9, 1.0)])
    conflict = only_conflict(model, universe())
    assert conflict.constraint == "sector caps"
    assert conflict.amount == pytest.approx(0.3, abs=1e-12)
    with pytest.raises(InfeasibleAllocation) as exc:
        model.solve(universe())
    (line,) = conflict_lines(exc)
    assert line.startswith("sector caps: ")
    assert "0.6000" in line and "0.9000" in line and "by 0.3000" in line


@pytest.mark.usefixtures("no_solver")
def test_sector_caps_per_sector_and_the_names_inside_them() -> None:
    """A sector cap above what its names can hold counts only what they hold: Energy (cap
    0.8) has one name capped at 0.25 -> 0.25; Utilities capped 0.2 -> 0.2; 0.45 < 0.6."""
    sectors = {"AAA": "Energy", "BBB": "Utilities", "CCC": "Utilities", "DDD": "Utilities"}
    model = PortfolioModel(
        ScoreObjective(),
        [
            PositionLimits(0.25),
            SectorCaps(sectors, 0.2, caps={"Energy": 0.8}),
            Budget(0.6, 1.0),
        ],
    )
    conflict = only_conflict(model, universe())
    assert conflict.constraint == "sector caps"
    assert conflict.amount == pytest.approx(0.6 - 0.45, abs=1e-12)
    with pytest.raises(InfeasibleAllocation, match=r"sector caps: .*by 0\.1500"):
        model.solve(universe())


@pytest.mark.usefixtures("no_solver")
def test_cardinality_times_max_weight_below_the_minimum_investment() -> None:
    # 2 names at 0.3 hold 0.6; 0.8 must be invested -> lower the minimum by 0.2
    model = PortfolioModel(
        ScoreObjective(), [PositionLimits(0.3), Cardinality(2), Budget(0.8, 1.0)]
    )
    conflict = only_conflict(model, universe())
    assert conflict.constraint == "min invested"
    assert conflict.amount == pytest.approx(0.2, abs=1e-12)
    with pytest.raises(InfeasibleAllocation) as exc:
        model.solve(universe())
    (line,) = conflict_lines(exc)
    assert line.startswith("min invested: 2 names")
    assert "0.6000" in line and "by 0.2000" in line


@pytest.mark.usefixtures("no_solver")
def test_min_variance_invests_fully_by_default_which_the_caps_cannot_hold() -> None:
    risk = RiskModel(tuple(SYMBOLS), np.zeros((1, 4)), np.full(4, 0.04))
    # default Budget(1.0): 3 names x 0.25 = 0.75 -> short by 0.25
    model = PortfolioModel(MinVariance(risk), [PositionLimits(0.25), Cardinality(3)])
    conflict = only_conflict(model, universe())
    assert conflict.constraint == "min invested"
    assert conflict.amount == pytest.approx(0.25, abs=1e-12)
    with pytest.raises(InfeasibleAllocation, match=r"min invested: .*by 0\.2500"):
        model.solve(universe())


@pytest.mark.usefixtures("no_solver")
def test_turnover_budget_smaller_than_forced_sells_outside_the_universe() -> None:
    # OLD (not a candidate) is 300 of a 1000 account: selling it is 0.3 of turnover;
    # the budget is 0.1 -> raise it by 0.2
    u = universe(cash=700.0, holdings={"OLD": 10}, holding_prices={"OLD": 30.0})
    assert u.value == 1000.0
    model = PortfolioModel(ScoreObjective(), [Turnover(0.1)])
    conflict = only_conflict(model, u)
    assert conflict.constraint == "turnover"
    assert conflict.amount == pytest.approx(0.2, abs=1e-12)
    with pytest.raises(InfeasibleAllocation) as exc:
        model.solve(u)
    (line,) = conflict_lines(exc)
    assert line.startswith("turnover: --max-turnover 0.1 is below the sells it forces")
    assert "1 held name(s) not among the candidates: 0.3 of the account, 300.00 dollars" in line
    assert line.endswith("raise --max-turnover to 0.3")


@pytest.mark.usefixtures("no_solver")
def test_turnover_budget_smaller_than_sells_forced_by_a_cap() -> None:
    # AAA held at 50 x 10 = 500 of 1000 (w0 = 0.5) with a cap of 0.2: at least 0.3 must be
    # sold; the budget 0.25 must grow by 0.05
    u = universe(cash=500.0, holdings={"AAA": 50})
    model = PortfolioModel(ScoreObjective(), [PositionLimits(0.2), Turnover(0.25)])
    conflict = only_conflict(model, u)
    assert conflict.constraint == "turnover"
    assert conflict.amount == pytest.approx(0.05, abs=1e-12)
    with pytest.raises(InfeasibleAllocation, match=r"AAA held above the weight cap: 0\.3 of the"):
        model.solve(u)


@pytest.mark.usefixtures("no_solver")
def test_cost_budget_below_the_cost_of_forced_sells() -> None:
    # selling OLD (600 dollars) at 50 bps + 5 fixed = 8 dollars; the budget is 2 -> 6
    u = universe(cash=400.0, holdings={"OLD": 20}, holding_prices={"OLD": 30.0})
    model = PortfolioModel(ScoreObjective(), [TransactionCosts(bps=50, fixed=5, budget=2.0)])
    conflict = only_conflict(model, u)
    assert conflict.constraint == "cost budget"
    assert conflict.amount == pytest.approx(6.0, abs=1e-9)
    with pytest.raises(InfeasibleAllocation, match=r"cost budget: .*8\.00.*raise it by 6\.00"):
        model.solve(u)


def test_feasible_instances_raise_nothing_in_the_pre_checks() -> None:
    """The same rules, just feasible: no conflict (the checks are not merely always on)."""
    sectors = {"AAA": "Energy", "BBB": "Energy", "CCC": "Utilities", "DDD": "Utilities"}
    u = universe(cash=700.0, holdings={"OLD": 10}, holding_prices={"OLD": 30.0})
    cases: list[Sequence[Constraint]] = [
        [SectorCaps(sectors, 0.45), Budget(0.9, 1.0)],
        [PositionLimits(0.4), Cardinality(2), Budget(0.8, 1.0)],
        [Turnover(0.3)],
    ]
    for constraints in cases:
        model = PortfolioModel(ScoreObjective(), constraints)
        assert precheck_conflicts(model, u) == []
        result = model.solve(u)
        assert result.status == "optimal"


# ----------------------------------------------------------------------------- elastic


@pytest.fixture
def elastic_calls(monkeypatch: pytest.MonkeyPatch) -> list[list[Conflict]]:
    """Record what the elastic re-solve explains (it must run for these instances)."""
    calls: list[list[Conflict]] = []

    def spy(*args: object, **kwargs: object) -> list[Conflict]:
        found = explain_infeasible(*args, **kwargs)  # type: ignore[arg-type]
        calls.append(found)
        return found

    monkeypatch.setattr(model_module, "explain_infeasible", spy)
    return calls


def test_minimum_trade_larger_than_the_account(elastic_calls: list[list[Conflict]]) -> None:
    """A 500-dollar minimum trade in a 400-dollar account: nothing can be bought, so the
    minimum investment of 0.5 fails. No pre-check sees it. The cheapest relaxation buys
    the whole account (weight 1) and moves the minimum trade from 500/400 = 1.25 to 1.0:
    by 0.25 (relaxing the minimum investment instead would cost 0.5)."""
    model = PortfolioModel(ScoreObjective(), [MinimumTrade(500.0), Budget(0.5, 1.0)])
    u = universe(cash=400.0)
    assert precheck_conflicts(model, u) == []
    with pytest.raises(InfeasibleAllocation) as exc:
        model.solve(u)
    assert len(elastic_calls) == 1
    (conflict,) = elastic_calls[0]
    assert conflict.constraint == "min trade"
    assert conflict.amount == pytest.approx(0.25, abs=1e-7)
    (line,) = conflict_lines(exc)
    # in the option's own unit, dollars: 0.25 of the 400-dollar account (review, session 10)
    assert line.startswith("min trade: --min-trade must fall by 100.00 dollars")
    assert amounts_in(line)[:2] == [100.0, 0.25]


def test_cost_budget_below_the_fixed_cost_of_any_trade(
    elastic_calls: list[list[Conflict]],
) -> None:
    """A 10-dollar fixed cost per trade and a 5-dollar cost budget in a 1000-dollar account:
    investing 0.5 needs at least one buy, costing 10/1000 = 0.01 against a budget of 0.005:
    the budget must move by 0.005 (relaxing the investment instead would cost 0.5)."""
    model = PortfolioModel(
        ScoreObjective(),
        [PositionLimits(0.6), TransactionCosts(fixed=10.0, budget=5.0), Budget(0.5, 1.0)],
    )
    u = universe(cash=1000.0)
    assert precheck_conflicts(model, u) == []
    with pytest.raises(InfeasibleAllocation) as exc:
        model.solve(u)
    assert len(elastic_calls) == 1
    (conflict,) = elastic_calls[0]
    assert conflict.constraint == "cost budget"
    assert conflict.amount == pytest.approx(0.005, abs=1e-7)
    (line,) = conflict_lines(exc)
    assert line == "cost budget: --cost-budget must rise by 5.00 dollars (0.005 of the account)"


def test_cardinality_conflict_is_counted_in_names() -> None:
    """The elastic program directly: three names must each hold >= 0.3 (definitions, never
    relaxed) with at most one name: the count must move by 2 names. A relaxable "min
    investment" of 0.2 that the floors already meet must not be reported."""
    program = Program()
    weights = [program.add_variable(f"w{i}", 0.0, 1.0) for i in range(3)]
    flags = [program.add_binary(f"x{i}") for i in range(3)]
    for w, x in zip(weights, flags, strict=True):
        program.add_row({w: 1.0, x: -1.0}, hi=0.0)
        program.add_row({w: 1.0}, lo=0.3)
    program.add_row(dict.fromkeys(weights, 1.0), lo=0.2, group="min invested")
    program.add_row(dict.fromkeys(flags, 1.0), hi=1.0, group="max positions", unit="names")
    elastic, slacks = elastic_program(program)
    assert set(slacks) == {"min invested", "max positions"}
    assert not elastic.maximize

    class Built:
        def __init__(self) -> None:
            self.program = program

    found = explain_infeasible(lambda: Built(), "cbc", 10.0)  # type: ignore[arg-type,return-value]
    by_group = {c.constraint: c for c in found}
    assert set(by_group) == {"max positions"}
    assert by_group["max positions"].amount == pytest.approx(2.0, abs=1e-7)
    assert by_group["max positions"].message == "--max-positions needs 2 more name(s)"


@pytest.mark.usefixtures("no_solver")
def test_a_turnover_cap_below_the_implied_full_investment_names_the_users_option() -> None:
    # min-variance invests fully (the user set no --min-invested); from cash that takes a
    # turnover of 1, the cap is 0.3: one line about --max-turnover, with the fix
    risk = RiskModel(tuple(SYMBOLS), np.zeros((1, 4)), np.full(4, 0.04))
    model = PortfolioModel(MinVariance(risk), [PositionLimits(0.5), Turnover(0.3)])
    with pytest.raises(InfeasibleAllocation) as exc:
        model.solve(universe())
    (line,) = conflict_lines(exc)
    # full investment, less what whole shares may leave over (turnover acts on trades)
    found = re.fullmatch(
        r"turnover: --max-turnover 0\.3 cannot reach the full investment of --objective "
        r"min-variance from cash \(it takes a turnover of ([\d.]+)\): raise --max-turnover "
        r"to ([\d.]+) or set --min-invested to at most 0\.3",
        line,
    )
    assert found is not None, line
    assert 0.99 < float(found[1]) <= float(found[2]) <= 1.0
    assert "min invested" not in line


@pytest.mark.usefixtures("no_solver")
def test_forced_sells_of_a_few_dollars_are_shown_in_dollars_with_a_real_fix() -> None:
    # AAA held at 250.04 of 1000.04: a weight of 0.25004 against the cap 0.25, four cents
    u = universe(cash=750.0, holdings={"AAA": 25.004})
    model = PortfolioModel(ScoreObjective(), [PositionLimits(0.25), Turnover(0.0)])
    with pytest.raises(InfeasibleAllocation) as exc:
        model.solve(u)
    (line,) = conflict_lines(exc)
    assert "0.0000" not in line
    assert "AAA held above the weight cap" in line
    held = float(u.initial_weights[0])
    forced = held - 0.25
    assert 0 < forced < 1e-4
    assert f"{forced:.3g} of the account, {forced * u.value:,.2f} dollars" in line
    assert f"raise --max-turnover to {np.ceil(forced * 1e6) / 1e6:g}" in line
    assert f"or --max-weight to {np.ceil(held * 1e6) / 1e6:g}" in line


def test_a_return_floor_moves_in_expected_return_not_weight() -> None:
    """Two names capped at 0.3 with expected returns 0.1 and 0.2 reach 0.09 at best: a
    floor of 0.1 must fall by 0.01, said in the option's unit (an expected return), not as
    a weight of the account (review, session 10)."""
    program = Program()
    weights = [program.add_variable(f"w{i}", 0.0, 0.3) for i in range(2)]
    program.add_row({weights[0]: 0.1, weights[1]: 0.2}, lo=0.1, group="min return")

    class Built:
        def __init__(self) -> None:
            self.program = program

    (found,) = explain_infeasible(lambda: Built(), "cbc", 10.0)  # type: ignore[arg-type,return-value]
    assert found.amount == pytest.approx(0.01, abs=1e-7)
    assert found.message == "--min-return must fall by 0.01 (expected return)"
