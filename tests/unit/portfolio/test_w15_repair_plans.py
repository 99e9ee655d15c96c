"""A lot program built through the plans of a program of the same structure
(`lot_program._affine`, `_substituted`: the index work kept by structure, the numbers
gathered anew) is the lot program built in full, bit for bit; and a pass's one-name moves
rated over its options alone (`LotMoves.singles_and_spread`'s `options`) are the same
numbers as the pass's table rated whole.

On random small whole-share programs (`test_share_repair.small_accounts`): a second
program of the same names with other prices, scores and risk (so other numbers in the
same places) is built after the first's plans and again with no plan; every array must be
the same floats. The 384 programs of issue 15's sample were checked the same way when
this was written (one structure: one plan of each kind, every field equal)."""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradefolio.portfolio import lot_program as lot_program_module
from tradefolio.portfolio import share_repair
from tradefolio.portfolio.lot_program import LotMoves, LotProgram, lot_program
from unit.portfolio.test_lot_program import _whole
from unit.portfolio.test_repair_fast_path import _same, programs
from unit.portfolio.test_share_repair import small_accounts


def _clear_plans() -> None:
    lot_program_module._PLANS.clear()
    lot_program_module._AFFINE_PLANS.clear()
    lot_program_module._MOVES_PLANS.clear()


# a state's arrays and numbers (`LotMoves`), the private ones its moves read included
_STATE = (
    "violation", "objective", "target", "activity", "own", "gradient", "slots", "hessian",
    "global_by_name", "position", "kinds", "broken_names", "own_total", "current", "held_of",
    "odd_of", "lot_of", "_diagonal", "_diagonal_of", "_column_of", "_everyone", "_slot_linear",
    "_local_constant", "_local_matrix", "_local_lo", "_local_hi", "_slot_lower", "_slot_upper",
)  # fmt: skip


def _check_same_state(new: LotMoves, old: LotMoves) -> None:
    for name in _STATE:
        a, b = getattr(new, name), getattr(old, name)
        assert _same(a, b), name
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype, name


def _check_same_program(new: LotProgram, old: LotProgram) -> None:
    for field in dataclasses.fields(new):
        if field.name in ("program", "ctx", "points"):
            continue
        a, b = getattr(new, field.name), getattr(old, field.name)
        assert _same(a, b), field.name
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype, field.name


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inst=small_accounts(n_min=2, n_max=6), data=st.data())
def test_a_program_built_through_plans_is_the_program_built_in_full(
    inst: object, data: st.DataObject
) -> None:
    n = len(inst.symbols)  # type: ignore[attr-defined]
    lots = [data.draw(st.sampled_from([1, 1, 2, 3])) for _ in range(n)]
    rng = np.random.default_rng(data.draw(st.integers(0, 10_000)))
    other = dataclasses.replace(
        inst,  # type: ignore[type-var]
        prices=inst.prices * rng.uniform(0.7, 1.4, size=n).round(2),  # type: ignore[attr-defined]
        scores=rng.uniform(-0.05, 0.3, size=n).round(3),
        # (each loading scaled: one of 0 stays the map's only zero, as the structure has it)
        loadings=inst.loadings * rng.uniform(0.5, 1.5, size=(2, n)).round(2),  # type: ignore[attr-defined]
        scenarios=rng.normal(0.002, 0.03, size=(6, n)).round(4),
    )
    first, sizes = _whole(inst, lots)  # type: ignore[arg-type]
    second, _ = _whole(other, lots)
    _clear_plans()
    assert lot_program(first, sizes) is not None
    planned = lot_program(second, sizes)  # (through the first's plans when they fit)
    plans = dict(lot_program_module._PLANS), dict(lot_program_module._AFFINE_PLANS)
    _clear_plans()
    full = lot_program(second, sizes)
    assert planned is not None and full is not None
    _check_same_program(planned, full)
    # and through its own plans, a third time
    again = lot_program(second, sizes)
    assert again is not None
    _check_same_program(again, full)
    # (one plan of each kind: the second program went through the first's)
    assert len(plans[0]) == 1 and len(plans[1]) == 1
    # a state of the second program through the first's state's plan, and in full
    target = np.array([data.draw(st.integers(0, 6)) * lots[i] for i in range(n)], dtype=float)
    movable = np.array(sorted(data.draw(st.sets(st.integers(0, n - 1), min_size=1))))
    first_program = lot_program(first, sizes)
    assert first_program is not None
    first_program.state(target, movable)
    planned_state = again.state(target, movable)
    assert len(lot_program_module._MOVES_PLANS) == 1  # (the first's plan)
    _clear_plans()
    full_state = lot_program(second, sizes).state(target, movable)  # type: ignore[union-attr]
    _check_same_state(planned_state, full_state)
    _clear_plans()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=programs(), data=st.data())
def test_singles_over_the_options_alone_are_the_whole_tables(
    case: tuple[LotProgram, object, np.ndarray, np.ndarray, np.ndarray], data: st.DataObject
) -> None:
    program, _, target, movable, most = case
    moves = program.state(target, movable)
    count = movable.size
    width = 10 if any(odd != 0.0 for odd in moves.odd_of) else 6
    for _ in range(4):
        targets = share_repair._options(moves, np.arange(count), most, steps=True)
        table = moves.table(targets)
        start = data.draw(st.integers(0, count - 1))
        rows = slice(start, None)
        violation, objective, spread = moves.singles_and_spread(table, rows)
        some = moves.singles_and_spread(table, rows, width)
        assert _same(some[0], violation[:, :width]) and _same(some[1], objective[:, :width])
        assert spread is not None and some[2] is not None
        assert _same(some[2], spread[:, :width])
        valid = np.argwhere(~np.isnan(targets[start:, :width]))
        if not valid.size:
            break
        row, column = valid[data.draw(st.integers(0, len(valid) - 1))]
        moves.move(table, start + int(row), int(column), share_repair._at(some[2], row, column))
