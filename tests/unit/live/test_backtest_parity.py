"""`live --paper` with stops and brackets ends with the backtest's fills (issue 14).

Both runs go through the CLI on the same long OHLC file; the oracle is what each hands the
user: the run folder's `fills.csv` (date, symbol, side, quantity, price, commission, to
the micro-unit), in the order listed: within one bar both fill a bar's orders in
submission order (an older stop before the bar's market buys, whose cash it frees), the
paper venue by filling market orders in its bar match (`market_orders_in_match`).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from tests.support.cli import run_cli

from tradefolio.data.synthetic import gbm_ohlc
from unit.live.live_helpers import backtest_and_paper

COSTS = ("--commission-bps", "5", "--commission-min", "1", "--slippage-bps", "3")


@pytest.fixture(scope="module")
def bars(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bars") / "bars.csv"
    gbm_ohlc(4, 400, seed=7, volatility=0.35).to_long().to_csv(path, index=False)
    return path


def _fills(folder: Path) -> list[tuple[str, str, str, float, float, float]]:
    (fills_csv,) = folder.glob("*/fills.csv")
    with fills_csv.open() as handle:
        rows = [
            (r["date"], r["symbol"], r["side"], float(r["quantity"]), float(r["price"]),
             float(r["commission"]))
            for r in csv.DictReader(handle)
        ]  # fmt: skip
    return rows


def _both(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, bars: Path, *args: str
) -> tuple[list[tuple[str, str, str, float, float, float]], ...]:
    common = ("--prices", str(bars), *COSTS, *args, "--no-png", "--format", "json")
    _, live = backtest_and_paper(capsys, tmp_path, *common)
    assert "exits on sized entries" in live.stderr
    assert "no protective orders" not in live.stderr
    assert json.loads(live.stdout)["state"] == "ACTIVE"
    return _fills(tmp_path / "b"), _fills(tmp_path / "l")


@pytest.mark.parametrize(
    "exits",
    [
        ("--stop-loss", "0.05", "--take-profit", "0.08"),  # bracket: stop + take-profit OCO
        ("--stop-loss", "0.04"),
        ("--trailing-stop", "0.06"),
    ],
)
def test_weight_sizer_with_exits_fills_as_the_backtest(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, bars: Path, exits: tuple[str, ...]
) -> None:
    backtest, live = _both(
        capsys, tmp_path, bars, "--strategy", "sma-cross", "--fast", "5", "--slow", "20",
        "--sizer", "weight", "--weight", "0.2", *exits,
    )  # fmt: skip
    assert len(backtest) > 40
    assert live == backtest
    # the exits acted: sells that are not at a down-cross's open (stops, take-profits)
    assert sum(1 for f in backtest if f[2] == "sell") >= len(backtest) // 2


def test_the_risk_sizer_places_its_stop_in_live_as_in_the_backtest(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, bars: Path
) -> None:
    backtest, live = _both(
        capsys, tmp_path, bars, "--strategy", "sma-cross", "--fast", "5", "--slow", "20",
        "--sizer", "risk", "--risk-per-trade", "0.01",
    )  # fmt: skip
    assert len(backtest) > 20
    assert live == backtest


EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "strategies"


@pytest.mark.parametrize(
    "strategy",
    [
        # RSI mean reversion with its own trailing stop
        ("rsi_mean_reversion.py:RsiMeanReversion", "--sizer", "weight", "--weight", "0.1",
         "--param", "window=10", "--param", "oversold=35", "--param", "trail=0.05"),
        # Donchian breakout entered as brackets (stop + take-profit children, OCO)
        ("donchian_breakout.py:DonchianBreakout", "--param", "entry_window=20",
         "--param", "exit_window=10", "--param", "target=0.15"),
        # stateful re-entry after a stop-out, the session's protective stop
        ("reentry.py:ReEntryAfterStop", "--stop-loss", "0.05", "--param", "sma=20",
         "--param", "cooldown=5"),
    ],
    ids=["rsi-trailing", "donchian-bracket", "reentry"],
)  # fmt: skip
def test_the_example_strategies_fill_in_live_as_in_the_backtest(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, bars: Path, strategy: tuple[str, ...]
) -> None:
    spec, *args = strategy
    backtest, live = _both(capsys, tmp_path, bars, "--strategy", f"{EXAMPLES}/{spec}", *args)
    assert len(backtest) > 30
    assert live == backtest


class_file = """
import numpy as np

class Boom:
    name = "boom"
    warmup = 5

    def on_bar(self, context):
        if context.bar == 30:
            context.price("SYN002")
            raise ZeroDivisionError("the strategy's own bug")
        if context.bar == 10:
            context.enter("SYN001")
"""


def test_a_raising_strategy_is_one_failure_and_the_journal_keeps_its_bars(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, bars: Path
) -> None:
    path = tmp_path / "boom.py"
    path.write_text(class_file)
    db = tmp_path / "boom.db"
    result = run_cli(
        capsys, "live", "--paper", "--prices", str(bars), "--strategy", f"{path}:Boom",
        "--sizer", "weight", "--db", str(db), "--no-record",
    )  # fmt: skip
    assert result.code == 1, result
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "ZeroDivisionError at bar 30" in error and "SYN002" in error
    assert "the strategy's own bug" in result.stderr and "boom.py" in result.stderr
    status = run_cli(capsys, "live", "status", "--db", str(db), "--format", "json")
    payload = json.loads(status.stdout)
    # every bar before the one the raising decision was for is kept (the decision at the
    # close of row 30 acts on row 31), the entry decided at row 10 with them
    with bars.open() as handle:
        dates = sorted({row["date"] for row in csv.DictReader(handle)})
    assert payload["last_bar"] == dates[30]
    assert [p["symbol"] for p in payload["positions"]] == ["SYN001"]


overspend_file = """
from tradefolio.execution.orders import Order

class Overspend:
    name = "overspend"
    warmup = 1

    def on_bar(self, context):
        if context.bar == 3:  # two market buys worth 60% of the cash each: 120% in all
            for symbol in ("SYN001", "SYN002"):
                units = int(0.6 * context.cash / context.price(symbol))
                context.submit(Order(f"own-{symbol}", symbol, "buy", units))
"""


def test_a_strategys_own_buys_beyond_the_cash_are_cut_in_paper_as_in_the_backtest(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, bars: Path
) -> None:
    spec = tmp_path / "overspend.py"
    spec.write_text(overspend_file)
    backtest, live = _both(
        capsys, tmp_path, bars, "--strategy", f"{spec}:Overspend", "--sizer", "weight"
    )
    assert [f[:3] for f in backtest] == [(backtest[0][0], "SYN001", "buy"),
                                         (backtest[0][0], "SYN002", "buy")]  # fmt: skip
    assert live == backtest
    (equity_csv,) = (tmp_path / "l").glob("*/equity.csv")
    with equity_csv.open() as handle:
        cash = [float(row["cash"]) for row in csv.DictReader(handle)]
    assert min(cash) >= 0.0  # paper never lends: the second buy got what was left


stop_then_buy_file = """
from tradefolio.execution.orders import Order, bracket

class StopThenBuy:
    name = "stop-then-buy"
    warmup = 1

    def on_bar(self, context):
        if context.bar == 1:
            for order in bracket(Order("aaa", "AAA", "buy", 900), stop_price=95.0):
                context.submit(order)
        if context.bar == 3:  # needs the cash the AAA stop frees at the next open
            context.submit(Order("bbb", "BBB", "buy", 1500))
"""


def test_a_stop_filled_at_the_open_pays_for_that_bars_market_buy_in_both(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    prices = tmp_path / "gap.csv"
    rows = ["date,symbol,open,high,low,close,volume"]
    aaa = [(100, 100, 100, 100)] * 4 + [(90, 91, 89, 90)] * 3  # gaps through 95 on day 4
    for day, bar in enumerate(aaa):
        rows.append(f"2021-01-{day + 4:02d},AAA,{','.join(map(str, bar))},1000")
        rows.append(f"2021-01-{day + 4:02d},BBB,50,50,50,50,1000")
    prices.write_text("\n".join(rows) + "\n")
    spec = tmp_path / "stop_then_buy.py"
    spec.write_text(stop_then_buy_file)
    backtest, live = _both(
        capsys, tmp_path, prices, "--strategy", f"{spec}:StopThenBuy", "--sizer", "weight"
    )
    day4 = [f for f in backtest if f[0] == "2021-01-08"]
    assert [(f[1], f[2], f[3]) for f in day4] == [("AAA", "sell", 900), ("BBB", "buy", 1500)]
    assert live == backtest
