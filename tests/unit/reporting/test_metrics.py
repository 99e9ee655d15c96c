"""Tearsheet metrics: hand-checked cases, consistency with the backtest, and (dev-only) the
reference libraries quantstats and empyrical, to 1e-9, on runs over the bundled sample."""

from __future__ import annotations

import json
import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tradefolio.backtest.config import BacktestConfig
from tradefolio.backtest.runner import run_config
from tradefolio.data import load_sample
from tradefolio.reporting.metrics import (
    ROLLING_WINDOW,
    alpha_beta,
    benchmark_returns,
    daily_returns,
    drawdown,
    drawdown_episodes,
    monthly_returns,
    rebalance_turnover,
    rolling_beta,
    rolling_sharpe,
    run_metrics,
)
from tradefolio.reporting.record import RunRecord
from tradefolio.reporting.run_folder import record_from_backtest
from tradefolio.reporting.trades import closed_trip_returns, round_trip_table

TOLERANCE = 1e-9


def close_enough(ours: float, reference: float) -> bool:
    """|ours - reference| <= 1e-9 (relative above 1 in magnitude)."""
    return abs(ours - reference) <= TOLERANCE * max(1.0, abs(reference))


def _series(values: list[float], start: str = "2024-01-01") -> pd.Series:
    return pd.Series(values, index=pd.bdate_range(start, periods=len(values)), dtype="float64")


# --- hand-checked cases -------------------------------------------------------------------


def test_drawdown_episodes_of_a_hand_made_curve() -> None:
    equity = _series([100, 110, 99, 88, 110, 120, 114, 120, 108])
    episodes = drawdown_episodes(equity)
    assert episodes["depth"].tolist() == pytest.approx([-0.2, -0.05, -0.1])
    assert episodes["sessions"].tolist() == [2, 1, 1]
    first = episodes.iloc[0]
    assert (first["start"], first["trough"], first["end"], first["recovery"]) == (
        equity.index[2],
        equity.index[3],
        equity.index[3],
        equity.index[4],
    )
    assert first["days"] == (equity.index[3] - equity.index[2]).days + 1
    assert pd.isna(episodes.iloc[-1]["recovery"])  # still under water at the end
    assert drawdown(equity).min() == pytest.approx(-0.2)


def test_no_drawdown_means_no_episode() -> None:
    assert drawdown_episodes(_series([1, 2, 3, 4])).empty


def test_alpha_beta_recovers_a_linear_relation() -> None:
    rng = np.random.default_rng(7)
    market = pd.Series(rng.normal(0.0004, 0.01, 500))
    strategy = 0.0002 + 1.5 * market
    alpha, beta = alpha_beta(strategy, market)
    assert beta == pytest.approx(1.5, rel=1e-12)
    assert alpha == pytest.approx(0.0002 * 252, rel=1e-9)


def test_alpha_beta_is_zero_for_a_flat_benchmark() -> None:
    assert alpha_beta(pd.Series([0.01, -0.01, 0.02]), pd.Series([0.0, 0.0, 0.0])) == (0.0, 0.0)


def test_monthly_returns_compound_within_the_month() -> None:
    index = pd.DatetimeIndex(["2024-01-30", "2024-01-31", "2024-02-01", "2024-02-02"])
    table = monthly_returns(pd.Series([0.1, 0.1, -0.5, 0.0], index=index))
    assert table.loc[2024, 1] == pytest.approx(0.21)
    assert table.loc[2024, 2] == pytest.approx(-0.5)
    assert list(table.columns) == list(range(1, 13))
    assert np.isnan(table.loc[2024, 3])


def test_rebalance_turnover_is_half_the_traded_notional_over_equity() -> None:
    equity = _series([1000.0, 1000.0, 2000.0])
    fills = pd.DataFrame(
        {
            "date": [equity.index[1], equity.index[2], equity.index[2]],
            "quantity": [10, 5, 5],
            "price": [20.0, 40.0, 40.0],
        }
    )
    turnover = rebalance_turnover(fills, equity)
    assert turnover.tolist() == pytest.approx([200 / 2 / 1000, 400 / 2 / 2000])


def _fills(rows: list[tuple[str, str, str, int, float, float]]) -> pd.DataFrame:
    frame = pd.DataFrame(
        rows, columns=["date", "symbol", "side", "quantity", "price", "commission"]
    )
    frame["date"] = pd.to_datetime(frame["date"])
    frame["slippage"] = 0.0
    return frame


def test_round_trips_net_commissions_and_keep_open_trips_apart() -> None:
    fills = _fills(
        [
            ("2024-01-02", "AAA", "buy", 10, 10.0, 1.0),
            ("2024-01-03", "AAA", "buy", 10, 12.0, 1.0),
            ("2024-01-04", "BBB", "buy", 5, 100.0, 0.0),
            ("2024-01-05", "AAA", "sell", 20, 13.0, 2.0),
            ("2024-01-08", "AAA", "buy", 1, 13.0, 0.0),
        ]
    )
    trades = round_trip_table(fills)
    assert trades["status"].tolist() == ["closed", "open", "open"]
    closed = trades.iloc[0]
    cost = 10 * 10 + 1 + 10 * 12 + 1
    assert closed["cost"] == cost
    assert closed["pnl"] == 20 * 13 - 2 - cost
    assert closed["return"] == pytest.approx((20 * 13 - 2 - cost) / cost)
    assert closed["entry_price"] == pytest.approx(11.0)
    assert closed["days"] == 3
    assert closed_trip_returns(trades).tolist() == pytest.approx([(258 - cost) / cost])


# --- a real run ---------------------------------------------------------------------------


def _sample_record(**options: Any) -> RunRecord:
    sample = load_sample()
    config = BacktestConfig.create(**options)
    result = run_config(config, sample.prices, benchmark=sample.benchmark)
    return record_from_backtest(
        result, config.model_dump(), closes=sample.prices, benchmark=sample.benchmark
    )


@pytest.fixture(scope="module")
def sma_run() -> tuple[RunRecord, dict[str, Any]]:
    """The issue's sample run: SMA 20/50, 10% of equity per entry, 1,000,000, no costs."""
    record = _sample_record(strategy="sma-cross", fast=20, slow=50, sizer="weight", weight=0.10)
    return record, run_metrics(record)


@pytest.fixture(scope="module")
def costly_run() -> tuple[RunRecord, dict[str, Any]]:
    """The same rules with commission (bps + minimum) and slippage."""
    record = _sample_record(
        strategy="sma-cross",
        fast=20,
        slow=50,
        sizer="weight",
        weight=0.10,
        commission_bps=5,
        commission_min=1,
        slippage_bps=10,
    )
    return record, run_metrics(record)


def test_headline_metrics_are_the_backtests_own(sma_run: tuple[RunRecord, dict[str, Any]]) -> None:
    record, metrics = sma_run
    sample = load_sample()
    config = BacktestConfig.create(strategy="sma-cross", sizer="weight", weight=0.10)
    engine_metrics = run_config(config, sample.prices).metrics().as_dict()
    for name, value in engine_metrics.items():
        assert metrics[name] == value, name  # bit for bit: one formula in the code base
    assert metrics["final_equity"] == pytest.approx(40_529_060.25, abs=0.01)
    assert metrics["n_fills"] == 2591
    assert metrics["open_trades"] == 7
    assert metrics["trades"] + metrics["open_trades"] == len(round_trip_table(record.fills))


def test_metrics_json_has_no_nan_and_round_trips(sma_run: tuple[RunRecord, dict[str, Any]]) -> None:
    _, metrics = sma_run
    assert json.loads(json.dumps(metrics, allow_nan=False)) == metrics


def test_costs_paid_match_the_reference_prices(
    costly_run: tuple[RunRecord, dict[str, Any]],
) -> None:
    """Slippage recovered from the config equals q · |fill price - close| (close-only data)."""
    record, metrics = costly_run
    closes = load_sample().prices
    fills = record.fills
    reference = np.array(
        [closes.at[day, symbol] for day, symbol in zip(fills["date"], fills["symbol"], strict=True)]
    )
    paid = (fills["quantity"] * (fills["price"] - reference).abs()).sum()
    # The ledger rounds each fill price to a micro-unit: at most half a micro-unit per share.
    assert metrics["slippage"] == pytest.approx(paid, abs=0.5e-6 * fills["quantity"].sum())
    assert metrics["commissions"] == pytest.approx(fills["commission"].sum(), abs=1e-6)
    assert metrics["costs_paid"] == metrics["commissions"] + metrics["slippage"]
    assert metrics["commissions"] > 0 and metrics["slippage"] > 0


def test_hit_rate_and_trip_signs_agree(sma_run: tuple[RunRecord, dict[str, Any]]) -> None:
    record, metrics = sma_run
    trips = closed_trip_returns(round_trip_table(record.fills))
    assert len(trips) == metrics["trades"]
    assert (trips > 0).sum() / len(trips) == metrics["win_rate"]


# --- dev-only: the reference libraries ------------------------------------------------------


def _returns(record: RunRecord) -> tuple[pd.Series, pd.Series]:
    assert record.benchmark is not None
    return daily_returns(record.equity["equity"]), benchmark_returns(record.benchmark)


def _quiet() -> Any:
    context = warnings.catch_warnings()
    context.__enter__()
    warnings.simplefilter("ignore")
    return context


@pytest.mark.dev
@pytest.mark.parametrize("run", ["sma_run", "costly_run"])
def test_metrics_agree_with_empyrical(run: str, request: pytest.FixtureRequest) -> None:
    empyrical = pytest.importorskip("empyrical")
    record, metrics = request.getfixturevalue(run)
    returns, bench = _returns(record)
    reference = {
        "cagr": empyrical.cagr(returns),
        "volatility": empyrical.annual_volatility(returns),
        "sharpe": empyrical.sharpe_ratio(returns),
        "sortino": empyrical.sortino_ratio(returns),
        "max_drawdown": empyrical.max_drawdown(returns),
        "calmar": empyrical.calmar_ratio(returns),
        "beta": empyrical.beta(returns, bench),
    }
    for name, value in reference.items():
        assert close_enough(metrics[name], float(value)), (name, metrics[name], value)
    assert close_enough(metrics["total_return"], float(empyrical.cum_returns_final(returns)))
    # empyrical compounds the daily intercept; ours is its arithmetic annualisation.
    compounded = (1.0 + metrics["alpha"] / 252) ** 252 - 1.0
    assert close_enough(compounded, float(empyrical.alpha(returns, bench)))


@pytest.mark.dev
@pytest.mark.parametrize("run", ["sma_run", "costly_run"])
def test_metrics_agree_with_quantstats(run: str, request: pytest.FixtureRequest) -> None:
    qs = pytest.importorskip("quantstats")
    record, metrics = request.getfixturevalue(run)
    returns, bench = _returns(record)
    context = _quiet()
    try:
        greeks = qs.stats.greeks(returns, bench)
        reference = {
            "cagr": qs.stats.cagr(returns),
            "volatility": qs.stats.volatility(returns),
            "sharpe": qs.stats.sharpe(returns),
            "sortino": qs.stats.sortino(returns),
            "max_drawdown": qs.stats.max_drawdown(returns),
            "calmar": qs.stats.calmar(returns),
            "beta": greeks["beta"],
            "alpha": greeks["alpha"],
        }
        details = qs.stats.drawdown_details(drawdown(record.equity["equity"]))
        trips = closed_trip_returns(round_trip_table(record.fills))
        trip_reference = {
            "win_rate": qs.stats.win_rate(trips, prepare_returns=False),
            "avg_win": qs.stats.avg_win(trips, prepare_returns=False),
            "avg_loss": qs.stats.avg_loss(trips, prepare_returns=False),
        }
        underwater = qs.stats.to_drawdown_series(returns)
    finally:
        context.__exit__(None, None, None)
    for name, value in reference.items():
        assert close_enough(metrics[name], float(value)), (name, metrics[name], value)
    deepest = details.loc[details["max drawdown"].idxmin()]
    assert metrics["max_drawdown_days"] == int(deepest["days"])
    assert metrics["longest_drawdown_days"] == int(details["days"].max())
    # quantstats leaves break-even trips (P = 0 exactly) out of its win rate's denominator;
    # the backtest's win rate counts them as trips that did not win.
    decided = int((trips != 0).sum())
    trip_reference["win_rate"] *= decided / len(trips)
    for name, value in trip_reference.items():
        assert close_enough(metrics[name], float(value)), (name, metrics[name], value)
    ours = drawdown(record.equity["equity"]).iloc[1:]
    assert np.max(np.abs(ours.to_numpy() - underwater.to_numpy())) <= TOLERANCE


@pytest.mark.dev
def test_chart_series_agree_with_quantstats(sma_run: tuple[RunRecord, dict[str, Any]]) -> None:
    qs = pytest.importorskip("quantstats")
    record, _ = sma_run
    returns, bench = _returns(record)
    context = _quiet()
    try:
        sharpe = qs.stats.rolling_sharpe(returns, rolling_period=ROLLING_WINDOW)
        greeks = qs.stats.rolling_greeks(returns, bench, periods=ROLLING_WINDOW)
        months = qs.stats.monthly_returns(returns, eoy=False)
    finally:
        context.__exit__(None, None, None)
    for ours, theirs in (
        (rolling_sharpe(returns), sharpe),
        (rolling_beta(returns, bench), greeks["beta"]),
    ):
        ours_values, their_values = ours.to_numpy(), theirs.reindex(ours.index).to_numpy()
        assert np.array_equal(np.isnan(ours_values), np.isnan(their_values))
        present = ~np.isnan(ours_values)
        assert np.max(np.abs(ours_values[present] - their_values[present])) <= TOLERANCE
    table = monthly_returns(returns).fillna(0.0).to_numpy()
    assert months.shape == table.shape
    assert np.max(np.abs(months.to_numpy(dtype=np.float64) - table)) <= TOLERANCE


def test_metrics_are_finite_numbers_or_documented_nulls(
    sma_run: tuple[RunRecord, dict[str, Any]],
) -> None:
    _, metrics = sma_run
    for name, value in metrics.items():
        if isinstance(value, float):
            assert math.isfinite(value), name
