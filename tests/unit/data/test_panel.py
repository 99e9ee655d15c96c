"""PricePanel: the one place closes stand in for open/high/low; shapes must agree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tradefolio.data.panel import PricePanel
from tradefolio.data.readers import read_panel
from tradefolio.data.writers import write_panel
from tradefolio.errors import DataError


def closes() -> pd.DataFrame:
    index = pd.DatetimeIndex(
        pd.bdate_range("2020-01-01", periods=3).to_numpy(), name="date"
    ).as_unit("ns")
    return pd.DataFrame({"A": [1.0, 2.0, 3.0], "B": [np.nan, 5.0, 6.0]}, index=index)


def test_close_only_panel_uses_closes_for_every_bar_field() -> None:
    panel = PricePanel.from_closes(closes())
    assert not panel.has_bars
    for name in ("open", "high", "low", "close"):
        pd.testing.assert_frame_equal(panel.field(name), closes())  # type: ignore[arg-type]


def test_real_bars_are_returned_as_given() -> None:
    high = closes() * 1.1
    panel = PricePanel(close=closes(), high=high)
    pd.testing.assert_frame_equal(panel.field("high"), high)
    pd.testing.assert_frame_equal(panel.field("low"), closes())  # still a stand-in


def test_mismatched_panels_are_rejected() -> None:
    with pytest.raises(DataError, match="open panel does not have the dates and symbols"):
        PricePanel(close=closes(), open=closes().iloc[:2])
    with pytest.raises(DataError, match="volume panel"):
        PricePanel(close=closes(), volume=closes()[["B", "A"]])


def test_select_and_unknown_symbol() -> None:
    panel = PricePanel(close=closes(), volume=closes())
    picked = panel.select(["B"])
    assert picked.symbols == ["B"] and picked.volume is not None
    with pytest.raises(DataError, match="no prices for Z"):
        panel.select(["Z"])


@pytest.mark.parametrize("name", ["bars.csv.gz", "bars.parquet"])
def test_long_round_trip_keeps_every_field(tmp_path: Path, name: str) -> None:
    c = closes()
    panel = PricePanel(close=c, open=c, high=c * 1.5, low=c * 0.5, volume=c * 100)
    path = write_panel(panel, tmp_path / name, layout="long")
    back = read_panel(path)
    for field in ("open", "high", "low", "close", "volume"):
        pd.testing.assert_frame_equal(
            getattr(back, field), getattr(panel, field), check_names=False, check_freq=False
        )
