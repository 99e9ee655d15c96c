"""`sweep --portfolio` says which runs held their positions at unsolved rebalances.

The review of session 10 ran `sweep --portfolio --grid max_turnover=0.5 --cost-bps 10
--fixed-cost 1`: 22 of 384 rebalances of the run were not solved (positions held), and the
sweep said "ok" with no count anywhere. Here a turnover cap of 0.1 cannot reach
`--min-invested 0.9` from cash, so every rebalance of that run is infeasible and held,
while the run with a cap of 1 solves all of them: the counts are `backtest`'s.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from support.cli import assert_one_line_error, run_cli


def _sweep(capsys: pytest.CaptureFixture[str], prices: Path, out: Path, *extra: str):  # type: ignore[no-untyped-def]
    return run_cli(
        capsys, "sweep", "--prices", str(prices), "--portfolio",
        "--grid", "max_turnover=0.1,1.0", "--set", "min_invested=0.9",
        "--workers", "1", "--out", str(out), *extra,
    )  # fmt: skip


def test_held_rebalances_are_counted_everywhere(
    capsys: pytest.CaptureFixture[str],
    short_prices: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "sw"
    result = _sweep(capsys, short_prices, out, "--format", "json")
    assert result.code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["held"] == 1
    counts = ("rebalances_proven", "rebalances_not_proven", "rebalances_failed")
    by_run = {row["run"]: row for row in payload["leaderboard"]}
    assert [by_run[0][c] for c in counts] == [0, 0, 36]
    # run 1 solves all 36 (how many are proven rather than "feasible" with a tiny gap is the
    # linear solver's business); none is held
    proven, not_proven, failed = (by_run[1][c] for c in counts)
    assert (proven + not_proven, failed) == (36, 0) and proven >= 30
    assert (by_run[0]["status"], by_run[1]["status"]) == ("held", "ok")
    table = pd.read_parquet(out / "results.parquet")
    assert table[list(counts)].to_numpy().tolist() == [[0, 0, 36], [proven, not_proven, 0]]
    assert list(table["status"]) == ["held", "ok"]
    report = (out / "report.md").read_text()
    assert "| rebalances_proven | rebalances_not_proven | rebalances_failed |" in report
    assert "| 0 | 0 | 36 |" in report
    assert "from earlier, 0 failed, 1 held) in " in result.stderr
    held = [line for line in result.stderr.splitlines() if "could not solve" in line]
    assert held == [
        "1 of 2 runs held their positions at rebalances the model could not solve (status "
        "held): run 0 (36 of 36); see their rebalances_failed column, or run one with "
        "backtest for the reasons"
    ]
    # the table: the same counts under the leaderboard's own headings (a resumed sweep)
    monkeypatch.setenv("COLUMNS", "200")  # every heading whole
    table_run = _sweep(capsys, short_prices, out)
    assert table_run.code == 0, table_run.stderr
    header = next(line for line in table_run.stdout.splitlines() if "┃ run" in line)
    assert [h.strip() for h in header.split("┃")[-4:-1]] == [
        "proven",
        "not proven",
        "failed (held)",
    ]
    row = next(line for line in table_run.stdout.splitlines() if line.startswith("│   0 "))
    assert [cell.strip() for cell in row.split("│")[-4:-1]] == ["0", "0", "36"]
    assert "could not solve" in table_run.stderr


def test_a_strategy_sweep_shows_no_rebalance_counts(
    capsys: pytest.CaptureFixture[str], short_prices: Path, tmp_path: Path
) -> None:
    result = run_cli(
        capsys, "sweep", "--prices", str(short_prices), "--grid", "fast=5,10",
        "--workers", "1", "--out", str(tmp_path / "sma"), "--format", "json",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["held"] == 0
    assert all(row["rebalances_failed"] is None for row in payload["leaderboard"])
    assert "rebalances_failed" not in (tmp_path / "sma" / "report.md").read_text()
    assert "could not solve" not in result.stderr


def test_walk_forward_refuses_the_allocation_model_up_front(
    capsys: pytest.CaptureFixture[str], short_prices: Path, tmp_path: Path
) -> None:
    """Its test windows start flat and cannot run the allocation model (it trades the
    account it runs on): every fold used to fail after the train runs, the out-of-sample
    result 0 with exit 0. One line, exit 2, before any run."""
    result = run_cli(
        capsys, "walk-forward", "--prices", str(short_prices), "--set", "portfolio=true",
        "--grid", "max_turnover=0.1,1.0", "--train", "400", "--test", "250",
        "--workers", "1", "--out", str(tmp_path / "wf"),
    )  # fmt: skip
    assert_one_line_error(result, "walk-forward cannot trade the allocation model")
    assert not (tmp_path / "wf").exists()
    plain = run_cli(
        capsys, "walk-forward", "--prices", str(short_prices), "--set", "portfolio=true",
        "--grid", "max_positions=3,5", "--train", "400", "--test", "250",
        "--workers", "1", "--out", str(tmp_path / "wf-score"), "--format", "json",
    )  # fmt: skip
    assert plain.code == 0, plain.stderr  # the score model on weights alone still runs
    assert all(fold["error"] is None for fold in json.loads(plain.stdout)["folds"])
