"""Rebalances a solver did not prove, as the user receives them (review, session 7).

- a solve stopped with nothing but its start (the holdings as they are, or cash) and no
  bound is not solved: the failure policy decides (hold: counted, positions kept; stop);
- a feasible rebalance without a bound has an unknown gap: null in JSON, "unknown" in the
  summary line, never 0.00%; and `--format json` never crashes on an infinite bound.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import tradefolio as tf
from support.cli import run_cli
from tradefolio.data.sample_data import load_sample_prices
from tradefolio.errors import SolverError
from tradefolio.portfolio import model as model_module
from tradefolio.portfolio import share_repair
from tradefolio.portfolio.backends import RawSolution
from tradefolio.portfolio.context import ModelContext
from tradefolio.portfolio.policy import AllocationPolicy, RebalanceDecision
from tradefolio.reporting.rebalances import rebalance_summary, rebalance_table

SYMBOLS = ["BAC", "CVX", "GE", "JNJ", "MRK"]
MODEL: dict[str, Any] = {"portfolio": True, "objective": "mean-variance", "whole_shares": True}
MODEL.update(max_turnover=0.2, lookback=40, risk_lookback=40, max_positions=3, cash=50_000.0)


@pytest.fixture(scope="module")
def closes() -> pd.DataFrame:
    return load_sample_prices().loc[:, SYMBOLS].iloc[:110]


def _stalled(*args: Any, **kwargs: Any) -> RawSolution:
    """A search stopped at its start: the holdings as they are, no bound."""
    whole: ModelContext = args[0]
    lots = args[2]
    evaluator = share_repair._evaluator(whole, lots)
    assert evaluator is not None
    values = evaluator.point(whole.universe.held_shares)
    objective = whole.program.objective_value(values)
    return RawSolution(values, "feasible", objective, math.inf, "highs+repair", math.inf)


_SOLVE_PROGRAM = model_module.solve_program


def _no_scip(program: Any, name: str, *args: Any) -> RawSolution:
    if name == "scip":
        raise SolverError("scip found no solution within the time limit")
    return _SOLVE_PROGRAM(program, name, *args)


def test_a_solve_stopped_at_its_start_is_not_solved(
    closes: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(model_module, "solve_by_repair", _stalled)
    monkeypatch.setattr(model_module, "solve_program", _no_scip)
    run = tf.backtest(closes, **MODEL)
    table = run.rebalances
    assert len(table) >= 3
    # nothing of the solver's own: not solved, the account held (cash), never "feasible"
    assert set(table["status"]) == {"error"}
    assert table["message"].str.contains("raise --time-limit").all()
    assert run.fills.empty
    with pytest.raises(SolverError, match="not solved"):
        tf.backtest(closes, **MODEL, on_solver_failure="stop")


def _unbounded(decide: Any) -> Any:
    """`AllocationPolicy.decide` whose answers have no bound (a feasible incumbent only)."""

    def wrapped(self: AllocationPolicy, *args: Any) -> RebalanceDecision:
        decision: RebalanceDecision = decide(self, *args)
        if decision.failed:
            return decision
        return replace(decision, status="feasible", best_bound=math.inf, gap=math.inf)

    return wrapped


def test_an_unknown_gap_is_null_in_json_and_unknown_in_the_summary(
    closes: pd.DataFrame,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    prices = tmp_path / "five.csv"
    closes.to_csv(prices)
    monkeypatch.setattr(AllocationPolicy, "decide", _unbounded(AllocationPolicy.decide))
    flags = [
        "--portfolio", "--objective", "mean-variance", "--risk-aversion", "5",
        "--max-turnover", "0.2", "--cost-bps", "5", "--whole-shares", "--lookback", "40",
        "--risk-lookback", "40", "--max-positions", "3", "--cash", "50000",
    ]  # fmt: skip
    run = run_cli(
        capsys, "backtest", "--prices", str(prices), *flags, "--no-record", "--format", "json"
    )
    assert run.code == 0, run.stderr
    assert "Traceback" not in run.stderr
    payload = json.loads(run.stdout)
    summary = payload["rebalances"]
    assert summary["not_proven"] == summary["rebalances"] >= 3
    assert summary["max_gap"] is None  # unknown, not the largest known gap or 0
    assert all(row["best_bound"] is None and row["gap"] is None for row in summary["rows"])
    table = run_cli(capsys, "backtest", "--prices", str(prices), *flags, "--no-record")
    assert table.code == 0, table.stderr
    assert "largest gap unknown" in table.stderr + table.stdout
    assert "largest gap 0.00%" not in table.stderr + table.stdout


def test_the_largest_gap_counts_only_feasible_rows_and_an_unknown_one_wins() -> None:
    def decision(status: str, gap: float) -> tuple[int, RebalanceDecision]:
        nan = math.nan
        day = pd.Timestamp("2020-01-02").date()
        made = RebalanceDecision(
            day, status, "scip", nan if status == "error" else 1.0, nan, gap, {}, {},
            0.0, 0.0, 1e5, 0.1,
        )  # fmt: skip
        return 0, made

    known = rebalance_table([decision("feasible", 2e-4), decision("optimal", 1e-6)], [])
    assert rebalance_summary(known)["max_gap"] == pytest.approx(2e-4)
    unknown = rebalance_table([decision("feasible", 2e-4), decision("feasible", math.nan)], [])
    assert rebalance_summary(unknown)["max_gap"] == math.inf
    failed = rebalance_table([decision("error", math.nan), decision("optimal", 0.0)], [])
    assert rebalance_summary(failed)["max_gap"] == 0.0
