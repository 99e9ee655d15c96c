"""Seeded synthetic prices: geometric Brownian motion with an optional common factor.

For tests and benchmarks that need data of any size with known properties. The model, per
session of length `dt = 1 / periods_per_year`:

    f_t      ~ N(0, 1)                                  the market factor
    e_it     ~ N(0, 1)                                  idiosyncratic noise, independent
    z_it     = sqrt(rho) · f_t + sqrt(1 - rho) · e_it   so corr(z_i, z_j) = rho (i != j)
    log P_i,t+1 - log P_i,t = (mu_i - sigma_i² / 2) · dt + sigma_i · sqrt(dt) · z_it
    log B_t+1   - log B_t   = (mu_B - sigma_B² / 2) · dt + sigma_B · sqrt(dt) · f_t

`rho` is `factor_correlation`; `B` is the benchmark, driven by the factor alone. Hence the true
beta of symbol i's *log* returns on the benchmark's is

    beta_i = cov(r_i, r_B) / var(r_B) = sigma_i · sqrt(rho) / sigma_B,

returned in `SyntheticMarket.betas` as an oracle for beta estimators. Randomness comes only
from the `numpy.random.Generator` built from `seed` (or passed in as `seed`). `gbm_ohlc`
adds opens (overnight gaps), highs, lows and volumes around the closes, for bar matching.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tradefolio.data.panel import PricePanel
from tradefolio.data.sessions import TRADING_DAYS_PER_YEAR
from tradefolio.data.validation import standard_frame
from tradefolio.errors import InvalidParameter


@dataclass(frozen=True, slots=True)
class SyntheticMarket:
    """Synthetic closes, their benchmark and each symbol's true log-return beta."""

    prices: pd.DataFrame
    benchmark: pd.Series
    betas: pd.Series


def gbm_market(
    n_symbols: int,
    n_days: int,
    *,
    seed: int | np.random.Generator = 0,
    factor_correlation: float = 0.0,
    drift: float | Sequence[float] = 0.07,
    volatility: float | Sequence[float] = 0.20,
    benchmark_drift: float = 0.06,
    benchmark_volatility: float = 0.16,
    initial_price: float = 100.0,
    start: str = "2000-01-03",
    periods_per_year: int = TRADING_DAYS_PER_YEAR,
) -> SyntheticMarket:
    """`n_days` business days of closes for `n_symbols` symbols plus a benchmark (see module).

    `drift` and `volatility` are annualised, one value for all symbols or one per symbol.
    Every series starts at `initial_price` on `start`. Symbols are `SYN001`, `SYN002`, ...
    """
    mu = _per_symbol("drift", drift, n_symbols)
    sigma = _per_symbol("volatility", volatility, n_symbols)
    _check(n_symbols >= 1, f"n_symbols must be >= 1, got {n_symbols}")
    _check(n_days >= 1, f"n_days must be >= 1, got {n_days}")
    _check(
        math.isfinite(factor_correlation) and 0.0 <= factor_correlation <= 1.0,
        f"factor_correlation must be in [0, 1], got {factor_correlation}",
    )
    _check(bool((sigma >= 0).all()), "volatility must be >= 0")
    _check(
        math.isfinite(benchmark_volatility) and benchmark_volatility > 0,
        f"benchmark_volatility must be > 0, got {benchmark_volatility}",
    )
    _check(
        math.isfinite(initial_price) and initial_price > 0,
        f"initial_price must be > 0, got {initial_price}",
    )
    _check(periods_per_year >= 1, f"periods_per_year must be >= 1, got {periods_per_year}")

    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    dt = 1.0 / periods_per_year
    steps = n_days - 1
    factor = rng.standard_normal(steps)
    noise = rng.standard_normal((steps, n_symbols))
    rho = factor_correlation
    shocks = math.sqrt(rho) * factor[:, None] + math.sqrt(1.0 - rho) * noise
    log_returns = (mu - 0.5 * sigma**2) * dt + sigma * math.sqrt(dt) * shocks
    bench_returns = (
        benchmark_drift - 0.5 * benchmark_volatility**2
    ) * dt + benchmark_volatility * math.sqrt(dt) * factor

    def path(returns: np.ndarray) -> np.ndarray:
        start_row = np.zeros((1, *returns.shape[1:]))
        return np.asarray(
            initial_price * np.exp(np.cumsum(np.concatenate([start_row, returns]), axis=0))
        )

    width = max(3, len(str(n_symbols)))
    symbols = [f"SYN{i:0{width}d}" for i in range(1, n_symbols + 1)]
    dates = pd.DatetimeIndex(pd.bdate_range(start, periods=n_days).to_numpy())  # no freq, as read
    prices = standard_frame(path(log_returns), dates, symbols)
    benchmark = pd.Series(path(bench_returns), index=prices.index, name="BENCH", dtype="float64")
    betas = pd.Series(
        sigma * math.sqrt(rho) / benchmark_volatility,
        index=prices.columns,
        name="beta",
        dtype="float64",
    )
    return SyntheticMarket(prices=prices, benchmark=benchmark, betas=betas)


def gbm_prices(
    n_symbols: int,
    n_days: int,
    *,
    seed: int | np.random.Generator = 0,
    factor_correlation: float = 0.0,
    drift: float | Sequence[float] = 0.07,
    volatility: float | Sequence[float] = 0.20,
    initial_price: float = 100.0,
    start: str = "2000-01-03",
) -> pd.DataFrame:
    """Closes only, in the standard shape: `gbm_market(...).prices` (same seed, same prices)."""
    return gbm_market(
        n_symbols,
        n_days,
        seed=seed,
        factor_correlation=factor_correlation,
        drift=drift,
        volatility=volatility,
        initial_price=initial_price,
        start=start,
    ).prices


def gbm_ohlc(
    n_symbols: int,
    n_days: int,
    *,
    seed: int | np.random.Generator = 0,
    volatility: float | Sequence[float] = 0.20,
    gap_volatility: float = 0.4,
    range_volatility: float = 0.6,
    tick: float | None = 0.01,
    **market: Any,
) -> PricePanel:
    """Seeded OHLCV bars around GBM closes, for matching stops and limits inside bars.

    Closes are `gbm_prices(...)` (same seed and `market` options of `gbm_market`: same
    closes before rounding). Each session's
    open is the previous close moved by an overnight gap, and the range extends past the
    open and the close:

        open_t  = close_{t-1} · exp(gap_volatility · σ · sqrt(dt) · g_t)       g ~ N(0, 1)
        high_t  = max(open_t, close_t) · exp(range_volatility · σ · sqrt(dt) · |u_t|)
        low_t   = min(open_t, close_t) · exp(-range_volatility · σ · sqrt(dt) · |v_t|)

    (the first open is the first close), volume ~ 1e6 · exp(N(0, 0.3²)). With `tick` every
    price is rounded to that tick and the range widened to keep low <= open, close <= high.
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    closes = gbm_market(n_symbols, n_days, seed=rng, volatility=volatility, **market).prices
    _check(gap_volatility >= 0 and range_volatility >= 0, "gap/range volatility must be >= 0")
    close = closes.to_numpy()
    sigma = _per_symbol("volatility", volatility, n_symbols) * math.sqrt(1 / TRADING_DAYS_PER_YEAR)
    shape = close.shape
    previous = np.vstack([close[:1], close[:-1]])
    gaps = np.exp(gap_volatility * sigma * rng.standard_normal(shape))
    gaps[0] = 1.0
    open_ = previous * gaps
    up = np.exp(range_volatility * sigma * np.abs(rng.standard_normal(shape)))
    down = np.exp(-range_volatility * sigma * np.abs(rng.standard_normal(shape)))
    high = np.maximum(open_, close) * up
    low = np.minimum(open_, close) * down
    if tick is not None:
        _check(math.isfinite(tick) and tick > 0, f"tick must be > 0, got {tick}")
        decimals = max(0, -math.floor(math.log10(tick)))

        def on_tick(values: np.ndarray) -> np.ndarray:
            return np.asarray(np.round(np.maximum(np.round(values / tick) * tick, tick), decimals))

        open_, close, high, low = on_tick(open_), on_tick(close), on_tick(high), on_tick(low)
        high = np.maximum(high, np.maximum(open_, close))
        low = np.minimum(low, np.minimum(open_, close))
    volume = np.round(1e6 * np.exp(0.3 * rng.standard_normal(shape)))
    index, columns = pd.DatetimeIndex(closes.index), closes.columns

    def frame(values: np.ndarray) -> pd.DataFrame:
        return standard_frame(values, index, list(columns))

    return PricePanel(
        close=frame(close),
        open=frame(open_),
        high=frame(high),
        low=frame(low),
        volume=frame(volume),
    )


def _per_symbol(name: str, value: float | Sequence[float], n_symbols: int) -> np.ndarray:
    array = np.asarray(value, dtype="float64")
    if array.ndim == 0:
        array = np.full(max(n_symbols, 0), float(array))
    _check(
        array.shape == (max(n_symbols, 0),),
        f"{name} needs one value or {n_symbols} values, got {array.size}",
    )
    _check(bool(np.isfinite(array).all()), f"{name} must be finite")
    return array


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise InvalidParameter(message)


__all__ = ["TRADING_DAYS_PER_YEAR", "SyntheticMarket", "gbm_market", "gbm_ohlc", "gbm_prices"]
