"""Beta against least-squares oracles on the bundled sample; reasons for missing betas."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradefolio.data import load_sample
from tradefolio.errors import InvalidParameter
from tradefolio.indicators import (
    BetaWarning,
    beta_estimates,
    calculate_beta,
    rolling_beta,
    simple_returns,
)


@pytest.fixture(scope="module")
def returns() -> tuple[pd.DataFrame, pd.Series]:
    sample = load_sample()
    return simple_returns(sample.prices), simple_returns(sample.benchmark)


def lstsq_slope(asset: np.ndarray, bench: np.ndarray) -> float:
    """Oracle: least-squares fit asset = alpha + beta · bench."""
    keep = np.isfinite(asset) & np.isfinite(bench)
    design = np.column_stack([np.ones(int(keep.sum())), bench[keep]])
    coefficients, *_ = np.linalg.lstsq(design, asset[keep], rcond=None)
    return float(coefficients[1])


def test_full_sample_beta_matches_polyfit_and_lstsq(
    returns: tuple[pd.DataFrame, pd.Series],
) -> None:
    assets, bench = returns
    betas = calculate_beta(assets, bench)
    assert list(betas.index) == list(assets.columns)
    market = bench.reindex(assets.index).to_numpy()
    for symbol in assets.columns:
        asset = assets[symbol].to_numpy()
        keep = np.isfinite(asset) & np.isfinite(market)
        slope = np.polyfit(market[keep], asset[keep], 1)[0]
        assert betas[symbol] == pytest.approx(slope, abs=1e-10)
        assert betas[symbol] == pytest.approx(lstsq_slope(asset, market), abs=1e-10)
    assert 0.3 < betas.median() < 2.0


def test_series_gives_a_float_and_lookback_uses_the_last_dates(
    returns: tuple[pd.DataFrame, pd.Series],
) -> None:
    assets, bench = returns
    asset = assets.iloc[:, 3]
    beta = calculate_beta(asset, bench, lookback=252)
    assert isinstance(beta, float)
    expected = lstsq_slope(asset.to_numpy()[-252:], bench.reindex(asset.index).to_numpy()[-252:])
    assert beta == pytest.approx(expected, abs=1e-10)
    assert beta != pytest.approx(calculate_beta(asset, bench), abs=1e-6)


def test_alignment_uses_common_jointly_present_dates() -> None:
    index = pd.date_range("2024-01-01", periods=60, freq="B")
    rng = np.random.default_rng(7)
    bench = pd.Series(rng.normal(0, 0.01, 60), index=index)
    asset = 1.5 * bench + rng.normal(0, 0.002, 60)
    asset.iloc[[3, 10, 11]] = np.nan
    shuffled_bench = bench.drop(index[[20, 21]]).sample(frac=1.0, random_state=1)
    beta = calculate_beta(asset, shuffled_bench)
    keep = np.ones(60, dtype=bool)
    keep[[3, 10, 11, 20, 21]] = False
    assert beta == pytest.approx(
        lstsq_slope(asset.to_numpy()[keep], bench.to_numpy()[keep]), abs=1e-12
    )
    estimate = beta_estimates(asset.rename("X"), shuffled_bench)["X"]
    assert estimate.observations == 55
    assert estimate.reason is None


def test_too_few_overlapping_returns_is_nan_with_a_reason() -> None:
    index = pd.date_range("2024-01-01", periods=40, freq="B")
    rng = np.random.default_rng(3)
    bench = pd.Series(rng.normal(0, 0.01, 40), index=index)
    assets = pd.DataFrame({"OLD": 0.8 * bench, "NEW": (1.2 * bench).where(index >= index[30])})
    with pytest.warns(BetaWarning, match="NEW: 10 overlapping returns.*need at least 20"):
        betas = calculate_beta(assets, bench)
    assert betas["OLD"] == pytest.approx(0.8, abs=1e-12)
    assert math.isnan(betas["NEW"])
    estimate = beta_estimates(assets, bench)["NEW"]
    assert estimate.observations == 10 and "need at least 20" in (estimate.reason or "")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert calculate_beta(assets, bench, min_observations=5)["NEW"] == pytest.approx(1.2)


def test_flat_benchmark_is_nan_with_a_reason() -> None:
    index = pd.date_range("2024-01-01", periods=30, freq="B")
    bench = pd.Series(0.001, index=index)
    asset = pd.Series(np.linspace(-0.01, 0.01, 30), index=index, name="A")
    with pytest.warns(BetaWarning, match="zero variance"):
        assert math.isnan(calculate_beta(asset, bench))


@pytest.mark.parametrize("window", [60, 252])
def test_rolling_beta_matches_per_window_lstsq(
    returns: tuple[pd.DataFrame, pd.Series], window: int
) -> None:
    assets, bench = returns
    rolled = rolling_beta(assets, bench, window)
    market = bench.reindex(assets.index).to_numpy()
    assert rolled.iloc[: window - 1].isna().all().all()  # bar 0 has no return: first full at window
    for row in [window, window + 1, 1000, 4321, len(assets) - 1]:
        for column in range(0, assets.shape[1], 4):
            start = row - window + 1
            expected = lstsq_slope(
                assets.iloc[start : row + 1, column].to_numpy(), market[start : row + 1]
            )
            assert rolled.iloc[row, column] == pytest.approx(expected, abs=1e-10)


def test_rolling_beta_has_no_look_ahead(returns: tuple[pd.DataFrame, pd.Series]) -> None:
    assets, bench = returns
    subset = assets.iloc[:1500, :4]
    before = rolling_beta(subset, bench, 120)
    cut = 900
    perturbed_assets = subset.copy()
    perturbed_assets.iloc[cut + 1 :] *= -3.0
    perturbed_bench = bench.copy()
    perturbed_bench.loc[subset.index[cut + 1] :] += 0.05
    after = rolling_beta(perturbed_assets, perturbed_bench, 120)
    pd.testing.assert_frame_equal(before.iloc[: cut + 1], after.iloc[: cut + 1])
    assert not np.allclose(before.iloc[cut + 1 :].to_numpy(), after.iloc[cut + 1 :].to_numpy())


def test_rolling_beta_min_periods_and_gaps() -> None:
    index = pd.date_range("2024-01-01", periods=50, freq="B")
    rng = np.random.default_rng(11)
    bench = pd.Series(rng.normal(0, 0.01, 50), index=index)
    asset = (2.0 * bench + rng.normal(0, 0.001, 50)).rename("A")
    asset.iloc[:15] = np.nan  # listed late
    asset.iloc[30] = np.nan  # one missing day
    rolled = rolling_beta(asset, bench, 20, min_periods=10)
    assert isinstance(rolled, pd.Series) and rolled.name == "A"
    assert rolled.iloc[:24].isna().all()  # 15..23 holds 9 returns
    assert not math.isnan(rolled.iloc[24])
    for row in (24, 31, 49):
        start = max(row - 19, 0)
        expected = lstsq_slope(asset.to_numpy()[start : row + 1], bench.to_numpy()[start : row + 1])
        assert rolled.iloc[row] == pytest.approx(expected, abs=1e-10)
    assert rolling_beta(asset, bench, 20).iloc[34:40].isna().all()  # window 20 needs 20 pairs


def test_bad_parameters() -> None:
    series = pd.Series([0.01, 0.02, -0.01])
    with pytest.raises(InvalidParameter, match="window"):
        rolling_beta(series, series, 0)
    with pytest.raises(InvalidParameter, match="min_periods must be <= window"):
        rolling_beta(series, series, 2, min_periods=3)
    with pytest.raises(InvalidParameter, match="min_observations must be >= 2"):
        calculate_beta(series, series, min_observations=1)
    with pytest.raises(InvalidParameter, match="benchmark_returns must be a pandas Series"):
        calculate_beta(series, [0.1, 0.2])  # type: ignore[call-overload]


@settings(max_examples=60, deadline=None)
@given(
    slope=st.floats(-3.0, 3.0),
    seed=st.integers(0, 2**32 - 1),
    size=st.integers(25, 120),
)
def test_beta_recovers_a_noiseless_slope(slope: float, seed: int, size: int) -> None:
    rng = np.random.default_rng(seed)
    bench = pd.Series(rng.normal(0, 0.01, size))
    asset = 0.0003 + slope * bench
    assert calculate_beta(asset, bench) == pytest.approx(slope, abs=1e-9)
    rolled = rolling_beta(asset, bench, 20)
    assert np.allclose(rolled.iloc[19:], slope, atol=1e-8)
