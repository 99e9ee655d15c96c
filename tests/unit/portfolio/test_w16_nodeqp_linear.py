"""Session 16's plain-float paths of the linear pieces' iterations (`node_qp.py`) against
main's numpy code (84f87b9, verbatim but for names), bit for bit.

- `_box_ratio`: the longest step in the box, which main took from two masked `argmin`s;
- `_release`: the fixed weight or working row to release, which main took from two masked
  `argmax`s (`_most_violated(linear=True)`);
- `_kkt(negated=...)`: a right-hand side read off one negated gradient vector instead of
  the free weights' gradient negated into zeros;
- the step test `max |v|` as `max(max v, -min v)` of the lists.

Ties, zeros of both signs, infinite bounds and NaN ratios are drawn on purpose: they are
where an argmin / argmax and a loop could part.
"""

from __future__ import annotations

import numpy as np
import pytest

from tradefolio.portfolio import node_qp
from tradefolio.portfolio.node_qp import AT_LOWER, AT_UPPER, ActiveSetQP, Pieces


def _box_ratio_main(
    x: np.ndarray, step: np.ndarray, free: np.ndarray, lower: np.ndarray, upper: np.ndarray
) -> tuple[float, tuple[str, int, int] | None]:
    """Main's `_ratio` for linear pieces, without its rows (verbatim)."""
    alpha = 1.0
    blocking: tuple[str, int, int] | None = None
    values = x[free]
    rising, falling = step > 0.0, step < 0.0
    ratios = np.where(rising, (upper[free] - values) / step, np.inf)
    i = int(ratios.argmin())
    if ratios.item(i) < alpha:
        alpha = max(ratios.item(i), 0.0)
        blocking = ("variable", int(free[i]), AT_UPPER)
    ratios = np.where(falling, (lower[free] - values) / step, np.inf)
    i = int(ratios.argmin())
    if ratios.item(i) < alpha:
        alpha = max(ratios.item(i), 0.0)
        blocking = ("variable", int(free[i]), AT_LOWER)
    return alpha, blocking


def _release_main(
    qp: ActiveSetQP,
    smooth: np.ndarray,
    multipliers: np.ndarray,
    working: list[tuple[int, int]],
    indices: np.ndarray,
    rows: np.ndarray,
    pieces: Pieces,
    status: np.ndarray,
    tolerance: float,
    movable: np.ndarray,
) -> tuple[str, int, int] | None:
    """Main's `_most_violated(linear=True)` (verbatim)."""
    worst, found = tolerance, None
    equality = qp._equality
    for (r, side), value in zip(working, multipliers.tolist(), strict=True):
        if equality[r]:
            continue
        wrong = -value if side == 1 else value
        if wrong > worst:
            worst, found = float(wrong), ("row", r, 0)
    reduced = smooth - rows.take(indices, axis=0).T @ multipliers if len(indices) else smooth
    signed = reduced + pieces.lin0
    up = np.where(movable & (status == AT_LOWER), -signed, -np.inf)
    down = np.where(status == AT_UPPER, signed, -np.inf)
    j = int(up.argmax())
    if up.item(j) > worst:
        worst = up.item(j)
        low_piece = status[j] == AT_LOWER and pieces.kink[j] > pieces.lower[j]
        found = ("variable", j, node_qp.FREE_LOW if low_piece else node_qp.FREE_HIGH)
    j = int(down.argmax())
    if down.item(j) > worst:
        high_piece = status[j] == AT_UPPER and pieces.kink[j] < pieces.upper[j]
        found = ("variable", j, node_qp.FREE_HIGH if high_piece else node_qp.FREE_LOW)
    return found


def _coarse(rng: np.random.Generator, size: int, scale: float = 1.0) -> np.ndarray:
    """Values from a small grid (ties), with zeros of both signs."""
    values = rng.integers(-3, 4, size).astype(np.float64) * scale
    values[rng.random(size) < 0.15] = -0.0
    return values


def _same_float(a: float, b: float) -> bool:
    return bool(np.float64(a).tobytes() == np.float64(b).tobytes())


def test_the_box_ratio_is_mains_masked_argmins() -> None:
    rng = np.random.default_rng(16)
    for trial in range(3000):
        n = int(rng.integers(1, 12))
        lower = _coarse(rng, n)
        upper = lower + np.abs(_coarse(rng, n))
        if trial % 3 == 0:  # infinite sides (and an infinite point: NaN ratios)
            lower[rng.random(n) < 0.3] = -np.inf
            upper[rng.random(n) < 0.3] = np.inf
        x = np.clip(_coarse(rng, n), lower, upper)
        if trial % 7 == 0:
            x[rng.random(n) < 0.2] = np.inf
        free = np.flatnonzero(rng.random(n) < 0.7).astype(np.intp)
        if free.size == 0:  # (a solve steps only with a free weight)
            free = np.array([n - 1], dtype=np.intp)
        step = _coarse(rng, len(free), 0.5)
        with np.errstate(all="ignore"):
            old = _box_ratio_main(x, step, free, lower, upper)
        new = ActiveSetQP._box_ratio(
            x.tolist(), step.tolist(), free.tolist(), lower.tolist(), upper.tolist()
        )
        assert _same_float(new[0], old[0]) and new[1] == old[1], (trial, new, old)


def _small_qp(rng: np.random.Generator, n: int, m: int) -> ActiveSetQP:
    factor = rng.normal(size=(n, n))
    rows = rng.integers(-2, 3, (m, n)).astype(np.float64)
    rows[:, 0] = 1.0 + np.arange(m)  # (no two rows parallel, none empty)
    lower = rng.integers(-2, 1, m).astype(np.float64)
    upper = lower + rng.integers(0, 3, m)
    return ActiveSetQP(factor @ factor.T, rng.normal(size=n), rows, lower, upper)


def test_the_release_is_mains_masked_argmaxes() -> None:
    rng = np.random.default_rng(17)
    for trial in range(1500):
        n, m = int(rng.integers(2, 10)), int(rng.integers(1, 5))
        qp = _small_qp(rng, n, m)
        rows = qp.rows
        lower = _coarse(rng, n)
        upper = lower + np.abs(_coarse(rng, n))
        kink = upper.copy()
        lin0 = _coarse(rng, n)
        zeros = np.zeros(n)
        pieces = Pieces(lower, upper, kink, lin0, zeros, lin0.copy(), zeros)
        status = rng.integers(0, 5, n).astype(np.int8)
        status[status == node_qp.AT_KINK] = node_qp.FREE_LOW
        movable = lower < upper
        kept = len(qp.row_lower)  # (rows after `merged_rows`)
        working = [(r, 1 if rng.random() < 0.5 else -1) for r in range(kept) if rng.random() < 0.6]
        indices = np.array([r for r, _ in working], dtype=np.intp)
        multipliers = _coarse(rng, len(working))
        smooth = _coarse(rng, n)
        if trial % 5 == 0:
            smooth[rng.random(n) < 0.3] = np.nan
        tolerance = float(rng.choice([0.0, 0.5, 1.0]))
        old = _release_main(
            qp, smooth, multipliers, working, indices, rows, pieces, status, tolerance, movable
        )
        new = qp._release(
            smooth,
            multipliers,
            working,
            indices,
            rows,
            pieces,
            status,
            tolerance,
            movable.tolist(),
        )
        assert new == old, (trial, new, old)


@pytest.mark.parametrize("freedom", [True, False])
def test_the_negated_right_hand_side_solves_as_the_gradient(freedom: bool) -> None:
    rng = np.random.default_rng(18)
    for _ in range(300):
        m = int(rng.integers(1, 5))
        n = m + int(rng.integers(2, 9))
        qp = _small_qp(rng, n, m)
        size = n
        hess = qp._hessian_of(size)
        bordered = qp._bordered(hess, qp.rows)
        width = len(bordered) + 1
        bordered.reshape(-1)[: size * width : width] += qp._ridge
        count = int(rng.integers(m + 1, n + 1)) if freedom else int(rng.integers(1, m + 1))
        free = np.sort(rng.choice(n, count, replace=False)).astype(np.intp)
        indices = rng.permutation(len(qp.row_lower)).astype(np.intp)
        smooth = rng.normal(size=n)
        smooth[rng.random(n) < 0.2] = 0.0
        lin0 = _coarse(rng, n)
        gradient = smooth[free] + lin0[free]
        negated = np.zeros(len(bordered))
        np.negative(smooth + lin0, out=negated[:size])
        args = (bordered, free, None, indices, qp.rows, gradient, indices + size, True)
        with np.errstate(all="ignore"):
            try:
                old = qp._kkt(*args)
            except node_qp.NodeQPFailure:
                old = None
            try:
                new = qp._kkt(*args[:5], None, *args[6:], negated)
            except node_qp.NodeQPFailure:
                new = None
        if old is None or new is None:
            assert old is None and new is None
            continue
        for a, b in zip(new, old, strict=True):
            assert a.tobytes() == b.tobytes()


def test_the_largest_magnitude_of_a_list_is_numpys() -> None:
    rng = np.random.default_rng(19)
    for _ in range(2000):
        values = _coarse(rng, int(rng.integers(1, 20)), float(rng.choice([1e-12, 1.0, 1e8])))
        values *= rng.random(len(values))
        listed = values.tolist()
        assert max(max(listed), -min(listed)) == float(np.abs(values).max())
