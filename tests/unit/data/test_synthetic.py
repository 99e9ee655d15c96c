"""Synthetic GBM prices: seeded, in the standard shape, with the stated statistics."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tradefolio.data.synthetic import gbm_market, gbm_prices
from tradefolio.data.validation import validate_prices
from tradefolio.errors import InvalidParameter


def test_standard_shape_and_seeding() -> None:
    prices = gbm_prices(5, 30, seed=7)
    pd.testing.assert_frame_equal(validate_prices(prices), prices)
    assert prices.shape == (30, 5) and list(prices.columns)[:2] == ["SYN001", "SYN002"]
    assert (prices.iloc[0] == 100.0).all()
    pd.testing.assert_frame_equal(gbm_prices(5, 30, seed=7), prices)
    assert not gbm_prices(5, 30, seed=8).equals(prices)
    rng = np.random.default_rng(7)
    pd.testing.assert_frame_equal(gbm_prices(5, 30, seed=rng), prices)


def test_single_day_is_just_the_initial_price() -> None:
    assert gbm_prices(2, 1, initial_price=50.0).to_numpy().tolist() == [[50.0, 50.0]]


def test_statistics_match_the_model() -> None:
    """Sample volatility, pairwise correlation and beta within a few standard errors."""
    rho, sigma, n = 0.49, np.array([0.1, 0.2, 0.3, 0.4]), 20_000
    market = gbm_market(4, n + 1, seed=11, factor_correlation=rho, volatility=sigma)
    returns = np.diff(np.log(market.prices.to_numpy()), axis=0)
    bench = np.diff(np.log(market.benchmark.to_numpy()))
    annual_vol = returns.std(axis=0, ddof=1) * math.sqrt(252)
    # std error of a sample std ~ sigma / sqrt(2n)
    np.testing.assert_allclose(annual_vol, sigma, atol=float(4 * sigma.max() / math.sqrt(2 * n)))
    corr = np.corrcoef(returns, rowvar=False)[np.triu_indices(4, 1)]
    # std error of a correlation ~ (1 - rho^2) / sqrt(n)
    np.testing.assert_allclose(corr, rho, atol=4 * (1 - rho**2) / math.sqrt(n))
    np.testing.assert_allclose(market.betas.to_numpy(), sigma * 0.7 / 0.16)
    for col, true_beta in enumerate(market.betas):
        slope = np.polyfit(bench, returns[:, col], 1)[0]
        resid_sd = sigma[col] * math.sqrt(1 - rho) / math.sqrt(252)
        se = resid_sd / (bench.std() * math.sqrt(n))
        assert abs(slope - true_beta) < 4 * se


def test_zero_correlation_means_zero_beta() -> None:
    assert (gbm_market(3, 10, factor_correlation=0.0).betas == 0.0).all()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_symbols": 0},
        {"n_days": 0},
        {"factor_correlation": 1.5},
        {"volatility": -0.1},
        {"volatility": [0.1, 0.2]},
        {"initial_price": 0.0},
        {"drift": float("nan")},
    ],
)
def test_invalid_parameters(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"n_symbols": 3, "n_days": 10, **kwargs}
    with pytest.raises(InvalidParameter):
        gbm_market(**args)  # type: ignore[arg-type]
