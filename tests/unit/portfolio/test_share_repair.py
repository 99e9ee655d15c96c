"""Whole shares by repair (`share_repair.py`) against brute force, on the trades listed.

Small accounts (a few hundred dollars, prices of $90-$240) where rounding to whole shares
matters: every vector of share counts is enumerated (`test_model.brute_force_whole_shares`,
written from the formulas), and the model's answer is checked on what the user receives,
its target shares and trades, against every rule written out again here; its objective
may not beat the enumeration (the trades are real), its bound may not fall below it (the
bound is a proof), and "optimal" must be within the stated gap of it.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradefolio.errors import InfeasibleAllocation, SolverError
from tradefolio.portfolio import model as model_module
from tradefolio.portfolio import share_repair
from tradefolio.portfolio.backends import QUADRATIC_RELATIVE_GAP
from tradefolio.portfolio.share_repair import REPAIR_SOLVER
from tradefolio.portfolio.types import AllocationResult, relative_gap
from unit.portfolio.test_model import (
    Instance,
    brute_force_whole_shares,
    model_for,
    true_objective,
)

_PRICES = [90.0, 130.0, 170.0, 240.0]


@st.composite
def small_accounts(
    draw: st.DrawFn, n_min: int = 2, n_max: int = 5, max_weights: tuple[float, ...] = (0.6, 1.0)
) -> Instance:
    """Mean-variance, `n_min`-`n_max` names, whole shares, a fixed cost or a minimum trade."""
    n = draw(st.integers(n_min, n_max))
    rng = np.random.default_rng(draw(st.integers(0, 10_000)))
    prices = np.array([draw(st.sampled_from(_PRICES)) for _ in range(n)])
    held = np.array([draw(st.sampled_from([0.0, 0.0, 1.0, 2.0])) for _ in range(n)])
    cash = draw(st.sampled_from([150.0, 300.0, 450.0]))
    fixed = draw(st.sampled_from([0.0, 1.0, 4.0]))
    min_trade = draw(st.sampled_from([None, 100.0, 200.0]))
    if fixed == 0.0 and min_trade is None:
        fixed = 1.0
    return Instance(
        objective="mean-variance",
        scores=rng.uniform(-0.05, 0.3, size=n).round(3),
        prices=prices,
        held=held,
        cash=cash,
        loadings=rng.normal(0.0, 0.2, size=(2, n)).round(3),
        scenarios=rng.normal(0.002, 0.03, size=(6, n)).round(4),
        max_weight=draw(st.sampled_from(max_weights)),
        min_weight=0.0,
        max_positions=draw(st.integers(1, n)),
        min_invested=0.0,
        sectors=[draw(st.sampled_from(["A", "B"])) for _ in range(n)],
        sector_cap=draw(st.sampled_from([None, 0.5, 0.7])),
        max_turnover=draw(st.sampled_from([None, 0.3, 0.6])),
        bps=draw(st.sampled_from([0.0, 5.0, 50.0])),
        fixed=fixed,
        min_trade=min_trade,
        whole_shares=True,
        symbols=[f"S{i}" for i in range(n)],
    )


def _listed_value(inst: Instance, result: AllocationResult) -> float:
    """Every rule checked on the listed target shares and trades; returns the objective of
    those trades (the formula's, costs included, as the brute force scores them)."""
    value = inst.value
    by_symbol = {a.symbol: a.shares for a in result.allocations}
    shares = np.array([by_symbol.get(s, 0.0) for s in inst.symbols])
    assert np.all(shares == np.round(shares)) and np.all(shares >= 0)
    traded = {t.symbol: t for t in result.trades}
    for i, symbol in enumerate(inst.symbols):
        change = shares[i] - inst.held[i]
        assert (symbol in traded) == (change != 0)
        if change:
            assert traded[symbol].shares == pytest.approx(change)
    w = shares * inst.prices / value
    dollars = np.abs(shares - inst.held) * inst.prices
    moved = shares != inst.held
    assert (shares > 0).sum() <= inst.max_positions
    assert np.all(w <= inst.max_weight + 1e-9)
    if inst.sector_cap is not None:
        for sector in set(inst.sectors):
            in_sector = [s == sector for s in inst.sectors]
            assert w[in_sector].sum() <= inst.sector_cap + 1e-9
    if inst.max_turnover is not None:
        assert dollars.sum() / value <= inst.max_turnover + 1e-9
    if inst.min_trade is not None:
        full_sale = (shares == 0) & (inst.held > 0)
        assert np.all(dollars[moved & ~full_sale] >= inst.min_trade - 1e-9)
    costs = inst.bps / 1e4 * dollars.sum() + inst.fixed * moved.sum()
    assert result.costs == pytest.approx(costs, abs=1e-9)
    assert value - shares @ inst.prices - costs >= -1e-9  # cash after costs
    return true_objective(inst, w) - costs / value


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inst=small_accounts())
def test_listed_trades_meet_every_rule_and_the_claims_hold_against_brute_force(
    inst: Instance,
) -> None:
    _check_against_brute_force(inst)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inst=small_accounts(n_min=6, n_max=8, max_weights=(0.25,)))
def test_eight_names_against_brute_force(inst: Instance) -> None:
    # a 25% cap keeps the enumeration to a few thousand share vectors at 8 names
    _check_against_brute_force(inst)


def test_an_optimum_of_zero_claimed_optimal_states_a_gap_that_meets_the_target() -> None:
    """$150 cannot buy a $90 share and pay the $1 fee within a 30% turnover: holding nothing
    (objective 0) is optimal. SCIP's bound sits 1.7e-13 beyond 0, its round-off: the answer
    was "optimal" with a stated gap of 1.7e-4, above the 1e-5 target (a hypothesis draw)."""
    _check_against_brute_force(
        _instance(
            scores=np.array([0.173, 0.044, -0.036]),
            prices=np.array([90.0, 90.0, 90.0]),
            held=np.array([0.0, 0.0, 0.0]),
            cash=150.0,
            loadings=np.array([[0.021, -0.107, 0.072], [0.261, 0.189, -0.141]]),
            scenarios=np.array(
                [
                    [-0.036, -0.0167, 0.0032],
                    [-0.0678, -0.0046, -0.0354],
                    [-0.02, -0.0143, -0.0075],
                    [0.0143, 0.0333, -0.0019],
                    [0.043, -0.018, 0.0125],
                    [0.0291, 0.0048, -0.0203],
                ]
            ),
            max_weight=0.6,
            max_positions=1,
            sectors=["A", "A", "A"],
            sector_cap=None,
            max_turnover=0.3,
            bps=0.0,
            fixed=1.0,
            min_trade=None,
            symbols=["S0", "S1", "S2"],
        )
    )


def _check_against_brute_force(inst: Instance) -> None:
    """The solve's listed trades and claims against the enumeration of share vectors."""
    model, universe = model_for(inst)
    best = brute_force_whole_shares(inst)
    try:
        result = model.solve(universe, time_limit=20.0)  # type: ignore[arg-type]
    except InfeasibleAllocation:
        assert best is None
        return
    assert best is not None, "a solution listed where no share vector meets the rules"
    listed = _listed_value(inst, result)
    tolerance = 1e-9 + 1e-9 * abs(best)
    assert result.objective == pytest.approx(listed, abs=1e-9)
    assert result.objective <= best + tolerance  # real trades cannot beat the enumeration
    assert result.best_bound >= best - tolerance  # the bound is a proof
    assert result.proven_gap is not None
    if result.status == "optimal":
        assert best - result.objective <= QUADRATIC_RELATIVE_GAP * abs(best) + 1e-9
        assert result.proven_gap <= QUADRATIC_RELATIVE_GAP
    else:
        assert result.proven_gap > QUADRATIC_RELATIVE_GAP
        assert result.proven_gap == pytest.approx(
            relative_gap(result.objective, result.best_bound), rel=1e-9
        )


def _instance(**overrides: object) -> Instance:
    base: dict[str, object] = {
        "objective": "mean-variance",
        "scores": np.array([0.12, 0.2, 0.05, 0.15]),
        "prices": np.array([90.0, 130.0, 170.0, 240.0]),
        "held": np.array([0.0, 2.0, 0.0, 1.0]),
        "cash": 450.0,
        "loadings": np.array([[0.2, 0.1, -0.1, 0.05], [0.0, 0.15, 0.1, -0.1]]),
        "scenarios": np.zeros((6, 4)),
        "max_weight": 0.6,
        "min_weight": 0.0,
        "max_positions": 3,
        "min_invested": 0.0,
        "sectors": ["A", "A", "B", "B"],
        "sector_cap": 0.7,
        "max_turnover": 0.6,
        "bps": 5.0,
        "fixed": 1.0,
        "min_trade": 100.0,
        "whole_shares": True,
        "symbols": ["S0", "S1", "S2", "S3"],
    }
    base.update(overrides)
    return Instance(**base)  # type: ignore[arg-type]


def test_a_rebalance_with_trade_flags_is_repaired_and_scip_decides_an_unproven_repair(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inst = _instance()
    model, universe = model_for(inst)
    with monkeypatch.context() as patch:

        def no_scip(*args: object) -> object:
            raise SolverError("scip is not asked")

        patch.setattr(model_module, "solve_program", no_scip)
        repaired = model.solve(universe)  # type: ignore[arg-type]
    assert repaired.solver == REPAIR_SOLVER
    assert repaired.status == "feasible"  # $450 of $90-$240 shares: the lots matter
    result = model.solve(universe)  # type: ignore[arg-type]
    assert result.solver in (REPAIR_SOLVER, "scip")
    best = brute_force_whole_shares(inst)
    assert best is not None
    assert _listed_value(inst, result) <= best + 1e-9
    assert result.objective >= repaired.objective - 1e-12  # never worse than the repair
    assert result.best_bound >= best - 1e-9
    assert result.status == "optimal"  # SCIP proves what the repair could not


def test_a_failed_repair_goes_to_scip(monkeypatch: pytest.MonkeyPatch) -> None:
    inst = _instance()

    def never(*args: object) -> tuple[np.ndarray, float, float]:
        start = args[1]
        assert isinstance(start, np.ndarray)
        return start, 1.0, 0.0  # every start stays broken

    monkeypatch.setattr(share_repair, "_search", never)
    model, universe = model_for(inst)
    result = model.solve(universe)  # type: ignore[arg-type]
    assert result.solver == "scip"
    _listed_value(inst, result)


def test_no_turnover_keeps_the_holdings_exactly() -> None:
    inst = _instance(max_turnover=0.0)
    model, universe = model_for(inst)
    result = model.solve(universe)  # type: ignore[arg-type]
    assert result.trades == ()
    assert _listed_value(inst, result) == pytest.approx(result.objective, abs=1e-12)


def _repair_only(patch: pytest.MonkeyPatch) -> list[tuple[object, ...]]:
    """SCIP refused (the repair's answer is the model's) and the repair's calls recorded."""
    solve_program = model_module.solve_program
    calls: list[tuple[object, ...]] = []

    def no_scip(program: object, solver: str, *args: object) -> object:
        if solver == "scip":
            raise SolverError("scip is not asked")
        return solve_program(program, solver, *args)  # type: ignore[arg-type]

    def recorded(*args: object, **kwargs: object) -> object:
        calls.append(args)
        return share_repair.solve_by_repair(*args, **kwargs)  # type: ignore[arg-type]

    patch.setattr(model_module, "solve_program", no_scip)
    patch.setattr(model_module, "solve_by_repair", recorded)
    return calls


def _recorded_starts(patch: pytest.MonkeyPatch) -> list[np.ndarray]:
    """The start of every `_search` call from now on, in order (the search unchanged)."""
    starts: list[np.ndarray] = []
    search = share_repair._search

    def recorded(*args: object) -> tuple[np.ndarray, float, float]:
        start = args[1]
        assert isinstance(start, np.ndarray)
        starts.append(start.copy())
        return search(*args)  # type: ignore[arg-type]

    patch.setattr(share_repair, "_search", recorded)
    return starts


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inst=small_accounts())
def test_a_repair_stopped_at_its_first_whole_point_claims_only_its_proven_gap(
    inst: Instance,
) -> None:
    # The early stop (`share_repair._STOP_GAP`) at its loosest: the first start's checked
    # whole-share point is the answer, however far from the bound. Its status and gap must
    # still be the proven ones: the enumeration's optimum lies within the reported gap.
    best = brute_force_whole_shares(inst)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(share_repair, "_STOP_GAP", np.inf)
        _repair_only(patch)
        model, universe = model_for(inst)
        try:
            result = model.solve(universe, time_limit=20.0)  # type: ignore[arg-type]
        except (InfeasibleAllocation, SolverError):
            return  # no whole point from the repair (SCIP would decide): nothing claimed
    assert best is not None
    assert result.solver == REPAIR_SOLVER
    listed = _listed_value(inst, result)
    assert result.objective == pytest.approx(listed, abs=1e-9)
    tolerance = 1e-9 + 1e-9 * abs(best)
    assert result.objective <= best + tolerance
    assert result.best_bound >= best - tolerance
    assert result.proven_gap is not None
    # the reported gap bounds the distance to the true optimum (relative to the larger of
    # the objective and the bound, as the gap is)
    scale = max(abs(result.objective), abs(result.best_bound), 1e-9)
    assert best - result.objective <= result.proven_gap * scale + tolerance
    assert (result.status == "optimal") == (result.proven_gap <= QUADRATIC_RELATIVE_GAP)


def test_the_repair_stops_at_the_first_start_proven_within_the_gap() -> None:
    # A $1M account: one share is ~1e-4 of it, the first start (the fractional optimum
    # rounded towards the holdings) is proven within 1e-5; the other starts are not searched.
    inst = _instance(
        cash=1_000_000.0,
        held=np.array([1000.0, 0.0, 2000.0, 0.0]),
        scenarios=np.random.default_rng(3).normal(0.002, 0.03, size=(6, 4)).round(4),
    )
    with pytest.MonkeyPatch.context() as patch:
        calls = _repair_only(patch)
        searched = _recorded_starts(patch)
        model, universe = model_for(inst)
        result = model.solve(universe)  # type: ignore[arg-type]
        assert len(calls) == 1
        stopped = len(searched)
        again = share_repair.solve_by_repair(*calls[0])  # type: ignore[arg-type]
        full = share_repair.solve_by_repair(*calls[0], stop_at_gap=False)  # type: ignore[arg-type]
    assert result.solver == REPAIR_SOLVER and result.status == "optimal"
    assert result.proven_gap is not None and result.proven_gap <= QUADRATIC_RELATIVE_GAP
    assert stopped == 1
    assert len(searched) > 3  # every start without the stop
    assert again is not None and full is not None and full.status == "optimal"
    # the same bound B; the full search's point (the best of every start) is within the
    # stopped answer's gap of it: B - objective bounds what more starts could find
    # (`best_bound` is objective + (B - reported): the tie-break is in the objective only)
    bound = calls[0][5].best_bound  # type: ignore[attr-defined]
    reported = again.objective - again.best_bound + bound
    full_reported = full.objective - full.best_bound + bound
    sign = 1.0 if calls[0][0].program.maximize else -1.0  # type: ignore[attr-defined]
    assert again.gap == pytest.approx(relative_gap(reported, bound), abs=1e-12)
    assert sign * (full_reported - reported) >= -1e-12  # more starts: never worse
    scale = max(abs(reported), abs(bound), 1e-9)
    assert sign * (full_reported - reported) <= again.gap * scale + 1e-12


def test_a_turnover_cap_broken_by_rounding_is_mended_at_least_cost_not_by_the_first_name() -> None:
    # The sample's 2012-07-02 rebalance (the bundled run's holdings and cash that day): the
    # fractional optimum sells all of UNH, buys WMT and trades at the 0.2 turnover cap; its
    # rounding breaks the cap by 3.6e-7. The plain search mends it with the first name
    # able to, UNH kept whole (gap 0.116 -> SCIP, 0.2 s); mending first over every name
    # buys one WMT share less (gap 8.9e-7, better than SCIP's answer that day).
    from tradefolio.data.sample_data import load_sample_prices
    from tradefolio.portfolio.options import AllocateOptions
    from tradefolio.portfolio.policy import AllocationPolicy

    closes = load_sample_prices()
    history = closes.loc[:"2012-07-02"]
    options = AllocateOptions(
        objective="mean-variance",
        risk_aversion=5.0,
        sector_cap=0.35,
        max_turnover=0.2,
        cost_bps=5.0,
        fixed_cost=1.0,
        max_positions=5,
    )
    held = {"AAPL": 710893, "HD": 323390, "LLY": 161290, "UNH": 89652, "WMT": 88259}
    with pytest.MonkeyPatch.context() as patch:
        _repair_only(patch)
        decision = AllocationPolicy(options).decide(history, held, 10446745.92186)
    assert decision.solver == REPAIR_SOLVER and decision.status == "optimal"
    assert decision.gap <= QUADRATIC_RELATIVE_GAP
    assert decision.objective >= 0.19288246873639864  # SCIP's answer that day
    assert "UNH" not in decision.target_shares


def test_the_holdings_start_is_searched_only_as_the_fallback() -> None:
    # $450 of $90-$240 shares: no start is proven; the roundings give whole points better
    # than the holdings as they stand, so the holdings start (the fallback) is not
    # searched, and the answer is no worse than keeping the holdings.
    inst = _instance()
    with pytest.MonkeyPatch.context() as patch:
        calls = _repair_only(patch)
        starts = _recorded_starts(patch)
        model, universe = model_for(inst)
        result = model.solve(universe)  # type: ignore[arg-type]
        assert len(calls) == 1
        searched = list(starts)
        starts.clear()
        share_repair.solve_by_repair(*calls[0], stop_at_gap=False)  # type: ignore[arg-type]
    assert result.solver == REPAIR_SOLVER and result.status == "feasible"
    assert searched and not any(np.array_equal(s, inst.held) for s in searched)
    assert any(np.array_equal(s, inst.held) for s in starts)  # without the stop: every start
    kept_model, kept_universe = model_for(_instance(max_turnover=0.0))
    kept = kept_model.solve(kept_universe)  # type: ignore[arg-type]
    assert kept.trades == ()
    assert _listed_value(inst, result) >= _listed_value(inst, kept) - 1e-12


def test_a_repaired_answer_in_place_of_scips_keeps_scips_proof(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SCIP's point cannot be listed (its listed trades break a constraint, as on the
    sample's 2007-05-01 rebalance: a turnover of 0.200001 under 0.2), so the repaired
    point is the answer: its status and gap are those proven by the tightest bound that
    holds, SCIP's among them, not the repaired point's own gap to the fractional bound
    (found by review, session 9)."""
    inst = _instance()
    model, universe = model_for(inst)
    proven = model.solve(universe)  # type: ignore[arg-type]
    assert proven.solver == "scip" and proven.status == "optimal"
    check_listed = model_module.PortfolioModel._check_listed

    def scip_unlisted(self: object, listed: object, solver: str) -> None:
        if solver == "scip":
            raise SolverError("scip's answer, in the shares listed, breaks a constraint")
        check_listed(self, listed, solver)  # type: ignore[arg-type]

    monkeypatch.setattr(model_module.PortfolioModel, "_check_listed", scip_unlisted)
    result = model.solve(universe)  # type: ignore[arg-type]
    assert result.solver == REPAIR_SOLVER
    best = brute_force_whole_shares(inst)
    assert best is not None
    assert _listed_value(inst, result) == pytest.approx(result.objective, abs=1e-9)
    assert result.objective == pytest.approx(best, abs=1e-9)  # the repair found the optimum
    assert result.best_bound >= best - 1e-9  # never better than proven
    # SCIP's proof kept: the optimum is proven (it was "feasible" at the gap to the
    # fractional bound, a few percent on this $450 account of $90-$240 shares)
    assert result.status == "optimal"
    assert result.proven_gap is not None and result.proven_gap <= QUADRATIC_RELATIVE_GAP
