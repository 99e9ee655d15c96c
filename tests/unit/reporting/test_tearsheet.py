"""The tearsheet file and the PNG charts, without a browser (see test_tearsheet_browser)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from tradefolio.backtest.config import BacktestConfig
from tradefolio.backtest.runner import run_config
from tradefolio.data.synthetic import gbm_market
from tradefolio.errors import MissingExtra
from tradefolio.reporting import figures, tearsheet
from tradefolio.reporting.charts import chart_data
from tradefolio.reporting.record import RunRecord
from tradefolio.reporting.run_folder import (
    RunFolder,
    record_from_backtest,
    write_report,
    write_run_folder,
)


def _record(with_benchmark: bool = True) -> RunRecord:
    market = gbm_market(5, 600, seed=3, factor_correlation=0.6)
    config = BacktestConfig.create(strategy="sma-cross", fast=10, slow=40, sizer="weight")
    result = run_config(config, market.prices)
    return record_from_backtest(
        result,
        config.model_dump(),
        closes=market.prices,
        benchmark=market.benchmark if with_benchmark else None,
        name="synthetic",
    )


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> RunFolder:
    return write_run_folder(_record(), tmp_path_factory.mktemp("runs"), png=True)


def test_page_is_self_contained(written: RunFolder) -> None:
    assert written.tearsheet is not None
    page = written.tearsheet.read_text(encoding="utf-8")
    plotly_js = importlib.import_module("plotly.offline").get_plotlyjs()
    assert plotly_js in page  # the library itself, inline
    ours = page.replace(plotly_js, "")
    assert "<script src" not in ours and "<link" not in ours
    assert not re.search(r"""(src|href)=["']https?://""", ours)
    assert "Plotly.newPlot" in ours


def test_page_lists_and_holds_every_chart(written: RunFolder) -> None:
    assert written.tearsheet is not None
    page = written.tearsheet.read_text(encoding="utf-8")
    keys = re.search(r'data-charts="([^"]*)"', page)
    assert keys is not None
    listed = keys.group(1).split()
    assert listed == [
        "equity",
        "drawdown",
        "monthly_returns",
        "rolling_sharpe",
        "rolling_beta",
        "weights",
        "turnover",
        "exposure",
    ]
    for key in listed:
        assert f'id="chart-{key}"' in page
    for label, _ in (("CAGR", 0), ("Sortino", 0), ("Calmar", 0), ("Costs paid", 0)):
        assert f">{label}<" in page
    assert "Beta to benchmark" in page and "Hit rate (closed trades)" in page


def test_one_png_per_chart(written: RunFolder) -> None:
    names = sorted(path.name for path in written.pngs)
    assert names == sorted(f"{c.key}.png" for c in chart_data(_record()).charts)
    for path in written.pngs:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_without_benchmark_there_is_no_beta_chart(tmp_path: Path) -> None:
    folder = write_run_folder(_record(with_benchmark=False), tmp_path, png=False)
    assert folder.tearsheet is not None
    page = folder.tearsheet.read_text(encoding="utf-8")
    assert 'id="chart-rolling_beta"' not in page and 'id="chart-equity"' in page
    assert folder.metrics["beta"] is None


def test_missing_plotly_becomes_a_note_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing() -> None:
        raise MissingExtra("plotly", "report", "the HTML tearsheet")

    monkeypatch.setattr(figures, "plotly_js", missing)
    monkeypatch.setattr(figures, "plotly_js_bytes", missing)  # what the writer reads
    record = _record()
    page, pngs, notes = write_report(record, {}, tmp_path, png=False)
    assert page is None and pngs == ()
    assert notes == (
        "tearsheet skipped: the HTML tearsheet needs the 'plotly' package: "
        "pip install 'tradefolio[report]'",
    )
    assert not (tmp_path / "tearsheet.html").exists()


def test_log_scale_starts_the_equity_axis_in_log(tmp_path: Path) -> None:
    record = _record()
    page = tearsheet.render_tearsheet(record, {}, log_scale=True)
    assert '"type":"log"' in page.replace(" ", "")
