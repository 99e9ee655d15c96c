"""The share repair's fast path (`share_repair.py`, `lot_program.py`: choices and options
in Python floats, the one-kind products taken directly, pairs gathered flat, sums by
`np.bincount`) against main's code (`repair_reference.py`, verbatim), bit for bit.

On random small whole-share programs (factor risk, trade flags, lots of 1-3 shares and held
odd lots): the lot program's arrays, every option, one-name and two-name move of the
incremental state, the state after random moves, the search from random starts over random
movable names, and the whole repair through the model (SCIP refused) must be the same
floats: the fast path may not change which answer is chosen.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradefolio.errors import InfeasibleAllocation, SolverError
from tradefolio.portfolio import model as model_module
from tradefolio.portfolio import share_repair
from tradefolio.portfolio.lot_program import LotMoves, LotProgram, lot_program
from unit.portfolio import repair_reference
from unit.portfolio.test_lot_program import _whole
from unit.portfolio.test_model import Instance, model_for
from unit.portfolio.test_share_repair import small_accounts


def _same(new: object, old: object) -> bool:
    """Equal as floats bit for bit (NaN equal to NaN), or equal otherwise."""
    if isinstance(new, np.ndarray) or isinstance(old, np.ndarray):
        a, b = np.asarray(new), np.asarray(old)
        if a.shape != b.shape:
            return False
        if a.dtype.kind == "f" and b.dtype.kind == "f":
            return bool(np.array_equal(a, b, equal_nan=True))
        return bool(np.array_equal(a, b))
    if isinstance(new, float) and isinstance(old, float):
        return new == old or (new != new and old != old)
    return new == old


@st.composite
def programs(
    draw: st.DrawFn,
) -> tuple[LotProgram, object, np.ndarray, np.ndarray, np.ndarray]:
    """Both lot programs of one whole-share program, a target (bounds may be broken),
    the movable names and the lots' caps."""
    inst = draw(small_accounts(n_min=2, n_max=6))
    n = len(inst.symbols)
    lots = [draw(st.sampled_from([1, 1, 2, 3])) for _ in range(n)]
    ctx, sizes = _whole(inst, lots)
    new = lot_program(ctx, sizes)
    old = repair_reference.lot_program(ctx, sizes)
    assert new is not None and old is not None
    target = np.array([draw(st.integers(0, 6)) * lots[i] for i in range(n)], dtype=np.float64)
    for i in range(n):  # keep a held odd lot now and then, or hold exactly
        if draw(st.booleans()):
            target[i] = inst.held[i] + draw(st.integers(0, 2)) * lots[i]
    movable = np.array(sorted(draw(st.sets(st.integers(0, n - 1), min_size=1))), dtype=np.intp)
    most = np.array(ctx.program.upper, dtype=np.float64)[ctx.lots]
    return new, old, target, movable, most


def _check_state(new: LotMoves, old: object) -> None:
    for name in ("violation", "objective", "target", "activity", "own", "gradient", "slots"):
        assert _same(getattr(new, name), getattr(old, name)), name


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=programs())
def test_the_lot_program_is_mains_bit_for_bit(
    case: tuple[LotProgram, object, np.ndarray, np.ndarray, np.ndarray],
) -> None:
    new, old, target, _, _ = case
    for field in dataclasses.fields(new):
        if field.name in ("program", "ctx", "points"):
            continue
        assert _same(getattr(new, field.name), getattr(old, field.name)), field.name
    assert _same(new.point(target), old.point(target))  # type: ignore[attr-defined]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=programs(), data=st.data())
def test_every_move_of_the_state_is_mains_bit_for_bit(
    case: tuple[LotProgram, object, np.ndarray, np.ndarray, np.ndarray], data: st.DataObject
) -> None:
    new_program, old_program, target, movable, most = case
    new = new_program.state(target, movable)
    old = old_program.state(target, movable)  # type: ignore[attr-defined]
    _check_state(new, old)
    count = movable.size
    everyone = np.arange(count)
    for _ in range(4):
        options = share_repair._options(new, everyone, most)
        assert _same(options, repair_reference._options(old, everyone, most))
        targets = np.concatenate([options, new.step_targets()], axis=1)
        assert _same(targets, np.concatenate([options, old.step_targets()], axis=1))
        assert _same(share_repair._options(new, everyone, most, steps=True), targets)
        table, reference = new.table(targets), old.table(targets)
        for field in dataclasses.fields(table):
            if field.name != "reach":
                assert _same(getattr(table, field.name), getattr(reference, field.name))
        start = data.draw(st.integers(0, count - 1))
        for rows in (slice(None), slice(start, None)):
            for got, expected in zip(
                new.singles(table, rows), old.singles(reference, rows), strict=True
            ):
                assert _same(got, expected)
        if count >= 2:
            first, second = (np.array(p, dtype=np.intp) for p in zip(
                *itertools.combinations(range(count), 2), strict=True
            ))  # fmt: skip
            first, second = np.repeat(first, 4), np.repeat(second, 4)
            steps = np.tile(share_repair._PAIR_STEPS, (first.size // 4, 1))
            width = options.shape[1]
            # the pass's table (options, then steps) against main's steps alone
            got = new.pairs(table, first, second, steps)
            expected = old.pairs(reference.columns(slice(width, None)), first, second, steps)
            assert _same(got[0], expected[0]) and _same(got[1], expected[1])
            assert _same(got[2], expected[2] + width) and _same(got[3], expected[3] + width)
            alone = new.pairs(new.steps(), first, second, steps)
            for a, b in zip(alone, old.pairs(old.steps(), first, second, steps), strict=True):
                assert _same(a, b)
        valid = np.argwhere(~np.isnan(targets))
        if not valid.size:
            break
        row, column = valid[data.draw(st.integers(0, len(valid) - 1))]
        new.move(table, int(row), int(column))
        old.move(reference, int(row), int(column))
        _check_state(new, old)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=programs(), mend_first=st.booleans())
def test_the_search_ends_where_mains_ends(
    case: tuple[LotProgram, object, np.ndarray, np.ndarray, np.ndarray], mend_first: bool
) -> None:
    new, old, start, movable, most = case
    got = share_repair._search(new, start, most, movable, mend_first)
    expected = repair_reference._search(old, start, most, movable, mend_first)
    for a, b in zip(got, expected, strict=True):
        assert _same(a, b)


def _compare_repairs(inst: Instance) -> None:
    """The model's solve with SCIP refused, every repair checked against main's on the same
    arguments."""
    solve_program = model_module.solve_program

    def no_scip(program: object, solver: str, *args: object) -> object:
        if solver == "scip":
            raise SolverError("scip is not asked")
        return solve_program(program, solver, *args)  # type: ignore[arg-type]

    def both(*args: object, **kwargs: object) -> object:
        got = share_repair.solve_by_repair(*args, **kwargs)  # type: ignore[arg-type]
        expected = repair_reference.solve_by_repair(*args, **kwargs)
        assert (got is None) == (expected is None)
        if got is not None:
            for field in dataclasses.fields(got):
                assert _same(getattr(got, field.name), getattr(expected, field.name)), field
        return got

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(model_module, "solve_program", no_scip)
        patch.setattr(model_module, "solve_by_repair", both)
        model, universe = model_for(inst)
        with contextlib.suppress(InfeasibleAllocation, SolverError):
            model.solve(universe, time_limit=20.0)  # type: ignore[arg-type]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inst=small_accounts(n_min=2, n_max=8, max_weights=(0.25, 0.6, 1.0)))
def test_the_repair_through_the_model_is_mains_bit_for_bit(inst: Instance) -> None:
    _compare_repairs(inst)
