"""Kelly: maximise expected log growth on return scenarios, linearised with tangent cuts.

    maximise   (1 / T) sum_t g_t
    subject to g_t <= log(1 + z_k) + (r_t^T w - z_k) / (1 + z_k)    for every cut point z_k

Each g_t is the lower envelope of tangents of the concave log(1 + z), which lies *above*
log(1 + z). The cut points cover the range scenario t can reach with w >= 0 and
sum w <= 1, z in [min(0, min_i r_ti), max(0, max_i r_ti)], and are spaced geometrically
in y = 1 + z with ratio ρ.

Error bound. Between tangents at y and ρy the envelope exceeds log by at most

    e(ρ) = L - 1 - log L,   L = ρ log ρ / (ρ - 1)

(attained where the two tangents cross; it depends on ρ only). ρ is chosen so that
e(ρ) <= `tolerance`, hence for every w:  G(w) <= Ĝ(w) <= G(w) + tolerance, where G is the
true mean log growth and Ĝ the cut model. The solver's ŵ then satisfies
G(ŵ) >= G(w*) - tolerance: the approximation costs at most `tolerance` of growth per
period, and the model's bound is a valid upper bound on the true optimum.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from tradefolio.errors import DataError, InvalidParameter
from tradefolio.portfolio.context import ModelContext
from tradefolio.portfolio.objectives.base import Objective
from tradefolio.portfolio.objectives.scenarios import aligned_scenarios

if TYPE_CHECKING:  # annotations only: allocating needs no pandas
    import pandas as pd


def envelope_error(ratio: float) -> float:
    """Largest gap between the tangents of log at y and ratio * y and log itself."""
    if ratio <= 1.0:
        return 0.0
    crossing = ratio * math.log(ratio) / (ratio - 1.0)
    return crossing - 1.0 - math.log(crossing)


def cut_ratio(tolerance: float) -> float:
    """Largest spacing ratio ρ with envelope_error(ρ) <= tolerance (bisection)."""
    low, high = 1.0, 2.0
    while envelope_error(high) <= tolerance:
        high *= 2.0
    for _ in range(100):
        middle = 0.5 * (low + high)
        if envelope_error(middle) <= tolerance:
            low = middle
        else:
            high = middle
    return low


def cut_points(low: float, high: float, ratio: float) -> NDArray[np.float64]:
    """Points z_k from low to high with (1 + z_(k+1)) / (1 + z_k) <= ratio."""
    span = math.log((1.0 + high) / (1.0 + low))
    count = max(1, math.ceil(span / math.log(ratio) - 1e-12)) if span > 0 else 0
    points: NDArray[np.float64] = (1.0 + low) * np.exp(np.linspace(0.0, span, count + 1)) - 1.0
    return points


def log_growth(returns: NDArray[np.float64], weights: NDArray[np.float64]) -> float:
    """Mean log(1 + r_t^T w): the true Kelly objective."""
    return float(np.mean(np.log1p(returns @ weights)))


class Kelly(Objective):
    """maximise mean log(1 + r_t^T w) within `tolerance` per period (tangent cuts)."""

    name = "kelly"

    def __init__(self, scenarios: pd.DataFrame, tolerance: float = 1e-6) -> None:
        if not (math.isfinite(tolerance) and 0 < tolerance < 0.1):
            raise InvalidParameter(f"kelly tolerance must be in (0, 0.1), got {tolerance}")
        self.scenarios = scenarios
        self.tolerance = tolerance
        self._returns: NDArray[np.float64] | None = None
        self.cuts = 0

    def build(self, ctx: ModelContext) -> None:
        returns = aligned_scenarios(self.scenarios, ctx.universe.symbols)
        if (returns <= -1.0).any():
            raise DataError("kelly needs every scenario return > -100%")
        self._returns = returns
        ratio = cut_ratio(self.tolerance)
        program = ctx.program
        periods = len(returns)
        self.cuts = 0
        for t in range(periods):
            row = returns[t]
            low = min(0.0, float(row.min(initial=0.0)))
            high = max(0.0, float(row.max(initial=0.0)))
            growth = program.add_variable(f"growth[{t}]", -math.inf, math.inf)
            program.add_objective({growth: 1.0 / periods})
            base = ctx.weight_terms(row)
            for z in cut_points(low, high, ratio):
                slope = 1.0 / (1.0 + z)
                terms = {k: -c * slope for k, c in base.items()}
                terms[growth] = 1.0
                program.add_row(terms, hi=math.log1p(z) - z * slope)
                self.cuts += 1

    def evaluate(self, weights: NDArray[np.float64]) -> float | None:
        if self._returns is None:
            return None
        return log_growth(self._returns, weights)


__all__ = ["Kelly", "cut_points", "cut_ratio", "envelope_error", "log_growth"]
