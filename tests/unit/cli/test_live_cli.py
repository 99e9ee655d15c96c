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

    assert _cli("live", "halt", "--db", str(crashed)).returncode == 0
    assert (
        json.loads(_cli("live", "status", "--db", str(crashed), "--format", "json").stdout)["state"]
        == "HALTED"
    )
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
