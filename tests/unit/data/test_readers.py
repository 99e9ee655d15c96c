"""Readers: every layout and format reads to the standard shape; every bad file kind gives a
`DataError` that names the file, the row/line, the date and the column."""

from __future__ import annotations

import gzip
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradefolio.data.panel import PricePanel
from tradefolio.data.readers import detect_layout, read_benchmark, read_panel, read_prices
from tradefolio.data.sample_data import load_sample_prices, sample_path
from tradefolio.errors import DataError, MissingExtra


def write(tmp_path: Path, text: str, name: str = "prices.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(path: Path, **kwargs: object) -> str:
    with pytest.raises(DataError) as info:
        read_prices(path, **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert str(path) in message, message
    assert "\n" not in message
    return message


WIDE = "Date,AAA,BBB\n2020-01-02,10.0,20.0\n2020-01-03,10.5,19.5\n2020-01-06,11.0,19.0\n"


# --- good files -------------------------------------------------------------------------------


def test_wide_csv_reads_to_standard_shape(tmp_path: Path) -> None:
    prices = read_prices(write(tmp_path, WIDE))
    assert list(prices.columns) == ["AAA", "BBB"]
    assert prices.index.name == "date"
    assert isinstance(prices.index, pd.DatetimeIndex) and prices.index.tz is None
    assert str(prices.index.dtype) == "datetime64[ns]"
    assert (prices.dtypes == "float64").all()
    assert prices.loc["2020-01-03", "BBB"] == 19.5


def test_sample_through_reader_matches_raw_file() -> None:
    prices = read_prices(sample_path())
    raw = pd.read_csv(sample_path(), index_col="Date")
    assert prices.shape == (8313, 20)
    np.testing.assert_array_equal(prices.to_numpy(), raw.to_numpy())
    assert [d.date().isoformat() for d in prices.index[[0, -1]]] == ["1990-01-02", "2022-12-28"]
    pd.testing.assert_frame_equal(prices, load_sample_prices())


def test_long_csv_with_bars(tmp_path: Path) -> None:
    text = (
        "symbol,date,open,high,low,close,volume\n"
        "BBB,2020-01-02,20,21,19,20.5,100\n"
        "AAA,2020-01-02,10,11,9,10.5,50\n"
        "AAA,2020-01-03,10.5,12,10,11,60\n"
        "BBB,2020-01-03,20.5,21,20,20,0\n"
    )
    panel = read_panel(write(tmp_path, text))
    assert panel.symbols == ["BBB", "AAA"]  # order of first appearance
    assert panel.close.loc["2020-01-03", "AAA"] == 11.0
    assert panel.has_bars and panel.volume is not None
    assert panel.field("low").loc["2020-01-02", "BBB"] == 19.0
    assert panel.volume.loc["2020-01-03", "BBB"] == 0.0


def test_long_and_wide_agree_and_leading_nans_are_fine(tmp_path: Path) -> None:
    wide = "date,AAA,BBB\n2020-01-02,,20\n2020-01-03,10,21\n2020-01-06,11,22\n"
    long = "date,symbol,close\n2020-01-02,BBB,20\n2020-01-03,AAA,10\n2020-01-03,BBB,21\n"
    long += "2020-01-06,AAA,11\n2020-01-06,BBB,22\n"
    from_wide = read_prices(write(tmp_path, wide, "w.csv"))
    from_long = read_prices(write(tmp_path, long, "l.csv"))
    pd.testing.assert_frame_equal(from_wide, from_long[["AAA", "BBB"]])
    assert np.isnan(from_wide.loc["2020-01-02", "AAA"])


def test_trailing_nans_mean_delisted_and_are_fine(tmp_path: Path) -> None:
    prices = read_prices(write(tmp_path, "date,AAA,BBB\n2020-01-02,1,2\n2020-01-03,,3\n"))
    assert prices["AAA"].isna().tolist() == [False, True]


def test_gzip_csv_detected_by_content(tmp_path: Path) -> None:
    path = tmp_path / "prices.data"
    path.write_bytes(gzip.compress(WIDE.encode()))
    assert read_prices(path).shape == (3, 2)


def test_parquet_wide_with_date_index_and_long(tmp_path: Path) -> None:
    prices = read_prices(write(tmp_path, WIDE))
    prices.to_parquet(tmp_path / "wide.parquet")
    pd.testing.assert_frame_equal(read_prices(tmp_path / "wide.parquet"), prices)
    PricePanel.from_closes(prices).to_long().to_parquet(tmp_path / "long.pq", index=False)
    pd.testing.assert_frame_equal(read_prices(tmp_path / "long.pq"), prices)


def test_tz_aware_dates_keep_local_date(tmp_path: Path) -> None:
    text = "Date,AAA\n2020-01-02 00:00:00-05:00,1\n2020-01-03 00:00:00-05:00,2\n"
    prices = read_prices(write(tmp_path, text))
    assert prices.index.tz is None
    assert list(prices.index) == [pd.Timestamp("2020-01-02"), pd.Timestamp("2020-01-03")]


def test_us_style_dates_are_inferred(tmp_path: Path) -> None:
    prices = read_prices(write(tmp_path, "Date,AAA\n01/31/2020,1\n02/03/2020,2\n"))
    assert prices.index[0] == pd.Timestamp("2020-01-31")


def test_symbol_called_na_is_a_symbol_not_missing(tmp_path: Path) -> None:
    text = "date,symbol,close\n2020-01-02,NA,5\n2020-01-03,NA,6\n"
    assert list(read_prices(write(tmp_path, text)).columns) == ["NA"]


def test_fill_gaps_forward_fills_interior_only(tmp_path: Path) -> None:
    text = "date,AAA,BBB\n2020-01-02,,1\n2020-01-03,10,\n2020-01-06,,3\n2020-01-07,12,\n"
    prices = read_prices(write(tmp_path, text), fill_gaps=True)
    assert prices["AAA"].tolist()[1:] == [10.0, 10.0, 12.0]
    assert np.isnan(prices["AAA"].iloc[0])  # leading: not listed yet
    assert prices["BBB"].tolist()[:3] == [1.0, 1.0, 3.0]
    assert np.isnan(prices["BBB"].iloc[3])  # trailing: delisted


def test_fill_gaps_on_bars_is_a_session_without_trading(tmp_path: Path) -> None:
    text = (
        "date,symbol,open,high,low,close,volume\n"
        "2020-01-02,AAA,9,11,8,10,5\n2020-01-02,BBB,1,1,1,1,1\n"
        "2020-01-03,BBB,1,1,1,1,1\n"
        "2020-01-06,AAA,12,13,11,12,7\n2020-01-06,BBB,1,1,1,1,1\n"
    )
    panel = read_panel(write(tmp_path, text), on_gap="fill")
    assert panel.volume is not None
    day = pd.Timestamp("2020-01-03")
    bar = [panel.field(f).loc[day, "AAA"] for f in ("open", "high", "low", "close")]
    assert bar == [10.0, 10.0, 10.0, 10.0]
    assert panel.volume.loc[day, "AAA"] == 0.0


def test_keep_policy_leaves_gaps(tmp_path: Path) -> None:
    text = "date,AAA\n2020-01-02,1\n2020-01-03,\n2020-01-06,3\n"
    panel = read_panel(write(tmp_path, text), on_gap="keep")
    assert panel.close["AAA"].isna().sum() == 1


def test_read_benchmark(tmp_path: Path) -> None:
    bench = read_benchmark(write(tmp_path, "Date,SP500\n2020-01-02,3000\n2020-01-03,3010\n"))
    assert bench.name == "SP500" and bench.tolist() == [3000.0, 3010.0]
    with pytest.raises(DataError, match="one series, found 2"):
        read_benchmark(write(tmp_path, WIDE, "two.csv"))


def test_detect_layout() -> None:
    assert detect_layout(["Date", "AAPL"]) == "wide"
    assert detect_layout(["date", "Symbol", "close"]) == "long"


# --- bad files: one test per kind ------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    assert "no such file" in error_of(tmp_path / "nope.csv")


def test_empty_file(tmp_path: Path) -> None:
    assert "empty file" in error_of(write(tmp_path, ""))


def test_header_only_file(tmp_path: Path) -> None:
    assert "no rows" in error_of(write(tmp_path, "Date,AAA,BBB\n"))


def test_unparseable_date(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, WIDE.replace("2020-01-03", "2020-13-45")))
    assert re.search(r"line 3, column 'Date': unparseable date '2020-13-45'", message), message


def test_empty_date(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, WIDE.replace("2020-01-06", "")))
    assert "line 4, column 'Date': an empty date" in message


def test_duplicate_dates(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, WIDE.replace("2020-01-06", "2020-01-03")))
    assert "line 4 (2020-01-03): duplicate date (also on line 3)" in message


def test_duplicate_symbol_columns(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, WIDE.replace("BBB", "AAA")))
    assert "duplicate column 'AAA' (positions 2 and 3)" in message


def test_duplicate_symbol_columns_in_parquet(tmp_path: Path) -> None:
    table = pa.table(
        [pa.array(["2020-01-02"]), pa.array([1.0]), pa.array([2.0])], names=["date", "AAA", "AAA"]
    )
    pq.write_table(table, tmp_path / "dup.parquet")
    assert "duplicate column 'AAA'" in error_of(tmp_path / "dup.parquet")


def test_duplicate_date_symbol_in_long_form(tmp_path: Path) -> None:
    text = "date,symbol,close\n2020-01-02,AAA,1\n2020-01-02,BBB,2\n2020-01-02,AAA,3\n"
    message = error_of(write(tmp_path, text))
    assert "line 4 (2020-01-02), column 'symbol': duplicate row for AAA (also on line 2)" in message


def test_non_positive_price(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, WIDE.replace("19.5", "0")))
    assert "line 3 (2020-01-03), column 'BBB': price 0 is not positive" in message
    message = error_of(write(tmp_path, WIDE.replace("11.0", "-2"), "neg.csv"))
    assert "line 4 (2020-01-06), column 'AAA': price -2 is not positive" in message


def test_non_finite_price(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, WIDE.replace("19.5", "inf")))
    assert "line 3 (2020-01-03), column 'BBB': price inf is not finite" in message


def test_text_price(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, WIDE.replace("19.5", "n.a.")))
    assert "line 3 (2020-01-03), column 'BBB': 'n.a.' is not a number" in message


def test_unsorted_dates(tmp_path: Path) -> None:
    text = "Date,AAA\n2020-01-02,1\n2020-01-06,2\n2020-01-03,3\n"
    message = error_of(write(tmp_path, text))
    assert "line 4 (2020-01-03): dates are not sorted (comes after 2020-01-06)" in message


def test_unsorted_dates_within_a_symbol_in_long_form(tmp_path: Path) -> None:
    ok = "date,symbol,close\n2020-01-02,AAA,1\n2020-01-03,AAA,2\n2020-01-02,BBB,3\n"
    assert read_prices(write(tmp_path, ok, "ok.csv")).shape == (2, 2)  # sorted by symbol: fine
    bad = "date,symbol,close\n2020-01-03,AAA,1\n2020-01-02,BBB,3\n2020-01-02,AAA,2\n"
    message = error_of(write(tmp_path, bad))
    assert "line 4 (2020-01-02), column 'date': dates of AAA are not sorted" in message


def test_interior_gap(tmp_path: Path) -> None:
    text = "Date,AAA,BBB\n2020-01-02,1,2\n2020-01-03,,2\n2020-01-06,,2\n2020-01-07,3,2\n"
    message = error_of(write(tmp_path, text))
    assert "symbol 'AAA' has an interior gap, no price on 2020-01-03 .. 2020-01-06" in message
    assert "fill the gaps in the file" in message
    assert "`tradefolio data fetch --fill-gaps`" in message  # the one command with the flag


def test_interior_gap_in_long_form_is_a_missing_row(tmp_path: Path) -> None:
    text = "date,symbol,close\n2020-01-02,AAA,1\n2020-01-02,BBB,1\n2020-01-03,BBB,1\n"
    text += "2020-01-06,AAA,1\n2020-01-06,BBB,1\n"
    assert "symbol 'AAA' has an interior gap, no price on 2020-01-03 (1 session)" in error_of(
        write(tmp_path, text)
    )


def test_no_date_column(tmp_path: Path) -> None:
    assert "no 'date' column" in error_of(write(tmp_path, "when,AAA\n2020-01-02,1\n"))


def test_column_without_name(tmp_path: Path) -> None:
    assert "column 3 has no name" in error_of(write(tmp_path, "Date,AAA,\n2020-01-02,1,2\n"))


def test_column_without_any_price(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "Date,AAA,BBB\n2020-01-02,1,\n2020-01-03,2,\n"))
    assert "column 'BBB': no prices at all" in message


def test_ragged_row(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "Date,AAA\n2020-01-02,1\n2020-01-03,1,2,3\n"))
    assert "cannot be read as CSV" in message and "line 3" in message


def test_long_form_column_problems(tmp_path: Path) -> None:
    unknown = "date,symbol,close,adj_close\n2020-01-02,AAA,1,1\n"
    assert "column 'adj_close': unexpected column" in error_of(write(tmp_path, unknown, "u.csv"))
    no_close = "date,symbol,price\n2020-01-02,AAA,1\n"
    assert "no 'close' column" in error_of(write(tmp_path, no_close, "c.csv"))
    blank = "date,symbol,close\n2020-01-02,AAA,1\n2020-01-03, ,1\n"
    assert "line 3 (2020-01-03), column 'symbol': empty symbol" in error_of(
        write(tmp_path, blank, "b.csv")
    )


def test_long_form_bar_problems(tmp_path: Path) -> None:
    head = "date,symbol,open,high,low,close,volume\n"
    inverted = head + "2020-01-02,AAA,10,9,11,10,1\n"
    assert "inconsistent bar, high < low" in error_of(write(tmp_path, inverted, "i.csv"))
    above = head + "2020-01-02,AAA,10,11,9,12,1\n"
    assert "line 2 (2020-01-02), column 'close' (AAA): inconsistent bar, close > high" in (
        error_of(write(tmp_path, above, "a.csv"))
    )
    partial = head + "2020-01-02,AAA,,11,9,10,1\n"
    assert "open is missing where close is present" in error_of(write(tmp_path, partial, "p.csv"))
    volume = head + "2020-01-02,AAA,10,11,9,10,-5\n"
    assert "column 'volume' (AAA): volume -5 is negative" in error_of(
        write(tmp_path, volume, "v.csv")
    )


def test_corrupt_parquet(tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"PAR1 this is not parquet")
    assert "cannot be read as Parquet" in error_of(path)


def test_parquet_without_pyarrow_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "p.parquet"
    read_prices(write(tmp_path, WIDE)).to_parquet(path)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)  # what an absent package gives
    with pytest.raises(MissingExtra, match=r"pip install 'tradefolio\[data\]'"):
        read_prices(path)


# --- properties -------------------------------------------------------------------------------


@st.composite
def listed_panels(draw: st.DrawFn) -> pd.DataFrame:
    """Random closes where each symbol lists at some date and may delist (no interior gaps)."""
    n_days = draw(st.integers(1, 12))
    n_symbols = draw(st.integers(1, 4))
    dates = pd.bdate_range("2021-03-01", periods=n_days, name="date").as_unit("ns")
    values = np.full((n_days, n_symbols), np.nan)
    for col in range(n_symbols):
        first = draw(st.integers(0, n_days - 1))
        last = draw(st.integers(first, n_days - 1))
        prices = draw(
            st.lists(
                st.floats(1e-4, 1e6, allow_nan=False, allow_infinity=False),
                min_size=last - first + 1,
                max_size=last - first + 1,
            )
        )
        values[first : last + 1, col] = prices
    symbols = pd.Index([f"S{i}" for i in range(n_symbols)], name="symbol")
    return pd.DataFrame(values, index=dates, columns=symbols)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    prices=listed_panels(),
    layout=st.sampled_from(["wide", "long"]),
    fmt=st.sampled_from(["csv", "parquet"]),
)
def test_round_trip_is_exact(
    tmp_path_factory: pytest.TempPathFactory, prices: pd.DataFrame, layout: str, fmt: str
) -> None:
    folder = tmp_path_factory.mktemp("rt")
    frame = PricePanel.from_closes(prices).to_long() if layout == "long" else prices.reset_index()
    path = folder / f"p.{fmt}"
    if fmt == "csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    # long form has rows only where a price exists: dates without any price vanish
    expected = prices.dropna(how="all") if layout == "long" else prices
    back = read_prices(path)
    pd.testing.assert_frame_equal(back, expected, check_like=layout == "long", check_freq=False)
