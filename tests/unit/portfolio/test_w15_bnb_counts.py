"""Session 15's savings in `Relaxation`'s count test (`_counts_fit`), bit for bit.

The test's product by `ndarray.dot` (matmul's own gemv, `@` where it sums one term), its
count unwrapped, and a node's `solve` not counting again the bounds `forced` has just
counted and returned as given. Against the old test (main's expression) on the counting
rows of trade flags' and floored programs, on random count matrices of any coefficients,
and with the count test broken on purpose (what `solve` may skip and what it may not).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tradefolio.portfolio.backends import _scale
from tradefolio.portfolio.branch_and_bound import Relaxation
from tradefolio.portfolio.program import Program
from unit.portfolio.test_node_qp import floored_program, rebalance_program

pytest.importorskip("highspy")


def _old_counts_fit(relaxation: Relaxation, lower: np.ndarray) -> bool:
    """Main's test: every counting row's held counts within its limit."""
    assert relaxation._count_matrix is not None
    matrix, limits = relaxation._count_matrix
    return int(np.count_nonzero(matrix @ (lower > 0.5) <= limits)) == len(limits)


def _programs() -> list[Program]:
    programs: list[Program] = []
    for seed in range(3):
        programs.append(rebalance_program(seed, min_trade=None, fixed=1.0, max_turnover=0.2))
        programs.append(rebalance_program(seed, min_trade=30.0, fixed=1.0, max_turnover=None))
        programs.append(floored_program(seed, max_positions=3))
    return programs


def _random_lowers(size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """0/1 bounds of every density, with values near 1/2 on either side."""
    lowers = [np.zeros(size), np.ones(size)]
    for density in (0.1, 0.3, 0.5, 0.8):
        for _ in range(10):
            lower = (rng.random(size) < density).astype(np.float64)
            lower[rng.random(size) < 0.1] = rng.choice([0.5, np.nextafter(0.5, 1.0), 0.4999])
            lowers.append(lower)
    return lowers


@pytest.mark.parametrize("number", range(9))
def test_the_count_test_is_main_s_on_programs(number: int) -> None:
    """On the programs' own counting rows, the new test answers as main's for any bounds."""
    program = _programs()[number]
    relaxation = Relaxation(program, _scale(program))
    rng = np.random.default_rng(number)
    size = len(relaxation.integers)
    for lower in _random_lowers(size, rng):
        new = relaxation._counts_fit(lower)
        assert new == _old_counts_fit(relaxation, lower)


@pytest.mark.parametrize("columns", [1, 2, 7, 30, 129])
def test_the_count_test_is_main_s_on_any_coefficients(columns: int) -> None:
    """Random (non-integral) counts and limits at the edge of every row: the same answer,
    so the product sums in main's order (a different one could cross a limit)."""
    program = rebalance_program(0, min_trade=None, fixed=1.0, max_turnover=0.2)
    relaxation = Relaxation(program, _scale(program))
    rng = np.random.default_rng(columns)
    for _ in range(40):
        rows = int(rng.integers(1, 7))
        matrix = rng.uniform(0.0, 1.0, (rows, columns)) * (rng.random((rows, columns)) < 0.6)
        held = rng.random(columns) < 0.5
        lower = held.astype(np.float64)
        # limits at main's totals themselves, one ulp either side: the comparison decides
        totals = matrix @ held
        limits = totals + rng.choice([-1, 0, 1], rows) * np.spacing(np.maximum(totals, 1e-300))
        relaxation._count_matrix = (matrix, limits)
        assert relaxation._counts_fit(lower) == _old_counts_fit(relaxation, lower)


class _AlwaysCounted(Relaxation):
    """A relaxation whose `solve` always counts (nothing left by `forced` to skip), checking
    every count against main's test."""

    def forced(self, lower: np.ndarray, upper: np.ndarray, start: Any = None) -> Any:
        found = super().forced(lower, upper, start)
        self._fitting = None
        return found

    def _counts_fit(self, lower: np.ndarray) -> bool:
        fits = super()._counts_fit(lower)
        assert fits == _old_counts_fit(self, lower)
        return fits


def _costed_relaxation(
    kind: type[Relaxation] = Relaxation,
) -> tuple[Relaxation, np.ndarray, np.ndarray]:
    program = rebalance_program(1, min_trade=None, fixed=1.0, max_turnover=0.2)
    relaxation = kind(program, _scale(program))
    ints = relaxation.integers
    lower = np.ceil(relaxation.lower[ints] - 1e-6)
    upper = np.floor(relaxation.upper[ints] + 1e-6)
    return relaxation, lower, upper


def test_solve_skips_the_count_only_for_the_bounds_forced_counted() -> None:
    """With the count test broken after `forced` (fault injection), `solve` of the bounds
    forced returned as given never calls it; of any other bounds (a copy, a child) it does."""
    relaxation, lower, upper = _costed_relaxation()
    assert relaxation._costed and relaxation.nodes is not None
    calls: list[np.ndarray] = []
    counts_fit = relaxation._counts_fit

    def broken(bounds: np.ndarray) -> bool:
        calls.append(bounds)
        return False

    # The root's rows force two selections: new bounds, counted by the solve.
    forced = relaxation.forced(lower, upper)
    assert forced is not None and forced[0] is not lower
    relaxation._counts_fit = broken  # type: ignore[method-assign]
    assert relaxation.solve(*forced, 30.0) is None
    assert len(calls) == 1 and calls[0] is forced[0]
    # Forced again, the bounds come back as given: the solve does not count them.
    relaxation._counts_fit = counts_fit  # type: ignore[method-assign]
    lower, upper = forced
    again = relaxation.forced(lower, upper)
    assert again is not None and again[0] is lower
    relaxation._counts_fit = broken  # type: ignore[method-assign]
    calls.clear()
    assert relaxation.solve(lower, upper, 30.0) is not None
    assert calls == []
    # consumed by that solve: the same bounds again are counted
    assert relaxation.solve(lower, upper, 30.0) is None
    assert len(calls) == 1
    relaxation._counts_fit = counts_fit  # type: ignore[method-assign]
    assert relaxation.forced(lower, upper) is not None
    relaxation._counts_fit = broken  # type: ignore[method-assign]
    copy = lower.copy()
    assert relaxation.solve(copy, upper, 30.0) is None
    assert len(calls) == 2 and calls[1] is copy


def test_forced_then_solve_is_main_s_along_branchings() -> None:
    """Forced bounds then the solve, as the search makes them, against a relaxation whose
    count test is main's and always made: the same answers, the same floats."""
    from unit.portfolio.test_node_qp import branch_at_random

    for seed in range(4):
        relaxation, lower, upper = _costed_relaxation()
        reference, _, _ = _costed_relaxation(_AlwaysCounted)
        rng = np.random.default_rng(seed)
        state = reference_state = None
        for _ in range(8):
            got = relaxation.forced(lower, upper, state)
            expected = reference.forced(lower, upper, reference_state)
            assert (got is None) == (expected is None)
            if got is None or expected is None:
                break
            assert all(a.tobytes() == b.tobytes() for a, b in zip(got, expected, strict=True))
            lower, upper = got
            found = relaxation.solve(lower, upper, 30.0, start=state)
            wanted = reference.solve(expected[0], expected[1], 30.0, start=reference_state)
            assert (found is None) == (wanted is None)
            if found is None or wanted is None:
                break
            assert np.float64(found[0]).tobytes() == np.float64(wanted[0]).tobytes()
            assert found[1].tobytes() == wanted[1].tobytes()
            assert np.float64(relaxation.bound).tobytes() == np.float64(reference.bound).tobytes()
            state, reference_state = relaxation.last_state, reference.last_state
            branched = branch_at_random(lower, upper, rng)
            if branched is None:
                break
            lower, upper = branched
