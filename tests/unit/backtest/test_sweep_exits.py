"""Protective exits in a sweep: gridded like any other parameter, and each run is exactly
the backtest of its config on the same OHLC file (bar ranges reach the sweep's workers)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.support.cli import run_cli

from tradefolio.backtest.config import BacktestConfig
from tradefolio.backtest.runner import run_config
from tradefolio.data.readers import read_panel
from tradefolio.data.synthetic import gbm_ohlc


def test_a_swept_stop_loss_gives_the_backtests_final_equity(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bars.csv"
    gbm_ohlc(4, 400, seed=2, volatility=0.3).to_long().to_csv(path, index=False)
    result = run_cli(
        capsys, "sweep", "--prices", str(path), "--set", "sizer=weight", "--set", "fast=5",
        "--set", "slow=20", "--grid", "stop_loss=0.03,0.05", "--set", "take_profit=0.08",
        "--workers", "1", "--format", "json", "--out", str(tmp_path / "sweep"),
    )  # fmt: skip
    assert result.code == 0, result.stderr
    rows = json.loads(result.stdout)["leaderboard"]
    panel = read_panel(path)
    seen = set()
    for row in rows:
        config = BacktestConfig.create(
            sizer="weight", fast=5, slow=20, stop_loss=row["stop_loss"], take_profit=0.08
        )
        expected = run_config(
            config, panel.close, opens=panel.open, highs=panel.high, lows=panel.low
        )
        assert row["final_equity"] == pytest.approx(float(expected.final_equity), abs=0.01)
        assert row["n_fills"] == len(expected.fills)
        seen.add(row["final_equity"])
    assert len(seen) == 2  # the two stops really differ
