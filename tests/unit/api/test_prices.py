"""Prices in: a path, a wide frame, a long frame or the sample give the same validated panel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tradefolio as tf
from tradefolio.data.readers import read_panel
from tradefolio.data.sample_data import sample_path


def _wide() -> pd.DataFrame:
    return tf.sample_prices().iloc[-60:, :3]


def test_load_prices_reads_what_the_cli_reads() -> None:
    pd.testing.assert_frame_equal(tf.load_prices(sample_path()), tf.sample_prices())


def test_wide_and_long_frames_equal_the_file_they_were_written_as(tmp_path: Path) -> None:
    wide = _wide()
    path = tmp_path / "wide.csv"
    wide.to_csv(path)
    from_file = read_panel(path).close
    pd.testing.assert_frame_equal(tf.price_panel(wide).close, from_file)
    with_column = wide.reset_index()  # a `date` column instead of the index
    pd.testing.assert_frame_equal(tf.price_panel(with_column).close, from_file)
    long = wide.stack().rename("close").rename_axis(["date", "symbol"])
    pd.testing.assert_frame_equal(tf.price_panel(long.to_frame()).close, from_file)
    pd.testing.assert_frame_equal(tf.price_panel(long.reset_index()).close, from_file)


def test_a_long_frame_keeps_its_opens() -> None:
    long = _wide().stack().rename("close").rename_axis(["date", "symbol"]).reset_index()
    long["open"] = long["close"] - 0.25
    panel = tf.price_panel(long)
    assert panel.open is not None
    np.testing.assert_allclose(panel.open.to_numpy(), panel.close.to_numpy() - 0.25)


def test_bad_frames_are_data_errors_naming_the_problem() -> None:
    gappy = _wide().copy()
    gappy.iloc[10, 1] = np.nan
    with pytest.raises(tf.DataError, match="gap"):
        tf.price_panel(gappy)
    negative = _wide().copy()
    negative.iloc[3, 0] = -1.0
    with pytest.raises(tf.DataError, match=str(negative.columns[0])):
        tf.price_panel(negative)
    with pytest.raises(tf.DataError, match="expected a path, a DataFrame"):
        tf.price_panel(42)  # type: ignore[arg-type]
    with pytest.raises(tf.DataError, match="no such file"):
        tf.load_prices("/nonexistent/prices.csv")


def test_the_sample_pieces() -> None:
    prices, benchmark, sectors = tf.sample_prices(), tf.sample_benchmark(), tf.sample_sectors()
    assert prices.shape == (8313, 20) and prices.index.name == "date"
    assert benchmark.index.equals(prices.index) and benchmark.name == "SP500"
    assert set(sectors.index) == set(prices.columns)
