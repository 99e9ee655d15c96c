"""`tradefolio data fetch|info`: outputs, the JSON contract, one-line errors (exit 2)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from support.cli import assert_one_line_error, run_cli
from tradefolio.data.readers import read_panel, read_prices
from tradefolio.data.sample_data import sample_path

INFO_KEYS = {
    "source",
    "sessions",
    "first_date",
    "last_date",
    "fields",
    "missing_fields",
    "gaps",
    "symbols",
}
SYMBOL_KEYS = {"symbol", "first_date", "last_date", "prices", "missing", "gaps"}
WIDE = "Date,AAA,BBB\n2020-01-02,10.0,20.0\n2020-01-03,10.5,19.5\n2020-01-06,11.0,19.0\n"


def write(tmp_path: Path, text: str, name: str = "prices.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --- info -------------------------------------------------------------------------------------


def test_info_table_on_the_sample(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "data", "info", sample_path())
    assert result.code == 0, result.stderr
    assert "20 symbols, 8313 sessions 1990-01-02 .. 2022-12-28" in result.stdout
    assert "AAPL" in result.stdout and "XOM" in result.stdout


def test_info_json_contract(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    text = "Date,AAA,BBB\n2020-01-02,,1\n2020-01-03,1,\n2020-01-06,,1\n2020-01-07,1,1\n"
    result = run_cli(capsys, "data", "info", str(write(tmp_path, text)), "--format", "json")
    assert result.code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload.keys() == INFO_KEYS
    assert payload["sessions"] == 4 and payload["gaps"] == 2 and payload["fields"] == ["close"]
    assert payload["missing_fields"] == ["open", "high", "low", "volume"]
    aaa, bbb = payload["symbols"]
    assert aaa.keys() == SYMBOL_KEYS
    assert (aaa["first_date"], aaa["prices"], aaa["missing"]) == ("2020-01-03", 2, 1)
    assert aaa["gaps"] == [{"start": "2020-01-06", "end": "2020-01-06", "sessions": 1}]
    assert bbb["gaps"] == [{"start": "2020-01-03", "end": "2020-01-03", "sessions": 1}]


def test_info_states_the_fields_a_file_has_and_lacks(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sample = run_cli(capsys, "data", "info", sample_path())
    assert sample.code == 0, sample.stderr
    assert "fields: close only; missing: open, high, low and volume; stops, limits and fills" in (
        " ".join(sample.stdout.split())
    )
    wide = write(
        tmp_path,
        "Date,AAA.open,AAA.high,AAA.low,AAA.close,BRK.B.open,BRK.B.high,BRK.B.low,BRK.B.close\n"
        "2020-01-02,10,11,9,10.5,300,301,299,300.5\n2020-01-03,10.5,12,10,11,300,302,298,301\n",
    )
    table = run_cli(capsys, "data", "info", str(wide))
    assert table.code == 0, table.stderr
    assert "2 symbols, 2 sessions" in table.stdout and "BRK.B" in table.stdout
    assert "fields: open, high, low, close; missing: volume" in table.stdout
    payload = json.loads(run_cli(capsys, "data", "info", str(wide), "--format", "json").stdout)
    assert payload["fields"] == ["open", "high", "low", "close"]
    assert payload["missing_fields"] == ["volume"]
    assert [s["symbol"] for s in payload["symbols"]] == ["AAA", "BRK.B"]


def test_info_csv(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    result = run_cli(capsys, "data", "info", str(write(tmp_path, WIDE)), "--format", "csv")
    assert result.stdout.splitlines() == [
        "symbol,first_date,last_date,prices,missing,gaps",
        "AAA,2020-01-02,2020-01-06,3,0,0",
        "BBB,2020-01-02,2020-01-06,3,0,0",
    ]


def test_info_with_benchmark(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bench = write(
        tmp_path, "Date,SPX\n2020-01-03,3000\n2020-01-06,3001\n2020-01-07,3002\n", "b.csv"
    )
    args = ("data", "info", str(write(tmp_path, WIDE)), "--benchmark", str(bench))
    payload = json.loads(run_cli(capsys, *args, "--format", "json").stdout)
    assert payload["benchmark"] == {
        "source": str(bench),
        "name": "SPX",
        "common_sessions": 2,
        "first_date": "2020-01-03",
        "last_date": "2020-01-06",
    }


def test_info_benchmark_without_overlap(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bench = write(tmp_path, "Date,SPX\n2021-01-04,3000\n", "b.csv")
    result = run_cli(capsys, "data", "info", str(write(tmp_path, WIDE)), "--benchmark", str(bench))
    assert_one_line_error(result, f"{bench}: no date in common with")


BAD_FILES = {
    "empty": ("", "empty file"),
    "header-only": ("Date,AAA\n", "no rows"),
    "bad-date": (WIDE.replace("2020-01-03", "03.01.20x"), "line 3, column 'Date': unparseable"),
    "duplicate-date": (WIDE.replace("2020-01-06", "2020-01-03"), "line 4 (2020-01-03): duplicate"),
    "duplicate-symbol": (WIDE.replace("BBB", "AAA"), "duplicate column 'AAA'"),
    "duplicate-long-row": (
        "date,symbol,close\n2020-01-02,AAA,1\n2020-01-02,AAA,2\n",
        "line 3 (2020-01-02), column 'symbol': duplicate row for AAA",
    ),
    "non-positive": (WIDE.replace("19.5", "-1"), "column 'BBB': price -1 is not positive"),
    "non-finite": (WIDE.replace("19.5", "inf"), "column 'BBB': price inf is not finite"),
    "text-price": (WIDE.replace("19.5", "abc"), "column 'BBB': 'abc' is not a number"),
    "unsorted": (
        "Date,AAA\n2020-01-03,1\n2020-01-02,1\n",
        "line 3 (2020-01-02): dates are not sorted",
    ),
    "no-date-column": ("AAA,BBB\n1,2\n", "no 'date' column"),
    "wide-ohlcv-uneven": (
        "Date,AAA.open,AAA.close,BBB.close\n2020-01-02,1,1,1\n",
        "no column BBB.open although other symbols have open",
    ),
    "wide-ohlcv-plain-column": (
        "Date,AAA.open,AAA.close,BBB\n2020-01-02,1,1,1\n",
        "column 'BBB': not SYMBOL.field",
    ),
}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_info_bad_file_is_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, kind: str
) -> None:
    text, fragment = BAD_FILES[kind]
    path = write(tmp_path, text)
    result = run_cli(capsys, "data", "info", str(path))
    assert_one_line_error(result, fragment)
    assert str(path) in result.stderr


def test_info_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert_one_line_error(run_cli(capsys, "data", "info", str(tmp_path / "x.csv")), "no such file")


# --- fetch ------------------------------------------------------------------------------------


class FakeDownload:
    """Deterministic bars on business days; counts calls."""

    def __init__(self, skip: dict[str, date] | None = None, fail: bool = False) -> None:
        self.calls = 0
        self.skip = skip or {}
        self.fail = fail

    def __call__(self, symbol: str, start: date, end: date) -> pd.DataFrame:
        self.calls += 1
        if self.fail:
            raise TimeoutError("read timed out")
        if symbol == "NOPE":
            return pd.DataFrame()
        days = [
            d
            for d in pd.bdate_range(start, end - timedelta(days=1))
            if d.date() != self.skip.get(symbol)
        ]
        closes = 50.0 + np.arange(len(days)) + (10.0 if symbol == "BBB" else 0.0)
        return pd.DataFrame(
            {"Open": closes, "High": closes + 1, "Low": closes - 1, "Close": closes, "Volume": 7.0},
            index=pd.DatetimeIndex(days),
        )


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeDownload:
    download = FakeDownload()
    monkeypatch.setattr("tradefolio.cli.data.yfinance_download", download)
    return download


def fetch_args(tmp_path: Path, out: str, *extra: str) -> list[str]:
    return [
        "data", "fetch", "AAA", "BBB", "--start", "2024-01-02", "--end", "2024-01-31",
        "--out", str(tmp_path / out), "--cache-dir", str(tmp_path / "cache"), *extra,
    ]  # fmt: skip


def test_fetch_writes_a_readable_file_and_uses_the_cache(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fake: FakeDownload
) -> None:
    result = run_cli(capsys, *fetch_args(tmp_path, "p.csv", "--format", "json"))
    assert result.code == 0, result.stderr
    assert "wrote 22 sessions x 2 symbols" in result.stderr
    assert json.loads(result.stdout)["sessions"] == 22
    prices = read_prices(tmp_path / "p.csv")
    assert list(prices.columns) == ["AAA", "BBB"] and prices["BBB"].iloc[0] == 60.0
    assert fake.calls == 2
    assert run_cli(capsys, *fetch_args(tmp_path, "again.csv")).code == 0
    assert fake.calls == 2  # served from the Parquet cache
    pd.testing.assert_frame_equal(read_prices(tmp_path / "again.csv"), prices)


def test_fetch_long_parquet_keeps_bars(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fake: FakeDownload
) -> None:
    args = fetch_args(tmp_path, "bars.parquet", "--layout", "long")
    assert run_cli(capsys, *args).code == 0
    panel = read_panel(tmp_path / "bars.parquet")
    assert panel.has_bars and panel.volume is not None
    assert panel.field("high").iloc[0].tolist() == [51.0, 61.0]


def test_fetch_gap_fails_unless_filled(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "tradefolio.cli.data.yfinance_download", FakeDownload(skip={"BBB": date(2024, 1, 10)})
    )
    assert_one_line_error(
        run_cli(capsys, *fetch_args(tmp_path, "p.csv")), "symbol 'BBB' has an interior gap"
    )
    assert not (tmp_path / "p.csv").exists()
    assert run_cli(capsys, *fetch_args(tmp_path, "p.csv", "--fill-gaps")).code == 0
    assert read_prices(tmp_path / "p.csv").loc["2024-01-10", "BBB"] == 65.0  # 01-09's close


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (("--start", "2024-13-01"), "--start must be a date like 2020-01-31, got '2024-13-01'"),
        (("--end", "2023-12-01"), "--start (2024-01-02) must not be after --end (2023-12-01)"),
        (("--out", "/no/such/dir/p.csv"), "--out: directory /no/such/dir does not exist"),
        (("--out", "d.xlsx"), "--out d.xlsx: the file name must end in .csv, .csv.gz"),
        (("--out", "prices.txt"), "must end in .csv"),
        (("--out", "/"), "must end in .csv"),
    ],
)
def test_fetch_bad_options(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    fake: FakeDownload,
    change: tuple[str, str],
    fragment: str,
) -> None:
    args = fetch_args(tmp_path, "p.csv")
    args[args.index(change[0]) + 1] = change[1]
    assert_one_line_error(run_cli(capsys, *args), fragment)
    assert fake.calls == 0


def test_fetch_unknown_symbol(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fake: FakeDownload
) -> None:
    args = fetch_args(tmp_path, "p.csv")
    args[args.index("BBB")] = "NOPE"
    assert_one_line_error(run_cli(capsys, *args), "yahoo:NOPE: no prices between")


def test_fetch_network_failure_exits_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tradefolio.cli.data.yfinance_download", FakeDownload(fail=True))
    result = run_cli(capsys, *fetch_args(tmp_path, "p.csv"))
    assert result.code == 1
    assert result.stderr.strip().splitlines() == [
        "error: yahoo:AAA: download of 2024-01-02 .. 2024-02-01 failed (read timed out)"
    ]


class SwingingDownload(FakeDownload):
    """Bars whose closes swing (SMA crosses happen), each bar whole: low <= open, close <= high."""

    def __call__(self, symbol: str, start: date, end: date) -> pd.DataFrame:
        self.calls += 1
        days = pd.bdate_range(start, end - timedelta(days=1))
        step = np.arange(len(days), dtype=np.float64)
        phase = 0.0 if symbol == "AAA" else 1.3
        closes = np.round(50.0 + 8.0 * np.sin(step / 4.0 + phase), 2)
        opens = np.round(closes - 0.4 * np.cos(step / 3.0), 2)
        return pd.DataFrame(
            {
                "Open": opens,
                "High": np.maximum(opens, closes) + 0.75,
                "Low": np.minimum(opens, closes) - 0.5,
                "Close": closes,
                "Volume": 1_000.0 + step,
            },
            index=pd.DatetimeIndex(days),
        )


@pytest.mark.parametrize("out", ["bars.csv", "bars.parquet"])
def test_fetch_writes_ohlcv_that_info_and_backtest_read(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    out: str,
) -> None:
    download = SwingingDownload()
    monkeypatch.setattr("tradefolio.cli.data.yfinance_download", download)
    args = [
        "data", "fetch", "AAA", "BBB", "--start", "2023-01-02", "--end", "2023-12-29",
        "--no-cache",
    ]  # fmt: skip
    wide = run_cli(capsys, *args, "--out", str(tmp_path / out))
    assert wide.code == 0, wide.stderr
    assert run_cli(capsys, *args, "--out", str(tmp_path / "long.csv"), "--layout", "long").code == 0
    # the default file is wide OHLCV: every field of every symbol, the provider's numbers
    panel = read_panel(tmp_path / out)
    truth = {s: download(s, date(2023, 1, 2), date(2023, 12, 30)) for s in ("AAA", "BBB")}
    for field in ("open", "high", "low", "close", "volume"):
        frame = getattr(panel, field)
        assert frame is not None, field
        for symbol, bars in truth.items():
            assert frame[symbol].tolist() == bars[field.capitalize()].tolist()
    if out.endswith(".csv"):
        header = (tmp_path / out).read_text().splitlines()[0]
        assert header.startswith("date,AAA.open,AAA.high,AAA.low,AAA.close,AAA.volume,BBB.open")
    # ... the same panel as the long file
    long = read_panel(tmp_path / "long.csv")
    for field in ("open", "high", "low", "close", "volume"):
        pd.testing.assert_frame_equal(getattr(panel, field), getattr(long, field))
    # data info says it has every field
    described = run_cli(capsys, "data", "info", str(tmp_path / out), "--format", "json")
    info = json.loads(described.stdout)
    assert info["fields"] == ["open", "high", "low", "close", "volume"]
    assert info["missing_fields"] == []
    # and a backtest with stops fills on its bars as on the long file's
    trade = [
        "backtest", "--fast", "3", "--slow", "8", "--sizer", "weight", "--weight", "0.4",
        "--stop-loss", "0.03", "--format", "json", "--no-record",
    ]  # fmt: skip
    ran = run_cli(capsys, *trade, "--prices", str(tmp_path / out))
    assert ran.code == 0, ran.stderr
    fills = json.loads(ran.stdout)["fills"]
    reference = json.loads(run_cli(capsys, *trade, "--prices", str(tmp_path / "long.csv")).stdout)
    assert fills == reference["fills"] and len(fills) > 10
    assert any(f["price"] not in set(truth[f["symbol"]]["Close"]) for f in fills)  # not closes


def test_a_close_only_panel_is_written_as_plain_closes(tmp_path: Path) -> None:
    from tradefolio.data.writers import write_panel

    closes = read_prices(sample_path()).iloc[:50, :3]
    written = write_panel(closes, tmp_path / "c.csv")
    assert written.read_text().splitlines()[0] == "date," + ",".join(closes.columns)
    panel = read_panel(written)
    assert panel.open is None and panel.volume is None  # nothing invented
    pd.testing.assert_frame_equal(panel.close, closes, check_names=False)
