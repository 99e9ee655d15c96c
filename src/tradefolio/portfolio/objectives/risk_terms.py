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


def compressed_loadings(loadings: NDArray[np.float64]) -> NDArray[np.float64]:
    """Loadings with at most N rows and the same B^T B (principal components)."""
    factors, names = loadings.shape
    if factors <= names:
        return loadings
    eigenvalues, vectors = np.linalg.eigh(loadings.T @ loadings)
    keep = eigenvalues > 1e-12 * max(float(eigenvalues.max(initial=0.0)), 1e-300)
    compressed: NDArray[np.float64] = np.sqrt(eigenvalues[keep])[:, None] * vectors[:, keep].T
    return compressed


def add_variance(ctx: ModelContext, risk: RiskModel, coefficient: float) -> None:
    """Add coefficient * w^T Σ w to the objective (Σ from `risk`, aligned to the universe)."""
    model = risk.subset(ctx.universe.symbols)
    program = ctx.program
    loadings = compressed_loadings(model.loadings)
    caps = np.array([ctx.weight_upper(i) for i in range(ctx.size)])
    for k, row in enumerate(loadings):
        # y_k is defined in units of the row's largest loading: rows and the objective
        # stay within a few orders of magnitude of 1 (daily loadings are ~1e-3 to 1e-6,
        # which QP solvers' absolute feasibility tolerances cannot resolve).
        unit = float(np.abs(row).max(initial=0.0))
        if unit == 0.0:
            continue
        normalised = row / unit
        reach = float(np.abs(normalised) @ caps)
        exposure = program.add_variable(f"factor[{k}]", -reach, reach)
        terms = ctx.weight_terms(normalised)
        terms[exposure] = -1.0
        program.add_rows([terms], lo=0.0, hi=0.0)  # taken over: a fresh dict, not copied
        program.add_square_terms(exposure, coefficient * unit * unit)
    for i, specific in enumerate(model.specific):
        if specific > 0:
            program.add_square_terms(ctx.weights[i], coefficient * float(specific))


__all__ = ["add_variance"]
