"""Beta to a benchmark: full-sample (`calculate_beta`) and trailing-window (`rolling_beta`).

Beta is the OLS slope of an asset's returns on the benchmark's returns (with intercept),

    β = Σ (a_i - ā)(b_i - b̄) / Σ (b_i - b̄)²  =  cov(r_a, r_b) / var(r_b)

over the dates where *both* returns exist. An asset with too few such dates, or a benchmark
flat over them, has no beta: NaN together with a reason (`BetaEstimate.reason`, and a
`BetaWarning` from `calculate_beta`), never a made-up 1.0; what to do without a beta is the
caller's policy (`BetaSizer` has a documented fallback).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import overload

import numpy as np
import pandas as pd

from tradefolio.errors import InvalidParameter
from tradefolio.indicators._common import check_window

#: Fewest jointly observed returns `calculate_beta` accepts by default.
DEFAULT_MIN_OBSERVATIONS = 20

#: The benchmark counts as flat when Σ(b - b̄)² <= FLAT_TOLERANCE · Σ b² (its standard
#: deviation under ~1e-7 of its root mean square): what is left is rounding noise.
FLAT_TOLERANCE = 1e-14


class BetaWarning(UserWarning):
    """Some symbols got no beta (NaN); the message lists each with its reason."""


@dataclass(frozen=True, slots=True)
class BetaEstimate:
    """One symbol's beta: `beta` (NaN when unusable), on `observations` joint returns.

    `reason` says why `beta` is NaN (None when it is not).
    """

    symbol: str
    beta: float
    observations: int
    reason: str | None = None


def _as_frame(asset_returns: pd.Series | pd.DataFrame) -> pd.DataFrame:
    if isinstance(asset_returns, pd.Series):
        name = asset_returns.name if asset_returns.name is not None else "asset"
        return asset_returns.to_frame(name=name)
    if isinstance(asset_returns, pd.DataFrame):
        return asset_returns
    raise InvalidParameter(
        f"asset_returns must be a pandas Series or DataFrame, got {type(asset_returns).__name__}"
    )


def _as_benchmark(benchmark_returns: object) -> pd.Series:
    if isinstance(benchmark_returns, pd.DataFrame) and benchmark_returns.shape[1] == 1:
        return benchmark_returns.iloc[:, 0]
    if not isinstance(benchmark_returns, pd.Series):
        raise InvalidParameter(
            "benchmark_returns must be a pandas Series (one benchmark), got "
            f"{type(benchmark_returns).__name__}"
        )
    return benchmark_returns


def _slope(asset: np.ndarray, bench: np.ndarray) -> float:
    """Two-pass centred OLS slope of `asset` on `bench` (both finite, same length >= 2)."""
    bench_dev = bench - bench.mean()
    asset_dev = asset - asset.mean()
    return float(np.dot(asset_dev, bench_dev) / np.dot(bench_dev, bench_dev))


def beta_estimates(
    asset_returns: pd.Series | pd.DataFrame,
    benchmark_returns: pd.Series,
    lookback: int | None = None,
    *,
    min_observations: int = DEFAULT_MIN_OBSERVATIONS,
) -> dict[str, BetaEstimate]:
    """Beta of every column on the benchmark, with the number of dates used and any reason.

    Dates are the intersection of the two indexes; `lookback` keeps the last `lookback` of
    them (a trailing calendar window); then each column uses the dates where it and the
    benchmark are both non-NaN. Fewer than `min_observations` (>= 2) such dates, or a
    benchmark with zero variance on them, gives NaN and a reason.
    """
    frame = _as_frame(asset_returns)
    bench = _as_benchmark(benchmark_returns)
    needed = check_window(min_observations, "min_observations")
    if needed < 2:
        raise InvalidParameter(f"min_observations must be >= 2, got {min_observations}")
    common = frame.index.intersection(bench.index, sort=False)
    common = common.sort_values() if not common.is_monotonic_increasing else common
    if lookback is not None:
        common = common[-check_window(lookback, "lookback") :]
    assets = frame.loc[common].to_numpy(dtype=np.float64, na_value=np.nan)
    market = bench.loc[common].to_numpy(dtype=np.float64, na_value=np.nan)
    estimates: dict[str, BetaEstimate] = {}
    for position, column in enumerate(frame.columns):
        symbol = str(column)
        asset = assets[:, position]
        joint = np.isfinite(asset) & np.isfinite(market)
        count = int(joint.sum())
        if count < needed:
            reason = (
                f"{count} overlapping returns with the benchmark"
                + (f" in the last {lookback} dates" if lookback is not None else "")
                + f"; need at least {needed}"
            )
            estimates[symbol] = BetaEstimate(symbol, math.nan, count, reason)
            continue
        joint_market = market[joint]
        bench_dev = joint_market - joint_market.mean()
        if not np.dot(bench_dev, bench_dev) > FLAT_TOLERANCE * np.dot(joint_market, joint_market):
            reason = f"benchmark returns have zero variance on the {count} overlapping dates"
            estimates[symbol] = BetaEstimate(symbol, math.nan, count, reason)
            continue
        estimates[symbol] = BetaEstimate(symbol, _slope(asset[joint], market[joint]), count)
    return estimates


@overload
def calculate_beta(
    asset_returns: pd.Series,
    benchmark_returns: pd.Series,
    lookback: int | None = ...,
    *,
    min_observations: int = ...,
) -> float: ...
@overload
def calculate_beta(
    asset_returns: pd.DataFrame,
    benchmark_returns: pd.Series,
    lookback: int | None = ...,
    *,
    min_observations: int = ...,
) -> pd.Series: ...
def calculate_beta(
    asset_returns: pd.Series | pd.DataFrame,
    benchmark_returns: pd.Series,
    lookback: int | None = None,
    *,
    min_observations: int = DEFAULT_MIN_OBSERVATIONS,
) -> float | pd.Series:
    """OLS beta `cov(r_a, r_b) / var(r_b)` on the aligned, jointly non-NaN dates.

    A float for a Series, a Series indexed by column for a DataFrame. Symbols without a
    beta are NaN and named, with their reason, in one `BetaWarning` (see `beta_estimates`
    for the alignment rules and the structured reasons).
    """
    estimates = beta_estimates(
        asset_returns, benchmark_returns, lookback, min_observations=min_observations
    )
    missing = [e for e in estimates.values() if e.reason is not None]
    if missing:
        listed = "; ".join(f"{e.symbol}: {e.reason}" for e in missing)
        warnings.warn(f"no beta for {len(missing)} symbol(s): {listed}", BetaWarning, stacklevel=2)
    if isinstance(asset_returns, pd.Series):
        return next(iter(estimates.values())).beta
    return pd.Series(
        [estimates[str(c)].beta for c in asset_returns.columns],
        index=asset_returns.columns,
        dtype=np.float64,
        name="beta",
    )


@overload
def rolling_beta(
    asset_returns: pd.Series,
    benchmark_returns: pd.Series,
    window: int,
    *,
    min_periods: int | None = ...,
) -> pd.Series: ...
@overload
def rolling_beta(
    asset_returns: pd.DataFrame,
    benchmark_returns: pd.Series,
    window: int,
    *,
    min_periods: int | None = ...,
) -> pd.DataFrame: ...
def rolling_beta(
    asset_returns: pd.Series | pd.DataFrame,
    benchmark_returns: pd.Series,
    window: int,
    *,
    min_periods: int | None = None,
) -> pd.Series | pd.DataFrame:
    """Trailing-window beta at every date of `asset_returns`, without look-ahead.

    The value at date t uses the `window` rows of the asset's index ending at t (the
    benchmark is aligned to that index; a date it lacks is a missing benchmark return) and,
    per column, the `n_t` rows where both returns exist:

        β_t = (S_ab - S_a S_b / n_t) / (S_bb - S_b² / n_t)     (S_x = Σ x over those rows)

    NaN while `n_t < min_periods` (default `window`, at least 2) or when the benchmark is
    flat on those rows. Vectorised over all columns (rolling sums of the jointly-masked
    returns).
    """
    frame = _as_frame(asset_returns)
    bench = _as_benchmark(benchmark_returns)
    window = check_window(window)
    needed = window if min_periods is None else check_window(min_periods, "min_periods")
    if needed > window:
        raise InvalidParameter(f"min_periods must be <= window ({window}), got {needed}")
    needed = max(needed, 2)
    assets = frame.to_numpy(dtype=np.float64, na_value=np.nan)
    market = bench.reindex(frame.index).to_numpy(dtype=np.float64, na_value=np.nan)[:, None]
    joint = np.isfinite(assets) & np.isfinite(market)
    a = np.where(joint, assets, 0.0)
    b = np.where(joint, market, 0.0)
    sums = pd.DataFrame(np.concatenate([joint.astype(np.float64), a, b, a * b, b * b], axis=1))
    rolled = sums.rolling(window, min_periods=1).sum().to_numpy()
    count, s_a, s_b, s_ab, s_bb = np.split(rolled, 5, axis=1)
    count = np.rint(count)
    with np.errstate(divide="ignore", invalid="ignore"):
        covariance = s_ab - s_a * s_b / count
        variance = s_bb - s_b * s_b / count
        beta = covariance / variance
    # a flat benchmark leaves only rounding noise in `variance`: treat it as zero
    flat = ~(variance > FLAT_TOLERANCE * s_bb)
    beta = np.where((count >= needed) & ~flat, beta, np.nan)
    result = pd.DataFrame(beta, index=frame.index, columns=frame.columns)
    if isinstance(asset_returns, pd.Series):
        return pd.Series(result.iloc[:, 0].to_numpy(), index=result.index, name=asset_returns.name)
    return result


__all__ = [
    "DEFAULT_MIN_OBSERVATIONS",
    "FLAT_TOLERANCE",
    "BetaEstimate",
    "BetaWarning",
    "beta_estimates",
    "calculate_beta",
    "rolling_beta",
]
