"""The seed's score model (`--portfolio` with no model option) keeps the rebalance record.

Oracles on what the user receives: each row of rebalances.csv is a stand-alone
`tradefolio allocate` on the same date's prices (status, objective, weights); the realised
turnover and costs are what fills.csv did; the expected ones are the weights at the
decision close on the account equity.csv and fills.csv describe; `--on-solver-failure`
holds or stops on an injected solver failure; a paper session records the same rows.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from tests.support.cli import run_cli, run_module_cli

from tradefolio.data.sample_data import load_sample_prices
from tradefolio.errors import SolverError
from tradefolio.portfolio import policy as policy_module

SYMBOLS = ["AAPL", "AMD", "BAC", "BBY", "CVX", "GE", "HD", "JNJ"]
SEED = ("--portfolio", "--lookback", "60", "--max-positions", "4")
COMMISSION, SLIPPAGE = 10.0, 5.0  # bps
COSTS = ("--commission-bps", str(COMMISSION), "--slippage-bps", str(SLIPPAGE))


@pytest.fixture(scope="module")
def prices(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("prices") / "sample8.csv"
    load_sample_prices().loc[:, SYMBOLS].iloc[:300].to_csv(path, index_label="date")
    return path


def _folder(runs: Path) -> Path:
    (folder,) = runs.iterdir()
    return folder


def _held(fills: pd.DataFrame) -> dict[str, int]:
    """Shares held after `fills` (fills.csv rows)."""
    held: Counter[str] = Counter()
    for fill in fills.to_dict("records"):
        signed = int(fill["quantity"]) if fill["side"] == "buy" else -int(fill["quantity"])
        held[str(fill["symbol"])] += signed
    return {s: q for s, q in held.items() if q}


def _next_session(closes: pd.DataFrame, day: pd.Timestamp) -> pd.Timestamp:
    return pd.Timestamp(closes.index[int(closes.index.searchsorted(day)) + 1])


def test_each_rebalance_is_allocate_and_realised_is_the_fills(
    prices: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("ortools")
    runs = tmp_path / "runs"
    run = run_cli(
        capsys, "backtest", "--prices", str(prices), *SEED, *COSTS,
        "--out", str(runs), "--format", "json",
    )  # fmt: skip
    assert run.code == 0, run.stderr
    summary = json.loads(run.stdout)["rebalances"]
    folder = _folder(runs)
    table = pd.read_csv(folder / "rebalances.csv", parse_dates=["date"])
    weights = pd.read_csv(folder / "weights.csv", index_col="date", parse_dates=True)
    assert summary["rebalances"] == len(summary["rows"]) == len(table) == len(weights) >= 8
    assert summary["proven"] == len(table) and summary["failed"] == 0
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["rebalances"]["rebalances"] == len(table)
    page = (folder / "tearsheet.html").read_text()
    assert "chart-rebalance_weights" in page and "chart-rebalance_costs" in page

    closes = pd.read_csv(prices, index_col="date", parse_dates=True)
    fills = pd.read_csv(folder / "fills.csv", parse_dates=["date"])
    equity = pd.read_csv(folder / "equity.csv", index_col="date", parse_dates=True)["equity"]
    rows = [1, len(table) // 2, len(table) - 2]  # the first from cash is all buys
    for _, row in table.iloc[rows].iterrows():
        day = row["date"]
        prefix = tmp_path / f"upto-{day.date()}.csv"
        closes.loc[:day].to_csv(prefix, index_label="date")
        alone = run_cli(
            capsys, "allocate", "--prices", str(prefix), "--lookback", "60",
            "--max-positions", "4", "--format", "json",
        )  # fmt: skip
        assert alone.code == 0, alone.stderr
        answer = json.loads(alone.stdout)
        assert row["status"] == answer["status"]
        assert row["objective"] == pytest.approx(answer["objective"], rel=1e-12)
        listed = {a["symbol"]: a["weight"] for a in answer["allocations"]}
        target = weights.loc[day]
        assert target[target > 0].to_dict() == pytest.approx(listed)

        # the account at the decision close: fills up to it, its equity
        held = _held(fills[fills["date"] <= day])
        value = float(equity.loc[day])
        close = closes.loc[day]
        wanted = {s: math.floor(w * value / close[s]) for s, w in listed.items()}
        changes = {s: wanted.get(s, 0) - held.get(s, 0) for s in set(wanted) | set(held)}
        traded = sum(abs(q) * close[s] for s, q in changes.items())
        assert row["expected_turnover"] == pytest.approx(traded / value, rel=1e-9)
        rate, slip = COMMISSION / 1e4, SLIPPAGE / 1e4
        expected = sum(
            abs(q) * close[s] * (rate * (1 + slip if q > 0 else 1 - slip) + slip)
            for s, q in changes.items()
        )
        assert row["expected_costs"] == pytest.approx(expected, rel=1e-4)
        assert row["names"] == sum(1 for q in wanted.values() if q > 0)

        # realised: the fills of the next session, priced against its close
        after = _next_session(closes, day)
        done = fills[fills["date"] == after]
        assert len(done) > 0
        notional = (done["quantity"] * done["price"]).sum()
        assert row["realised_turnover"] == pytest.approx(notional / value, rel=1e-9)
        assert row["realised_costs"] == pytest.approx(
            done["commission"].sum() + done["slippage"].sum(), rel=1e-9
        )
        # the slippage is recovered from the rate (q · p_f · s / (1 ± s)); against the
        # fill bar's close it is exact up to the ledger's micro-unit rounding of p_f
        reference = closes.loc[after].loc[list(done["symbol"])].to_numpy()
        slipped = (done["quantity"] * (done["price"] - reference).abs()).sum()
        assert abs(done["slippage"].sum() - slipped) <= 0.5e-6 * done["quantity"].sum() + 1e-9
        assert row["realised_costs"] > 0


def _failing_third_solve(monkeypatch: pytest.MonkeyPatch) -> None:
    """The score policy's third solve raises the error a solver's time limit would."""
    real = policy_module.allocate  # type: ignore[attr-defined]
    calls = {"n": 0}

    def allocate(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 3:
            raise SolverError("cbc stopped at its time limit without a solution (injected)")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(policy_module, "allocate", allocate)


def test_on_solver_failure_holds_or_stops(
    prices: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("ortools")
    _failing_third_solve(monkeypatch)
    runs = tmp_path / "runs"
    run = run_cli(capsys, "backtest", "--prices", str(prices), *SEED, "--out", str(runs))
    assert run.code == 0, run.stderr
    assert "1 not solved (positions held)" in run.stdout
    folder = _folder(runs)
    table = pd.read_csv(folder / "rebalances.csv", parse_dates=["date"], keep_default_na=False)
    failed = table.iloc[2]
    assert failed["status"] == "error" and "injected" in failed["message"]
    assert (table["status"] != "error").sum() == len(table) - 1
    closes = pd.read_csv(prices, index_col="date", parse_dates=True)
    after = _next_session(closes, failed["date"])
    fills = pd.read_csv(folder / "fills.csv", parse_dates=["date"])
    assert not (fills["date"] == after).any()  # held: nothing traded
    assert failed["realised_turnover"] == 0.0

    _failing_third_solve(monkeypatch)
    stop = run_cli(
        capsys, "backtest", "--prices", str(prices), *SEED,
        "--on-solver-failure", "stop", "--no-record",
    )  # fmt: skip
    assert stop.code == 1
    lines = stop.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: rebalance of ")
    assert f"{failed['date'].date()} not solved (error:" in lines[0]


_cli = run_module_cli


def test_paper_session_records_the_backtests_rebalances(prices: Path, tmp_path: Path) -> None:
    pytest.importorskip("ortools")
    run = _cli("backtest", "--prices", str(prices), *SEED, *COSTS, "--no-png", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    folder = _folder(tmp_path / "runs")
    rebalances = pd.read_csv(folder / "rebalances.csv", keep_default_na=False)
    weights = pd.read_csv(folder / "weights.csv", index_col="date")
    live_runs = tmp_path / "live-runs"
    live = _cli(
        "live", "--paper", "--prices", str(prices), "--db", str(tmp_path / "paper.db"),
        *SEED, *COSTS, "--out", str(live_runs), "--no-png", "--format", "json", cwd=tmp_path,
    )  # fmt: skip
    assert live.returncode == 0, live.stderr
    live_folder = _folder(live_runs)
    live_rebalances = pd.read_csv(live_folder / "rebalances.csv", keep_default_na=False)
    same = [c for c in rebalances.columns if c != "seconds"]
    pd.testing.assert_frame_equal(
        live_rebalances[same], rebalances[same], check_exact=False, rtol=1e-9, atol=1e-9
    )
    live_weights = pd.read_csv(live_folder / "weights.csv", index_col="date")
    pd.testing.assert_frame_equal(live_weights, weights, check_exact=False, rtol=1e-12)
    fills = pd.read_csv(folder / "fills.csv")
    positions = {p["symbol"]: p["quantity"] for p in json.loads(live.stdout)["positions"]}
    assert positions == _held(fills)
