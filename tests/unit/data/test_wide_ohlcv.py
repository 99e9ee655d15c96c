"""Wide OHLCV files (`Date,AAPL.open,AAPL.high,...`): read as long files are, on real bars
(backtesting's GOOG.csv, read from the installed dev dependency, never copied) and on
crafted files; every malformed one is a `DataError` naming the file, line and column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tradefolio.data.readers import read_panel, split_field
from tradefolio.data.synthetic import gbm_ohlc
from tradefolio.errors import DataError

FIELDS = ("open", "high", "low", "close", "volume")


def goog_bars() -> pd.DataFrame:
    """Real daily OHLCV of GOOG 2004-2013 (date index; columns open .. volume)."""
    backtesting = pytest.importorskip("backtesting", reason="dev dependency (real OHLCV)")
    path = Path(backtesting.__file__).parent / "test" / "GOOG.csv"
    frame = pd.read_csv(path, index_col=0, parse_dates=True)
    frame.columns = [c.lower() for c in frame.columns]
    return frame[list(FIELDS)]


def write_wide(bars: dict[str, pd.DataFrame], path: Path, case: str = "lower") -> Path:
    """`bars` (symbol -> frame of fields) as one wide OHLCV CSV, symbol-major columns."""
    columns = {}
    for symbol, frame in bars.items():
        for field in frame.columns:
            name = field if case == "lower" else field.capitalize()
            columns[f"{symbol}.{name}"] = frame[field]
    wide = pd.DataFrame(columns)
    wide.index.name = "Date"
    wide.to_csv(path)
    return path


def write_long(bars: dict[str, pd.DataFrame], path: Path) -> Path:
    rows = [
        frame.assign(symbol=symbol).rename_axis("date").reset_index()
        for symbol, frame in bars.items()
    ]
    pd.concat(rows).to_csv(path, index=False)
    return path


def test_real_bars_read_the_same_wide_and_long(tmp_path: Path) -> None:
    goog = goog_bars()
    # A second symbol with a dot in its name, listed later (leading missing sessions).
    later = (goog * [1.5, 1.5, 1.5, 1.5, 1]).iloc[100:]
    bars = {"GOOG": goog, "BRK.B": later}
    wide = read_panel(write_wide(bars, tmp_path / "wide.csv", case="capital"))
    long = read_panel(write_long(bars, tmp_path / "long.csv"))
    assert wide.symbols == ["GOOG", "BRK.B"] and long.symbols == ["GOOG", "BRK.B"]
    assert wide.has_bars
    for field in FIELDS:
        left, right = getattr(wide, field), getattr(long, field)
        assert left is not None and right is not None
        pd.testing.assert_frame_equal(left, right)
    # The values are the file's, to the cent: GOOG's first bar (2004-08-19).
    first = wide.open.iloc[0] if wide.open is not None else None
    assert first is not None and first["GOOG"] == 100.0
    assert wide.high is not None and wide.high["GOOG"].iloc[0] == 104.06
    assert np.isnan(wide.close["BRK.B"].iloc[0])
    assert wide.close["GOOG"].to_numpy().tolist() == goog["close"].tolist()


def test_synthetic_bars_without_volume_round_trip(tmp_path: Path) -> None:
    panel = gbm_ohlc(3, 60, seed=5)
    bars = {
        symbol: pd.DataFrame(
            {f: getattr(panel, f)[symbol] for f in ("open", "high", "low", "close")}
        )
        for symbol in panel.symbols
    }
    read = read_panel(write_wide(bars, tmp_path / "ohlc.csv"))
    assert read.volume is None  # missing, not invented
    assert read.open is not None and panel.open is not None
    np.testing.assert_allclose(read.open.to_numpy(), panel.open.to_numpy(), rtol=1e-15)
    np.testing.assert_allclose(read.close.to_numpy(), panel.close.to_numpy(), rtol=1e-15)


def test_close_only_fields_are_missing_and_only_panel_field_stands_in(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("Date,AAA.close,BBB.close\n2024-01-02,10,20\n2024-01-03,11,21\n")
    panel = read_panel(path)
    assert panel.open is None and panel.high is None and panel.low is None
    assert not panel.has_bars
    pd.testing.assert_frame_equal(panel.field("low"), panel.close)  # the one stand-in


def test_split_field() -> None:
    assert split_field("AAPL.Open") == ("AAPL", "open")
    assert split_field("BRK.B.close") == ("BRK.B", "close")
    assert split_field("BRK.B") is None
    assert split_field(".close") is None
    assert split_field("AAPL") is None


BAD = {
    "a plain close among fields": (
        "Date,AAA.open,AAA.close,BBB\n2024-01-02,10,10.5,3\n",
        "column 'BBB': not SYMBOL.field",
    ),
    "fields differ between symbols": (
        "Date,AAA.open,AAA.close,BBB.close\n2024-01-02,10,10.5,3\n",
        "no column BBB.open although other symbols have open",
    ),
    "no close": ("Date,AAA.open,AAA.high\n2024-01-02,10,11\n", "no SYMBOL.close columns"),
    "a field twice": (
        "Date,AAA.close,AAA.Close\n2024-01-02,10,11\n",
        "AAA's close also in column 'AAA.close'",
    ),
    "close above high": (
        "Date,AAA.open,AAA.high,AAA.low,AAA.close\n2024-01-02,10,11,9,10\n2024-01-03,10,11,9,12\n",
        "line 3 (2024-01-03), column 'AAA.close' (AAA): inconsistent bar, close > high",
    ),
    "half a bar": (
        "Date,AAA.open,AAA.close\n2024-01-02,10,11\n2024-01-03,,11\n",
        "line 3 (2024-01-03), column 'AAA.open' (AAA): open is missing where close is present",
    ),
    "negative volume": (
        "Date,AAA.close,AAA.volume\n2024-01-02,10,-5\n",
        "column 'AAA.volume': volume -5 is negative",
    ),
    "text in a price": (
        "Date,AAA.open,AAA.close\n2024-01-02,ten,11\n",
        "line 2 (2024-01-02), column 'AAA.open': 'ten' is not a number",
    ),
    "a symbol without prices": (
        "Date,AAA.close,BBB.close\n2024-01-02,10,\n",
        "column 'BBB.close': no prices at all",
    ),
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_bad_wide_ohlcv_files_name_the_place(tmp_path: Path, kind: str) -> None:
    text, fragment = BAD[kind]
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataError) as info:
        read_panel(path)
    message = str(info.value)
    assert fragment in message and str(path) in message and "\n" not in message, message


def test_a_backtest_with_stops_fills_the_same_on_wide_and_long_bars(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from support.cli import run_cli

    panel = gbm_ohlc(4, 400, seed=21, volatility=0.35)
    long = tmp_path / "long.csv"
    panel.to_long().to_csv(long, index=False)
    bars = {s: pd.DataFrame({f: getattr(panel, f)[s] for f in FIELDS}) for s in panel.symbols}
    wide = write_wide(bars, tmp_path / "wide.csv")
    outputs = []
    for path in (long, wide):
        result = run_cli(
            capsys, "backtest", "--prices", str(path), "--fast", "10", "--slow", "30",
            "--stop-loss", "0.04", "--take-profit", "0.08", "--no-record",
        )  # fmt: skip
        assert result.code == 0, result.stderr
        outputs.append(result.stdout.replace(str(path), "FILE"))
    assert outputs[0] == outputs[1]
    assert "54 fills" in outputs[0]
