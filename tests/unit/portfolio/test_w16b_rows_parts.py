"""Session 16's second wave in `node_qp.py`, bit for bit against what it replaces.

A node's `Propagation` is stacked from its search's base rows' parts and the node's own
rows' (`Propagation(rows, base)`); `merged_rows` takes each unit row's bytes as a slice of
the whole array's and its kept rows by one fancy index; `coordinate_curvature` calls the
LAPACK gufuncs of np.linalg.eigvalsh / inv and plain reductions instead of numpy's
wrappers. Each is checked against main's code (copied here) on random inputs with signed
zeros, infinite sides, tiny and huge coefficients, parallel and empty rows.
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

_PARTS = ("positive", "negative", "magnitude", "scale", "_spread", "_nothing", "_sides")


def _bytes(value: object) -> bytes:
    return np.asarray(value).tobytes()


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
    return RowSet(matrix, lower, upper)


def _stacked(first: RowSet, second: RowSet) -> RowSet:
    """`ActiveSetQP.with_rows`' concatenation of a base and a node's own rows."""
    return RowSet(
        np.concatenate((first.matrix, second.matrix)),
        np.concatenate((first.lower, second.lower)),
        np.concatenate((first.upper, second.upper)),
    )


def test_the_stacked_propagation_is_the_whole_one() -> None:
    """`Propagation(rows, base)` holds the very arrays of `Propagation(rows)` (and so
    implies the same bounds), for empty and non-empty bases and added rows."""
    rng = np.random.default_rng(16021)
    with np.errstate(all="ignore"):
        for trial in range(1000):
            n = int(rng.integers(1, 40))
            base_rows = _rows(rng, int(rng.integers(0 if trial % 10 == 0 else 1, 15)), n)
            own = _rows(rng, int(rng.integers(0 if trial % 7 == 0 else 1, 8)), n)
            if trial % 3 == 0:  # a node's counting rows: no lower side
                own = RowSet(own.matrix, np.full(len(own.lower), -np.inf), own.upper)
            rows = _stacked(base_rows, own)
            whole, stacked = Propagation(rows), Propagation(rows, Propagation(base_rows))
            for name in _PARTS:
                got, expected = getattr(stacked, name), getattr(whole, name)
                assert got.shape == expected.shape and _bytes(got) == _bytes(expected), name
            lower = rng.standard_normal(n) * rng.choice([0.0, 1.0], size=n)
            upper = lower + np.abs(rng.standard_normal(n))
            got_of, expected_of = stacked.implied(lower, upper), whole.implied(lower, upper)
            assert got_of[0] == expected_of[0]
            assert _bytes(got_of[1:]) == _bytes(expected_of[1:])


def test_a_base_of_other_rows_is_refused() -> None:
    rng = np.random.default_rng(16022)
    base = Propagation(_rows(rng, 5, 4))
    with pytest.raises(ValueError):
        Propagation(_rows(rng, 3, 4), base)  # fewer rows than the base's
    with pytest.raises(ValueError):
        Propagation(_rows(rng, 7, 5), base)  # other columns


def _main_merged_rows(
    rows: NDArray[np.float64], lower: NDArray[np.float64], upper: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Main's `merged_rows` (verbatim)."""
    merged: list[tuple[NDArray[np.float64], float, float]] = []
    seen: dict[bytes, int] = {}
    largest = np.abs(rows).max(axis=1, initial=0.0)
    used = (largest != 0.0).nonzero()[0]
    scale = largest[used]
    units = rows[used] / scale[:, None] + 0.0
    opposites = 0.0 - units
    los, his = (lower[used] / scale).tolist(), (upper[used] / scale).tolist()
    for unit, negated, lo, hi in zip(units, opposites, los, his, strict=True):
        same, opposite = seen.get(unit.tobytes()), seen.get(negated.tobytes())
        if same is not None:
            other, other_lo, other_hi = merged[same]
            merged[same] = (other, max(other_lo, lo), min(other_hi, hi))
        elif opposite is not None:
            other, other_lo, other_hi = merged[opposite]
            merged[opposite] = (other, max(other_lo, -hi), min(other_hi, -lo))
        else:
            seen[unit.tobytes()] = len(merged)
            merged.append((unit, lo, hi))
    if not merged:
        return np.zeros((0, rows.shape[1])), np.zeros(0), np.zeros(0)
    return (
        np.array([m[0] for m in merged]),
        np.array([m[1] for m in merged]),
        np.array([m[2] for m in merged]),
    )


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
            got, expected = merged_rows(rows, lower, upper), _main_merged_rows(rows, lower, upper)
            for a, b in zip(got, expected, strict=True):
                assert a.shape == b.shape and a.dtype == b.dtype and _bytes(a) == _bytes(b)
            kinds.add(len(got[1]) < len(rows))
    assert kinds == {True, False}  # some merged or dropped rows, some not


def _main_curvature(hessian: NDArray[np.float64]) -> NDArray[np.float64]:
    """Main's `coordinate_curvature` (verbatim)."""
    size = len(hessian)
    kappa = np.zeros(size)
    if size == 0:
        return kappa
    curved = np.flatnonzero(np.abs(hessian).max(axis=1) > 0.0)
    if curved.size == 0:
        return kappa
    block = hessian[np.ix_(curved, curved)]
    if not np.array_equal(block, block.T):
        return kappa
    eigenvalues = np.linalg.eigvalsh(block)
    if not (eigenvalues[0] > 0.0 and eigenvalues[-1] <= 1e8 * eigenvalues[0]):
        return kappa
    inverse = np.diagonal(np.linalg.inv(block))
    if not (np.all(np.isfinite(inverse)) and np.all(inverse > 0.0)):
        return kappa
    kappa[curved] = (1.0 - 1e-6) / inverse
    return kappa


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
        got, expected = coordinate_curvature(hessian), _main_curvature(hessian)
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
    rows and their (stacked) `Propagation` are main's `node_rows` and a `Propagation`
    built from scratch, array by array."""
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
