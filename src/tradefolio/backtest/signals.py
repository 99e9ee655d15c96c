"""Vectorised, bit-exact SMA crossover signals (the backtrader `CrossOver` rule).

A crossover is decided by the *sign* of `fast - slow`, and on real data near-ties decide
crossings, so the sign must be the one the exactly rounded means give:

    SMA_n(t) = fl( Σ_{i=t-n+1..t} close_i / n )        (= math.fsum(window) / n)

defined from `t = n - 1` when the window holds no missing close.

`tradefolio.indicators.sma` computes these means bit-exactly everywhere (the tests check
this module against it); a crossover only needs the *sign* of their difference, which this
module gets several times faster, with the same bits. Rolling sums come from one cumulative
sum, then the sign is recomputed from `math.fsum` wherever `|fast - slow|` is within the
approximation's error bound plus a `1e-9 · max(|fast|, |slow|)` margin (which covers the
final float64 roundings); everywhere else the approximate sign is already certain.

- Prices with at most six decimals (real quotes; checked, not assumed) are summed as exact
  integer micro-units (`int64`): the integer mean differs from the float mean by at most
  `mean · 2^-53` per window, far inside the margin.
- Any other prices use an extended-precision (`numpy.longdouble`, 80-bit on x86-64)
  cumulative sum with the recursive summation bound `|err(C_t)| <= (t + 1) · u · C_t`
  (u = unit round-off, all terms >= 0) added to the margin. Where `longdouble` is plain
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
#: Prices with at most six decimals are summed exactly as integer micro-units.
MICRO_SCALE = 1e6


@dataclass(frozen=True, slots=True)
class CrossSignals:
    """Boolean `(bars, symbols)` matrices: `up[t, j]` / `down[t, j]` decided at the close of t."""

    up: BoolArray
    down: BoolArray


def _valid_windows(
    counts: npt.NDArray[np.int64] | None, window: int, shape: tuple[int, int]
) -> BoolArray | None:
    """Which windows ending at rows `window-1..` hold `window` closes (None: all of them)."""
    if counts is None:
        return None
    bars = shape[0]
    before = np.zeros((bars - window + 1, shape[1]), dtype=np.int64)
    before[1:] = counts[: bars - window]
    return np.asarray((counts[window - 1 :] - before) == window)


def _rolling_mean_with_bound(
    cumsum: npt.NDArray[np.int64] | npt.NDArray[np.longdouble],
    counts: npt.NDArray[np.int64] | None,
    window: int,
    scale: float,
) -> tuple[FloatArray, FloatArray | None]:
    """Approximate SMA (NaN where undefined) and an absolute error bound for each cell.

    `cumsum` holds exact integer sums of `close · scale` (bound: None, meaning only the
    final roundings, which `TIE_MARGIN` covers) or extended-precision float sums
    (bound: the recursive summation bound of both cumulative sums).
    """
    bars = cumsum.shape[0]
    mean = np.full(cumsum.shape, np.nan)
    if bars < window:
        return mean, None
    upper = cumsum[window - 1 :]
    lower = np.zeros_like(upper)
    lower[1:] = cumsum[: bars - window]
    window_mean = (upper - lower).astype(np.float64) / (window * scale)
    valid = _valid_windows(counts, window, cumsum.shape)
    mean[window - 1 :] = window_mean if valid is None else np.where(valid, window_mean, np.nan)
    if cumsum.dtype == np.int64:
        return mean, None
    bound = np.zeros(cumsum.shape)
    unit = float(np.finfo(np.longdouble).eps) / 2.0
    rows = np.arange(window, bars + 1, dtype=np.float64)[:, None]
    bound[window - 1 :] = (rows + 1.0) * unit * (upper + lower).astype(np.float64) / window
    return mean, bound


def _exact_mean(column: FloatArray, end: int, window: int) -> float:
    return math.fsum(column[end - window + 1 : end + 1].tolist()) / window


def _micro_units(values: FloatArray) -> npt.NDArray[np.int64] | None:
    """`values · 1e6` as exact integers when every value is the float nearest to a
    six-decimal number (and sums cannot overflow), else None."""
    scaled = np.rint(values * MICRO_SCALE)
    if not np.array_equal(scaled / MICRO_SCALE, values):
        return None
    if values.shape[0] * float(np.max(scaled, initial=0.0)) >= 2.0**62:
        return None
    return scaled.astype(np.int64)


def cross_sign(closes: FloatArray, fast: int, slow: int) -> FloatArray:
    """`c(t) = sign(SMA_fast(t) - SMA_slow(t))` with exactly rounded means; NaN if undefined.

    `closes` is a `(bars, symbols)` float64 array, oldest first, NaN for a missing close.
    """
    if not (isinstance(fast, int) and isinstance(slow, int) and fast >= 1 and slow >= 1):
        raise InvalidParameter(f"SMA windows must be integers >= 1, got fast={fast}, slow={slow}")
    values = np.asarray(closes, dtype=np.float64)
    missing = np.isnan(values)
    counts: npt.NDArray[np.int64] | None = None
    if missing.any():
        counts = np.cumsum(~missing, axis=0, dtype=np.int64)
        values_or_zero = np.where(missing, 0.0, values)
    else:
        values_or_zero = values
    micro = _micro_units(values_or_zero)
    cumsum: npt.NDArray[np.int64] | npt.NDArray[np.longdouble]
    if micro is not None:
        # Exact sums of six-decimal prices: |Σp_i - Σd_i| <= mean · 2^-53 per window, far
        # inside TIE_MARGIN, so the integer mean decides every sign outside the margin.
        cumsum, scale = np.cumsum(micro, axis=0), MICRO_SCALE
    else:
        cumsum, scale = np.cumsum(values_or_zero.astype(np.longdouble), axis=0), 1.0
    fast_mean, fast_bound = _rolling_mean_with_bound(cumsum, counts, fast, scale)
    slow_mean, slow_bound = _rolling_mean_with_bound(cumsum, counts, slow, scale)
    with np.errstate(invalid="ignore"):
        difference = fast_mean - slow_mean
        tolerance = TIE_MARGIN * np.maximum(np.abs(fast_mean), np.abs(slow_mean))
        if fast_bound is not None and slow_bound is not None:
            tolerance += fast_bound + slow_bound
        suspect = np.abs(difference) <= tolerance
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
