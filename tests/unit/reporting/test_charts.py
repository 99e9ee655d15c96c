"""Charts a person reads: top names + other, log axis past 10x, a year column, no "-0.0",
monthly turnover, and a page that carries only what it draws."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from tradefolio.backtest.config import BacktestConfig
from tradefolio.backtest.runner import run_config
from tradefolio.data.synthetic import gbm_market, gbm_prices
from tradefolio.reporting import figures
from tradefolio.reporting.charts import (
    CASH,
    MAX_NAMED_WEIGHTS,
    OTHER,
    chart_data,
    monthly_turnover,
    number_text,
    realised_weights,
    top_weights,
    use_log_scale,
    yearly_returns,
)
from tradefolio.reporting.record import RunRecord
from tradefolio.reporting.run_folder import record_from_backtest
from tradefolio.reporting.tearsheet import render_tearsheet


@pytest.fixture(scope="module")
def wide_record() -> RunRecord:
    """60 names, SMA cross at 5% each: dozens held at once."""
    prices = gbm_prices(60, 700, seed=21)
    config = BacktestConfig.create(strategy="sma-cross", fast=10, slow=40, weight=0.05)
    result = run_config(config, prices)
    return record_from_backtest(result, config.model_dump(), closes=prices, name="wide")


def test_weights_show_top_names_then_other_then_cash(wide_record: RunRecord) -> None:
    full = realised_weights(wide_record)
    held = [c for c in full.columns if c != CASH and (full[c] != 0).any()]
    assert len(held) > MAX_NAMED_WEIGHTS + 5
    shown = top_weights(full)
    assert list(shown.columns[-2:]) == [OTHER, CASH]
    named = list(shown.columns[:-2])
    assert len(named) == MAX_NAMED_WEIGHTS
    means = full[held].abs().mean().sort_values(ascending=False, kind="stable")
    assert named == list(means.index[:MAX_NAMED_WEIGHTS])
    # nothing is lost: the bands still sum to the full weights (1 per row)
    assert np.allclose(shown.sum(axis=1), full.sum(axis=1), atol=1e-12)
    assert np.allclose(shown[OTHER], full[[c for c in held if c not in named]].sum(axis=1))


def test_weights_figure_has_distinct_colours_and_few_traces(wide_record: RunRecord) -> None:
    figure = figures.weights_figure(chart_data(wide_record))
    names = [trace["name"] for trace in figure["data"]]
    assert len(names) == MAX_NAMED_WEIGHTS + 2 and names[-2:] == [OTHER, CASH]
    colours = [trace["line"]["color"] for trace in figure["data"]]
    assert len(set(colours)) == len(colours)


def test_page_carries_only_what_it_draws(wide_record: RunRecord) -> None:
    page = render_tearsheet(wide_record, {})
    ours = page.replace(figures.plotly_js(), "")
    scripts = re.findall(r"Plotly\.newPlot\(\"chart-weights\",(\[.*?\]),\{", ours)
    assert len(scripts) == 1
    traces = json.loads(scripts[0])
    assert len(traces) == MAX_NAMED_WEIGHTS + 2
    assert len(ours) < 1_500_000  # 60 names x 700 sessions, trade list included


def test_log_axis_when_equity_spans_more_than_ten_times() -> None:
    dates = pd.bdate_range("2000-01-03", periods=300)
    grows = pd.Series(np.geomspace(1.0, 50.0, 300), index=dates)
    flat = pd.Series(np.linspace(1.0, 3.0, 300), index=dates)
    assert use_log_scale(grows) and not use_log_scale(flat)
    assert not use_log_scale(pd.Series([-1.0, 20.0], index=dates[:2]))


def test_equity_figure_opens_on_log_by_default_only_when_it_spans_ten_times() -> None:
    market = gbm_market(3, 1000, seed=4, drift=0.9, volatility=0.2)
    config = BacktestConfig.create(strategy="buy-and-hold", weight=0.33)
    result = run_config(config, market.prices)
    record = record_from_backtest(result, config.model_dump(), closes=market.prices)
    data = chart_data(record)
    assert use_log_scale(data.equity)
    assert figures.equity_figure(data)["layout"]["yaxis"]["type"] == "log"
    assert figures.equity_figure(data, log_scale=False)["layout"]["yaxis"]["type"] == "linear"


def test_monthly_heatmap_has_a_year_column_that_compounds_the_months() -> None:
    dates = pd.bdate_range("2001-01-01", "2002-12-31")
    returns = pd.Series(np.random.default_rng(3).normal(0, 0.01, len(dates)), index=dates)
    yearly = yearly_returns(returns)
    assert list(yearly.index) == [2001, 2002]
    by_hand = float(np.prod(1.0 + returns.loc["2001"].to_numpy()) - 1.0)
    assert yearly.loc[2001] == pytest.approx(by_hand, rel=1e-12)


def test_heatmap_text_never_shows_minus_zero(wide_record: RunRecord) -> None:
    assert number_text(-0.04) == "0.0" and number_text(-0.05) == "-0.1"
    assert number_text(0.0) == "0.0" and number_text(-1e-12, 2) == "0.00"
    figure = figures.monthly_figure(chart_data(wide_record))
    months, year = figure["data"]
    assert year["x"] == [figures.YEAR_COLUMN]
    texts = [cell for trace in (months, year) for row in trace["text"] for cell in row]
    assert texts and "-0.0" not in texts


def test_turnover_is_summed_per_month() -> None:
    days = pd.to_datetime(["2020-01-02", "2020-01-20", "2020-03-05"])
    monthly = monthly_turnover(pd.Series([0.1, 0.2, 0.05], index=days))
    assert list(monthly.index) == list(pd.to_datetime(["2020-01-01", "2020-03-01"]))
    assert monthly.to_list() == pytest.approx([0.3, 0.05])
