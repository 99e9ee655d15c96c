"""The one metric registry: every screen, ranking and column reads the same definitions."""

from __future__ import annotations

import math
from dataclasses import fields
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tradefolio
from tradefolio.backtest.config import BacktestConfig
from tradefolio.backtest.metric_registry import (
    EQUITY_METRICS,
    HEADLINE_METRICS,
    HEADLINE_PERCENT,
    LOWER_IS_BETTER,
    METRICS,
    RANKABLE,
    format_metric,
)
from tradefolio.backtest.metrics import Metrics, compute_metrics
from tradefolio.backtest.runner import run_config
from tradefolio.data.sample_data import load_sample
from tradefolio.data.sessions import TRADING_DAYS_PER_YEAR
from tradefolio.reporting.metrics import run_metrics
from tradefolio.reporting.run_folder import record_from_backtest
from tradefolio.reporting.tables import METRIC_ROWS, SUMMARY_FIELDS, TABLE_ORDER
from tradefolio.research.report import ranked
from tradefolio.research.results import METRIC_COLUMNS


def test_headline_metrics_are_the_fields_of_metrics_in_order() -> None:
    # The results table's columns and the JSON's `metrics` are this order: a contract.
    assert tuple(f.name for f in fields(Metrics)) == HEADLINE_METRICS
    assert METRIC_COLUMNS == HEADLINE_METRICS
    assert (*HEADLINE_METRICS, "final_equity") == RANKABLE


def test_directions_rank_volatility_and_turnover_lowest_first() -> None:
    assert {"volatility", "turnover"} == LOWER_IS_BETTER
    table = pd.DataFrame(
        {
            "run": [0, 1, 2],
            "status": ["ok", "ok", "ok"],
            "volatility": [0.3, 0.1, 0.2],
            "max_drawdown": [-0.4, -0.1, -0.2],
        }
    )
    assert ranked(table, "volatility")["run"].tolist() == [1, 2, 0]
    # A drawdown is negative: the shallower one (higher) ranks first.
    assert ranked(table, "max_drawdown")["run"].tolist() == [1, 2, 0]


def test_the_percent_metrics_are_the_ones_shown_as_percent() -> None:
    assert {
        "total_return",
        "cagr",
        "volatility",
        "max_drawdown",
        "exposure",
        "win_rate",
    } == HEADLINE_PERCENT
    assert format_metric("sharpe", 1.23456) == "1.235"
    assert format_metric("cagr", 0.0512) == "5.12%"
    assert format_metric("final_equity", 1234567.891) == "1,234,567.89"
    assert format_metric("trades", 12345.0) == "12,345"
    assert format_metric("max_drawdown_days", 40) == "40 days"
    assert format_metric("beta", None) == "n/a"


def test_annualisation_matches_what_compute_metrics_does() -> None:
    rng = np.random.default_rng(7)
    returns = rng.normal(0.0005, 0.01, 500)
    equity = pd.Series(100.0 * np.cumprod(np.concatenate(([1.0], 1.0 + returns))))
    zeros = pd.Series(np.zeros(len(equity)))
    metrics = compute_metrics(equity, zeros, zeros, [])
    per_session = float(np.mean(returns) / np.std(returns, ddof=1))
    assert metrics.sharpe == pytest.approx(per_session * METRICS["sharpe"].annual_scale)
    assert METRICS["sharpe"].annual_scale == pytest.approx(math.sqrt(252))
    assert METRICS["turnover"].annual_scale == TRADING_DAYS_PER_YEAR == 252
    assert METRICS["cagr"].annual_scale == 1.0
    years = 500 / TRADING_DAYS_PER_YEAR
    growth = equity.iloc[-1] / equity.iloc[0]
    assert metrics.cagr == pytest.approx(growth ** (1 / years) - 1)


def test_equity_metrics_are_the_headline_ones_an_equity_curve_determines() -> None:
    rng = np.random.default_rng(3)
    equity = pd.Series(100.0 * np.cumprod(1.0 + rng.normal(0.0, 0.01, 300)))
    zeros = pd.Series(np.zeros(len(equity)))
    busy = pd.Series(np.full(len(equity), 50.0))
    quiet, traded = (
        compute_metrics(equity, zeros, zeros, []),
        compute_metrics(equity, busy, busy, []),
    )
    for name in HEADLINE_METRICS:
        same = getattr(quiet, name) == getattr(traded, name)
        assert same == (name in EQUITY_METRICS or name in {"trades", "win_rate"}), name


def test_every_number_of_metrics_json_is_registered_and_tabled() -> None:
    sample = load_sample()
    config = BacktestConfig.create(strategy="sma-cross", fast=20, slow=50)
    result = run_config(config, sample.prices, benchmark=sample.benchmark)
    record = record_from_backtest(
        result, config.model_dump(), closes=sample.prices, benchmark=sample.benchmark
    )
    document = run_metrics(record)
    # Bookkeeping fields (schema, dates, the drawdown episode's dates and session count)
    # are not metrics; every other number is one, with a label and a format.
    bookkeeping = {"schema", "tradefolio_version", "kind", "start", "end", "sessions"}
    numbers = {
        key for key in document if key not in bookkeeping and not key.startswith("max_drawdown_")
    }
    assert numbers <= set(METRICS)
    assert set(TABLE_ORDER) <= set(METRICS) and set(SUMMARY_FIELDS) <= set(TABLE_ORDER)
    assert [label for _, label, _ in METRIC_ROWS] == [METRICS[n].label for n in TABLE_ORDER]


def test_the_annualisation_constant_is_defined_once() -> None:
    root = Path(tradefolio.__file__).parent
    definitions = [
        path.relative_to(root).as_posix()
        for path in root.rglob("*.py")
        for line in path.read_text().splitlines()
        if line.startswith(("TRADING_DAYS_PER_YEAR =", "TRADING_DAYS ="))
    ]
    assert definitions == ["data/sessions.py"]
