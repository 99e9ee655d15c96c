"""Fixtures shared by the CLI tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradefolio.data.sample_data import load_sample_prices


@pytest.fixture(scope="module")
def short_prices(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight names over 2016-2019 (the reviewer's p4y.csv, smaller): 36 monthly rebalances."""
    closes = load_sample_prices().loc["2016":"2019"].iloc[:, :8]
    path = tmp_path_factory.mktemp("prices") / "p4y.csv"
    closes.to_csv(path, index_label="Date")
    return path
