"""`tradefolio allocate` with the composable model's options: JSON, trades, explained errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.cli import assert_one_line_error, run_cli

pytest.importorskip("ortools")
pytest.importorskip("sklearn")

CONTRACT_KEYS = {"status", "objective", "capital", "cash", "allocations", "gap", "trades"}


def test_issue_example_runs_and_trades_reproduce_targets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    holdings = tmp_path / "held.csv"
    holdings.write_text("symbol,shares\nXOM,100\nAAPL,20\n")
    result = run_cli(
        capsys, "allocate", "--objective", "mean-variance", "--risk-aversion", "5",
        "--sector-cap", "0.35", "--holdings", str(holdings), "--max-turnover", "1.5",
        "--fixed-cost", "1", "--cost-bps", "5", "--min-trade", "500", "--whole-shares",
        "--format", "json",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload.keys() >= CONTRACT_KEYS
    # whole shares, a minimum trade and fixed costs: the fractional optimum repaired to
    # whole shares (share_repair.py); "optimal" only when its gap to the fractional bound
    # meets 1e-5, else "feasible" with that gap
    assert payload["solver"] == "highs+repair"
    assert (payload["status"] == "optimal") == (payload["gap"] <= 1e-5)
    held = {"XOM": 100, "AAPL": 20}
    target = {a["symbol"]: a["shares"] for a in payload["allocations"]}
    for trade in payload["trades"]:
        signed = trade["shares"] if trade["side"] == "buy" else -trade["shares"]
        held[trade["symbol"]] = held.get(trade["symbol"], 0) + signed
        assert trade["dollars"] >= 500 or held[trade["symbol"]] == 0
    assert {s: n for s, n in held.items() if n} == target
    assert payload["cash"] >= 0


@pytest.mark.parametrize("objective", ["cvar", "mad", "kelly", "min-variance"])
def test_each_objective_from_the_cli(objective: str, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "allocate", "--objective", objective, "--format", "json")
    assert result.code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["model"] == objective
    assert 1 <= len(payload["allocations"]) <= 10


def test_infeasible_request_explains_itself(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "allocate", "--sector-cap", "0.1", "--min-invested", "0.9")
    assert_one_line_error(result, "the allocation is infeasible: sector caps: ")
    assert "less than --min-invested 0.9" in result.stderr


def test_quadratic_objective_on_a_linear_solver_fails_clearly(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = run_cli(capsys, "allocate", "--objective", "mean-variance", "--solver", "cbc")
    assert_one_line_error(result, "use --solver highs")  # the user's choice: bad input


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--objective", "sharpe"], "--objective must be one of"),
        (["--sector-cap", "1.5"], "--sector-cap must be in (0, 1]"),
        (["--max-turnover", "-1"], "--max-turnover must be >= 0"),
        (["--min-trade", "0"], "--min-trade must be > 0"),
        (["--cvar-alpha", "1"], "--cvar-alpha must be in (0, 1)"),
        (["--holdings", "/nonexistent.csv"], "no such file"),
    ],
)
def test_bad_new_options_are_one_line_errors(
    args: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert_one_line_error(run_cli(capsys, "allocate", *args), fragment)


def test_default_path_unchanged(capsys: pytest.CaptureFixture[str]) -> None:
    payload = json.loads(run_cli(capsys, "allocate", "--format", "json").stdout)
    assert "trades" not in payload and payload["solver"] == "cbc"


def test_mean_variance_defaults_to_the_branch_and_bound(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(
        capsys,
        "allocate",
        "--objective",
        "mean-variance",
        "--sector-cap",
        "0.35",
        "--format",
        "json",
    )
    assert result.code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["status"] == "optimal" and payload["solver"] == "highs"


def test_branch_and_bound_refuses_lots_and_points_to_scip(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = run_cli(
        capsys, "allocate", "--objective", "mean-variance", "--whole-shares", "--solver", "highs"
    )
    assert_one_line_error(result, "use --solver scip, or --solver auto")


@pytest.mark.parametrize(
    ("objective", "own_risk"), [("mean-variance", True), ("min-variance", True), ("cvar", False)]
)
def test_candidates_without_closes_name_the_fix(
    objective: str, own_risk: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    candidates = tmp_path / "c.csv"
    candidates.write_text("symbol,score,price\nA,1,10\nB,2,20\nC,0.5,30\n")
    result = run_cli(capsys, "allocate", "--candidates", str(candidates), "--objective", objective)
    assert_one_line_error(
        result, "the bundled sample has none for A, B, C: pass --prices FILE with their closes"
    )
    assert ("--covariance-file" in result.stderr) is own_risk


def test_gaps_in_the_risk_window_name_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    days = [f"2024-01-{d:02d}" for d in range(1, 31)]
    rows = ["Date,A,B"] + [f"{d},{10 + i},{'' if i < 15 else 20 + i}" for i, d in enumerate(days)]
    prices = tmp_path / "p.csv"
    prices.write_text("\n".join(rows) + "\n")
    candidates = tmp_path / "c.csv"
    candidates.write_text("symbol,score,price\nA,1,39\nB,2,49\n")
    result = run_cli(
        capsys, "allocate", "--prices", str(prices), "--candidates", str(candidates),
        "--objective", "min-variance", "--risk-lookback", "20", "--max-weight", "0.6",
    )  # fmt: skip
    assert_one_line_error(result, "risk window for B")
    assert "use a shorter --risk-lookback" in result.stderr
