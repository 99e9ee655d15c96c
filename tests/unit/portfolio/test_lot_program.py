"""The share repair's incremental evaluation (`lot_program.py`) against the full one.

Small whole-share accounts (a factor risk model, so derived factor exposures; trade flags;
lots of 1-3 shares, so held odd lots): at random targets, every one- and two-name move the
search can make is evaluated by `LotMoves` and by writing the whole point
(`LotProgram.point`) and evaluating every row, bound and objective term
(`LotProgram.violation` / `objective`); they must agree, a zero violation exactly. The
search itself (`share_repair._search`) must end where the same search with the full
evaluation at every move ends (written out again here, as main had it).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradefolio.portfolio import lot_program as lot_program_module
from tradefolio.portfolio import share_repair
from tradefolio.portfolio.constraints import WholeShares
from tradefolio.portfolio.context import ModelContext
from tradefolio.portfolio.lot_program import LotMoves, LotProgram, lot_program
from tradefolio.portfolio.model import PortfolioModel
from unit.portfolio.test_model import Instance, model_for
from unit.portfolio.test_share_repair import small_accounts


def _whole(inst: Instance, lots: list[int]) -> tuple[ModelContext, np.ndarray]:
    """The whole-share program of `inst` with `lots[i]` shares per lot of name i."""
    model, universe = model_for(inst)
    sized = WholeShares(lots=dict(zip(inst.symbols, lots, strict=True)))
    constraints = [sized if isinstance(c, WholeShares) else c for c in model.constraints]
    whole = PortfolioModel(model.objective, constraints)
    ctx = whole.build(universe)  # type: ignore[arg-type]
    return ctx, np.array(lots, dtype=np.float64)


@st.composite
def cases(draw: st.DrawFn) -> tuple[LotProgram, np.ndarray, np.ndarray]:
    """A lot program, a target of shares (bounds may be broken) and the movable names."""
    inst = draw(small_accounts(n_min=2, n_max=6))
    n = len(inst.symbols)
    lots = [draw(st.sampled_from([1, 1, 2, 3])) for _ in range(n)]
    ctx, sizes = _whole(inst, lots)
    program = lot_program(ctx, sizes)
    assert program is not None
    target = np.array([draw(st.integers(0, 6)) * lots[i] for i in range(n)], dtype=np.float64)
    for i in range(n):  # keep a held odd lot now and then, or hold exactly
        if draw(st.booleans()):
            target[i] = inst.held[i] + draw(st.integers(0, 2)) * lots[i]
    movable = np.array(sorted(draw(st.sets(st.integers(0, n - 1), min_size=1))), dtype=np.intp)
    return program, target, movable


def _full(program: LotProgram, target: np.ndarray) -> tuple[float, float]:
    values = program.point(target)
    return program.violation(values), program.objective(values)


def _agree(fast: float, full: float, exact_zero: bool = True) -> None:
    """Equal up to round-off; a violation is 0 in both or in neither (the search's test)."""
    if exact_zero:
        assert (fast == 0.0) == (full == 0.0), (fast, full)
    assert fast == pytest.approx(full, rel=1e-9, abs=1e-12)


def _check_state(program: LotProgram, moves: LotMoves) -> None:
    violation, objective = _full(program, moves.target)
    _agree(moves.violation, violation)
    _agree(moves.objective, objective, exact_zero=False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(), data=st.data())
def test_every_move_evaluates_as_the_whole_point(
    case: tuple[LotProgram, np.ndarray, np.ndarray], data: st.DataObject
) -> None:
    program, target, movable = case
    most = np.array(program.program.upper)[program.ctx.lots]
    moves = program.state(target, movable)
    _check_state(program, moves)
    for _ in range(3):
        everyone = np.arange(movable.size)
        options = share_repair._options(moves, everyone, most)
        table = moves.table(options)
        violation, objective = moves.singles(table)
        for row, column in zip(*np.nonzero(~np.isnan(options)), strict=True):
            trial = moves.target.copy()
            trial[movable[row]] = options[row, column]
            full_violation, full_objective = _full(program, trial)
            _agree(float(violation[row, column]), full_violation)
            _agree(float(objective[row, column]), full_objective, exact_zero=False)
        if movable.size >= 2:
            steps_table = moves.steps()
            first, second = (np.array(p, dtype=np.intp) for p in zip(
                *itertools.combinations(range(movable.size), 2), strict=True
            ))  # fmt: skip
            first, second = np.repeat(first, 4), np.repeat(second, 4)
            steps = np.tile(share_repair._PAIR_STEPS, (first.size // 4, 1))
            pair_violation, pair_objective, up_a, up_b = moves.pairs(
                steps_table, first, second, steps
            )
            for p in range(first.size):
                trial = moves.target.copy()
                trial[movable[first[p]]] += steps[p, 0] * program.lot_sizes[movable[first[p]]]
                trial[movable[second[p]]] += steps[p, 1] * program.lot_sizes[movable[second[p]]]
                assert steps_table.targets[first[p], up_a[p]] == trial[movable[first[p]]]
                assert steps_table.targets[second[p], up_b[p]] == trial[movable[second[p]]]
                full_violation, full_objective = _full(program, trial)
                _agree(float(pair_violation[p]), full_violation)
                _agree(float(pair_objective[p]), full_objective, exact_zero=False)
        valid = np.argwhere(~np.isnan(options))
        if not valid.size:
            break
        row, column = valid[data.draw(st.integers(0, len(valid) - 1))]
        moves.move(table, int(row), int(column))
        _check_state(program, moves)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_the_point_is_the_targets_written_out(
    case: tuple[LotProgram, np.ndarray, np.ndarray],
) -> None:
    program, target, _ = case
    ctx = program.ctx
    values = program.point(target)
    universe = ctx.universe
    value = universe.value
    weights = target * universe.prices / value
    assert np.allclose(values[ctx.weights], weights, rtol=0, atol=1e-15)
    assert np.array_equal(values[ctx.selected], (target > 0).astype(float))
    moved = target != universe.held_shares
    assert ctx.buys is not None and ctx.sells is not None
    assert np.allclose(
        values[ctx.buys] - values[ctx.sells], np.where(moved, weights - universe.initial_weights, 0)
    )
    assert ctx.lots is not None
    for i in range(ctx.size):  # t = n lots, or n lots + the held odd lot (kept)
        lot = program.lot_sizes[i]
        keep, odd = ctx.odd_lots.get(i, (None, 0.0))
        rest = (target[i] - odd) / lot
        kept = keep is not None and target[i] >= odd and rest == round(rest)
        if keep is not None:
            assert values[keep] == float(kept)
        assert values[ctx.lots[i]] == round(rest if kept else target[i] / lot)
    # every definition row the derived variables come from holds there
    activity = program.program.row_activities(values)
    for r, row in enumerate(program.program.rows):
        if row.lo == row.hi and any(k in set(program.derived.tolist()) for k in row.coefficients):
            assert activity[r] == pytest.approx(row.lo, abs=1e-12)


# ------------------------------------------------------------ the search with full evaluation


def _reference_moves(
    current: float, held: float, odd: float, lot: float, most: float
) -> list[float]:
    options = {held, 0.0}
    bases = {0.0} if odd == 0.0 else {0.0, odd}
    for base in bases:
        k = math.floor((current - base) / lot + 1e-9)
        for step in (k - 1, k, k + 1, k + 2):
            if 0 <= step <= most:
                options.add(base + step * lot)
    options.discard(current)
    return sorted(options)


def _reference_search(
    program: LotProgram, start: np.ndarray, most: np.ndarray, active: np.ndarray
) -> np.ndarray:
    """Main's search: the whole point evaluated at every trial move."""
    held, odd, lots = program.held, program.odd, program.lot_sizes
    sign = 1.0 if program.program.maximize else -1.0
    target = start.copy()
    violation, objective = _full(program, target)
    state = (violation, sign * objective)

    def better(trial: np.ndarray, than: tuple[float, float]) -> tuple[float, float] | None:
        v, s = _full(program, trial)
        s *= sign
        helps = v < than[0] - 1e-15 or (v == 0.0 and than[0] == 0.0 and s > than[1] + 1e-15)
        return (v, s) if helps else None

    for _ in range(share_repair._PASSES):
        improved = False
        for i in active:
            best: tuple[np.ndarray, tuple[float, float]] | None = None
            for option in _reference_moves(
                float(target[i]), float(held[i]), float(odd[i]), float(lots[i]), float(most[i])
            ):
                trial = target.copy()
                trial[i] = option
                found = better(trial, state)
                if found is not None and (best is None or found[1] > best[1][1]):
                    best = (trial, found)
            if best is not None:
                target, state = best
                improved = True
        if improved:
            continue
        for a, b in itertools.combinations(active, 2):
            for da, db in ((1, -1), (-1, 1), (1, 1), (-1, -1)):
                trial = target.copy()
                trial[a] += da * lots[a]
                trial[b] += db * lots[b]
                if trial[a] < 0 or trial[b] < 0:
                    continue
                found = better(trial, state)
                if found is not None:
                    target, state = trial, found
                    improved = True
        if not improved:
            break
    return target


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_the_search_ends_where_the_search_with_full_evaluation_ends(
    case: tuple[LotProgram, np.ndarray, np.ndarray],
) -> None:
    program, start, movable = case
    most = np.array(program.program.upper)[program.ctx.lots]
    target, violation, objective = share_repair._search(program, start, most, movable)
    expected = _reference_search(program, start, most, movable)
    assert np.array_equal(target, expected)
    assert (violation, objective) == _full(program, expected)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), known_count=st.integers(1, 5), defined_count=st.integers(1, 6))
def test_derived_variables_solve_their_definition_rows_through_chains(
    seed: int, known_count: int, defined_count: int
) -> None:
    # each derived variable defined over known ones and earlier derived ones (a chain, in
    # shuffled row order so it takes several rounds), sometimes by two rows: every row the
    # map is solved from holds at random known values, and every derived variable has one
    rng = np.random.default_rng(seed)
    size = known_count + defined_count
    rows: list[dict[int, float]] = []
    for k in range(known_count, size):
        for _ in range(int(rng.integers(1, 3))):
            reach = rng.choice(k, size=int(rng.integers(1, k + 1)), replace=False)
            coefficients = {int(j): float(rng.normal()) for j in reach}
            coefficients[k] = float(rng.choice([-2.0, 1.0, 3.0]))
            rows.append(coefficients)
    order = rng.permutation(len(rows))
    rows = [rows[r] for r in order]
    lo = rng.normal(size=len(rows))
    lengths = [len(r) for r in rows]
    columns = np.fromiter(itertools.chain.from_iterable(rows), np.int64)
    data = np.fromiter(itertools.chain.from_iterable(r.values() for r in rows), np.float64)
    row_of = np.repeat(np.arange(len(rows)), lengths).astype(np.int64)
    known = np.zeros(size, dtype=bool)
    known[:known_count] = True
    solved = lot_program_module._affine(columns, data, row_of, lo, lo.copy(), known)
    assert solved is not None
    derived, constant, mapping, definitions = solved
    assert sorted(derived.tolist()) == list(range(known_count, size))
    values = np.zeros(size)
    values[:known_count] = rng.normal(size=known_count)
    values[derived] = constant + mapping @ values
    assert np.all(mapping[:, derived] == 0.0)  # over the known variables alone
    for r in definitions:
        activity = sum(c * values[j] for j, c in rows[r].items())
        assert activity == pytest.approx(lo[r], abs=1e-9 * (1 + np.abs(values).max()) ** 2)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(), data=st.data())
def test_the_final_check_is_the_programs_own(
    case: tuple[LotProgram, np.ndarray, np.ndarray], data: st.DataObject
) -> None:
    # `LotProgram.broken` (the repair's final check) says what `Program.violations` says, at
    # whole-share points (met or not) and at points nudged off their rows or integrality
    program, target, _ = case
    values = program.point(target)
    rng = np.random.default_rng(data.draw(st.integers(0, 10_000)))
    nudged = values.copy()
    at = rng.choice(values.size, size=int(rng.integers(1, 4)), replace=False)
    nudged[at] += rng.choice([-1.0, 1.0], size=at.size) * rng.choice([1e-7, 2e-6, 0.3])
    for point in (values, nudged):
        for tolerance in (1e-6, 1e-9):
            expected = bool(program.program.violations(point, tolerance))
            assert program.broken(point, tolerance) == expected
