"""Vectorised, bit-exact SMA crossover signals (the backtrader `CrossOver` rule).

A crossover is decided by the *sign* of `fast - slow`, and on real data near-ties decide
crossings, so the sign must be the one the exactly rounded means give:

    SMA_n(t) = fl( Σ_{i=t-n+1..t} close_i / n )        (= math.fsum(window) / n)

defined from `t = n - 1` when the window holds no missing close.

Fast route, same bits: the rolling sums come from one extended-precision cumulative sum
(`numpy.longdouble`; 80-bit on x86-64), whose error is bounded by the classic recursive
summation bound `|err(C_t)| <= (t + 1) · u · C_t` (u = unit round-off, all terms >= 0).
Wherever `|fast - slow|` is within the two error bounds plus a `1e-9 · max(|fast|, |slow|)`
margin (which covers the final float64 rounding of both means), the sign is recomputed from
`math.fsum`; everywhere else it is already certain. On platforms where `longdouble` is plain
float64 the bound is simply wider and more cells get the exact recompute.

Crossover (backtrader `CrossOver`, long-only use): `c(t) = sign(fast - slow)` (0 only on an
exact tie, undefined while either mean is undefined); `z(t)` carries the last non-zero `c`
(0 before any). Then

    up(t)   = z(t-1) < 0  and  c(t) > 0
    down(t) = z(t-1) > 0  and  c(t) < 0

so ties never signal and below -> tie -> above signals on the first "above" bar. The first
defined bar `s0 = max(fast, slow) - 1` never signals because `z(s0 - 1) = 0`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tradefolio.errors import InvalidParameter

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: Relative margin that covers the final float64 rounding of each mean (a few ulps) with room.
TIE_MARGIN = 1e-9


@dataclass(frozen=True, slots=True)
class CrossSignals:
    """Boolean `(bars, symbols)` matrices: `up[t, j]` / `down[t, j]` decided at the close of t."""

    up: BoolArray
    down: BoolArray


def _rolling_mean_with_bound(
    cumsum: npt.NDArray[np.longdouble],
    counts: npt.NDArray[np.int64],
    window: int,
) -> tuple[FloatArray, FloatArray]:
    """Approximate SMA (NaN where undefined) and an absolute error bound for each cell."""
    bars = cumsum.shape[0]
    mean = np.full(cumsum.shape, np.nan)
    bound = np.zeros(cumsum.shape)
    if bars < window:
        return mean, bound
    upper = cumsum[window - 1 :]
    lower = np.zeros_like(upper)
    lower[1:] = cumsum[: bars - window]
    valid = (
        counts[window - 1 :]
        - np.concatenate([np.zeros((1, counts.shape[1]), dtype=np.int64), counts[: bars - window]])
    ) == window
    unit = float(np.finfo(np.longdouble).eps) / 2.0
    rows = np.arange(window, bars + 1, dtype=np.float64)[:, None]
    mean_part = ((upper - lower) / window).astype(np.float64)
    bound_part = (rows + 1.0) * unit * (upper + lower).astype(np.float64) / window
    mean[window - 1 :] = np.where(valid, mean_part, np.nan)
    bound[window - 1 :] = bound_part
    return mean, bound


def _exact_mean(column: FloatArray, end: int, window: int) -> float:
    return math.fsum(column[end - window + 1 : end + 1].tolist()) / window


def cross_sign(closes: FloatArray, fast: int, slow: int) -> FloatArray:
    """`c(t) = sign(SMA_fast(t) - SMA_slow(t))` with exactly rounded means; NaN if undefined.

    `closes` is a `(bars, symbols)` float64 array, oldest first, NaN for a missing close.
    """
    if not (isinstance(fast, int) and isinstance(slow, int) and fast >= 1 and slow >= 1):
        raise InvalidParameter(f"SMA windows must be integers >= 1, got fast={fast}, slow={slow}")
    values = np.asarray(closes, dtype=np.float64)
    present = ~np.isnan(values)
    cumsum = np.cumsum(np.where(present, values, 0.0).astype(np.longdouble), axis=0)
    counts = np.cumsum(present, axis=0, dtype=np.int64)
    fast_mean, fast_bound = _rolling_mean_with_bound(cumsum, counts, fast)
    slow_mean, slow_bound = _rolling_mean_with_bound(cumsum, counts, slow)
    with np.errstate(invalid="ignore"):
        difference = fast_mean - slow_mean
        scale = np.maximum(np.abs(fast_mean), np.abs(slow_mean))
        suspect = np.abs(difference) <= fast_bound + slow_bound + TIE_MARGIN * scale
        sign = np.sign(difference)
    for row, col in zip(*np.nonzero(suspect), strict=True):
        column = values[:, col]
        exact = _exact_mean(column, int(row), fast) - _exact_mean(column, int(row), slow)
        sign[row, col] = 0.0 if exact == 0.0 else math.copysign(1.0, exact)
    return sign


def crossovers(closes: FloatArray, fast: int, slow: int) -> CrossSignals:
    """Up- and down-crosses of `SMA_fast` over `SMA_slow` (see the module docstring)."""
    sign = cross_sign(closes, fast, slow)
    bars, symbols = sign.shape
    nonzero = ~np.isnan(sign) & (sign != 0.0)
    last_index = np.where(nonzero, np.arange(bars)[:, None], -1)
    np.maximum.accumulate(last_index, axis=0, out=last_index)
    carried = np.where(
        last_index >= 0, sign[np.maximum(last_index, 0), np.arange(symbols)[None, :]], 0.0
    )
    previous = np.zeros_like(carried)
    previous[1:] = carried[:-1]
    with np.errstate(invalid="ignore"):
        up = (previous < 0) & (sign > 0)
        down = (previous > 0) & (sign < 0)
    return CrossSignals(up=up, down=down)


__all__ = ["TIE_MARGIN", "CrossSignals", "cross_sign", "crossovers"]
