"""Moving averages: the exactly rounded simple moving average and the exponential one.

A crossover strategy acts on the *sign* of `SMA_fast - SMA_slow`, and on real prices the two
means tie or nearly tie often enough that the last bit decides fills. backtrader's SMA is

    SMA_n(t) = fl( fl(Σ_{i=t-n+1..t} x_i) / n )    = math.fsum(window) / n

(the correctly rounded window sum, then one IEEE division), defined from `t = n - 1` when
the window holds no missing value. pandas' `rolling().mean()` (a running sum), `np.cumsum`
differences and plain left-to-right sums differ from it in the last bits, so `sma` here
computes exactly that value, bit for bit, for every float64 input, vectorised.

How (error-free extraction, Rump, Ogita & Oishi, "Accurate floating-point summation",
2008): per column, with `σ = 2^k >= 2 · T · max|x|` (T = number of bars),

    hi_i = fl(fl(σ + x_i) - σ),   lo_i = fl(x_i - hi_i)

splits every value exactly, `x_i = hi_i + lo_i`, with every `hi_i` a multiple of
`δ = σ · 2^-53` and `|lo_i| <= δ`. All partial sums of the `hi_i` are multiples of `δ`
bounded by `σ = 2^53 δ`, so `np.cumsum(hi)` and the window differences
`H_t - H_{t-n}` are *exact*. Splitting the `lo_i` once more the same way gives a second
exact window sum; when the second residual is zero on the window (always, unless a window
mixes values more than ~2^26 apart in magnitude, e.g. 1e-8 next to 1e3) the window sum is
exactly `D_1 + D_2`, and one IEEE addition `fl(D_1 + D_2)` is the correctly rounded sum.
The remaining windows (and windows holding ±inf, or columns whose `2 T max|x|` overflows)
are recomputed with `math.fsum`. Cost: about twenty array passes, no per-cell Python work on
price data.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import overload

import numpy as np
import numpy.typing as npt
import pandas as pd

from tradefolio.errors import InvalidParameter
from tradefolio.indicators._common import check_window

FloatArray = npt.NDArray[np.float64]

_MANTISSA_BITS = 53
#: Levels of error-free extraction before falling back to `math.fsum` (see module docstring).
_LEVELS = 2


def _extraction_unit(magnitude: FloatArray, bars: int) -> FloatArray:
    """Per column `σ = 2^k >= 2 · bars · magnitude` (0 if magnitude is 0, inf on overflow)."""
    with np.errstate(over="ignore", divide="ignore"):
        scaled = magnitude * (2.0 * bars)
        _, exponent = np.frexp(scaled)  # scaled = m · 2^e with m in [0.5, 1): scaled < 2^e
        sigma = np.ldexp(np.ones_like(scaled), exponent)
    sigma[magnitude == 0.0] = 0.0
    sigma[~np.isfinite(scaled)] = np.inf
    return np.asarray(sigma, dtype=np.float64)


def _split(values: FloatArray, sigma: FloatArray) -> tuple[FloatArray, FloatArray]:
    """`values = hi + lo` exactly, `hi` on the grid `σ · 2^-53` (per column, σ broadcast)."""
    with np.errstate(invalid="ignore", over="ignore"):
        high = (sigma + values) - sigma
        high = np.where(sigma == 0.0, 0.0, high)
        low = values - high
    return high, low


def _window_sums(grid_values: FloatArray, window: int) -> FloatArray:
    """Exact window sums of values on a common grid with bounded partial sums (see docstring)."""
    bars = grid_values.shape[0]
    cumulative = np.cumsum(grid_values, axis=0)
    sums = cumulative[window - 1 :].copy()
    if bars > window:
        sums[1:] -= cumulative[: bars - window]
    return sums


def _window_any(flags: npt.NDArray[np.bool_], window: int) -> npt.NDArray[np.bool_]:
    """True for each window (ending at rows window-1..) holding at least one flagged cell."""
    counts = _window_sums(flags.astype(np.float64), window)
    return counts > 0.5


def _fsum_mean(window_values: FloatArray) -> float:
    """`math.fsum(window) / n`, the reference.

    Where fsum gives up (an intermediate overflow) the sum is rounded from exact rationals,
    ±inf when it really overflows; `inf - inf` gives NaN.
    """
    count = len(window_values)
    try:
        return math.fsum(window_values.tolist()) / count
    except OverflowError:
        exact = sum((Fraction(value) for value in window_values.tolist()), Fraction(0))
        try:
            return float(exact) / count
        except OverflowError:
            return math.copysign(math.inf, exact)
    except ValueError:  # -inf + inf
        return math.nan


def _sma_matrix(values: FloatArray, window: int) -> FloatArray:
    bars, columns = values.shape
    result = np.full((bars, columns), np.nan)
    if bars < window:
        return result
    missing = np.isnan(values)
    infinite = np.isinf(values)
    finite = np.where(missing | infinite, 0.0, values)

    residual = finite
    total = np.zeros((bars - window + 1, columns))
    for _ in range(_LEVELS):
        sigma = _extraction_unit(np.max(np.abs(residual), axis=0), bars)
        # an overflowing σ (values near the float64 limit) splits nothing: fsum handles it
        high, residual = _split(residual, np.where(np.isfinite(sigma), sigma, 0.0))
        # with two levels this is the single IEEE addition fl(D_1 + D_2)
        total = total + _window_sums(high, window)

    means = total / window
    exact = ~_window_any(residual != 0.0, window)
    undefined = _window_any(missing, window)
    needs_fsum = ~exact | _window_any(infinite, window)
    out = np.where(undefined, np.nan, means)
    for row, column in zip(*np.nonzero(needs_fsum & ~undefined), strict=True):
        end = int(row) + window
        out[row, column] = _fsum_mean(values[end - window : end, column])
    result[window - 1 :] = out
    return result


def sma_exact(values: npt.ArrayLike, window: int) -> FloatArray:
    """Simple moving average, bit-exact with `math.fsum(window) / window` (backtrader's SMA).

        SMA_n(t) = fl( fl(Σ_{i=t-n+1..t} x_i) / n )   for t >= n - 1, else NaN

    `values` is 1-D (bars) or 2-D (bars × symbols), oldest first; a window holding a NaN
    gives NaN. Returns float64 of the same shape. See the module docstring for the method.
    """
    window = check_window(window)
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 1:
        return _sma_matrix(array[:, None], window)[:, 0]
    if array.ndim != 2:
        raise InvalidParameter(f"sma_exact needs a 1-D or 2-D array, got {array.ndim} dimensions")
    return _sma_matrix(array, window)


@overload
def sma(prices: pd.Series, window: int) -> pd.Series: ...
@overload
def sma(prices: pd.DataFrame, window: int) -> pd.DataFrame: ...
def sma(prices: pd.Series | pd.DataFrame, window: int) -> pd.Series | pd.DataFrame:
    """Simple moving average of each column, exactly rounded (see `sma_exact`).

        SMA_n(t) = math.fsum(x_{t-n+1..t}) / n,   NaN before the n-th value or on a NaN

    Same index and columns as `prices`. Not pandas' `rolling(n).mean()`, whose running sum
    is off in the last bits.
    """
    if isinstance(prices, pd.Series):
        return pd.Series(
            sma_exact(prices.to_numpy(dtype=np.float64, na_value=np.nan), window),
            index=prices.index,
            name=prices.name,
        )
    if isinstance(prices, pd.DataFrame):
        return pd.DataFrame(
            sma_exact(prices.to_numpy(dtype=np.float64, na_value=np.nan), window),
            index=prices.index,
            columns=prices.columns,
        )
    raise InvalidParameter(f"sma needs a pandas Series or DataFrame, got {type(prices).__name__}")


@overload
def ema(prices: pd.Series, span: int, *, adjust: bool = ...) -> pd.Series: ...
@overload
def ema(prices: pd.DataFrame, span: int, *, adjust: bool = ...) -> pd.DataFrame: ...
def ema(
    prices: pd.Series | pd.DataFrame, span: int, *, adjust: bool = False
) -> pd.Series | pd.DataFrame:
    """Exponential moving average with `α = 2 / (span + 1)`, per column.

        EMA(t) = α · x_t + (1 - α) · EMA(t-1),   EMA(t0) = x_{t0} (first non-NaN value)

    (`adjust=True` gives pandas' weighted form Σ (1-α)^i x_{t-i} / Σ (1-α)^i instead.)
    Values are NaN until `span` observations have been seen; a NaN input leaves the average
    unchanged and the output NaN at that bar.
    """
    span = check_window(span, "span")
    result = prices.ewm(span=span, adjust=adjust, min_periods=span, ignore_na=True).mean()
    return result.mask(prices.isna().to_numpy())


__all__ = ["ema", "sma", "sma_exact"]
