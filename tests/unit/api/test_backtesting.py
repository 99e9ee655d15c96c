"""`tf.backtest` against `tradefolio backtest`: every fill the same, a user's strategy and
sizer through the same engine, results as pandas, and the CLI's exit-2 errors."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tradefolio as tf
from support.cli import run_cli
from support.fills import fills_as_cli as _fills_as_cli
from tradefolio.api.backtesting import BACKTEST_DEFAULTS
from tradefolio.backtest.config import BacktestConfig
from tradefolio.cli.app import BAD_INPUT_ERRORS
from tradefolio.reporting.run_folder import read_run_folder


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    result = run_cli(capsys, "backtest", *args, "--no-record", "--format", "json")
    assert result.code == 0, result.stderr
    payload: dict[str, Any] = json.loads(result.stdout)
    return payload


def _synthetic(bars: int = 400, symbols: int = 4, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    values = np.round(40 * np.exp(np.cumsum(rng.normal(0, 0.02, (bars, symbols)), axis=0)), 2)
    return pd.DataFrame(
        values,
        index=pd.bdate_range("2016-01-01", periods=bars, name="date"),
        columns=[f"S{j}" for j in range(symbols)],
    )


def test_the_golden_run_has_every_fill_of_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    payload = _cli(capsys, "--strategy", "sma-cross", "--sizer", "weight", "--weight", "0.10")
    run = tf.backtest(strategy="sma-cross", sizer="weight", weight=0.10)
    assert run.final_equity == Decimal("40529060.246")
    assert float(run.final_equity) == payload["final_equity"]
    assert _fills_as_cli(run) == payload["fills"]
    assert run.metrics.to_dict() == pytest.approx(payload["metrics"])


@pytest.mark.parametrize(
    ("keywords", "flags"),
    [
        (
            {"strategy": "momentum", "max_positions": 3, "rebalance": 21, "commission_bps": 5},
            ["--strategy", "momentum", "--max-positions", "3", "--rebalance", "21",
             "--commission-bps", "5"],
        ),
        (
            {"strategy": "buy-and-hold", "sizer": "risk", "stop_loss": 0.08, "slippage_bps": 3,
             "commission_min": 1.0, "cash": 250_000.0},
            ["--strategy", "buy-and-hold", "--sizer", "risk", "--stop-loss", "0.08",
             "--slippage-bps", "3", "--commission-min", "1", "--cash", "250000"],
        ),
        ({"beta_sizing": True, "fast": 10, "slow": 30}, ["--beta-sizing", "--fast", "10",
                                                        "--slow", "30"]),
    ],
)  # fmt: skip
def test_options_give_the_cli_fills(
    keywords: dict[str, Any], flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    payload = _cli(capsys, *flags)
    run = tf.backtest(**keywords)
    assert _fills_as_cli(run) == payload["fills"]
    assert float(run.final_equity) == payload["final_equity"]


def test_a_long_ohlc_frame_fills_at_the_open_as_a_long_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    closes = _synthetic()
    long = closes.stack().rename("close").rename_axis(["date", "symbol"]).reset_index()
    long["open"] = (long["close"] * 0.995).round(2)
    path = tmp_path / "long.csv"
    long.to_csv(path, index=False)
    payload = _cli(capsys, "--prices", str(path), "--fast", "5", "--slow", "20")
    run = tf.backtest(long, fast=5, slow=20)
    assert payload["fills"] and _fills_as_cli(run) == payload["fills"]
    opens = long.set_index(["date", "symbol"])["open"]
    first = run.fills.iloc[0]
    assert first["price"] == opens[(first["date"], first["symbol"])]


@dataclass(frozen=True)
class FirstCloseEntry:
    """A user's strategy: buy every symbol at its first close, never sell (written from
    scratch with pandas, not with tradefolio's helpers)."""

    @property
    def name(self) -> str:
        return "first-close"

    def plan(self, closes: pd.DataFrame) -> tf.SignalPlan:
        seen = closes.notna().cumsum()
        entries = (seen == 1).to_numpy()
        return tf.SignalPlan(entries=entries, exits=np.zeros_like(entries))


@dataclass(frozen=True)
class PandasSmaCross:
    """A user's SMA cross on pandas rolling means: long while fast > slow."""

    fast: int
    slow: int

    @property
    def name(self) -> str:
        return "pandas-sma"

    def plan(self, closes: pd.DataFrame) -> tf.SignalPlan:
        above = closes.rolling(self.fast).mean() > closes.rolling(self.slow).mean()
        was = above.shift(1, fill_value=False)
        ready = closes.rolling(self.slow + 1).count() == self.slow + 1
        entries = (above & ~was & ready).to_numpy()
        exits = (~above & was & ready).to_numpy()
        return tf.SignalPlan(entries=entries, exits=exits)


def test_a_user_strategy_runs_on_the_same_engine_as_the_bundled_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    mine = tf.backtest(strategy=FirstCloseEntry(), sizer="weight", weight=0.05)
    payload = _cli(capsys, "--strategy", "buy-and-hold", "--sizer", "weight", "--weight", "0.05")
    assert _fills_as_cli(mine) == payload["fills"]
    assert mine.name == "first-close" and mine.config["strategy"] == "first-close"


def test_a_pandas_sma_cross_matches_the_bundled_one_on_two_decimal_prices(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    closes = _synthetic()
    path = tmp_path / "closes.csv"
    closes.to_csv(path)
    payload = _cli(capsys, "--prices", str(path), "--fast", "5", "--slow", "20")
    mine = tf.backtest(closes, PandasSmaCross(5, 20))
    assert len(payload["fills"]) > 10
    assert _fills_as_cli(mine) == payload["fills"]


@dataclass(frozen=True)
class TenShares:
    """A user's sizer: always 10 shares."""

    def size(self, request: tf.SizingRequest) -> int:
        return 10


def test_a_user_sizer_sizes_every_entry() -> None:
    run = tf.backtest(_synthetic(), fast=5, slow=20, sizer=TenShares())
    buys = run.fills[run.fills["side"] == "buy"]
    assert len(buys) > 0 and set(buys["quantity"]) == {10}
    assert run.config["sizer"] == "TenShares"


def test_frames_add_up_to_the_exact_ledger() -> None:
    run = tf.backtest(_synthetic(), fast=5, slow=20, sizer="weight", weight=0.2)
    account = run.account
    np.testing.assert_allclose(account["cash"] + account["invested"], account["equity"])
    assert run.equity.iloc[-1] == pytest.approx(float(run.final_equity))
    invested_share = run.weights.sum(axis=1)
    np.testing.assert_allclose(invested_share, account["invested"] / account["equity"])
    last = run.positions[run.positions["date"] == run.positions["date"].max()]
    assert dict(zip(last["symbol"], last["quantity"], strict=True)) == run.final_positions
    assert run.returns.index[0] == run.equity.index[1]


def test_run_folder_and_tearsheet(tmp_path: Path) -> None:
    pytest.importorskip("plotly")
    run = tf.backtest(_synthetic(), fast=5, slow=20)
    folder = run.to_run_folder(tmp_path / "runs")
    # as `backtest --out` (whose --png is off by default): no static charts unless asked
    assert not (folder / "png").exists()
    record = read_run_folder(folder)
    assert record.name == "sma-cross"
    pd.testing.assert_frame_equal(record.fills, run.fills, check_dtype=False)
    page = run.tearsheet(tmp_path / "sheet.html")
    assert page.read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html")
    assert "sma-cross backtest" in run._repr_html_()


def test_defaults_are_the_configs() -> None:
    import inspect

    signature = inspect.signature(tf.backtest)
    for name, field in BacktestConfig.model_fields.items():
        assert signature.parameters[name].default == field.default, name
    inputs = {"prices", "benchmark", "observer"}
    assert set(signature.parameters) - inputs == set(BacktestConfig.model_fields)
    assert BacktestConfig() == BACKTEST_DEFAULTS


@pytest.mark.parametrize(
    ("keywords", "flags"),
    [
        ({"fast": 50, "slow": 20}, ["--fast", "50", "--slow", "20"]),
        ({"sizer": "kelly"}, ["--sizer", "kelly"]),
        ({"strategy": "astrology"}, ["--strategy", "astrology"]),
        ({"weight": 1.5, "sizer": "weight"}, ["--weight", "1.5", "--sizer", "weight"]),
        ({"portfolio": True, "factor": "astrology"}, ["--portfolio", "--factor", "astrology"]),
        ({"prices": "/nonexistent/prices.csv"}, ["--prices", "/nonexistent/prices.csv"]),
        ({"cash": -5.0}, ["--cash", "-5"]),
        ({"slow": 100_000}, ["--slow", "100000"]),  # a window longer than the data
    ],
)
def test_bad_input_raises_what_the_cli_reports_as_exit_2(
    keywords: dict[str, Any], flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    cli = run_cli(capsys, "backtest", *flags, "--no-record")
    assert cli.code == 2, cli.stderr
    with pytest.raises(BAD_INPUT_ERRORS) as raised:
        tf.backtest(**keywords)
    assert cli.stderr.strip() == f"error: {raised.value}"


def test_objects_the_engine_cannot_use_are_refused() -> None:
    with pytest.raises(tf.InvalidParameter, match="strategy must be"):
        tf.backtest(strategy=42)  # type: ignore[arg-type]
    with pytest.raises(tf.InvalidParameter, match="portfolio=True"):
        tf.backtest(strategy=FirstCloseEntry(), portfolio=True)
    with pytest.raises(tf.DataError, match="expected a path, a DataFrame"):
        tf.backtest([1, 2, 3])  # type: ignore[arg-type]
    with pytest.raises(tf.InvalidParameter, match="strategy='momentum'"):
        tf.backtest("momentum")


@dataclass(frozen=True)
class GivenPlan:
    """A strategy that wants exactly the entries and exits it was built with."""

    entries: np.ndarray
    exits: np.ndarray

    @property
    def name(self) -> str:
        return "given"

    def plan(self, closes: pd.DataFrame) -> tf.SignalPlan:
        return tf.SignalPlan(entries=self.entries, exits=self.exits)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    weight=st.floats(0.05, 0.9),
    commission_bps=st.sampled_from([0.0, 5.0, 25.0]),
)
def test_the_frames_agree_with_the_exact_ledger_whatever_the_strategy(
    seed: int, weight: float, commission_bps: float
) -> None:
    """Random entries and exits: cash + invested = equity at every close, the last equity is
    the ledger's exact figure, positions replay the fills, weights stay in [0, 1]."""
    rng = np.random.default_rng(seed)
    closes = _synthetic(bars=120, symbols=3, seed=seed)
    strategy = GivenPlan(rng.random(closes.shape) < 0.08, rng.random(closes.shape) < 0.05)
    run = tf.backtest(
        closes, strategy, sizer="weight", weight=weight, commission_bps=commission_bps
    )
    account = run.account
    np.testing.assert_allclose(account["cash"] + account["invested"], account["equity"], rtol=1e-12)
    assert run.equity.iloc[-1] == pytest.approx(float(run.final_equity), rel=1e-12)
    assert float(run.final_cash) == pytest.approx(account["cash"].iloc[-1], rel=1e-12)
    assert (account["cash"] >= -1e-9).all()
    signed = run.fills["quantity"].where(run.fills["side"] == "buy", -run.fills["quantity"])
    held = signed.groupby(run.fills["symbol"]).sum()
    assert {s: int(q) for s, q in held.items() if q} == run.final_positions
    weights = run.weights
    assert ((weights >= 0) & (weights <= 1 + 1e-9)).all().all()


def _ohlc_long(bars: int = 300, symbols: int = 4) -> pd.DataFrame:
    """A seeded long OHLCV frame (stops and limits need highs and lows)."""
    from tradefolio.data.synthetic import gbm_ohlc

    frame: pd.DataFrame = gbm_ohlc(symbols, bars, seed=21, volatility=0.35).to_long()
    return frame


def test_exits_give_the_cli_fills_on_ohlc_bars(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    long = _ohlc_long()
    path = tmp_path / "bars.csv"
    long.to_csv(path, index=False)
    flags = ["--prices", str(path), "--fast", "5", "--slow", "20", "--sizer", "weight"]
    exits = ["--stop-loss", "0.03", "--take-profit", "0.06", "--trailing-stop", "0.05"]
    payload = _cli(capsys, *flags, *exits)
    run = tf.backtest(
        long, fast=5, slow=20, sizer="weight", stop_loss=0.03, take_profit=0.06,
        trailing_stop=0.05,
    )  # fmt: skip
    assert _fills_as_cli(run) == payload["fills"]
    plain = tf.backtest(long, fast=5, slow=20, sizer="weight")
    assert len(run.fills) > len(plain.fills)  # the exits closed positions the cross kept


def test_the_risk_sizer_places_its_stop_unless_no_stop() -> None:
    placed = tf.backtest(strategy="sma-cross", sizer="risk", stop_loss=0.05)
    sized_only = tf.backtest(strategy="sma-cross", sizer="risk", stop_loss=0.05, no_stop=True)
    assert len(placed.fills) != len(sized_only.fills)
    assert placed.final_equity != sized_only.final_equity


def test_an_event_driven_strategy_object_gives_the_vectorised_fills() -> None:
    events = tf.backtest(strategy=tf.SmaCrossEvents(fast=20, slow=50), sizer="weight", weight=0.1)
    assert events.final_equity == Decimal("40529060.246")  # the golden run, event-driven
    assert len(events.fills) == 2591


def test_a_strategy_file_takes_its_params_as_a_mapping_or_strings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    spec = "tradefolio.backtest.strategies:SmaCrossEvents"
    payload = _cli(capsys, "--strategy", spec, "--param", "fast=10", "--param", "slow=30")
    mapped = tf.backtest(strategy=spec, param={"fast": 10, "slow": 30})
    strings = tf.backtest(strategy=spec, param=("fast=10", "slow=30"))
    assert _fills_as_cli(mapped) == _fills_as_cli(strings) == payload["fills"]
    assert mapped.name == "SmaCrossEvents"
    with pytest.raises(tf.InvalidParameter, match="no such parameter"):
        tf.backtest(strategy=spec, param={"depth": 3})
    with pytest.raises(tf.InvalidParameter, match="its own constructor"):
        tf.backtest(strategy=tf.SmaCross(fast=5, slow=20), param={"fast": 3})


def test_an_unknown_keyword_is_named_with_the_valid_ones() -> None:
    """`fats=3` for `fast=3` (found by review, session 10): an `InvalidParameter` naming
    it, the keyword meant and the ones `backtest` takes, never a bare `TypeError`."""
    with pytest.raises(tf.InvalidParameter) as raised:
        tf.backtest(_synthetic(), "sma-cross", fats=3)  # type: ignore[call-arg]
    message = str(raised.value)
    assert message.startswith("backtest() has no keyword fats= (did you mean fast=?)")
    assert "fast, slow, lookback" in message and "\n" not in message
