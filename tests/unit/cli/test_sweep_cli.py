"""`tradefolio sweep` and `tradefolio walk-forward`: contracts, resume, one-line errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from support.cli import assert_one_line_error, run_cli


def _prices_file(tmp_path: Path, bars: int = 300, symbols: int = 3, seed: int = 5) -> str:
    rng = np.random.default_rng(seed)
    values = np.round(50 * np.exp(np.cumsum(rng.normal(0, 0.02, (bars, symbols)), axis=0)), 2)
    frame = pd.DataFrame(
        values,
        index=pd.bdate_range("2015-01-01", periods=bars, name="Date"),
        columns=[f"S{j}" for j in range(symbols)],
    )
    path = tmp_path / "prices.csv"
    frame.to_csv(path)
    return str(path)


def _sweep(capsys: pytest.CaptureFixture[str], tmp_path: Path, *extra: str):  # type: ignore[no-untyped-def]
    return run_cli(
        capsys,
        "sweep",
        "--prices", _prices_file(tmp_path),
        "--grid", "fast=5,10,20", "--grid", "slow=10,40",
        "--set", "sizer=weight", "--set", "weight=0.3",
        "--workers", "1",
        "--out", str(tmp_path / "out"),
        *extra,
    )  # fmt: skip


def test_sweep_json_contract_and_parquet_table(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    result = _sweep(capsys, tmp_path, "--format", "json")
    assert result.code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert set(payload) == {
        "results", "runs", "executed", "reused", "failed", "held", "metric", "parameters",
        "leaderboard", "deflated_sharpe", "exits",
    }  # fmt: skip
    assert (payload["runs"], payload["executed"], payload["reused"]) == (6, 6, 0)
    assert payload["failed"] == 2  # fast 10 and 20 are not shorter than slow 10
    assert payload["parameters"] == ["fast", "slow"]
    sharpes = [row["sharpe"] for row in payload["leaderboard"]]
    assert sharpes == sorted(sharpes, reverse=True)
    table = pd.read_parquet(payload["results"])
    assert list(table["run"]) == list(range(6))
    assert list(table.columns[:6]) == ["run", "run_id", "status", "error", "fast", "slow"]
    failed = table[table["status"] == "failed"]
    assert failed["error"].str.contains("must be shorter").all()
    assert (tmp_path / "out" / "report.md").read_text().startswith("# Sweep report")
    assert 0 <= payload["deflated_sharpe"]["dsr"] <= 1


def test_rerun_resumes_from_the_folder(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    first = _sweep(capsys, tmp_path, "--format", "json")
    again = _sweep(capsys, tmp_path, "--format", "json")
    assert first.code == again.code == 0
    payload = json.loads(again.stdout)
    assert (payload["executed"], payload["reused"]) == (0, 6)
    assert payload["leaderboard"] == json.loads(first.stdout)["leaderboard"]


def test_table_and_csv_outputs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    table = _sweep(capsys, tmp_path, "--heatmap", "slow,fast")
    assert table.code == 0, table.stderr
    assert "by sharpe" in table.stdout and "slow (rows) x fast (columns)" in table.stdout
    assert "deflated Sharpe ratio" in table.stdout
    csv = _sweep(capsys, tmp_path, "--format", "csv")
    lines = csv.stdout.strip().splitlines()
    assert lines[0].startswith("run,run_id,status,error,fast,slow,")
    assert len(lines) == 7


def test_local_pool_through_the_cli(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    pooled = _sweep(capsys, tmp_path, "--workers", "2", "--format", "json", "--fresh")
    serial = _sweep(capsys, tmp_path, "--format", "json", "--fresh")
    assert pooled.code == serial.code == 0
    assert json.loads(pooled.stdout)["leaderboard"] == json.loads(serial.stdout)["leaderboard"]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--grid", "speed=1,2"], "not a backtest parameter"),
        (["--grid", "fast"], "NAME=VALUES"),
        (["--set", "sizer"], "--set expects NAME=VALUE"),
        (["--executor", "dask", "--grid", "fast=5"], "--executor"),
        (["--metric", "alpha", "--grid", "fast=5"], "--metric"),
        (["--random", "0", "--grid", "fast=5"], "--random"),
        (["--heatmap", "fast", "--grid", "fast=5,10"], "--heatmap"),
        (["--batch", "4", "--grid", "fast=5"], "--batch is for --executor ray"),
        ([], "nothing to sweep"),
        (
            ["--grid", "fast=a,b"],
            "all 2 runs of the sweep would fail; run 0 (fast=a): --fast must be a whole number, "
            "got 'a'",
        ),
        (["--grid", "fast=50", "--grid", "slow=20"], "the only run of the sweep would fail"),
        (["--grid", "fast=5,10", "--set", "sizer=bogus"], "--sizer must be one of risk, weight"),
        (["--grid", "fast=5,10", "--set", "fast=abc"], "fast is both fixed (--set fast=abc)"),
        (["--grid", "fast=5", "--set", "cash=1e12"], "--cash must be at most 10,000,000,000"),
        (["--grid", "slow=400,500"], "--slow 400 needs more than 400 sessions but"),
        (["--grid", "fast=5", "--set", "beta_sizing=maybe"], "must be true or false, got"),
        (  # a listed value no run can use is refused before any run, even beside valid ones
            ["--portfolio", "--set", "lookback=60", "--grid", "max_turnover=-1,0.2"],
            "--grid max_turnover=-1.0: every run of the sweep with it would fail; run 0 "
            "(max_turnover=-1.0): --max-turnover must be >= 0, got -1.0; fix -1.0 or drop it",
        ),
        (
            ["--portfolio", "--set", "lookback=60", "--grid", "objective=foo,mad"],
            "--grid objective=foo: every run of the sweep with it would fail",
        ),
        (["--grid", "fast=5,10", "--grid", "slow=40,400"], "--grid slow=400: every run of"),
    ],
)
def test_bad_sweep_input_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], fragment: str
) -> None:
    result = run_cli(
        capsys, "sweep", "--prices", _prices_file(tmp_path), "--out", str(tmp_path / "o"), *args
    )
    assert_one_line_error(result, fragment)
    assert "Input should be" not in result.stderr  # no pydantic wording
    assert not (tmp_path / "o").exists()  # nothing written


def test_a_sweep_with_some_invalid_runs_runs_the_rest(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    result = _sweep(capsys, tmp_path, "--format", "json")  # fast 10 or 20, slow 10: invalid
    assert result.code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["failed"] == 2 and payload["runs"] == 6


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--grid", "fast=a,b"], "all 2 runs of the walk-forward would fail; run 0 (fast=a)"),
        (["--grid", "fast=5,10", "--set", "sizer=bogus"], "--sizer must be one of risk"),
        (["--grid", "fast=5", "--set", "fast=7"], "fast is both fixed"),
        (
            ["--grid", "slow=160,200"],
            "--slow 160 needs more than 160 sessions but a --train window has 150: use a "
            "shorter --slow or a longer --train",
        ),
        (["--grid", "fast=5", "--train", "250", "--test", "100"], "exceed"),
        (["--grid", "fast=5", "--test", "1"], "--test must be >= 2"),
        (
            ["--set", "portfolio=true", "--set", "lookback=60", "--grid", "objective=mad,foo"],
            "--grid objective=foo: every run of the walk-forward with it would fail",
        ),
    ],
)
def test_bad_walk_forward_input_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], fragment: str
) -> None:
    result = run_cli(
        capsys, "walk-forward", "--prices", _prices_file(tmp_path), "--train", "150",
        "--test", "70", "--out", str(tmp_path / "wf"), *args,
    )  # fmt: skip
    assert_one_line_error(result, fragment)
    assert not (tmp_path / "wf").exists()


def test_ray_without_the_extra_names_the_install(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    result = _sweep(capsys, tmp_path, "--executor", "ray")
    assert result.code == 1
    assert "pip install 'tradefolio[distributed]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_walk_forward_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    result = run_cli(
        capsys,
        "walk-forward",
        "--prices", _prices_file(tmp_path),
        "--grid", "fast=5,10", "--grid", "slow=20,40",
        "--set", "sizer=weight",
        "--train", "150", "--test", "70",
        "--workers", "1",
        "--out", str(tmp_path / "wf"),
        "--format", "json",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert len(payload["folds"]) == 3
    assert set(payload["folds"][0]) >= {"fold", "test_first", "test_last", "fast", "slow"}
    assert set(payload["out_of_sample"]) == {
        "total_return", "cagr", "volatility", "sharpe", "sortino", "max_drawdown", "calmar"
    }  # fmt: skip
    assert payload["in_sample_best"]["parameters"].keys() == {"fast", "slow"}
    for name in ("folds.parquet", "oos_equity.parquet", "walk_forward.json", "results.parquet"):
        assert (tmp_path / "wf" / name).exists()


def test_walk_forward_bad_windows(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    result = run_cli(
        capsys, "walk-forward", "--prices", _prices_file(tmp_path), "--grid", "fast=5",
        "--train", "250", "--test", "100", "--out", str(tmp_path / "wf"),
    )  # fmt: skip
    assert_one_line_error(result, "exceed")
