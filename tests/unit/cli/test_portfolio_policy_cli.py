"""`backtest --portfolio` and `live --paper --portfolio` with the whole allocation model.

The issue's "done when": the model's flags (allocate's names) drive a backtest that writes
weights.csv and rebalances.csv whose trades honour every constraint, and the same flags
drive a paper session to the same positions and cash.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from tests.support.cli import run_module_cli

from tradefolio.data.sample_data import load_sample_prices

#: Five names SCIP proves within the time limit on a loaded machine: the two engines agree
#: share for share only when every solve is proven (a time limit stops a search anywhere).
SYMBOLS = ["BAC", "CVX", "GE", "JNJ", "MRK"]
MODEL = (
    "--portfolio",
    "--objective",
    "mean-variance",
    "--risk-aversion",
    "5",
    "--sector-cap",
    "0.35",
    "--max-turnover",
    "0.2",
    "--cost-bps",
    "5",
    "--fixed-cost",
    "1",
    "--min-trade",
    "500",
    "--whole-shares",
    "--lookback",
    "40",
    "--risk-lookback",
    "40",
    "--max-positions",
    "3",
    "--cash",
    "50000",
    "--time-limit",
    "60",
)


_cli = run_module_cli


@pytest.fixture(scope="module")
def prices(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("prices") / "sample5.csv"
    load_sample_prices().loc[:, SYMBOLS].iloc[:110].to_csv(path)
    return path


def test_backtest_and_paper_session_reach_the_same_positions(prices: Path, tmp_path: Path) -> None:
    run = _cli("backtest", "--prices", str(prices), *MODEL, "--format", "json", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    payload = json.loads(run.stdout)
    summary = payload["rebalances"]
    assert summary["rebalances"] == len(summary["rows"]) >= 3
    # every rebalance solved (whole shares by repair: proven or "feasible" with its gap)
    assert summary["proven"] + summary["not_proven"] == summary["rebalances"]
    assert summary["failed"] == 0
    held: Counter[str] = Counter()
    for fill in payload["fills"]:
        held[fill["symbol"]] += fill["quantity"] if fill["side"] == "buy" else -fill["quantity"]
    backtest_positions = {s: q for s, q in held.items() if q}
    assert backtest_positions

    folder = next((tmp_path / "runs").iterdir())
    weights = pd.read_csv(folder / "weights.csv", index_col="date")
    rebalances = pd.read_csv(folder / "rebalances.csv")
    assert len(weights) == len(rebalances) == summary["rebalances"]
    assert list(weights.columns) == SYMBOLS
    assert (rebalances["expected_turnover"] <= 0.2 + 1e-9).all()
    assert set(rebalances["status"]) <= {"optimal", "feasible"}
    assert (weights.gt(0).sum(axis=1) <= 3).all()
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["rebalances"]["rebalances"] == summary["rebalances"]
    page = (folder / "tearsheet.html").read_text()
    assert "chart-rebalance_weights" in page and "chart-rebalance_costs" in page

    db = tmp_path / "session.db"
    live_runs = tmp_path / "live-runs"
    live = _cli(
        "live", "--paper", "--prices", str(prices), "--db", str(db), *MODEL,
        "--out", str(live_runs), "--no-png", "--format", "json", cwd=tmp_path,
    )  # fmt: skip
    assert live.returncode == 0, live.stderr
    # The paper session's run folder records the same rebalances as the backtest's: the
    # same decisions (dates, solver, status, objective, expected trades) and the same
    # realised trades and costs; only the wall time of a solve differs.
    live_folder = next(live_runs.iterdir())
    live_rebalances = pd.read_csv(live_folder / "rebalances.csv")
    same = [c for c in rebalances.columns if c != "seconds"]
    pd.testing.assert_frame_equal(
        live_rebalances[same], rebalances[same], check_exact=False, rtol=1e-9, atol=1e-9
    )
    live_weights = pd.read_csv(live_folder / "weights.csv", index_col="date")
    pd.testing.assert_frame_equal(live_weights, weights, check_exact=False, rtol=1e-12)
    status = json.loads(live.stdout)
    live_positions = {p["symbol"]: p["quantity"] for p in status["positions"]}
    assert live_positions == backtest_positions
    cash = 50_000.0
    for f in payload["fills"]:
        value = f["quantity"] * f["price"]
        cash += -(value + f["commission"]) if f["side"] == "buy" else value - f["commission"]
    assert status["cash"] == pytest.approx(cash, abs=1e-6)


def test_model_flags_are_refused_without_portfolio(tmp_path: Path) -> None:
    run = _cli("backtest", "--max-turnover", "0.2", "--no-record", cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        "error: --max-turnover is an option of the allocation model: it needs --portfolio"
    ]


def test_on_solver_failure_stop_exits_1(prices: Path, tmp_path: Path) -> None:
    run = _cli(
        "backtest", "--prices", str(prices), "--portfolio", "--objective", "mean-variance",
        "--lookback", "40", "--risk-lookback", "40", "--max-positions", "2",
        "--max-weight", "0.1", "--min-invested", "0.9", "--on-solver-failure", "stop",
        "--no-record", cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 1
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: rebalance of 1990-03-01 not solved")


def test_sweep_grids_the_turnover_cap_by_allocates_name(prices: Path, tmp_path: Path) -> None:
    run = _cli(
        "sweep", "--prices", str(prices), "--portfolio", "--objective", "mean-variance",
        "--set", "lookback=40", "--risk-lookback", "40", "--grid", "max_turnover=0.05,0.3",
        "--cost-bps", "10", "--fixed-cost", "1", "--workers", "1", "--format", "csv",
        "--out", str(tmp_path / "sweep"), cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    table = pd.read_csv(io.StringIO(run.stdout))
    assert list(table["max_turnover"]) == [0.05, 0.3]
    assert (table["status"] == "ok").all()
    tight, loose = table.iloc[0], table.iloc[1]
    assert tight["turnover"] < loose["turnover"]
    assert tight["n_fills"] <= loose["n_fills"]


@pytest.mark.parametrize(
    ("command", "flag"),
    [
        ("backtest", "--covariance-file"),
        ("sweep", "--factor-loadings"),
        (("live", "--paper"), "--expected-returns"),
    ],
)
def test_one_date_risk_files_are_refused_with_the_reason(
    command: str | tuple[str, ...], flag: str, tmp_path: Path
) -> None:
    words = (command,) if isinstance(command, str) else command
    run = _cli(*words, "--portfolio", flag, "x.csv", cwd=tmp_path)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith(f"error: {words[0]} takes no {flag}: ")
    assert "estimates risk at each decision bar" in lines[0]
    assert not (tmp_path / "runs").exists()
