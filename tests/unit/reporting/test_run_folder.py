"""Run folders: layout, the reader, bit-for-bit reproduction, and the backtest adapter."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tradefolio.backtest.config import BacktestConfig
from tradefolio.backtest.engine import BacktestResult
from tradefolio.backtest.runner import run_config
from tradefolio.data.synthetic import gbm_market
from tradefolio.errors import DataError
from tradefolio.reporting.metrics import run_metrics
from tradefolio.reporting.record import RunRecord
from tradefolio.reporting.run_folder import (
    CONFIG_FILE,
    METRICS_FILE,
    RUN_SCHEMA,
    folder_name,
    read_run_folder,
    record_from_backtest,
    rewrite_report,
    write_backtest_run,
    write_run_folder,
)

DATA_FILES = ("equity.csv", "fills.csv", "positions.csv", "weights.csv", "metrics.json")
MOMENT = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


def _panel() -> tuple[pd.DataFrame, pd.Series]:
    synthetic = gbm_market(6, 400, seed=11, factor_correlation=0.5)
    return synthetic.prices, synthetic.benchmark


def _run(**options: object) -> tuple[BacktestResult, BacktestConfig, pd.DataFrame, pd.Series]:
    closes, benchmark = _panel()
    config = BacktestConfig.create(**options)
    return run_config(config, closes, benchmark=benchmark), config, closes, benchmark


@pytest.fixture(scope="module")
def sma_record() -> RunRecord:
    result, config, closes, benchmark = _run(
        strategy="sma-cross", fast=5, slow=20, sizer="weight", weight=0.2, commission_bps=3
    )
    return record_from_backtest(
        result, config.model_dump(), closes=closes, benchmark=benchmark, name="sma test"
    )


def test_folder_name_is_utc_time_and_a_safe_slug() -> None:
    assert folder_name("SMA cross/20:50", MOMENT) == "20240506T070809Z-sma-cross-20-50"
    assert folder_name("///", MOMENT) == "20240506T070809Z-run"


def test_layout_and_config_header(sma_record: RunRecord, tmp_path: Path) -> None:
    folder = write_run_folder(sma_record, tmp_path, tearsheet=False, created=MOMENT)
    assert folder.path == tmp_path / "20240506T070809Z-sma-test"
    assert sorted(p.name for p in folder.path.iterdir()) == sorted((CONFIG_FILE, *DATA_FILES))
    header = json.loads((folder.path / CONFIG_FILE).read_text())
    assert header["schema"] == RUN_SCHEMA
    assert header["created_utc"] == "2024-05-06T07:08:09Z"
    assert header["config"]["fast"] == 5 and header["kind"] == "backtest"
    equity = pd.read_csv(folder.path / "equity.csv")
    assert list(equity.columns) == ["date", "equity", "cash", "invested", "benchmark"]
    assert equity["date"].iloc[0] == sma_record.dates[0].strftime("%Y-%m-%d")


def test_second_run_in_the_same_second_gets_its_own_folder(
    sma_record: RunRecord, tmp_path: Path
) -> None:
    first = write_run_folder(sma_record, tmp_path, tearsheet=False, created=MOMENT)
    second = write_run_folder(sma_record, tmp_path, tearsheet=False, created=MOMENT)
    assert second.path.name == first.path.name + "-2"


def test_reread_folder_reproduces_metrics_bit_for_bit(
    sma_record: RunRecord, tmp_path: Path
) -> None:
    folder = write_run_folder(sma_record, tmp_path, tearsheet=False, created=MOMENT)
    stored = json.loads((folder.path / METRICS_FILE).read_text())
    again = run_metrics(read_run_folder(folder.path))
    assert again == stored == folder.metrics


def test_same_run_writes_identical_bytes(tmp_path: Path) -> None:
    def write(out: Path) -> Path:
        result, config, closes, benchmark = _run(
            strategy="momentum", lookback=60, max_positions=3, rebalance="20", sizer="weight"
        )
        return write_backtest_run(
            result, config.model_dump(), closes=closes, benchmark=benchmark, out_dir=out, png=True
        ).path

    first, second = write(tmp_path / "a"), write(tmp_path / "b")
    for name in (*DATA_FILES, "tearsheet.html"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert len(list((first / "png").iterdir())) == 8
    for png in (first / "png").iterdir():
        assert png.read_bytes() == (second / "png" / png.name).read_bytes(), png.name


def test_positions_are_marked_at_the_close_and_sum_to_invested(sma_record: RunRecord) -> None:
    closes, _ = _panel()
    positions = sma_record.positions
    marks = [closes.at[d, s] for d, s in zip(positions["date"], positions["symbol"], strict=True)]
    assert np.array_equal(positions["price"].to_numpy(), np.array(marks))
    invested = positions.groupby("date")["market_value"].sum()
    expected = sma_record.equity["invested"].reindex(invested.index)
    assert np.allclose(invested.to_numpy(), expected.to_numpy(), rtol=1e-12)
    no_holdings = sma_record.equity["invested"].drop(invested.index)
    assert (no_holdings == 0).all()


def test_target_weights_land_in_weights_csv(tmp_path: Path) -> None:
    result, config, closes, _ = _run(strategy="buy-and-hold", sizer="weight")
    rebalances = {10: {"SYN001": 0.5, "SYN002": 0.25}, 30: {"SYN003": 1.0}}
    folder = write_backtest_run(
        result,
        config.model_dump(),
        closes=closes,
        benchmark=None,
        rebalances=rebalances,
        out_dir=tmp_path,
        tearsheet=False,
    )
    weights = pd.read_csv(folder.path / "weights.csv", index_col="date", parse_dates=["date"])
    assert list(weights.index) == [closes.index[10], closes.index[30]]
    assert weights.loc[closes.index[10], "SYN001"] == 0.5
    assert weights.loc[closes.index[30]].sum() == 1.0
    assert folder.metrics["beta"] is None and folder.metrics["alpha"] is None


def test_run_without_fills_is_a_valid_folder(tmp_path: Path) -> None:
    result, config, closes, _ = _run(strategy="sma-cross", fast=390, slow=399, sizer="weight")
    assert not result.fills
    folder = write_backtest_run(result, config.model_dump(), closes=closes, out_dir=tmp_path)
    assert folder.metrics["n_fills"] == 0 and folder.metrics["max_drawdown_days"] == 0
    assert folder.tearsheet is not None and folder.tearsheet.is_file()
    assert run_metrics(read_run_folder(folder.path)) == folder.metrics


def test_rewrite_report_regenerates_the_tearsheet(sma_record: RunRecord, tmp_path: Path) -> None:
    folder = write_run_folder(sma_record, tmp_path, tearsheet=False, created=MOMENT)
    rewritten = rewrite_report(folder.path, png=False)
    assert rewritten.tearsheet == folder.path / "tearsheet.html"
    assert rewritten.metrics == folder.metrics
    assert rewritten.pngs == ()


def test_reader_names_what_is_missing(tmp_path: Path, sma_record: RunRecord) -> None:
    with pytest.raises(DataError, match="not a directory"):
        read_run_folder(tmp_path / "nope")
    with pytest.raises(DataError, match=r"config\.json is missing"):
        read_run_folder(tmp_path)
    folder = write_run_folder(sma_record, tmp_path, tearsheet=False, created=MOMENT)
    (folder.path / "fills.csv").unlink()
    with pytest.raises(DataError, match=r"fills\.csv is missing"):
        read_run_folder(folder.path)


def test_adapter_refuses_prices_other_than_the_runs(tmp_path: Path) -> None:
    result, config, closes, _ = _run(strategy="buy-and-hold", sizer="weight")
    with pytest.raises(DataError, match="same dates"):
        record_from_backtest(result, config.model_dump(), closes=closes.iloc[1:])
