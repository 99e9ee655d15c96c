"""`walk-forward --set portfolio=true` writes the rebalance record `backtest --portfolio`
writes (review, session 10: it wrote none): weights.csv and rebalances.csv with the same
columns, one row per decision of the test windows, named in its output.

Oracles: the score model's weights at a date depend only on the closes up to it, so each
row of the walk-forward's weights.csv is the row of the same date of `backtest
--portfolio`'s over the whole history; and each fold's record comes from a run whose
equity is the fold's out-of-sample curve (oos_equity.parquet)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from support.cli import run_cli
from tradefolio.backtest.config import BacktestConfig
from tradefolio.backtest.runner import run_portfolio_from
from tradefolio.data.sample_data import load_sample_prices

SYMBOLS = ["BAC", "CVX", "GE", "JNJ", "MRK", "KO"]
TRAIN, TEST = 150, 120
MODEL = ("--set", "portfolio=true", "--set", "lookback=60", "--grid", "max_positions=3")


@pytest.fixture(scope="module")
def prices(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("wf") / "prices.csv"
    closes: pd.DataFrame = load_sample_prices().loc[:, SYMBOLS].iloc[:500]
    closes.to_csv(path, index_label="date")
    return path


def test_walk_forward_portfolio_writes_the_rebalance_record(
    capsys: pytest.CaptureFixture[str], prices: Path, tmp_path: Path
) -> None:
    out = tmp_path / "wf"
    window = ("--train", str(TRAIN), "--test", str(TEST), "--workers", "1")
    run = run_cli(
        capsys, "walk-forward", "--prices", str(prices), *MODEL, *window, "--out", str(out),
        "--format", "json",
    )  # fmt: skip
    assert run.code == 0, run.stderr
    payload = json.loads(run.stdout)
    record = payload["rebalances"]
    assert record["files"] == {
        "weights": str(out / "weights.csv"),
        "rebalances": str(out / "rebalances.csv"),
    }
    assert f"rebalance record: {out / 'weights.csv'}, {out / 'rebalances.csv'}" in run.stderr
    backtest_out = tmp_path / "bt"
    backtest = run_cli(
        capsys, "backtest", "--prices", str(prices), "--portfolio", "--lookback", "60",
        "--max-positions", "3", "--out", str(backtest_out),
    )  # fmt: skip
    assert backtest.code == 0, backtest.stderr
    (folder,) = backtest_out.iterdir()
    expected_weights = pd.read_csv(folder / "weights.csv", index_col="date")
    expected_rows = pd.read_csv(folder / "rebalances.csv")

    weights = pd.read_csv(out / "weights.csv", index_col="date")
    rows = pd.read_csv(out / "rebalances.csv")
    assert list(weights.columns) == list(expected_weights.columns)
    assert list(rows.columns) == list(expected_rows.columns)
    assert record["rebalances"] == len(rows) == len(weights) >= 8
    assert list(rows["date"]) == list(weights.index)
    # every decision of the test windows, from the close before the first test session
    closes = pd.read_csv(prices, index_col="date")
    dates = list(closes.index)
    first_decision = dates[TRAIN - 1]
    assert rows["date"].iloc[0] >= first_decision
    assert set(expected_weights.index[expected_weights.index >= first_decision]) >= set(
        weights.index
    )
    assert list(weights.index) == sorted(
        d for d in expected_weights.index if d >= first_decision and d < dates[-1]
    )
    pd.testing.assert_frame_equal(weights, expected_weights.loc[weights.index])
    assert (rows["status"] == "optimal").all()
    assert rows["realised_turnover"].notna().all() and (rows["realised_turnover"] > 0).any()

    # the record's runs are the folds' test runs: same equity as the out-of-sample curve
    oos = pd.read_parquet(out / "oos_equity.parquet")["oos_equity"].to_numpy()
    frame = closes.copy()
    frame.index = pd.DatetimeIndex(frame.index)
    config = BacktestConfig.create(portfolio=True, lookback=60, max_positions=3)
    returns = []
    for start in range(TRAIN, len(dates), TEST):
        end = min(start + TEST, len(dates))
        if end - start < 2:
            continue
        run = run_portfolio_from(config, frame.iloc[start - TRAIN : end], TRAIN - 1)
        run_equity = run.equity.to_numpy()[TRAIN - 1 :]
        returns.append(run_equity[1:] / run_equity[:-1] - 1.0)
    stitched = oos[0] * np.cumprod(1.0 + np.concatenate(returns))
    np.testing.assert_allclose(stitched, oos[1:], rtol=1e-12)
