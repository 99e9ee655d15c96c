"""The run folder's fast paths give what the plain code they replace gives, bit for bit.

Session 12 (issue 15) made writing a run folder cheaper: the fills' floats from their
micro-units, the ledger's fills from whole columns, drawdown episodes and the realised
weights from arrays, CSV cells once per run of equal cells, the tearsheet's plotly.js
written as bytes. Each is checked here against the straightforward version (kept as the
fallback, or written out in the test).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tradefolio.backtest.config import BacktestConfig
from tradefolio.backtest.runner import run_config
from tradefolio.data.synthetic import gbm_market
from tradefolio.reporting import charts, figures, tearsheet
from tradefolio.reporting.csv_text import frame_csv
from tradefolio.reporting.metrics import (
    drawdown,
    drawdown_episodes,
    ledger_fills,
    run_metrics,
)
from tradefolio.reporting.record import RunRecord
from tradefolio.reporting.run_folder import record_from_backtest
from tradefolio.reporting.trades import round_trip_table


@pytest.fixture(scope="module")
def record() -> RunRecord:
    market = gbm_market(6, 700, seed=5, factor_correlation=0.5)
    config = BacktestConfig.create(
        strategy="sma-cross", fast=10, slow=40, commission_bps=3, slippage_bps=2
    )
    result = run_config(config, market.prices)
    return record_from_backtest(
        result, config.model_dump(), closes=market.prices, benchmark=market.benchmark
    )


def test_fills_are_the_exact_amounts_as_floats(record: RunRecord) -> None:
    market = gbm_market(6, 700, seed=5, factor_correlation=0.5)
    config = BacktestConfig.create(
        strategy="sma-cross", fast=10, slow=40, commission_bps=3, slippage_bps=2
    )
    result = run_config(config, market.prices)
    assert result.fills
    fills = record.fills
    assert str(fills["date"].dtype) == "datetime64[s]"
    for row, fill in zip(fills.itertuples(index=False), result.fills, strict=True):
        assert row.date == pd.Timestamp(fill.date)
        assert row.price == float(fill.price) and row.commission == float(fill.commission)
        assert row.slippage == float(fill.slippage) and row.quantity == fill.quantity


def test_ledger_fills_from_columns_are_the_fills_cell_by_cell(record: RunRecord) -> None:
    fast = ledger_fills(record.fills, record.dates)
    by_cell = record.fills.astype({"quantity": object})  # not integers: the cell-by-cell path
    assert ledger_fills(by_cell, record.dates) == fast
    assert all(type(fill.quantity) is int for fill in fast)


def _episodes_one_by_one(equity: pd.Series) -> pd.DataFrame:
    """drawdown_episodes as it was written before session 12: a row per episode."""
    values = drawdown(equity).to_numpy()
    index = pd.DatetimeIndex(equity.index)
    edges = np.diff(np.concatenate(([0], (values < 0).astype(np.int8), [0])))
    rows = []
    for first, stop in zip(
        np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True
    ):
        last = stop - 1
        deepest = first + int(np.argmin(values[first:stop]))
        rows.append(
            {
                "start": index[first],
                "trough": index[deepest],
                "end": index[last],
                "recovery": index[stop] if stop < len(index) else pd.NaT,
                "depth": float(values[deepest]),
                "days": (index[last] - index[first]).days + 1,
                "sessions": stop - first,
            }
        )
    columns = ["start", "trough", "end", "recovery", "depth", "days", "sessions"]
    table = pd.DataFrame(rows, columns=columns)
    for column in ("start", "trough", "end", "recovery"):
        table[column] = pd.to_datetime(table[column])
    return table.astype({"days": "int64", "sessions": "int64", "depth": "float64"})


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize(
    "curve",
    [
        [1.0, 2.0, 3.0],
        [1.0, 2.0, 1.5, 1.0],
        [1.0, 0.5, 1.0, 0.5, 2.0, 1.0],
        [2.0, 1.0, 1.5],
        [1.0, 1.0, 1.0],
        "random",
    ],
    ids=str,
)
def test_drawdown_episodes_from_arrays(unit: str, curve: list[float] | str) -> None:
    values = (
        np.cumprod(1 + np.random.default_rng(2).normal(0, 0.02, 900))
        if curve == "random"
        else curve
    )
    index = pd.date_range("2001-01-02", periods=len(values), freq="B", unit=unit)
    equity = pd.Series(values, index=index, name="equity")
    expected = _episodes_one_by_one(equity)
    pd.testing.assert_frame_equal(drawdown_episodes(equity), expected, check_exact=True)


def test_realised_weights_without_the_pivot_are_the_pivot(record: RunRecord) -> None:
    positions = record.positions
    pivot = positions.pivot_table(
        index="date", columns="symbol", values="market_value", aggfunc="sum", sort=True
    )
    pivot = pivot.reindex(index=record.dates).fillna(0.0)
    pivot.columns = [str(c) for c in pivot.columns]
    expected = pivot.div(record.equity["equity"], axis=0)
    expected["cash"] = record.equity["cash"] / record.equity["equity"]
    expected.index.name = "date"
    pd.testing.assert_frame_equal(charts.realised_weights(record), expected, check_exact=True)
    # a repeated (date, symbol) is summed by the pivot itself
    doubled = pd.concat([positions, positions.iloc[:3]], ignore_index=True)
    assert charts._held_values(doubled, record.dates) is None


def test_csv_cells_made_once_per_run_are_pandas_cells() -> None:
    dates = pd.DatetimeIndex(
        ["2020-01-02"] * 4 + ["2020-01-03"] * 3 + ["2020-01-06"], name="date", dtype="M8[ns]"
    )
    frame = pd.DataFrame(
        {
            "cash": [0.0, -0.0, -0.0, 0.0, 1.5, 1.5, np.nan, np.nan],
            "level": [0.1 + 0.2] * 6 + [3.0, 3.0],
            "day": dates,
        },
        index=dates,
    )
    expected = frame.to_csv(date_format="%Y-%m-%d", lineterminator="\n")
    assert frame_csv(frame, index=True) == expected
    assert "-0.0" in expected


def test_the_written_tearsheet_is_the_rendered_page(record: RunRecord, tmp_path: Path) -> None:
    pytest.importorskip("plotly")
    metrics = run_metrics(record)
    trades = round_trip_table(record.fills)
    assert run_metrics(record, trades) == metrics
    page = tearsheet.render_tearsheet(record, metrics)
    path = tearsheet.write_tearsheet(record, metrics, tmp_path / "t.html", trades=trades)
    assert path.read_bytes() == page.encode("utf-8")
    assert figures.plotly_js_bytes().decode("utf-8") == figures.plotly_js()
    offline = pytest.importorskip("plotly.offline")
    assert figures.plotly_js() == offline.get_plotlyjs()


def test_chart_json_writes_a_gap_as_null() -> None:
    assert tearsheet._json({"y": [1.0, float("nan"), float("inf")], "t": "</x>"}) == (
        '{"y":[1.0,null,null],"t":"<\\/x>"}'
    )


def test_micro_amounts_divide_as_decimals_convert() -> None:
    rng = np.random.default_rng(7)
    for micro in [*rng.integers(-(2**62), 2**62, 2000).tolist(), 1, -1, 5, 10**15 + 1]:
        assert micro / 1_000_000 == float(Decimal(micro).scaleb(-6))


def test_figures_sharing_day_strings_are_the_figures_built_alone(record: RunRecord) -> None:
    data = charts.chart_data(record)
    shared = figures.figures(data)
    alone = {
        "equity": figures.equity_figure(data),
        "drawdown": figures.drawdown_figure(data),
        "rolling_sharpe": figures.rolling_sharpe_figure(data),
        "rolling_beta": figures.rolling_beta_figure(data),
        "weights": figures.weights_figure(data),
        "exposure": figures.exposure_figure(data),
    }
    for key, figure in alone.items():
        assert shared[key] == figure, key
    # the equity, benchmark, drawdown and exposure lines share one list of the sessions
    assert shared["equity"]["data"][0]["x"] is shared["drawdown"]["data"][0]["x"]
