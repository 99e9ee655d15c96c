"""Dev-only oracle: backtrader itself, fill for fill, for stops, brackets, trailing stops,
limit entries and costs, on real OHLC data (GOOG 2004-2013, read from the installed
`backtesting` package; AGPL, never copied here) and on synthetic OHLC bars.

The pinned reference configuration for `--stop-loss X [--take-profit Y]`: backtrader with
`cheat_on_open=True`; the SMA crossover read in `next()`; in `next_open()` sizing equity =
cash + holdings at the open, exits first (a down-cross while holding cancels the open legs
and sells at market), then entries in column order, `floor(weight · equity / price)` cut
to the cash, each entry `buy_bracket(size=q, exectype=Market, stopprice=f · (1 - X),
limitprice=f · (1 + Y))` (no limit leg without Y), `f` the entry's fill price (the open,
slipped) rounded to the micro-unit as tradefolio prices. A leg's fill cancels the other.
Slippage is `set_slippage_perc(s, slip_open=True, slip_out=True)`: slipped from the
matched price and never capped to the bar's range.
"""

from __future__ import annotations

import importlib.resources
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from tests.support.backtrader_sma import Fill, _micro, backtrader_run

from tradefolio.backtest.config import BacktestConfig
from tradefolio.backtest.engine import BacktestResult, run_backtest
from tradefolio.backtest.runner import run_config
from tradefolio.backtest.strategies import SmaCross
from tradefolio.data.panel import PricePanel
from tradefolio.data.synthetic import gbm_ohlc
from tradefolio.execution.sizing import PortfolioWeightSizer
from tradefolio.execution.strategy import SignalPlan

pytestmark = pytest.mark.dev


def _goog() -> PricePanel:
    pytest.importorskip("backtesting")
    path = importlib.resources.files("backtesting") / "test" / "GOOG.csv"
    with importlib.resources.as_file(path) as file:
        raw = pd.read_csv(file, index_col=0, parse_dates=True)
    index = pd.DatetimeIndex(raw.index, name="date")

    def field(name: str) -> pd.DataFrame:
        frame = pd.DataFrame({"GOOG": raw[name].to_numpy(dtype=float)}, index=index)
        frame.columns.name = "symbol"
        return frame

    return PricePanel(
        close=field("Close"),
        open=field("Open"),
        high=field("High"),
        low=field("Low"),
        volume=field("Volume"),
    )


def _synthetic() -> PricePanel:
    return gbm_ohlc(8, 1_200, seed=3, volatility=0.35, factor_correlation=0.3)


def _ours(result: BacktestResult) -> list[Fill]:
    return [(f.date.isoformat(), f.symbol, f.side, f.quantity, f.price) for f in result.fills]


def _assert_same(result: BacktestResult, expected: list[Fill], final_value: float) -> None:
    got = _ours(result)
    assert len(got) == len(expected) > 20
    assert got == [(d, s, side, q, _micro(p)) for d, s, side, q, p in expected]
    assert abs(float(result.final_equity) - final_value) < 0.01


def _run(panel: PricePanel, **fields: Any) -> BacktestResult:
    config = BacktestConfig.create(sizer="weight", **fields)
    return run_config(
        config,
        panel.close,
        opens=panel.open,
        highs=panel.high,
        lows=panel.low,
    )


def _exit_kinds(result: BacktestResult) -> set[str]:
    return {f.client_order_id.rsplit("-", 1)[-1] for f in result.fills if f.side == "sell"}


DATA = {"goog": _goog, "synthetic": _synthetic}
SETS = [("goog", 10, 30, 0.9, 100_000.0), ("synthetic", 5, 20, 0.2, 250_000.0)]


COSTS = {"commission_bps": 10.0, "commission_per_share": 0.005, "commission_min": 1.0}
#: name -> (backtrader reference options, tradefolio config fields, exits that must fire)
CASES: dict[str, tuple[dict[str, float], dict[str, float], set[str]]] = {
    "stop-loss only": ({"stop": 0.05}, {"stop_loss": 0.05}, {"stop"}),
    "stop + take-profit bracket": (
        {"stop": 0.04, "take": 0.06},
        {"stop_loss": 0.04, "take_profit": 0.06},
        {"stop", "take"},
    ),
    "trailing stop": ({"trail": 0.06}, {"trailing_stop": 0.06}, {"trail"}),
    "stops with commission and slippage": (
        {"stop": 0.05, "take": 0.08, "bps": 10.0, "per_share": 0.005, "minimum": 1.0,
         "slippage_bps": 5.0},
        {"stop_loss": 0.05, "take_profit": 0.08, **COSTS, "slippage_bps": 5.0},
        {"stop"},
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize(("data", "fast", "slow", "weight", "cash"), SETS)
def test_exits_fill_for_fill(
    case: str, data: str, fast: int, slow: int, weight: float, cash: float
) -> None:
    reference, fields, fired = CASES[case]
    panel = DATA[data]()
    expected, value = backtrader_run(panel, fast, slow, weight, cash, **reference)
    result = _run(panel, fast=fast, slow=slow, weight=weight, cash=cash, **fields)
    _assert_same(result, expected, value)
    assert fired <= _exit_kinds(result)  # the exits really fired


class _LimitEntries:
    """SMA cross whose entries are DAY limit buys `offset` below the deciding close."""

    name = "sma-cross-limit"

    def __init__(self, fast: int, slow: int, offset: float) -> None:
        self.inner = SmaCross(fast, slow)
        self.offset = offset

    def limits(self, closes: pd.DataFrame) -> pd.DataFrame:
        return (closes * (1 - self.offset)).round(2)

    def plan(self, closes: pd.DataFrame) -> SignalPlan:
        plan = self.inner.plan(closes)
        limits = self.limits(closes).to_numpy(dtype=np.float64)
        return SignalPlan(plan.entries, plan.exits, entry_limits=limits)


@pytest.mark.parametrize(("data", "fast", "slow", "weight", "cash"), SETS)
def test_limit_entries(data: str, fast: int, slow: int, weight: float, cash: float) -> None:
    panel = DATA[data]()
    strategy = _LimitEntries(fast, slow, 0.01)
    expected, value = backtrader_run(
        panel, fast, slow, weight, cash, limits=strategy.limits(panel.close)
    )
    result = run_backtest(
        panel.close,
        strategy,
        PortfolioWeightSizer.fixed(weight),
        cash=cash,
        opens=panel.open,
        highs=panel.high,
        lows=panel.low,
    )
    _assert_same(result, expected, value)
    expired = [e for e in result.order_events if e.status == "expired"]
    assert expired  # some limits were never reached and died with their day


def test_the_cli_on_a_long_ohlc_file_gives_backtraders_bracket_fills(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from tests.support.cli import run_cli

    panel = _synthetic()
    path = tmp_path / "bars.csv"
    panel.to_long().to_csv(path, index=False)
    expected, value = backtrader_run(panel, 5, 20, 0.2, 250_000.0, stop=0.05, take=0.1)
    result = run_cli(
        capsys, "backtest", "--prices", str(path), "--fast", "5", "--slow", "20",
        "--sizer", "weight", "--weight", "0.2", "--cash", "250000",
        "--stop-loss", "0.05", "--take-profit", "0.1", "--format", "json", "--no-record",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    payload = json.loads(result.stdout)
    got = [
        (f["date"], f["symbol"], f["side"], f["quantity"], _micro(Decimal(repr(f["price"]))))
        for f in payload["fills"]
    ]
    assert got == [(d, s, side, q, _micro(p)) for d, s, side, q, p in expected]
    assert abs(payload["final_equity"] - value) < 0.01
    assert payload["exits"]["stop_loss"] == 0.05
