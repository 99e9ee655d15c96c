"""A `--portfolio` backtest whose rebalances are not solved says why on the terminal
(review, session 9): the first failure's date and reason in one line, and plainly when no
rebalance was solved at all (exit 0 under the documented `--on-solver-failure hold`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from support.cli import assert_one_line_error, run_cli
from tradefolio.cli.backtest_output import failure_line
from tradefolio.data.sample_data import load_sample_prices
from tradefolio.errors import RebalanceFailed
from tradefolio.portfolio.policy import AllocationPolicy, RebalanceDecision

SYMBOLS = ["BAC", "CVX", "GE", "JNJ", "MRK"]
SHORT = ("--lookback", "40", "--risk-lookback", "40", "--max-positions", "3")
#: min-variance must be fully invested: a 20% turnover cap cannot get there from cash
STUCK = ("--portfolio", "--objective", "min-variance", "--max-turnover", "0.2", *SHORT)


@pytest.fixture(scope="module")
def prices(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("failed") / "prices.csv"
    closes: pd.DataFrame = load_sample_prices().loc[:, SYMBOLS].iloc[:110]
    closes.to_csv(path, index_label="date")
    return path


def test_every_rebalance_failed_is_said_with_the_first_reason(
    capsys: pytest.CaptureFixture[str], prices: Path
) -> None:
    run = run_cli(capsys, "backtest", "--prices", str(prices), *STUCK, "--no-record")
    assert run.code == 0, run.stderr
    lines = [line for line in run.stdout.splitlines() if "rebalance was solved" in line]
    assert len(lines) == 1, run.stdout
    line = lines[0]
    assert "no rebalance was solved (4 of 4 failed" in line
    assert "nothing traded" in line
    assert "the first, 1990-03-01: the allocation is infeasible" in line
    assert "--max-turnover 0.2 cannot reach the full investment" in line


def test_a_partly_failed_run_names_its_first_failure() -> None:
    table = pd.DataFrame(
        {
            "date": pd.to_datetime(["2020-01-02", "2020-02-03", "2020-03-02", "2020-04-01"]),
            "status": ["optimal", "infeasible", "error", "feasible"],
            "message": ["", "the allocation is\ninfeasible: x", "solver crashed", ""],
        }
    )
    assert (
        failure_line(table)
        == "first rebalance not solved, 2020-02-03: the allocation is infeasible: x"
    )
    assert failure_line(table.iloc[[0, 3]]) is None
    assert failure_line(table.iloc[[2]]) == (
        "no rebalance was solved (1 of 1 failed; positions held, nothing traded by the "
        "model); the first, 2020-03-02: solver crashed"
    )


def test_a_history_too_short_for_the_first_rebalance_is_refused_as_allocate_does(
    capsys: pytest.CaptureFixture[str],
    prices: Path,
    tmp_path: Path,
) -> None:
    # (the score's --lookback too long was refused already, in the backtest's own words)
    fragment = "risk lookback 200 needs 201 sessions but the price history has 110"
    flags = ("--lookback", "40", "--risk-lookback", "200")
    given = ("--prices", str(prices), "--objective", "mean-variance", *flags)
    allocate = run_cli(capsys, "allocate", *given)
    model = (*given, "--portfolio")
    assert_one_line_error(allocate, fragment)
    out = tmp_path / "runs"
    backtest = run_cli(capsys, "backtest", *model, "--out", str(out))
    assert_one_line_error(backtest, fragment)
    assert backtest.stderr == allocate.stderr
    assert not out.exists()  # refused before the first bar: no run folder
    db = tmp_path / "paper.db"
    live = run_cli(capsys, "live", "--paper", "--db", str(db), *model, "--out", str(out))
    assert_one_line_error(live, fragment)
    assert live.stderr == allocate.stderr
    assert not db.exists() and not out.exists()


def test_stop_keeps_the_run_up_to_the_failure_and_says_where(
    capsys: pytest.CaptureFixture[str],
    prices: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    decide = AllocationPolicy.decide
    calls: list[str] = []

    def fail_second(self: AllocationPolicy, history: Any, *args: Any) -> RebalanceDecision:
        calls.append(history.dates[-1].date().isoformat())
        if len(calls) == 3:  # (the first decision holds cash on these prices)
            raise RebalanceFailed(f"rebalance of {calls[-1]} not solved (a test's stop)")
        return decide(self, history, *args)

    monkeypatch.setattr(AllocationPolicy, "decide", fail_second)
    out = tmp_path / "runs"
    flags = ("--portfolio", "--objective", "mean-variance", *SHORT, "--on-solver-failure", "stop")
    run = run_cli(capsys, "backtest", "--prices", str(prices), *flags, "--out", str(out))
    assert run.code == 1, run
    assert out.exists(), (run, calls)
    (folder,) = out.iterdir()
    *solved, failed = calls
    assert run.stderr.strip().splitlines() == [
        f"error: rebalance of {failed} not solved (a test's stop); the run up to then is "
        f"in {folder}"
    ]
    equity = pd.read_csv(folder / "equity.csv")
    assert equity["date"].iloc[-1] == failed  # up to the failure, nothing after
    fills = pd.read_csv(folder / "fills.csv")
    assert len(fills) and (fills["date"] > solved[0]).all() and (fills["date"] <= failed).all()
    solves = pd.read_csv(folder / "rebalances.csv")
    assert list(solves["date"]) == solved
    # --no-record: the same stop, nothing written
    calls.clear()
    other = tmp_path / "other"
    quiet = run_cli(
        capsys, "backtest", "--prices", str(prices), *flags, "--out", str(other), "--no-record"
    )
    assert quiet.code == 1 and "the run up to then" not in quiet.stderr
    assert not other.exists()


def test_stop_writes_the_failing_decision_as_hold_does(
    capsys: pytest.CaptureFixture[str], prices: Path, tmp_path: Path
) -> None:
    """The rebalance a stop ends on is a row of rebalances.csv (date, status, the solver's
    reason), the row `hold` writes for the same decision (review, session 10: it was not
    there, so the user never saw why the run stopped in the record)."""
    given = ("backtest", "--prices", str(prices), *STUCK)
    held_out, stopped_out = tmp_path / "hold", tmp_path / "stop"
    held = run_cli(capsys, *given, "--out", str(held_out))
    stopped = run_cli(capsys, *given, "--on-solver-failure", "stop", "--out", str(stopped_out))
    assert held.code == 0, held.stderr
    assert stopped.code == 1, stopped.stderr
    (held_folder,) = held_out.iterdir()
    (stopped_folder,) = stopped_out.iterdir()
    hold_rows = pd.read_csv(held_folder / "rebalances.csv")
    stop_rows = pd.read_csv(stopped_folder / "rebalances.csv")
    assert len(stop_rows) == 1, stop_rows
    row = stop_rows.iloc[0]
    assert (row["date"], row["status"]) == ("1990-03-01", "infeasible")
    assert "--max-turnover 0.2 cannot reach the full investment" in row["message"]
    assert row["message"] in stopped.stderr  # the reason the terminal gave, in the record
    same = [c for c in stop_rows.columns if c != "seconds"]
    pd.testing.assert_frame_equal(stop_rows[same], hold_rows[same].iloc[:1])
    weights = pd.read_csv(stopped_folder / "weights.csv")
    assert list(weights["date"]) == ["1990-03-01"]
    assert stopped.stderr.strip().splitlines() == [
        f"error: rebalance of 1990-03-01 not solved (infeasible: {row['message']}); "
        f"--on-solver-failure hold keeps the positions instead; the run up to then is in "
        f"{stopped_folder}"
    ]


def test_live_stop_writes_the_failing_decision_as_hold_does_and_halts(
    capsys: pytest.CaptureFixture[str], prices: Path, tmp_path: Path
) -> None:
    """`live --portfolio --on-solver-failure stop` (review, session 10: the session stopped
    with no row for the failure in its record): the backtest's one `error:` line and exit
    1, the row `hold` writes in the run folder's rebalances.csv, no order after it, trading
    HALTED in the journal, and a restart that says the same instead of trading on."""
    given = ("live", "--paper", "--prices", str(prices), *STUCK, "--no-png")
    held_db, stopped_db = tmp_path / "hold.db", tmp_path / "stop.db"
    held_out, stopped_out = tmp_path / "hold", tmp_path / "stop"
    held = run_cli(capsys, *given, "--db", str(held_db), "--out", str(held_out))
    stop = ("--on-solver-failure", "stop", "--db", str(stopped_db))
    stopped = run_cli(capsys, *given, *stop, "--out", str(stopped_out))
    assert held.code == 0, held.stderr
    assert stopped.code == 1, stopped.stderr
    assert "Traceback" not in stopped.stderr
    errors = [line for line in stopped.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, stopped.stderr
    (held_folder,) = held_out.iterdir()
    (stopped_folder,) = stopped_out.iterdir()
    hold_rows = pd.read_csv(held_folder / "rebalances.csv")
    stop_rows = pd.read_csv(stopped_folder / "rebalances.csv")
    assert len(stop_rows) == 1, stop_rows
    row = stop_rows.iloc[0]
    assert (row["date"], row["status"]) == ("1990-03-01", "infeasible")
    same = [c for c in stop_rows.columns if c != "seconds"]
    pd.testing.assert_frame_equal(stop_rows[same], hold_rows[same].iloc[:1])
    assert errors[0] == (
        f"error: rebalance of 1990-03-01 not solved (infeasible: {row['message']}); "
        "--on-solver-failure hold keeps the positions instead; trading is HALTED in "
        f"{stopped_db}, which keeps the session up to then (`tradefolio live resume --db "
        f"{stopped_db}` lets a restart decide that rebalance again)"
    )
    equity = pd.read_csv(stopped_folder / "equity.csv")
    assert equity["date"].iloc[-1] == "1990-03-01"
    assert pd.read_csv(stopped_folder / "fills.csv").empty
    status = run_cli(capsys, "live", "status", "--db", str(stopped_db), "--format", "json")
    payload = json.loads(status.stdout)
    assert payload["state"] == "HALTED"
    assert errors[0].removeprefix("error: ").startswith(payload["state_reason"])
    assert payload["last_bar"] == "1990-03-01" and not payload["open_orders"]
    again = run_cli(capsys, *given, *stop, "--out", str(tmp_path / "again"))
    assert again.code == 1 and again.stderr.strip().splitlines() == errors
    assert not (tmp_path / "again").exists()
