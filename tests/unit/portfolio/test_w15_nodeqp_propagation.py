"""Session 15's savings in `node_qp.py`, bit for bit against what they replace.

`Propagation.implied` takes every implied bound of a round from one stacked product
[[up, -down], [down, -up]] and one minimum (before: two dense sums of three products each,
a minimum and a maximum); a linear solve has its ridge added once to the bordered matrix
(`_kkt(ridged=True)`) and its start snapped to its bounds by one `choose`; `node_rows` adds
the members' coefficients by one fancy-indexed sum where their places are distinct
(`np.add.at` otherwise). Each is checked here against main's code on random inputs with
signed zeros, infinite sides, tiny and huge coefficients; the whole searches and nodes of
the issue-15 sample against main's are `test_node_fast_paths.py`'s.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from tradefolio.portfolio import node_qp
from tradefolio.portfolio.node_qp import ActiveSetQP, NodeQPFailure, Propagation, RowSet


def _bytes(value: object) -> bytes:
    return np.asarray(value).tobytes()


class _DenseReference:
    """Main's `Propagation` (verbatim but for its name and plain scalar operands)."""

    def __init__(self, rows: RowSet) -> None:
        matrix = rows.matrix
        self.rows = rows
        self.positive = np.maximum(matrix, 0.0)
        self.negative = np.minimum(matrix, 0.0)
        self.magnitude = np.abs(matrix)
        rising, falling = matrix > 0.0, matrix < 0.0
        reciprocal = 1.0 / np.where(rising | falling, matrix, 1.0)
        self.up = np.where(rising, reciprocal, 0.0)
        self.down = np.where(falling, reciprocal, 0.0)
        finite_hi, finite_lo = np.isfinite(rows.upper), np.isfinite(rows.lower)
        self.hi = np.where(finite_hi, rows.upper, 0.0)
        self.lo = np.where(finite_lo, rows.lower, 0.0)
        self.scale = 1.0 + np.where(finite_hi, np.abs(rows.upper), 0.0)
        high_side, low_side = finite_hi[:, None], finite_lo[:, None]
        self.no_high = np.where((rising & high_side) | (falling & low_side), 0.0, np.inf)
        self.no_low = np.where((rising & low_side) | (falling & high_side), 0.0, np.inf)

    def implied(
        self, lower: NDArray[np.float64], upper: NDArray[np.float64], rounds: int = 2
    ) -> tuple[bool, NDArray[np.float64], NDArray[np.float64]]:
        if not math.isfinite(float(np.sum(lower)) + float(np.sum(upper))) and not (
            np.isfinite(lower).all() and np.isfinite(upper).all()
        ):
            return False, lower, upper
        rows = self.rows
        if rows.matrix.shape[0] == 0:
            return bool(np.any(lower > upper)), lower, upper
        positive, negative = self.positive, self.negative
        low, high = lower, upper
        slack = 1e-9 * (self.magnitude.dot(np.maximum(np.abs(low), np.abs(high))) + self.scale)
        most, least = rows.upper + slack, rows.lower - slack
        width = None
        for round_ in range(rounds + 1):
            smallest = positive.dot(low) + negative.dot(high)
            largest = positive.dot(high) + negative.dot(low)
            if np.any(smallest > most) or np.any(largest < least):
                return True, low, high
            if round_ == rounds:
                break
            from_hi = (self.hi - smallest)[:, None]
            from_lo = (self.lo - largest)[:, None]
            highs = from_hi * self.up + from_lo * self.down + self.no_high
            lows = from_lo * self.up + from_hi * self.down - self.no_low
            implied_high = low + np.minimum.reduce(highs, 0)
            implied_low = high + np.maximum.reduce(lows, 0)
            implied_high = implied_high + 1e-12 * (1.0 + np.abs(implied_high))
            implied_low = implied_low - 1e-12 * (1.0 + np.abs(implied_low))
            tighter_high, tighter_low = implied_high < high, implied_low > low
            if not (np.any(tighter_high) or np.any(tighter_low)):
                return False, low, high
            high = np.where(tighter_high, implied_high, high)
            low = np.where(tighter_low, implied_low, low)
            if width is None:
                width = 1e-9 * (1.0 + np.abs(lower) + np.abs(upper))
            if np.any(low > high + width):
                return True, low, high
        return False, low, high


def _rows(rng: np.random.Generator, m: int, n: int) -> RowSet:
    """Rows of the nodes' kinds: sparse, mixed scales (some tiny), signed zeros, ranged,
    one-sided (infinite sides) and equality rows."""
    matrix = rng.standard_normal((m, n)) * rng.choice([1e-300, 1e-6, 1.0, 1e6], size=(m, n))
    matrix[rng.random((m, n)) < 0.5] = 0.0
    matrix[rng.random((m, n)) < 0.1] = -0.0
    matrix[rng.random((m, n)) < 0.05] = 1.0
    centre = rng.standard_normal(m)
    lower = centre - np.abs(rng.standard_normal(m))
    upper = centre + np.abs(rng.standard_normal(m))
    lower[rng.random(m) < 0.3] = -np.inf
    upper[rng.random(m) < 0.3] = np.inf
    equal = rng.random(m) < 0.2
    lower[equal] = upper[equal] = centre[equal]
    zero = rng.random(m) < 0.1
    lower[zero] = upper[zero] = 0.0
    return RowSet(matrix, lower, upper)


def _box(rng: np.random.Generator, n: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    lower = rng.standard_normal(n) * rng.choice([0.0, 1.0, 10.0], size=n)
    upper = lower + np.abs(rng.standard_normal(n)) * rng.choice([0.0, 1.0, 1e3], size=n)
    lower[rng.random(n) < 0.1] = -0.0
    if rng.random() < 0.05:
        upper[rng.integers(n)] = np.inf  # propagation proves nothing
    return lower, upper


def test_the_stacked_propagation_is_the_dense_one() -> None:
    """Random row sets and boxes (feasible, infeasible, fixed columns, zero rows): the
    verdict and both implied bounds are main's, bit for bit, for 0 to 3 rounds."""
    rng = np.random.default_rng(1515)
    verdicts = set()
    with np.errstate(all="ignore"):
        for trial in range(2000):
            m, n = int(rng.integers(0 if trial % 50 == 0 else 1, 25)), int(rng.integers(1, 40))
            rows = _rows(rng, m, n)
            new, old = Propagation(rows), _DenseReference(rows)
            for _ in range(3):
                lower, upper = _box(rng, n)
                rounds = int(rng.integers(0, 4))
                got = new.implied(lower, upper, rounds)
                expected = old.implied(lower, upper, rounds)
                assert got[0] == expected[0]
                assert _bytes(got[1]) == _bytes(expected[1])
                assert _bytes(got[2]) == _bytes(expected[2])
                verdicts.add(got[0])
    assert verdicts == {True, False}


def test_the_stacked_propagation_on_the_rebalance_rows() -> None:
    """Rows shaped like the rebalance nodes' (w - b + s = w0 per held name, a budget, a
    turnover cap, a cash row) with boxes tightened at random: main's bounds, bit for bit."""
    rng = np.random.default_rng(1516)
    with np.errstate(all="ignore"):
        for _ in range(300):
            held = int(rng.integers(1, 10))
            n = 3 * held + int(rng.integers(0, 5))
            matrix = np.zeros((held + 3, n))
            for i in range(held):
                matrix[i, [i, held + i, 2 * held + i]] = [1.0, -1.0, 1.0]
            matrix[held, :held] = 1.0
            matrix[held + 1, held : 3 * held] = 1.0
            matrix[held + 2] = rng.random(n) * (rng.random(n) < 0.7)
            w0 = rng.random(held) / held
            lower = np.concatenate([w0, [1.0, -np.inf, -np.inf]])
            upper = np.concatenate([w0, [1.0, 0.2, rng.random()]])
            rows = RowSet(matrix, lower, upper)
            new, old = Propagation(rows), _DenseReference(rows)
            box_lower, box_upper = np.zeros(n), np.full(n, 0.35)
            for _ in range(5):
                fixed = rng.random(n) < 0.2
                box_upper = np.where(fixed, 0.0, box_upper)
                got, expected = new.implied(box_lower, box_upper), old.implied(box_lower, box_upper)
                assert got[0] == expected[0]
                assert _bytes(got[1]) == _bytes(expected[1])
                assert _bytes(got[2]) == _bytes(expected[2])


def test_the_ridged_bordered_matrix_solves_as_before() -> None:
    """A linear solve's KKT systems from the bordered matrix with its ridge added once
    (`ridged=True`) are the systems with the ridge added to each: the same step and
    multipliers, bit for bit (and the same failures)."""
    rng = np.random.default_rng(1517)
    solved = 0
    with np.errstate(all="ignore"):
        for _ in range(400):
            n, m = int(rng.integers(2, 40)), int(rng.integers(1, 25))
            factor = rng.standard_normal((n, max(n // 2, 1)))
            hessian = factor @ factor.T
            hessian[:, rng.random(n) < 0.3] = 0.0
            hessian = np.triu(hessian) + np.triu(hessian, 1).T
            rows = rng.standard_normal((m, n)) * (rng.random((m, n)) < 0.5)
            qp = ActiveSetQP(hessian, rng.standard_normal(n), rows, -np.ones(m), np.ones(m))
            matrix = qp.rows
            if rng.random() < 0.3:  # the artificial's column
                matrix = np.column_stack([matrix, rng.standard_normal(len(matrix))])
            hess = qp._hessian_of(matrix.shape[1])
            size = len(hess)
            free = np.sort(rng.choice(size, size=int(rng.integers(1, size + 1)), replace=False))
            k = int(rng.integers(0, min(len(matrix), len(free)) + 1))
            indices = np.sort(rng.choice(len(matrix), size=k, replace=False)).astype(np.intp)
            gradient = rng.standard_normal(len(free))
            plain = qp._bordered(hess, matrix)
            ridged = qp._bordered(hess, matrix)
            width = len(ridged) + 1
            ridged.reshape(-1)[: size * width : width] += qp._ridge
            args = (free, None, indices, matrix, gradient, indices + size)
            try:
                old = qp._kkt(plain, *args)
            except NodeQPFailure:
                old = None
            try:
                new = qp._kkt(ridged, *args, ridged=True)
            except NodeQPFailure:
                new = None
            assert (old is None) == (new is None)
            if old is not None and new is not None:
                solved += 1
                assert _bytes(new[0]) == _bytes(old[0])
                assert _bytes(new[1]) == _bytes(old[1])
    assert solved > 100


def test_choose_snaps_as_the_wheres() -> None:
    """The start's snap to its bounds and kinks by status: main's three `where`s."""
    rng = np.random.default_rng(1518)
    for _ in range(500):
        n = int(rng.integers(1, 60))
        lower, upper = rng.standard_normal(n), rng.standard_normal(n)
        kink = rng.standard_normal(n)
        lower[rng.random(n) < 0.2] = -0.0
        x = rng.standard_normal(n)
        x[rng.random(n) < 0.2] = 0.0
        status = rng.integers(0, 5, size=n).astype(np.int8)
        expected = np.where(status == node_qp.AT_LOWER, lower, x)
        expected = np.where(status == node_qp.AT_UPPER, upper, expected)
        expected = np.where(status == node_qp.AT_KINK, kink, expected)
        assert _bytes(status.choose((lower, upper, kink, x, x))) == _bytes(expected)


def test_distinct_places_add_as_add_at() -> None:
    """`node_rows`' fancy-indexed sum over distinct places is np.add.at's, bit for bit."""
    rng = np.random.default_rng(1519)
    for _ in range(500):
        m, n = int(rng.integers(1, 5)), int(rng.integers(1, 40))
        base = rng.standard_normal((m, n)) * (rng.random((m, n)) < 0.5)
        count = int(rng.integers(1, m * n + 1))
        places = rng.choice(m * n, size=count, replace=False).astype(np.intp)
        added = rng.standard_normal(count) * (rng.random(count) < 0.7)
        expected = base.copy()
        np.add.at(expected, (places // n, places % n), added)
        got = base.copy()
        got.reshape(-1)[places] += added
        assert _bytes(got) == _bytes(expected)
