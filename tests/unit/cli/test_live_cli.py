from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tradefolio.live.journal import SCHEMA_VERSION


def _prices(path: Path, n_bars: int = 150, seed: int = 4) -> Path:
    rng = np.random.default_rng(seed)
    closes = np.round(40 * np.exp(np.cumsum(rng.normal(0.0005, 0.02, (n_bars, 3)), axis=0)), 2)
    index = pd.bdate_range("2021-01-04", periods=n_bars, name="date")
    pd.DataFrame(closes, index=index, columns=["AAA", "BBB", "CCC"]).to_csv(path)
    return path


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tradefolio", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


SESSION = (
    "--strategy",
    "sma-cross",
    "--fast",
    "5",
    "--slow",
    "15",
    "--sizer",
    "weight",
    "--weight",
    "0.25",
    "--cash",
    "100000",
    "--commission-bps",
    "5",
)


def test_paper_session_status_halt_resume_and_crash_resume(tmp_path: Path) -> None:
    prices = _prices(tmp_path / "p.csv")
    clean = tmp_path / "clean.db"
    done = _cli(
        "live", "--paper", "--prices", str(prices), "--db", str(clean), *SESSION, "--format", "json"
    )
    assert done.returncode == 0, done.stderr
    expected = json.loads(done.stdout)
    assert set(expected) >= {"state", "cash", "equity", "positions", "open_orders", "last_bar"}
    assert expected["last_bar"] == "2021-07-30" and expected["state"] == "ACTIVE"
    assert expected["positions"] and expected["open_orders"] == []

    crashed = tmp_path / "crashed.db"
    killed = 0
    for point in ("after_plan:2", "after_submit:3", "before_submit:5", "after_bar:60"):
        run = _cli(
            "live",
            "--paper",
            "--prices",
            str(prices),
            "--db",
            str(crashed),
            *SESSION,
            env={"TRADEFOLIO_CRASH_AT": point},
        )
        assert run.returncode == -signal.SIGKILL, run.stderr
        killed += 1
    final = _cli("live", "--paper", "--prices", str(prices), "--db", str(crashed), *SESSION)
    assert final.returncode == 0, final.stderr
    status = _cli("live", "status", "--db", str(crashed), "--format", "json")
    got = json.loads(status.stdout)
    for key in ("cash", "equity", "positions", "last_bar", "open_orders"):
        assert got[key] == expected[key], key
    assert killed == 4

    assert _cli("live", "halt", "--db", str(crashed), "--reason", "broker outage").returncode == 0
    assert (
        json.loads(_cli("live", "status", "--db", str(crashed), "--format", "json").stdout)["state"]
        == "HALTED"
    )
    # The table says why orders are stopped, not only that they are.
    assert "state HALTED (broker outage);" in _cli("live", "status", "--db", str(crashed)).stdout
    assert _cli("live", "resume", "--db", str(crashed)).returncode == 0
    table = _cli("live", "status", "--db", str(crashed))
    assert "state ACTIVE" in table.stdout


@pytest.mark.parametrize(
    ("args", "env", "message", "code"),
    [
        (
            ("live", "--broker", "alpaca"),
            {"APCA_API_KEY_ID": "", "APCA_API_SECRET_KEY": ""},
            "APCA_API_KEY_ID",
            1,
        ),
        (("live", "--paper", "--fast", "50", "--slow", "20"), {}, "error:", 2),
        (("live", "status"), {}, "no journal", 2),
    ],
)
def test_bad_input_one_line_nothing_written(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], message: str, code: int
) -> None:
    db = tmp_path / "never.db"
    run = _cli(*args, "--db", str(db), env=env)
    assert run.returncode == code
    assert message in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert not db.exists()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "future.db"
    connection = sqlite3.connect(db)
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    connection.close()
    before = db.read_bytes()
    run = _cli("live", "--paper", "--db", str(db))
    assert run.returncode == 1 and "newer" in run.stderr
    assert db.read_bytes() == before


def _positions_from_fills(fills: list[dict[str, Any]]) -> dict[str, float]:
    held: dict[str, float] = {}
    for fill in fills:
        signed = float(fill["quantity"]) * (1 if fill["side"] == "buy" else -1)
        held[fill["symbol"]] = held.get(fill["symbol"], 0.0) + signed
    return {symbol: quantity for symbol, quantity in held.items() if quantity}


def test_live_paper_portfolio_ends_with_the_backtest_positions(tmp_path: Path) -> None:
    """Issue 6's done-when: `live --paper --portfolio` on the sample's bars ends with the
    positions (and equity) of `backtest --portfolio` over the same bars."""
    pytest.importorskip("ortools")
    from tradefolio.data.sample_data import load_sample_prices

    prices = tmp_path / "sample_tail.csv"
    load_sample_prices().iloc[-400:].to_csv(prices, index_label="date")
    model = ("--portfolio", "--max-positions", "4", "--rebalance", "21", "--lookback", "60")
    backtest = _cli("backtest", "--prices", str(prices), *model, "--format", "json", "--no-record")
    assert backtest.returncode == 0, backtest.stderr
    expected = json.loads(backtest.stdout)
    db = tmp_path / "paper.db"
    live = _cli("live", "--paper", "--prices", str(prices), "--db", str(db), *model, "--no-record")
    assert live.returncode == 0, live.stderr
    status = _cli("live", "status", "--db", str(db), "--format", "json")
    assert status.returncode == 0, status.stderr
    state = json.loads(status.stdout)
    positions = {p["symbol"]: float(p["quantity"]) for p in state["positions"]}
    assert positions == _positions_from_fills(expected["fills"])
    assert len(positions) >= 2
    assert state["equity"] == pytest.approx(expected["final_equity"], abs=0.01)


# -- issue 13, phase 2 (issue 17's live items) ----------------------------------------------


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _bad_inputs(tmp: Path) -> list[tuple[list[str], str]]:
    """(arguments, fragment of the one error line) of `live` runs that must exit 2."""
    one_row = _write(tmp / "one.csv", "date,AAA\n2024-01-02,10\n")
    folder = tmp / "folder.db"
    folder.mkdir()
    empty = _write(tmp / "empty.db", "")
    text = _write(tmp / "text.db", "not a database at all, just text\n" * 200)
    foreign = tmp / "foreign.db"
    connection = sqlite3.connect(foreign)
    connection.execute("CREATE TABLE notes(body TEXT)")
    connection.commit()
    connection.close()
    return [
        (["--prices", str(one_row)], "at least 2 sessions"),
        (["--db", str(folder)], "is a directory"),
        (["--db", str(empty)], "empty file"),
        (["--db", str(text)], "damaged or not an SQLite file"),
        (["--db", str(foreign)], "not a tradefolio journal"),
        (["--db", str(tmp / "no" / "such" / "j.db")], "does not exist"),
        (["--broker", "ibkr"], "--broker must be paper or alpaca"),
        (["--feed", "tape"], "--feed must be replay or broker"),
        (["--live-account"], "--live-account"),
        (["--symbols", "AAA"], "--symbols needs --feed broker"),
        (["--sessions", "2"], "--sessions needs --feed broker"),
        (["--speed", "0"], "--speed must be > 0"),
        (["--cash-tolerance", "-1"], "--cash-tolerance must be >= 0"),
        (["--fast", "30", "--slow", "10"], "error:"),
        (["--max-daily-loss", "1.5"], "max_daily_loss_pct must be in (0, 1]"),
        (["--max-orders-per-minute", "0"], "max_orders_per_minute must be >= 1"),
        (["--format", "xml"], "xml"),
    ]


@pytest.mark.parametrize("case", range(17))
def test_live_bad_input_is_one_line_exit_2_nothing_written(tmp_path: Path, case: int) -> None:
    cases = _bad_inputs(tmp_path)
    assert len(cases) == 17
    args, fragment = cases[case]
    before = {p: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    db = ["--db", str(tmp_path / "never.db")] if "--db" not in args else []
    run = _cli("live", "--no-record", *db, *args, env={"TRADEFOLIO_RUNS_DIR": str(tmp_path)})
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2, run.stderr
    assert len(lines) == 1 and lines[0].startswith("error:"), run.stderr
    assert fragment in lines[0], lines[0]
    assert not (tmp_path / "never.db").exists()
    assert {p: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before


@pytest.mark.parametrize("command", ["status", "halt", "resume"])
def test_status_and_halt_on_an_empty_or_missing_journal(tmp_path: Path, command: str) -> None:
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    for db in (empty, tmp_path / "missing.db"):
        run = _cli("live", command, "--db", str(db))
        assert run.returncode == 2, run.stderr
        assert len(run.stderr.strip().splitlines()) == 1 and "Traceback" not in run.stderr
    assert empty.read_bytes() == b"" and not (tmp_path / "missing.db").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes read-only files anyway")
def test_a_read_only_journal_is_readable_but_not_traded(tmp_path: Path) -> None:
    prices = _prices(tmp_path / "p.csv", n_bars=40)
    db = tmp_path / "ro.db"
    assert (
        _cli("live", "--paper", "--prices", str(prices), "--db", str(db), *SESSION).returncode == 0
    )
    db.chmod(0o400)
    status = _cli("live", "status", "--db", str(db), "--format", "json")
    assert status.returncode == 0, status.stderr
    run = _cli("live", "--paper", "--prices", str(prices), "--db", str(db), *SESSION)
    assert run.returncode == 2 and "read-only" in run.stderr
    assert "not a tradefolio journal" not in run.stderr


def test_resuming_with_other_settings_is_refused_naming_them(tmp_path: Path) -> None:
    prices = _prices(tmp_path / "p.csv", n_bars=60)
    db = tmp_path / "s.db"
    base = ["live", "--paper", "--db", str(db), "--no-record"]
    first = _cli(*base, "--prices", str(prices), *SESSION)
    assert first.returncode == 0, first.stderr
    before = db.read_bytes()
    grown = _prices(tmp_path / "grown.csv", n_bars=80)  # the same closes, more sessions
    changed = pd.read_csv(grown, index_col="date")
    changed.iloc[5, 0] += 1.0
    changed.to_csv(tmp_path / "changed.csv")
    swaps = [
        ((*SESSION[:3], "6", *SESSION[4:]), "fast 5 now 6"),
        ((*SESSION[:-4], "--cash", "5000", *SESSION[-2:]), "cash 100000.0 now 5000.0"),
        ((*SESSION[:6], "--sizer", "risk", *SESSION[8:]), "sizer 'weight' now 'risk'"),
        ((*SESSION[:-4], *SESSION[-4:], "--strategy", "momentum"), "strategy"),
    ]
    for options, fragment in swaps:
        run = _cli(*base, "--prices", str(prices), *options)
        assert run.returncode == 2 and fragment in run.stderr, run.stderr
        assert len(run.stderr.strip().splitlines()) == 1
    run = _cli(*base, "--prices", str(tmp_path / "changed.csv"), *SESSION)
    assert run.returncode == 2 and "prices" in run.stderr, run.stderr
    assert db.read_bytes() == before  # nothing written by a refused resume
    again = _cli(*base, "--prices", str(grown), *SESSION)  # a file that grew resumes
    assert again.returncode == 0, again.stderr


def test_live_and_status_print_csv(tmp_path: Path) -> None:
    import csv
    import io

    prices = _prices(tmp_path / "p.csv", n_bars=60)
    db = tmp_path / "c.db"
    run = _cli(
        "live", "--paper", "--prices", str(prices), "--db", str(db), "--no-record",
        *SESSION, "--format", "csv",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "live replay" not in run.stderr  # no progress bar when piped
    status = _cli("live", "status", "--db", str(db), "--format", "csv")
    assert status.stdout == run.stdout
    rows = list(csv.DictReader(io.StringIO(status.stdout)))
    payload = json.loads(_cli("live", "status", "--db", str(db), "--format", "json").stdout)
    (account,) = [r for r in rows if r["kind"] == "account"]
    assert float(account["cash"]) == payload["cash"] and account["state"] == "ACTIVE"
    positions = {r["symbol"]: float(r["quantity"]) for r in rows if r["kind"] == "position"}
    assert positions == {p["symbol"]: p["quantity"] for p in payload["positions"]}


def test_live_paper_cut_buys_trade_whole_lots(tmp_path: Path) -> None:
    """`--whole-shares --lot 10` on prices that rise every day (each fill dearer than the
    decision's price, so buys are cut to the cash): live --paper, through the same planner
    as the backtest, holds whole lots only and ends with the backtest's positions."""
    pytest.importorskip("ortools")
    from tradefolio.data.synthetic import gbm_prices

    prices = tmp_path / "rising.csv"
    gbm_prices(5, 100, seed=0, volatility=0.2, drift=3.0).to_csv(prices, index_label="date")
    model = (
        "--portfolio", "--objective", "mean-variance", "--risk-aversion", "5",
        "--lookback", "40", "--risk-lookback", "40", "--max-positions", "4",
        "--cost-bps", "5", "--fixed-cost", "1", "--min-trade", "500", "--min-invested",
        "0.995", "--max-weight", "0.5", "--whole-shares", "--lot", "10", "--cash", "100000",
    )  # fmt: skip
    backtest = _cli("backtest", "--prices", str(prices), *model, "--format", "json", "--no-record")
    assert backtest.returncode == 0, backtest.stderr
    fills = json.loads(backtest.stdout)["fills"]
    assert fills and all(float(f["quantity"]) % 10 == 0 for f in fills)
    db = tmp_path / "paper.db"
    live = _cli("live", "--paper", "--prices", str(prices), "--db", str(db), *model, "--no-record")
    assert live.returncode == 0, live.stderr
    status = _cli("live", "status", "--db", str(db), "--format", "json")
    assert status.returncode == 0, status.stderr
    positions = {p["symbol"]: float(p["quantity"]) for p in json.loads(status.stdout)["positions"]}
    assert positions == _positions_from_fills(fills)
    assert positions and all(q % 10 == 0 for q in positions.values())
