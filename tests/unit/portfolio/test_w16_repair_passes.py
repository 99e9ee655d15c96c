"""Session 16's cuts of the share repair's per-call costs give the same floats and choices.

- `share_repair._first_help` (the helping moves found by one array test) chooses the move
  the loop over every option chose (`_first_help_by_loop`, main's code verbatim);
- a state's tables (the own violation of the local rows and the slot bounds in one
  `_broken` pass) are the reference's, through the search:
  `test_repair_fast_path.py` checks every table, move and search against
  `repair_reference.py`; here searches are also run twice on one program (its plans and
  points warm the second time) and one state rates every slice of a table twice.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from tradefolio.portfolio import share_repair
from tradefolio.portfolio.lot_program import LotProgram
from unit.portfolio import repair_reference
from unit.portfolio.test_repair_fast_path import _same, programs


def _first_help_by_loop(
    violation: NDArray[np.float64],
    objective: NDArray[np.float64],
    width: int,
    sign: float,
    now: float,
    objective_now: float,
) -> tuple[int, int] | None:
    """`share_repair._first_help` as main had it (session 15): every option in a loop."""
    violations = violation[:, :width].tolist()
    scores = objective[:, :width].tolist()
    if now > 0.0:
        limit = now - 1e-15
        for row, (v, o) in enumerate(zip(violations, scores, strict=True)):
            best, top = -1, -math.inf
            for choice in range(width):
                if v[choice] < limit:
                    score = sign * o[choice]
                    if best < 0 or score > top:
                        best, top = choice, score
            if best >= 0:
                return row, best
        return None
    floor = sign * objective_now + 1e-15
    for row, (v, o) in enumerate(zip(violations, scores, strict=True)):
        best, top = -1, -math.inf
        for choice in range(width):
            score = sign * o[choice]
            if v[choice] == 0.0 and score > floor and (best < 0 or score > top):
                best, top = choice, score
        if best >= 0:
            return row, best
    return None


_VALUES = st.sampled_from([0.0, 0.0, 1e-16, 0.5, 1.0, 2.0, math.inf, math.nan, -1.0, 3.0])


@settings(max_examples=400, deadline=None)
@given(
    rows=st.integers(1, 6),
    width=st.sampled_from([6, 10]),
    extra=st.integers(0, 2),
    sign=st.sampled_from([1.0, -1.0]),
    now=st.sampled_from([0.0, 0.0, 1e-16, 1.0, 2.5]),
    objective_now=st.sampled_from([0.0, 1.0, -1.0, 2.0]),
    data=st.data(),
)
def test_first_help_chooses_what_the_loop_chose(
    rows: int,
    width: int,
    extra: int,
    sign: float,
    now: float,
    objective_now: float,
    data: st.DataObject,
) -> None:
    shape = (rows, width + extra)  # (with `extra` columns after the options: steps)
    cells = shape[0] * shape[1]
    violation = np.array(data.draw(st.lists(_VALUES, min_size=cells, max_size=cells)))
    objective = np.array(data.draw(st.lists(_VALUES, min_size=cells, max_size=cells)))
    violation, objective = np.abs(violation).reshape(shape), objective.reshape(shape)
    expected = _first_help_by_loop(violation, objective, width, sign, now, objective_now)
    got = share_repair._first_help(violation, objective, width, sign, now, objective_now)
    assert got == expected


def test_first_help_without_rows_is_none() -> None:
    empty = np.zeros((0, 6))
    assert share_repair._first_help(empty, empty, 6, 1.0, 0.0, 0.0) is None
    assert share_repair._first_help(empty, empty, 6, 1.0, 1.0, 0.0) is None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=programs(), data=st.data())
def test_searches_run_twice_are_the_references(
    case: tuple[LotProgram, object, np.ndarray, np.ndarray, np.ndarray], data: st.DataObject
) -> None:
    lots, old, target, movable, most = case
    expected = repair_reference._search(old, target, most, movable)
    for _ in range(2):  # (the second search's plans and the program's points are warm)
        got = share_repair._search(lots, target, most, movable)
        for a, b in zip(got, expected, strict=True):
            assert _same(a, b)
    state = lots.state(target, movable)
    count = movable.size
    targets = share_repair._options(state, np.arange(count), most, True)
    table = state.table(targets)
    for turn in range(count):  # (rating reads the state: it never writes it)
        first = state.singles_and_spread(table, slice(turn, None), targets.shape[1] - 2)
        again = state.singles_and_spread(table, slice(turn, None), targets.shape[1] - 2)
        for a, b in zip(first, again, strict=True):
            assert _same(a, b)
    assert data is not None
