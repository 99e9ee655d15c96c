"""`tradefolio report RUN_DIR`: rebuilds a run folder's report; one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.cli import assert_one_line_error, run_cli
from tradefolio.backtest.config import BacktestConfig
from tradefolio.backtest.runner import run_config
from tradefolio.data.synthetic import gbm_market
from tradefolio.reporting.run_folder import write_backtest_run


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    market = gbm_market(4, 500, seed=5, factor_correlation=0.5)
    config = BacktestConfig.create(strategy="sma-cross", fast=10, slow=30, sizer="weight")
    result = run_config(config, market.prices)
    folder = write_backtest_run(
        result,
        config.model_dump(),
        closes=market.prices,
        benchmark=market.benchmark,
        out_dir=tmp_path / "runs",
        tearsheet=False,
    )
    return folder.path


def test_report_writes_tearsheet_and_pngs(
    capsys: pytest.CaptureFixture[str], run_dir: Path
) -> None:
    result = run_cli(capsys, "report", str(run_dir))
    assert result.code == 0, result.stderr
    assert (run_dir / "tearsheet.html").is_file()
    assert len(list((run_dir / "png").glob("*.png"))) == 8
    assert "Sharpe" in result.stdout and "Calmar" in result.stdout
    assert f"tearsheet: {run_dir / 'tearsheet.html'}" in result.stdout.replace("\n", "")


def test_report_json_is_metrics_json(capsys: pytest.CaptureFixture[str], run_dir: Path) -> None:
    before = json.loads((run_dir / "metrics.json").read_text())
    result = run_cli(capsys, "report", str(run_dir), "--format", "json", "--no-png")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout) == before
    assert not (run_dir / "png").exists()


def test_report_on_a_missing_folder_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert_one_line_error(run_cli(capsys, "report", str(tmp_path / "nope")), "not a directory")
    assert_one_line_error(run_cli(capsys, "report", str(tmp_path)), "config.json is missing")


def test_report_rejects_a_tiny_window(capsys: pytest.CaptureFixture[str], run_dir: Path) -> None:
    assert_one_line_error(
        run_cli(capsys, "report", str(run_dir), "--window", "1"), "--window must be >= 2"
    )


def test_report_help_shows_defaults_and_examples(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "report", "--help")
    assert result.code == 0
    assert "Examples:" in result.stdout and "default: 126" in result.stdout.replace("\n", " ")
