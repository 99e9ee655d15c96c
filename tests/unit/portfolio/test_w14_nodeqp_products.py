"""Session 14's per-call savings in `node_qp.py`, bit for bit against what they replace.

The savings: `ndarray.dot` for `@` (the same BLAS products without matmul's dispatch),
add / maximum reductions for `sum` / `max`, 0-d arrays for Python scalar operands (numpy 2
resolves a Python scalar's type on every call) and the KKT systems taken out of one
bordered matrix [[H, A^T], [A, 0]] per solve instead of assembled block by block. Each is
checked here on random arrays of the nodes' shapes (and their signed zeros, infinities and
NaNs); the whole searches and nodes of the issue-15 sample against main's code are
`test_node_fast_paths.py`'s.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from tradefolio.portfolio import node_qp
from tradefolio.portfolio.node_qp import ActiveSetQP, NodeQPFailure


def _bytes(value: object) -> bytes:
    return np.asarray(value).tobytes()


def _sparse(rng: np.random.Generator, shape: tuple[int, ...]) -> NDArray[np.float64]:
    """Random entries of mixed scales, half of them 0 (some -0.0), as the nodes' rows."""
    values = rng.standard_normal(shape) * rng.choice([1e-5, 1.0, 1e5], size=shape)
    values[rng.random(shape) < 0.4] = 0.0
    values[rng.random(shape) < 0.1] = -0.0
    return values


def test_dot_is_matmul_for_the_nodes_products() -> None:
    """matrix-vector, vector-matrix and vector-vector products, on C-ordered, transposed,
    taken and stacked arrays, down to one row and one column (where ndarray.dot alone
    would give -0.0 for matmul's 0.0): `_dot` and `@` give the same bytes."""
    rng = np.random.default_rng(14)
    dot = node_qp._dot
    for trial in range(1500):
        small = trial % 3 == 0  # one or two rows and columns: dot's scalar paths
        m = int(rng.integers(0, 3 if small else 40))
        n = int(rng.integers(1, 3 if small else 90))
        a = _sparse(rng, (m, n))
        x, y = _sparse(rng, (n,)), _sparse(rng, (m,))
        free = np.sort(rng.choice(n, size=int(rng.integers(1, n + 1)), replace=False))
        taken = a.take(free, axis=1)
        h = rng.standard_normal((n, n))
        h = h @ h.T
        h[rng.random((n, n)) < 0.3] = -0.0
        stacked = np.column_stack([a, y])
        extended = np.append(x, 1.0)
        pairs = [
            (a @ x, dot(a, x)),
            (taken @ x[free], dot(taken, x[free])),
            (x @ x, dot(x, x)),
            (-x @ x, dot(-x, x)),
            (h @ x, dot(h, x)),
            (0.5 * x @ h @ x, dot(dot(x * 0.5, h), x)),
            (stacked @ extended, dot(stacked, extended)),
        ]
        if m:
            working = np.sort(rng.choice(m, size=int(rng.integers(1, m + 1)), replace=False))
            multipliers = _sparse(rng, (len(working),))
            block = a.take(working, axis=0)
            pairs += [
                (a.T @ y, dot(a.T, y)),
                (y @ a, dot(y, a)),
                (stacked.T @ y, dot(stacked.T, y)),
                (block.T @ multipliers, dot(block.T, multipliers)),
            ]
        for product, dotted in pairs:
            assert _bytes(product) == _bytes(dotted)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_reductions_and_zero_dimensional_operands_are_the_same() -> None:
    """`_sum_of` / `_maximum_of` as ndarray.sum / max, and every 0-d operand as its Python
    scalar, on arrays with signed zeros, infinities and NaNs."""
    rng = np.random.default_rng(15)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-300, -1e300])
    for size in range(1, 70):
        x = rng.standard_normal(size) * rng.choice([1e-9, 1.0, 1e9], size=size)
        x[rng.random(size) < 0.2] = rng.choice(specials)
        status = rng.integers(0, 5, size=size).astype(np.int8)
        mask = rng.random(size) < 0.5
        assert _bytes(node_qp._sum_of(x)) == _bytes(x.sum())
        assert _bytes(node_qp._sum_of(x)) == _bytes(np.sum(x))
        assert _bytes(node_qp._maximum_of(np.abs(x), initial=0.0)) == _bytes(
            np.abs(x).max(initial=0.0)
        )
        assert _bytes(node_qp._maximum_of(x)) == _bytes(x.max())
        block = x.reshape(1, -1).repeat(3, axis=0)
        assert _bytes(node_qp._sum_of(np.abs(block), axis=1)) == _bytes(np.abs(block).sum(axis=1))
        pairs = [
            (x > node_qp._ZERO, x > 0),
            (x < node_qp._ZERO, x < 0),
            (x < node_qp._HALF, x < 0.5),
            (np.maximum(x, node_qp._ZERO), np.maximum(x, 0.0)),
            (np.minimum(x, node_qp._ZERO), np.minimum(x, 0.0)),
            (np.where(mask, x, node_qp._INF), np.where(mask, x, np.inf)),
            (np.where(mask, x, node_qp._NEG_INF), np.where(mask, x, -np.inf)),
            (np.where(mask, x, node_qp._ZERO), np.where(mask, x, 0.0)),
            (node_qp._ONE / np.where(mask, x, node_qp._ONE), 1.0 / np.where(mask, x, 1.0)),
            (node_qp._NANO * (node_qp._ONE + np.abs(x)), 1e-9 * (1.0 + np.abs(x))),
            (node_qp._ROW_TOLERANCE * np.maximum(x, node_qp._ONE), 1e-11 * np.maximum(x, 1.0)),
            (node_qp._TWO * x * x, 2.0 * x * x),
            (x * node_qp._HALF, 0.5 * x),
            (status == node_qp._S_AT_LOWER, status == node_qp.AT_LOWER),
            (status == node_qp._S_AT_UPPER, status == node_qp.AT_UPPER),
            (status == node_qp._S_AT_KINK, status == node_qp.AT_KINK),
            (status >= node_qp._S_FREE_LOW, status >= node_qp.FREE_LOW),
            (status == node_qp._S_FREE_HIGH, status == node_qp.FREE_HIGH),
            (
                np.where(mask, node_qp._S_FREE_LOW, node_qp._S_FREE_HIGH),
                np.where(mask, node_qp.FREE_LOW, node_qp.FREE_HIGH).astype(np.int8),
            ),
        ]
        for new, old in pairs:
            assert np.asarray(new).dtype == np.asarray(old).dtype
            assert _bytes(new) == _bytes(old)


def _assembled_kkt(
    qp: ActiveSetQP,
    hess: NDArray[np.float64],
    free: NDArray[np.intp],
    curvature: NDArray[np.float64] | None,
    indices: NDArray[np.intp],
    rows: NDArray[np.float64],
    gradient: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
    """Main's `ActiveSetQP._kkt` for a system with freedom (verbatim but for its name and
    None for its NodeQPFailure): the system assembled block by block."""
    count, k = len(free), len(indices)
    constraints = rows.take(indices, axis=0).take(free, axis=1)
    system = np.zeros((count + k, count + k))
    block = hess.take(free, axis=0).take(free, axis=1)
    block.reshape(-1)[:: count + 1] += qp.ridge if curvature is None else curvature + qp.ridge
    system[:count, :count] = block
    system[:count, count:] = constraints.T
    system[count:, :count] = constraints
    right = np.zeros(count + k)
    right[:count] = -gradient
    solution = node_qp._solve(system, right)
    if solution is None:
        return None
    return solution[:count], -solution[count:]


@pytest.mark.parametrize("curved", [False, True])
def test_the_bordered_kkt_systems_solve_as_the_assembled_ones(curved: bool) -> None:
    """KKT systems of random free weights and working rows (with the artificial's column
    or without): the bordered matrix's step and multipliers are main's, bit for bit."""
    rng = np.random.default_rng(16 + curved)
    with np.errstate(all="ignore"):
        for _ in range(300):
            n, m = int(rng.integers(2, 40)), int(rng.integers(1, 25))
            factor = rng.standard_normal((n, max(n // 2, 1)))
            hessian = factor @ factor.T
            hessian[:, rng.random(n) < 0.3] = 0.0  # columns without curvature (trades)
            hessian = np.triu(hessian) + np.triu(hessian, 1).T
            rows = _sparse(rng, (m, n))
            qp = ActiveSetQP(hessian, rng.standard_normal(n), rows, -np.ones(m), np.ones(m))
            matrix = qp.rows
            if rng.random() < 0.3:  # the artificial's column and its zero row in H
                matrix = np.column_stack([matrix, _sparse(rng, (len(matrix),))])
            hess = qp._hessian_of(matrix.shape[1])
            size = len(hess)
            free = np.sort(rng.choice(size, size=int(rng.integers(1, size + 1)), replace=False))
            k = int(rng.integers(0, min(len(matrix), len(free) - 1) + 1)) if len(free) > 1 else 0
            indices = np.sort(rng.choice(len(matrix), size=k, replace=False)).astype(np.intp)
            if k >= len(free):
                continue  # (no freedom: the same code as main's, not the bordered matrix)
            curvature = np.abs(rng.standard_normal(len(free))) if curved else None
            gradient = rng.standard_normal(len(free))
            bordered = qp._bordered(hess, matrix)
            old = _assembled_kkt(qp, hess, free, curvature, indices, matrix, gradient)
            try:
                new = qp._kkt(bordered, free, curvature, indices, matrix, gradient, indices + size)
            except NodeQPFailure:
                assert old is None
                continue
            assert old is not None
            assert _bytes(new[0]) == _bytes(old[0])
            assert _bytes(new[1]) == _bytes(old[1])
