"""Session 16's second wave in `node_qp.py`, bit for bit against what it replaces.

`merged_rows` takes each unit row's bytes as a slice of the whole array's and its kept
rows by one fancy index; `coordinate_curvature` calls the LAPACK gufuncs of
np.linalg.eigvalsh / inv and plain reductions instead of numpy's wrappers; a node's rows
are built from the held pattern its cache key computed, the counting rows' coefficients
at the members' places read once. Each is checked against main's code
(`node_reference.py`'s, or copied here) on random inputs with signed zeros, infinite
sides, parallel and empty rows, and on the nodes of small rebalance and capped floor
programs.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from tradefolio.portfolio import node_qp
from tradefolio.portfolio.node_qp import (
    Propagation,
    RowSet,
    SelectionNodes,
    coordinate_curvature,
    merged_rows,
)
from unit.portfolio import node_reference as reference

_PARTS = ("positive", "negative", "magnitude", "scale", "_spread", "_nothing", "_sides")


def _bytes(value: object) -> bytes:
    return np.asarray(value).tobytes()


def test_merged_rows_as_main() -> None:
    """Parallel, opposite, repeated, empty and signed-zero rows: main's merge, bit for bit
    (values, shapes and dtypes)."""
    rng = np.random.default_rng(16023)
    kinds = set()
    with np.errstate(all="ignore"):
        for trial in range(1500):
            m, n = int(rng.integers(0, 8)), int(rng.integers(0 if trial % 100 == 0 else 1, 6))
            matrix = rng.choice([-2.0, -1.0, -0.0, 0.0, 0.5, 1.0, 3.0, 1e-300], size=(m, n))
            copies = [matrix]
            if m:
                picked = rng.integers(0, m, size=int(rng.integers(0, 4)))
                copies += [matrix[[i]] * rng.choice([-2.0, -1.0, 0.5, 4.0]) for i in picked]
            rows = np.concatenate(copies)
            lower = rng.choice([-np.inf, -1.0, 0.0, 0.3], size=len(rows))
            upper = lower + rng.choice([0.0, 1.0, np.inf], size=len(rows))
            got, expected = (
                merged_rows(rows, lower, upper),
                reference.merged_rows(rows, lower, upper),
            )
            for a, b in zip(got, expected, strict=True):
                assert a.shape == b.shape and a.dtype == b.dtype and _bytes(a) == _bytes(b)
            kinds.add(len(got[1]) < len(rows))
    assert kinds == {True, False}  # some merged or dropped rows, some not


def test_coordinate_curvature_as_main() -> None:
    """Positive definite, ill-conditioned, singular, indefinite, asymmetric, NaN and
    partly empty Hessians: main's kappa, bit for bit."""
    rng = np.random.default_rng(16024)
    positive = 0
    for trial in range(600):
        n = int(rng.integers(0, 35))
        factor = rng.standard_normal((n, max(1, n // (1 + trial % 3))))
        hessian = factor @ factor.T * rng.choice([1e-8, 1.0, 1e4])
        hessian = hessian + np.diag(rng.random(n) * rng.choice([0.0, 1e-3, 1.0]))
        if n and trial % 4 == 0:  # columns without curvature (trades)
            empty = rng.random(n) < 0.4
            hessian[empty] = 0.0
            hessian[:, empty] = 0.0
        if n and trial % 9 == 0:
            hessian[0, -1] += 1e-3  # asymmetric
        if n and trial % 13 == 0:
            hessian = hessian - 2.0 * np.eye(n)  # indefinite
        if n and trial % 17 == 0:
            hessian[rng.integers(n), rng.integers(n)] = np.nan
        hessian = np.ascontiguousarray(hessian)
        got, expected = coordinate_curvature(hessian), reference.coordinate_curvature(hessian)
        assert _bytes(got) == _bytes(expected)
        positive += bool(np.any(got > 0.0))
    assert 0 < positive < 600  # both verdicts seen


def test_the_gufuncs_are_the_wrappers() -> None:
    """`_eigenvalues` / `_inverse` give np.linalg.eigvalsh / inv's numbers bit for bit."""
    rng = np.random.default_rng(16025)
    for _ in range(200):
        n = int(rng.integers(1, 40))
        factor = rng.standard_normal((n, n))
        matrix = factor @ factor.T + np.eye(n) * rng.random()
        assert _bytes(node_qp._eigenvalues(matrix)) == _bytes(np.linalg.eigvalsh(matrix))
        assert _bytes(node_qp._inverse(matrix)) == _bytes(np.linalg.inv(matrix))


def _main_node_rows(nodes: SelectionNodes, lower: NDArray[np.float64]) -> RowSet | None:
    """Main's `SelectionNodes.node_rows` (verbatim but for `self` and the places' cache)."""
    if not nodes.counting:
        return None
    held = lower > 0.5
    rows, members, counts, columns, others, his = nodes._node_row_parts()
    matrix = others.copy()
    taken = held[members]
    added = np.where(taken, 0.0, counts / nodes.caps[members])
    places = rows * matrix.shape[1] + columns
    if len(np.unique(places)) == len(places):
        matrix.reshape(-1)[places] += added
    else:
        np.add.at(matrix, (rows, columns), added)
    upper = his - np.bincount(rows, weights=np.where(taken, counts, 0.0), minlength=len(his))
    return nodes.qp.with_rows(matrix, np.full(len(upper), -np.inf), upper)


@pytest.mark.parametrize("which", range(6))
def test_the_nodes_rows_and_propagations_as_main(which: int) -> None:
    """Small rebalance and capped floor programs: along random held patterns, each node's
    rows are main's `node_rows`, array by array, and its kept `Propagation` is one of
    them."""
    pytest.importorskip("highspy")
    from tradefolio.portfolio import branch_and_bound as search
    from unit.portfolio.test_node_qp import floored_program, rebalance_program

    seed = which // 2
    program = (
        rebalance_program(seed, min_trade=None, fixed=1.0, max_turnover=0.2)
        if which % 2 == 0
        else floored_program(seed, max_positions=3)
    )
    relaxation = search.Relaxation(program, 1.0)
    nodes = relaxation.nodes
    assert isinstance(nodes, SelectionNodes) and nodes.counting
    rng = np.random.default_rng(16026 + which)
    size = len(nodes.floors)
    for _ in range(40):
        lower = (rng.random(size) < 0.3).astype(np.float64)
        rows, propagation = nodes._rows_and_propagation(lower)
        expected = _main_node_rows(nodes, lower)
        assert rows is not None and expected is not None
        for got, want in zip(
            (rows.matrix, rows.lower, rows.upper),
            (expected.matrix, expected.lower, expected.upper),
            strict=True,
        ):
            assert got.shape == want.shape and _bytes(got) == _bytes(want)
        node_rows = nodes.node_rows(lower)
        assert node_rows is not None and _bytes(node_rows.matrix) == _bytes(rows.matrix)
        built, whole = propagation(), Propagation(expected)
        assert propagation() is built  # kept per pattern
        for name in _PARTS:
            assert _bytes(getattr(built, name)) == _bytes(getattr(whole, name)), name
