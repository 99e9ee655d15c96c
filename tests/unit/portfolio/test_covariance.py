"""Covariance estimators against independent references: numpy.cov and scikit-learn.

The references never see tradefolio's factor form: numpy's `cov` (ddof 1) for the sample
estimator and `sklearn.covariance.LedoitWolf` (which centres the data itself) for the
shrunk one, both annualised here by `periods_per_year`. The full Σ = B^T B + diag(d) must
match to 1e-12 relative (to the largest entry).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tradefolio.data.sample_data import load_sample_prices
from tradefolio.errors import DataError, InvalidParameter
from tradefolio.portfolio.covariance import (
    TRADING_DAYS_PER_YEAR,
    RiskModel,
    period_returns,
    risk_model,
    risk_model_from_covariance,
)

sklearn_covariance = pytest.importorskip("sklearn.covariance")

RELATIVE = 1e-12


def assert_same_matrix(actual: np.ndarray, expected: np.ndarray) -> None:
    scale = max(float(np.abs(expected).max(initial=0.0)), 1e-300)
    assert actual.shape == expected.shape
    assert float(np.abs(actual - expected).max(initial=0.0)) <= RELATIVE * scale, (
        float(np.abs(actual - expected).max(initial=0.0)) / scale
    )


def sample_reference(values: np.ndarray, periods_per_year: int) -> np.ndarray:
    return np.atleast_2d(np.cov(values, rowvar=False, ddof=1)) * periods_per_year


def ledoit_wolf_reference(values: np.ndarray, periods_per_year: int) -> np.ndarray:
    fitted = sklearn_covariance.LedoitWolf().fit(values)
    return np.asarray(fitted.covariance_) * periods_per_year


def frame(values: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(values, columns=[f"S{i}" for i in range(values.shape[1])])


# ----------------------------------------------------------------------------- sample data


@pytest.fixture(scope="module")
def sample_returns() -> pd.DataFrame:
    return period_returns(load_sample_prices(), 252)


def test_sample_estimator_is_numpy_cov_on_the_bundled_sample(sample_returns: pd.DataFrame) -> None:
    model = risk_model(sample_returns, "sample")
    assert model.symbols == tuple(sample_returns.columns)
    expected = sample_reference(sample_returns.to_numpy(), TRADING_DAYS_PER_YEAR)
    assert_same_matrix(model.covariance(), expected)
    assert np.all(model.specific == 0.0)


def test_ledoit_wolf_is_sklearn_on_the_bundled_sample(sample_returns: pd.DataFrame) -> None:
    model = risk_model(sample_returns, "ledoit-wolf")
    expected = ledoit_wolf_reference(sample_returns.to_numpy(), TRADING_DAYS_PER_YEAR)
    assert_same_matrix(model.covariance(), expected)
    # The shrinkage really shrinks on this sample (otherwise the test could not tell
    # Ledoit-Wolf from the ML sample covariance).
    ml = np.cov(sample_returns.to_numpy(), rowvar=False, ddof=0) * TRADING_DAYS_PER_YEAR
    assert float(np.abs(model.covariance() - ml).max()) > 1e-6 * float(np.abs(ml).max())


def test_ledoit_wolf_on_a_short_window_with_more_names_than_periods() -> None:
    returns = period_returns(load_sample_prices(), 8)  # 20 names, 8 periods
    assert returns.shape == (8, 20)
    model = risk_model(returns, "ledoit-wolf", periods_per_year=52)
    assert_same_matrix(model.covariance(), ledoit_wolf_reference(returns.to_numpy(), 52))


def test_variance_and_subset_agree_with_the_dense_matrix(sample_returns: pd.DataFrame) -> None:
    model = risk_model(sample_returns, "ledoit-wolf")
    rng = np.random.default_rng(7)
    weights = rng.dirichlet(np.ones(len(model.symbols)))
    dense = model.covariance()
    assert model.variance(weights) == pytest.approx(float(weights @ dense @ weights), rel=1e-12)
    picked = [model.symbols[5], model.symbols[0], model.symbols[11]]
    sub = model.subset(picked)
    assert sub.symbols == tuple(picked)
    assert_same_matrix(sub.covariance(), dense[np.ix_([5, 0, 11], [5, 0, 11])])
    with pytest.raises(DataError, match="NOPE"):
        model.subset(["NOPE", picked[0]])


# ----------------------------------------------------------------------------- properties

return_matrices = st.tuples(st.integers(2, 30), st.integers(1, 12)).flatmap(
    lambda shape: arrays(
        np.float64,
        shape,
        elements=st.floats(-0.2, 0.2, allow_nan=False, allow_subnormal=False),
    )
)


def _not_degenerate(values: np.ndarray) -> bool:
    # Every column must move (a constant panel has a zero covariance, where 1e-12
    # *relative* to zero means nothing); all-constant panels are tested separately.
    return bool((values.std(axis=0) > 1e-6).any())


@settings(max_examples=60, deadline=None)
@given(values=return_matrices, periods_per_year=st.sampled_from([252, 52, 12, 1]))
def test_sample_matches_numpy_cov(values: np.ndarray, periods_per_year: int) -> None:
    if not _not_degenerate(values):
        return
    model = risk_model(frame(values), "sample", periods_per_year)
    assert_same_matrix(model.covariance(), sample_reference(values, periods_per_year))


@settings(max_examples=60, deadline=None)
@given(values=return_matrices, periods_per_year=st.sampled_from([252, 52, 12, 1]))
def test_ledoit_wolf_matches_sklearn(values: np.ndarray, periods_per_year: int) -> None:
    if not _not_degenerate(values):
        return
    model = risk_model(frame(values), "ledoit-wolf", periods_per_year)
    assert_same_matrix(model.covariance(), ledoit_wolf_reference(values, periods_per_year))
    # sklearn's shrinkage can come out a rounding error below 0 (T = 2): d >= 0 up to round-off
    scale = float(np.abs(model.covariance()).max())
    assert np.all(model.specific >= -1e-12 * scale)
    # PSD by construction (B^T B + non-negative diagonal)
    assert float(np.linalg.eigvalsh(model.covariance()).min()) >= -1e-12 * float(
        np.abs(model.covariance()).max()
    )


def test_more_names_than_periods_examples() -> None:
    """An explicit N > T case (the property above draws some, this one always runs)."""
    rng = np.random.default_rng(3)
    values = rng.normal(0.0, 0.02, size=(5, 12))
    for estimator, reference in (
        ("sample", sample_reference),
        ("ledoit-wolf", ledoit_wolf_reference),
    ):
        model = risk_model(frame(values), estimator)
        assert_same_matrix(model.covariance(), reference(values, 252))
        # rank of the sample part is at most T - 1
        assert np.linalg.matrix_rank(model.loadings.T @ model.loadings) <= 4


def test_constant_returns_give_a_zero_covariance() -> None:
    values = np.full((6, 3), 0.01)
    for estimator in ("sample", "ledoit-wolf"):
        model = risk_model(frame(values), estimator)
        assert np.all(np.isfinite(model.covariance()))
        assert np.abs(model.covariance()).max() == pytest.approx(0.0, abs=1e-20)


def test_from_covariance_round_trips() -> None:
    rng = np.random.default_rng(11)
    b = rng.normal(size=(3, 5))
    dense = b.T @ b + np.diag(rng.uniform(0.1, 0.2, 5))
    symbols = [f"S{i}" for i in range(5)]
    model = risk_model_from_covariance(pd.DataFrame(dense, index=symbols, columns=symbols))
    assert isinstance(model, RiskModel)
    # an eigendecomposition round trip: a few ulps of the largest entry
    assert float(np.abs(model.covariance() - dense).max()) <= 1e-13 * float(np.abs(dense).max())


# ----------------------------------------------------------------------------- errors


def test_missing_close_inside_the_window_names_the_symbol() -> None:
    prices = load_sample_prices().iloc[-40:].copy()
    symbol = str(prices.columns[3])
    prices.iloc[-5, 3] = np.nan
    with pytest.raises(DataError, match=symbol):
        period_returns(prices, 20)
    # outside the window the gap does not matter
    prices = load_sample_prices().iloc[-40:].copy()
    prices.iloc[2, 3] = np.nan
    returns = period_returns(prices, 20)
    assert returns.shape == (20, prices.shape[1])
    assert np.isfinite(returns.to_numpy()).all()


def test_period_returns_are_the_last_lookback_simple_returns() -> None:
    prices = load_sample_prices()
    returns = period_returns(prices, 10, ["AAPL", "CVX"])
    tail = prices[["AAPL", "CVX"]].to_numpy()[-11:]
    np.testing.assert_allclose(returns.to_numpy(), tail[1:] / tail[:-1] - 1.0, rtol=1e-15)
    assert list(returns.index) == list(prices.index[-10:])


def test_a_symbol_without_prices_is_named() -> None:
    with pytest.raises(DataError, match="ZZZZ"):
        period_returns(load_sample_prices(), 10, ["AAPL", "ZZZZ"])


def test_bad_estimator_is_an_invalid_parameter() -> None:
    returns = frame(np.random.default_rng(0).normal(0, 0.01, (10, 3)))
    with pytest.raises(InvalidParameter, match="shrunk"):
        risk_model(returns, "shrunk")
    with pytest.raises(InvalidParameter, match="ledoit-wolf"):
        risk_model(returns, "LedoitWolf")


def test_bad_lookbacks_and_short_histories() -> None:
    prices = load_sample_prices().iloc[-30:]
    with pytest.raises(InvalidParameter, match="lookback"):
        period_returns(prices, 1)
    with pytest.raises(DataError, match="30"):
        period_returns(prices, 30)  # needs 31 closes
    with pytest.raises(DataError, match="2 return periods"):
        risk_model(frame(np.zeros((1, 3))), "sample")
    with pytest.raises(DataError, match="NaN"):
        risk_model(frame(np.array([[0.1, np.nan], [0.0, 0.1], [0.2, 0.0]])), "sample")
