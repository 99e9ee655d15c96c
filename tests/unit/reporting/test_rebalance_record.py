"""The rebalance record: rebalances.csv and weights.csv round-trip, panels drawn, PNGs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tradefolio.backtest.config import BacktestConfig
from tradefolio.backtest.runner import run_config
from tradefolio.data.sample_data import load_sample_prices
from tradefolio.reporting.charts import REBALANCE_COSTS, REBALANCE_WEIGHTS, chart_data
from tradefolio.reporting.rebalances import REBALANCE_COLUMNS
from tradefolio.reporting.run_folder import (
    read_run_folder,
    record_from_backtest,
    write_run_folder,
)


def test_rebalances_and_weights_round_trip_and_are_drawn(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    closes = load_sample_prices().iloc[:100, :6]
    config = BacktestConfig.create(
        portfolio=True,
        objective="min-variance",
        lookback=40,
        risk_lookback=40,
        max_turnover=0.6,
        cost_bps=10.0,
        fixed_cost=2.0,
    )
    result = run_config(config, closes)
    record = record_from_backtest(result, config.model_dump(), closes=closes)
    assert record.rebalances is not None
    assert tuple(record.rebalances.columns) == REBALANCE_COLUMNS
    assert len(record.rebalances) == len(result.decisions) == len(record.target_weights) >= 2
    # realised costs are the fills' commissions: 10 bps + $2 per fill, at the fill price
    paid = sum(float(f.commission) for f in result.fills)
    assert record.rebalances["realised_costs"].sum() == pytest.approx(paid, abs=1e-6)
    folder = write_run_folder(record, tmp_path, png=True)
    again = read_run_folder(folder.path)
    assert again.rebalances is not None
    pd.testing.assert_frame_equal(again.rebalances, record.rebalances)
    pd.testing.assert_frame_equal(
        again.target_weights,
        record.target_weights,
        check_freq=False,
        check_names=False,
        check_index_type=False,
    )
    data = chart_data(record)
    assert REBALANCE_WEIGHTS in data.charts and REBALANCE_COSTS in data.charts
    assert (folder.path / "png" / "rebalance_costs.png").is_file()
    assert (folder.path / "png" / "rebalance_weights.png").is_file()
    assert folder.metrics["rebalances"]["rebalances"] == len(result.decisions)
