"""`tradefolio report RUN_DIR`: rebuilds a run folder's report; one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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


def test_report_writes_tearsheet_and_pngs_when_asked(
    capsys: pytest.CaptureFixture[str], run_dir: Path
) -> None:
    result = run_cli(capsys, "report", str(run_dir))
    assert result.code == 0, result.stderr
    assert (run_dir / "tearsheet.html").is_file()
    assert not (run_dir / "png").exists()  # PNGs cost time: only with --png
    result = run_cli(capsys, "report", str(run_dir), "--png")
    assert result.code == 0, result.stderr
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


def _replace_in(name: str, old: str, new: str) -> object:
    def damage(folder: Path) -> None:
        path = folder / name
        text = path.read_text(encoding="utf-8")
        assert old in text, (name, old)
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    return damage


def _write_bytes(name: str, data: bytes) -> object:
    def damage(folder: Path) -> None:
        (folder / name).write_bytes(data)

    return damage


def _cut(name: str) -> object:
    def damage(folder: Path) -> None:
        data = (folder / name).read_bytes()
        (folder / name).write_bytes(data[: len(data) // 2 - 3])

    return damage


def _append_fill(folder: Path) -> None:
    with (folder / "fills.csv").open("a", encoding="utf-8") as handle:
        handle.write("2000-06-01,ZZZZ,buy,5,10.0,0.0,0.0\n")


def _first_equity_value(folder: Path) -> None:
    lines = (folder / "equity.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    cells = lines[3].split(",")
    cells[1] = "12abc"
    lines[3] = ",".join(cells)
    (folder / "equity.csv").write_text("".join(lines), encoding="utf-8")


DAMAGED = [
    (
        "text in a number",
        _first_equity_value,
        "equity.csv: row 4, column equity: '12abc' is not a number",
    ),
    ("empty file", _write_bytes("equity.csv", b""), "equity.csv: is empty"),
    ("cut file", _cut("fills.csv"), "fills.csv: is cut short"),
    (
        "non-UTF-8",
        _write_bytes("positions.csv", b"date,symbol,quantity,price\n\xff\xfe,x,1,2\n"),
        "positions.csv: is not UTF-8 text",
    ),
    ("binary", _write_bytes("weights.csv", bytes(range(256)) * 4), "weights.csv: is a binary file"),
    (
        "foreign schema",
        _write_bytes("config.json", b'{"schema": "someone.else/3"}\n'),
        "schema 'someone.else/3', not 'tradefolio.run/1'",
    ),
    ("config not an object", _write_bytes("config.json", b"[1, 2]\n"), "has no schema"),
    ("config not JSON", _write_bytes("config.json", b"{nope\n"), "config.json is not valid JSON"),
    ("unknown symbol", _append_fill, "names 'ZZZZ', a symbol the run does not have"),
    (
        "missing column",
        _replace_in("equity.csv", "date,equity,cash,", "date,equity,"),
        "equity.csv: has no column cash",
    ),
    ("bad date", _replace_in("fills.csv", "\n20", "\n2O"), "column date:"),
    (
        "nan equity",
        _replace_in("equity.csv", "\n2000-01-03,1000000.0,", "\n2000-01-03,nan,"),
        "equity.csv: row 2, column equity: nan is not a positive number",
    ),
    (
        "negative cash",
        _replace_in("equity.csv", "1000000.0,1000000.0,", "1000000.0,-3,"),
        "column cash: -3 is not a finite, non-negative number",
    ),
]


@pytest.mark.parametrize(
    ("damage", "fragment"),
    [(damage, fragment) for _, damage, fragment in DAMAGED],
    ids=[name for name, _, _ in DAMAGED],
)
def test_a_damaged_run_folder_is_one_line_and_nothing_is_written(
    capsys: pytest.CaptureFixture[str], run_dir: Path, damage: Any, fragment: str
) -> None:
    damage(run_dir)
    before = {path.name: path.read_bytes() for path in run_dir.iterdir()}
    result = run_cli(capsys, "report", str(run_dir), "--png")
    assert_one_line_error(result, fragment)
    assert "re-run" in result.stderr or "not a tradefolio run folder" in result.stderr
    assert result.stdout == ""
    after = {path.name: path.read_bytes() for path in run_dir.iterdir()}
    assert after == before  # no tearsheet, no png/, metrics.json untouched
