"""`LiveSession`: the checks of `tradefolio live` in order, a session run in-process equal
to the CLI's, a resume refused on other settings before anything is traded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tradefolio.api.live import live_session
from tradefolio.errors import BrokerError, InvalidParameter
from tradefolio.live.alpaca import KEY_ENV, SECRET_ENV
from tradefolio.live.journal import Journal
from tradefolio.live.session import SessionOptions

STRATEGY = {
    "strategy": "sma-cross",
    "fast": 5,
    "slow": 15,
    "sizer": "weight",
    "weight": 0.25,
    "cash": 100_000.0,
    "commission_bps": 5.0,
}


class Recorded:
    """`SessionMessages` that keeps every line, by kind."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def info(self, text: str) -> None:
        self.lines.append(("info", text))

    def warning(self, text: str) -> None:
        self.lines.append(("warning", text))

    def event(self, text: str) -> None:
        self.lines.append(("event", text))


def _without_clock(payload: dict[str, Any]) -> dict[str, Any]:
    """The status payload without the reconciliation's timestamp (a wall-clock time)."""
    return {**payload, "last_reconciliation": {**payload["last_reconciliation"], "at": None}}


def _prices(path: Path, n_bars: int = 80) -> Path:
    rng = np.random.default_rng(11)
    closes = np.round(40 * np.exp(np.cumsum(rng.normal(0.0005, 0.02, (n_bars, 3)), axis=0)), 2)
    index = pd.bdate_range("2021-01-04", periods=n_bars, name="date")
    pd.DataFrame(closes, index=index, columns=["AAA", "BBB", "CCC"]).to_csv(path)
    return path


@pytest.mark.parametrize(
    ("options", "message"),
    [
        # several flags wrong at once: the first check in the command's order speaks
        (SessionOptions(broker="ibkr", feed="tape"), "--broker must be paper or alpaca"),
        (SessionOptions(feed="tape", cash_tolerance=-1), "--cash-tolerance must be >= 0"),
        (SessionOptions(feed="broker", symbols="A,A"), "--feed broker needs --broker alpaca"),
        (SessionOptions(symbols="AAA", sessions=2), "--symbols needs --feed broker"),
        (SessionOptions(sessions=2), "--sessions needs --feed broker"),
    ],
)
def test_checks_speak_in_the_commands_order(options: SessionOptions, message: str) -> None:
    with pytest.raises(InvalidParameter, match="^" + message):
        options.check()


def test_polled_feed_refuses_beta_sizing_and_a_symbol_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    polled = SessionOptions(broker="alpaca", feed="broker", symbols="AAA,BBB")
    with pytest.raises(InvalidParameter, match="--beta-sizing is not available"):
        polled.check(beta_sizing=True)
    twice = SessionOptions(broker="alpaca", feed="broker", symbols="AAA, AAA")
    with pytest.raises(InvalidParameter, match="lists a symbol twice"):
        twice.check()


def test_missing_alpaca_keys_write_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.setenv(SECRET_ENV, "secret")
    db = tmp_path / "never.db"
    with pytest.raises(BrokerError, match=KEY_ENV):
        live_session(SessionOptions(broker="alpaca", db=db), Recorded(), **STRATEGY)
    assert not db.exists()


def test_a_bad_strategy_option_after_the_session_checks_writes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "never.db"
    with pytest.raises(InvalidParameter, match="--fast"):
        live_session(SessionOptions(db=db), Recorded(), **{**STRATEGY, "fast": 30})
    with pytest.raises(InvalidParameter, match="max_daily_loss_pct"):
        live_session(SessionOptions(db=db, max_daily_loss=1.5), Recorded(), **STRATEGY)
    assert not db.exists()


def test_session_in_process_is_the_cli_session(tmp_path: Path) -> None:
    prices = _prices(tmp_path / "p.csv")
    messages = Recorded()
    db = tmp_path / "api.db"
    payload = live_session(SessionOptions(prices_file=prices, db=db), messages, **STRATEGY).run()
    cli_db = tmp_path / "cli.db"
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in STRATEGY.items()]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tradefolio",
            "live",
            "--paper",
            "--prices",
            str(prices),
            "--db",
            str(cli_db),
            "--no-record",
            "--format",
            "json",
            *flags,
        ],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert _without_clock(json.loads(done.stdout)) == _without_clock(payload)
    assert payload["positions"] or payload["equity"] != 100_000.0  # it traded
    assert ("info", f"processed 80 bars after the start; session in {db}") in messages.lines

    def fills(path: Path) -> list[tuple[object, ...]]:
        journal = Journal.open(path, writer=False)
        try:
            return [(f.symbol, f.side, f.quantity, f.price, f.commission) for f in journal.fills()]
        finally:
            journal.close()

    assert fills(db) == fills(cli_db) and fills(db)


def test_resume_with_other_settings_is_refused_and_the_same_resumes(tmp_path: Path) -> None:
    prices = _prices(tmp_path / "p.csv")
    db = tmp_path / "s.db"
    first = live_session(SessionOptions(prices_file=prices, db=db), Recorded(), **STRATEGY).run()
    with pytest.raises(InvalidParameter, match=r"other settings: .*weight"):
        live_session(
            SessionOptions(prices_file=prices, db=db), Recorded(), **{**STRATEGY, "weight": 0.5}
        ).run()
    again = Recorded()
    resumed = live_session(SessionOptions(prices_file=prices, db=db), again, **STRATEGY).run()
    assert _without_clock(resumed) == _without_clock(first)
    assert any(text.startswith("processed 0 bars after 2021-") for _, text in again.lines)
