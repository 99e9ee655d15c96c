"""`sma` is bit-exact with `math.fsum(window) / n`; `ema` follows its recursion."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tradefolio.data import load_sample
from tradefolio.errors import InvalidParameter
from tradefolio.indicators import ema, sma, sma_exact


def fsum_sma(values: npt.NDArray[np.float64], window: int) -> npt.NDArray[np.float64]:
    """Oracle: backtrader's SMA, `math.fsum(window) / n` cell by cell (NaN window -> NaN)."""
    matrix = values[:, None] if values.ndim == 1 else values
    out = np.full(matrix.shape, np.nan)
    for column in range(matrix.shape[1]):
        series = matrix[:, column]
        for end in range(window - 1, len(series)):
            chunk = series[end - window + 1 : end + 1]
            if np.isnan(chunk).any():
                continue
            try:
                out[end, column] = math.fsum(chunk.tolist()) / window
            except ValueError:  # inf - inf
                out[end, column] = math.nan
    return out[:, 0] if values.ndim == 1 else out


def assert_same_bits(actual: npt.NDArray[np.float64], expected: npt.NDArray[np.float64]) -> None:
    """Equal as floats, NaN where NaN (the sign of a zero mean is not part of the contract)."""
    assert actual.shape == expected.shape
    both_nan = np.isnan(actual) & np.isnan(expected)
    mismatched = ~both_nan & (actual != expected)
    assert not mismatched.any(), (
        f"{int(mismatched.sum())} cells differ, first at {np.argwhere(mismatched)[0]}: "
        f"{actual[mismatched][0]!r} != {expected[mismatched][0]!r}"
    )


@pytest.fixture(scope="module")
def sample_closes() -> pd.DataFrame:
    return load_sample().prices


@pytest.mark.parametrize("window", [20, 50])
def test_sma_is_bit_exact_with_fsum_on_the_sample(sample_closes: pd.DataFrame, window: int) -> None:
    values = sample_closes.to_numpy(dtype=np.float64)
    expected = fsum_sma(values, window)
    assert_same_bits(sma_exact(values, window), expected)
    result = sma(sample_closes, window)
    assert result.index.equals(sample_closes.index)
    assert result.columns.equals(sample_closes.columns)
    assert_same_bits(result.to_numpy(), expected)


def test_pandas_rolling_mean_is_not_bit_exact(sample_closes: pd.DataFrame) -> None:
    """Why `sma` exists: pandas' running sum differs in the last bits on real prices."""
    values = sample_closes.to_numpy(dtype=np.float64)
    expected = fsum_sma(values, 20)
    rolling = sample_closes.rolling(20).mean().to_numpy()
    defined = ~np.isnan(expected)
    assert (rolling[defined] != expected[defined]).sum() > 1000
    np.testing.assert_allclose(rolling[defined], expected[defined], rtol=1e-12)


def test_series_keeps_index_and_name(sample_closes: pd.DataFrame) -> None:
    series = sample_closes.iloc[:, 0]
    result = sma(series, 5)
    assert result.name == series.name
    assert result.index.equals(series.index)
    assert_same_bits(result.to_numpy(), fsum_sma(series.to_numpy(), 5))


def test_nan_window_is_nan_and_recovers() -> None:
    values = np.array([1.0, 2.0, np.nan, 4.0, 5.0, 6.0, 7.0])
    result = sma_exact(values, 2)
    np.testing.assert_array_equal(np.isnan(result), [True, False, True, True, False, False, False])
    assert result[1] == 1.5
    assert result[4] == 4.5
    assert result[6] == 6.5


def test_window_longer_than_data_is_all_nan() -> None:
    assert np.isnan(sma_exact(np.arange(3.0), 5)).all()


def test_cancellation_that_defeats_a_running_sum() -> None:
    """Values far apart in magnitude: a cumulative-sum difference loses the small ones."""
    values = np.array([1e16, 1.0, -1e16, 1.0, 1.0, 3.0])
    expected = fsum_sma(values, 3)
    assert_same_bits(sma_exact(values, 3), expected)
    assert sma_exact(values, 3)[3] == -9999999999999998.0 / 3
    cumulative = np.cumsum(values)
    assert (cumulative[3] - cumulative[0]) / 3 != -9999999999999998.0 / 3


def test_infinities_follow_fsum() -> None:
    values = np.array([1.0, np.inf, 2.0, -np.inf, 3.0, 4.0])
    result = sma_exact(values, 2)
    assert result[1] == np.inf
    assert result[3] == -np.inf
    assert result[5] == 3.5
    assert np.isnan(sma_exact(values, 3)[3])  # inf - inf


def test_intermediate_overflow_is_rounded_exactly() -> None:
    """fsum raises on an intermediate overflow; the exact sum here is finite."""
    big = np.finfo(np.float64).max
    values = np.array([big, big, -big])
    assert sma_exact(values, 3)[2] == big / 3


@pytest.mark.parametrize("window", [0, -1, 2.5, True, "3"])
def test_bad_window_is_rejected(window: object) -> None:
    with pytest.raises(InvalidParameter, match="window"):
        sma_exact(np.arange(5.0), window)  # type: ignore[arg-type]


# Prices with cents (ties at midpoints are common), and arbitrary floats of wide range.
cents = st.integers(1, 10_000_000).map(lambda cents_: cents_ / 100)
wide = st.floats(min_value=-1e300, max_value=1e300, allow_nan=False, allow_infinity=False)
with_gaps = st.one_of(wide, st.just(math.nan), st.sampled_from([0.0, -0.0, 5e-324, 1e-300]))


@settings(max_examples=150, deadline=None)
@given(
    values=hnp.arrays(np.float64, st.tuples(st.integers(1, 60), st.integers(1, 3)), elements=cents),
    window=st.integers(1, 25),
)
def test_sma_matches_fsum_on_prices(values: npt.NDArray[np.float64], window: int) -> None:
    assert_same_bits(sma_exact(values, window), fsum_sma(values, window))


@settings(max_examples=150, deadline=None)
@given(
    values=hnp.arrays(np.float64, st.integers(1, 40), elements=with_gaps),
    window=st.integers(1, 8),
)
def test_sma_matches_fsum_on_any_floats(values: npt.NDArray[np.float64], window: int) -> None:
    assert_same_bits(sma_exact(values, window), fsum_sma(values, window))


def test_ema_follows_its_recursion() -> None:
    values = pd.Series([10.0, 11.0, 12.0, np.nan, 13.0, 9.0])
    result = ema(values, 3)
    alpha = 2 / (3 + 1)
    expected = [10.0]
    for value in [11.0, 12.0, 13.0, 9.0]:
        expected.append(alpha * value + (1 - alpha) * expected[-1])
    assert np.isnan(result.iloc[:2]).all()
    assert result.iloc[2] == pytest.approx(expected[2], rel=1e-15)
    assert np.isnan(result.iloc[3])
    assert result.iloc[4] == pytest.approx(expected[3], rel=1e-15)
    assert result.iloc[5] == pytest.approx(expected[4], rel=1e-15)


def test_ema_is_per_column() -> None:
    frame = pd.DataFrame({"a": np.arange(1.0, 11.0), "b": np.arange(10.0, 0.0, -1.0)})
    result = ema(frame, 4)
    pd.testing.assert_series_equal(result["a"], ema(frame["a"], 4))
    pd.testing.assert_series_equal(result["b"], ema(frame["b"], 4))
