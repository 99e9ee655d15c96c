"""The variance w^T Σ w of a factor-form risk model as program terms.

    w^T Σ w = sum_k m_k^2 y_k^2 + sum_i d_i w_i^2,    m_k y_k = B_k w   (one row per factor)

The quadratic part stays diagonal (obviously convex to the solver) and the number of
non-zeros is (factors x names) instead of names^2. When there are more factors than names
(a long return history), B is first compressed to its at most N principal components
(B^T B = V Λ V^T, B' = Λ^(1/2) V^T): the same Σ with fewer rows. Each y_k gets the finite
bounds |y_k| <= sum_i |B_ki| u_i / m_k, which SCIP's bound propagation needs to stay fast;
m_k = max_i |B_ki| keeps every row's coefficients within [-1, 1].
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from tradefolio.portfolio.context import ModelContext
from tradefolio.portfolio.covariance import RiskModel
from tradefolio.portfolio.program import FrozenCoefficients, Row


def compressed_loadings(loadings: NDArray[np.float64]) -> NDArray[np.float64]:
    """Loadings with at most N rows and the same B^T B (principal components)."""
    factors, names = loadings.shape
    if factors <= names:
        return loadings
    eigenvalues, vectors = np.linalg.eigh(loadings.T @ loadings)
    keep = eigenvalues > 1e-12 * max(float(eigenvalues.max(initial=0.0)), 1e-300)
    compressed: NDArray[np.float64] = np.sqrt(eigenvalues[keep])[:, None] * vectors[:, keep].T
    return compressed


def add_variance(
    ctx: ModelContext,
    risk: RiskModel,
    coefficient: float,
    memo: list[FactorRows] | None = None,
) -> None:
    """Add coefficient * w^T Σ w to the objective (Σ from `risk`, aligned to the universe).

    `memo` (an objective's own list) keeps the rows of the last universe: a whole-share
    rebalance that builds its fractional twin apart builds the same rows twice."""
    program = ctx.program
    upper = program.upper
    caps = np.array([upper[w] for w in ctx.weights], dtype=np.float64)
    key = (caps.tobytes(), program.size, tuple(ctx.weights))
    rows = memo[0] if memo else None
    if rows is None or rows.universe is not ctx.universe or rows.key != key:
        rows = FactorRows(ctx, risk, caps, key)
        if memo is not None:
            memo[:] = [rows]
    # the exposures' columns are these (the same first index is part of the memo's key)
    program.add_columns(rows.names, [-reach for reach in rows.reaches], rows.reaches)
    # a fresh `Row` per program: read-only coefficients and their arrays are shared, a
    # plain dict (a row with a zero loading) is copied
    program.rows.extend(
        Row(
            row.coefficients if row.arrays is not None else dict(row.coefficients),
            0.0,
            0.0,
            None,
            arrays=row.arrays,
        )
        for row in rows.rows
    )
    # `Program.add_square_terms`, inline: value + the existing term (0.0 if none)
    quadratic = program.quadratic
    term = quadratic.get
    first = rows.key[1]
    for position, unit in enumerate(rows.units):
        pair = (first + position, first + position)
        quadratic[pair] = term(pair, 0.0) + coefficient * unit * unit
    specific = rows.specific
    variances = specific.tolist()
    weights = ctx.weights
    for i in np.flatnonzero(specific > 0).tolist():
        pair = (weights[i], weights[i])
        quadratic[pair] = term(pair, 0.0) + coefficient * variances[i]


class FactorRows:
    """The definition rows of `add_variance` for one universe, its caps and the index of
    the first exposure variable: per factor with a non-zero row its exposure's name, its
    reach (the bound |y_k| <= sum_i |B_ki| u_i / m_k), its row and its unit m_k; and the
    names' specific variances.

    y_k is defined in units of the row's largest loading: rows and the objective stay
    within a few orders of magnitude of 1 (daily loadings are ~1e-3 to 1e-6, which QP
    solvers' absolute feasibility tolerances cannot resolve). The whole loading matrix is
    normalised in one numpy pass (252 rows of 500 names at every rebalance of a 500-name
    run), the rows' columns and values made as two blocks and converted to lists at once,
    and each row kept as its block rows beside its read-only dict (`program.array_row`'s
    form: `row_activities` reads the arrays); each reach stays one dot per row, the same
    bits as when rows were built one at a time."""

    __slots__ = ("key", "names", "reaches", "rows", "specific", "units", "universe")

    def __init__(
        self,
        ctx: ModelContext,
        risk: RiskModel,
        caps: NDArray[np.float64],
        key: tuple[bytes, int, tuple[int, ...]],
    ) -> None:
        self.universe = ctx.universe
        self.key = key
        model = risk.subset(ctx.universe.symbols)
        self.specific = model.specific
        loadings = compressed_loadings(model.loadings)
        units = np.abs(loadings).max(axis=1, initial=0.0)
        kept = np.flatnonzero(units != 0.0)
        normalised = loadings[kept] / units[kept, None]
        magnitudes = np.abs(normalised)
        count = kept.size
        dense = (np.count_nonzero(normalised, axis=1) == normalised.shape[1]).tolist()
        weights = ctx.weights
        exposure = key[1]
        # every row with its exposure's -1 appended; its columns beside it
        block = np.empty((count, len(weights) + 1))
        block[:, :-1] = normalised
        block[:, -1] = -1.0
        columns = np.empty((count, len(weights) + 1), dtype=np.int64)
        columns[:, :-1] = np.array(weights, dtype=np.int64)
        columns[:, -1] = np.arange(exposure, exposure + count, dtype=np.int64)
        block.flags.writeable = False
        columns.flags.writeable = False
        listed = block.tolist()
        indices = columns.tolist()
        self.names = [f"factor[{k}]" for k in kept.tolist()]
        self.units = units[kept].tolist()
        self.reaches = [float(magnitudes[position] @ caps) for position in range(count)]
        self.rows: list[Row] = []
        column_rows, value_rows = list(columns), list(block)  # each row's views, at once
        for position in range(count):
            if dense[position]:
                # `array_row`'s row, its checks met by construction: the weights and the
                # exposure are distinct columns, and no value is zero
                coefficients = FrozenCoefficients(
                    zip(indices[position], listed[position], strict=True)
                )
                arrays = (column_rows[position], value_rows[position])
                row = Row(coefficients, 0.0, 0.0, None, arrays=arrays)
            else:
                terms = ctx.weight_terms(normalised[position])
                terms[exposure + position] = -1.0
                row = Row(terms, 0.0, 0.0, None)
            self.rows.append(row)


__all__ = ["FactorRows", "add_variance"]
