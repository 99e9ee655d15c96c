"""A move taken with the global rows' part of its violation from its rating
(`LotMoves.singles_and_spread`, `pairs_and_spread`: `move`'s `spread`, not summed again)
leaves the state a move summing it itself leaves, bit for bit; and the search's option rows,
rebuilt only for the names that moved (`share_repair._search`), are `_option_table`'s.

On random small whole-share programs (`test_repair_fast_path.programs`): every option of
every name and every two-name step, taken on two copies of one state, one with the rated
spread and one without; the searches themselves are checked against main's in
`test_repair_fast_path.py` (`_search`, the whole repair through the model)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradefolio.portfolio import share_repair
from tradefolio.portfolio.lot_program import LotMoves, LotProgram
from unit.portfolio.test_repair_fast_path import _same, programs


def _check_same_state(a: LotMoves, b: LotMoves) -> None:
    for name in ("violation", "objective", "target", "activity", "own", "gradient", "slots"):
        assert _same(getattr(a, name), getattr(b, name)), name
    assert a.broken_names == b.broken_names and _same(a.own_total, b.own_total)
    assert a.current == b.current


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=programs(), data=st.data())
def test_a_move_with_its_rated_spread_is_a_move_summing_it(
    case: tuple[LotProgram, object, np.ndarray, np.ndarray, np.ndarray], data: st.DataObject
) -> None:
    program, _, target, movable, most = case
    rated, summed = program.state(target, movable), program.state(target, movable)
    count = movable.size
    everyone = np.arange(count)
    for _ in range(6):
        targets = share_repair._options(rated, everyone, most, steps=True)
        assert _same(targets, share_repair._options(summed, everyone, most, steps=True))
        table_r, table_s = rated.table(targets), summed.table(targets)
        start = data.draw(st.integers(0, count - 1))
        rows = slice(start, None)
        violation, objective, spread = rated.singles_and_spread(table_r, rows)
        expected = summed.singles(table_s, rows)
        assert _same(violation, expected[0]) and _same(objective, expected[1])
        valid = np.argwhere(~np.isnan(targets[start:]))
        pair = count >= 2 and data.draw(st.booleans())
        if pair:
            first, second = (np.array(p, dtype=np.intp) for p in zip(
                *itertools.combinations(range(count), 2), strict=True
            ))  # fmt: skip
            first, second = np.repeat(first, 4), np.repeat(second, 4)
            steps = np.tile(share_repair._PAIR_STEPS, (first.size // 4, 1))
            got = rated.pairs_and_spread(table_r, first, second, steps)
            plain = summed.pairs(table_s, first, second, steps)
            for x, y in zip(got[:4], plain, strict=True):
                assert _same(x, y)
            hit = data.draw(st.integers(0, first.size - 1))
            a, b, up_a, up_b = int(first[hit]), int(second[hit]), got[2], got[3]
            rated.move(table_r, a, int(up_a[hit]))
            rated.move(table_r, b, int(up_b[hit]), share_repair._at(got[4], hit))
            summed.move(table_s, a, int(up_a[hit]))
            summed.move(table_s, b, int(up_b[hit]))
        elif valid.size:
            row, column = valid[data.draw(st.integers(0, len(valid) - 1))]
            rated.move(
                table_r, start + int(row), int(column), share_repair._at(spread, row, column)
            )
            summed.move(table_s, start + int(row), int(column))
        else:
            break
        _check_same_state(rated, summed)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=programs(), mend_first=st.booleans())
def test_the_search_reads_the_option_tables_it_would_build(
    case: tuple[LotProgram, object, np.ndarray, np.ndarray, np.ndarray], mend_first: bool
) -> None:
    """Every table the search rates has `_option_table`'s targets at the state it is
    rated at (the rows kept for the names that did not move included)."""
    program, _, start, movable, most = case
    seen: list[bool] = []
    table = LotMoves.table

    def checked(self: LotMoves, targets: np.ndarray) -> object:
        if targets.shape[1] > 2:  # (a pass's table: options, then the steps)
            positions = list(range(self.movable.size))
            cap = most[self.movable].tolist()
            seen.append(_same(targets, share_repair._option_table(self, positions, cap, True)))
        return table(self, targets)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(LotMoves, "table", checked)
        share_repair._search(program, start, most, movable, mend_first)
    assert seen and all(seen)
