"""The bundled sample: offline, standard shape, benchmark and sectors for every symbol."""

from __future__ import annotations

import pandas as pd

from tradefolio.data import load_sample
from tradefolio.data.validation import align_with_benchmark, validate_prices


def test_sample_pieces_fit_together() -> None:
    sample = load_sample()
    prices, benchmark, sectors = sample.prices, sample.benchmark, sample.sectors
    assert prices.shape == (8313, 20)
    pd.testing.assert_frame_equal(validate_prices(prices), prices)
    assert benchmark.name == "SP500" and benchmark.index.equals(prices.index)
    aligned, _ = align_with_benchmark(prices, benchmark)
    assert len(aligned) == 8313
    assert set(sectors.index) == set(prices.columns)
    assert sectors["AAPL"] == "Information Technology" and sectors["XOM"] == "Energy"
    assert benchmark.iloc[0] == 359.69  # first S&P 500 close in the file (1990-01-02)
