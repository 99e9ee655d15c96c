"""`AlpacaMarketData` and the polled Alpaca session against the loopback fake (offline)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("alpaca", reason="needs the alpaca extra: pip install 'tradefolio[alpaca]'")

from support.fake_alpaca import BARS, KEY, LATEST_BARS, SECRET, FakeAlpaca
from tradefolio.errors import BrokerError
from tradefolio.live.alpaca import (
    AlpacaBroker,
    AlpacaMarketData,
    create_data_client,
    create_trading_client,
)
from tradefolio.live.alpaca.data import session_of
from tradefolio.live.feed import ReplayFeed
from tradefolio.live.journal import Journal
from tradefolio.live.paper import PaperBroker
from tradefolio.live.polling_feed import MarketData, MarketDataUnavailable, PollingFeed
from tradefolio.live.trader import LiveTrader
from unit.live.live_helpers import WeightSizer, gbm_prices, sma_cross

TIMEOUT = 0.3


def _row(prices: pd.DataFrame, i: int) -> dict[str, Decimal]:
    return {str(s): Decimal(repr(float(v))) for s, v in prices.iloc[i].items()}


def _day(prices: pd.DataFrame, i: int) -> date:
    return pd.Timestamp(prices.index[i]).date()


@pytest.fixture
def fake() -> Iterator[FakeAlpaca]:
    with FakeAlpaca() as server:
        yield server


def _data(fake: FakeAlpaca, **options: object) -> AlpacaMarketData:
    client = create_data_client(KEY, SECRET, url_override=fake.url, timeout=TIMEOUT)
    options.setdefault("read_retry_wait", 0.0)
    return AlpacaMarketData(client, **options)  # type: ignore[arg-type]


def test_latest_and_daily_closes_round_trip_with_paging(fake: FakeAlpaca) -> None:
    prices = gbm_prices(3, 60, seed=4)
    fake.add_history(prices.iloc[:-1])
    fake.trade_session(_day(prices, -1), _row(prices, -1))
    fake.data_page_limit = 17  # the SDK follows next_page_token across pages
    data = _data(fake)
    assert isinstance(data, MarketData)
    latest = data.latest_closes(["S0", "S1", "S2", "NOPE"])
    assert latest is not None
    assert latest.session == _day(prices, -1) and latest.prices == _row(prices, -1)
    history = data.daily_closes(["S2", "S0"], _day(prices, -1), 30)
    pd.testing.assert_frame_equal(
        history,
        prices[["S2", "S0"]].iloc[-31:-1],
        check_freq=False,
        check_names=False,
        check_index_type=False,
    )
    assert sum(1 for _, path in fake.requests if path == "/v2/stocks/bars") > 3
    assert data.latest_closes(["NOPE"]) is None


def test_sessions_are_new_york_dates() -> None:
    assert session_of(datetime(2026, 11, 27, 5, 0, tzinfo=UTC)) == date(2026, 11, 27)
    assert session_of(datetime(2026, 11, 28, 0, 30, tzinfo=UTC)) == date(2026, 11, 27)
    with pytest.raises(BrokerError, match="time zone"):
        session_of(datetime(2026, 11, 27, 5, 0))


def test_a_stale_symbol_is_left_out(fake: FakeAlpaca) -> None:
    fake.trade_session(date(2026, 11, 25), {"AAA": Decimal("10.5"), "BBB": Decimal(20)})
    fake.trade_session(date(2026, 11, 27), {"AAA": Decimal("11.25")})  # BBB halted
    latest = _data(fake).latest_closes(["AAA", "BBB"])
    assert latest is not None and latest.session == date(2026, 11, 27)
    assert latest.prices == {"AAA": Decimal("11.25")}


def test_faults_retry_then_unavailable_and_refused_keys(fake: FakeAlpaca) -> None:
    fake.trade_session(date(2026, 11, 27), {"AAA": Decimal(10)})
    fake.inject(LATEST_BARS, 503)
    fake.inject(LATEST_BARS, 429)
    sleeps: list[float] = []
    data = _data(fake, read_retries=2, read_retry_wait=0.25, sleep=sleeps.append)
    assert data.latest_closes(["AAA"]) is not None
    assert sleeps == [0.25, 0.5]
    fake.inject(BARS, 500, times=3)
    with pytest.raises(MarketDataUnavailable, match="HTTP 500"):
        data.daily_closes(["AAA"], date(2026, 11, 28), 5)
    fake.inject(LATEST_BARS, delay=3 * TIMEOUT, times=3)  # slower than the timeout
    started = time.monotonic()
    with pytest.raises(MarketDataUnavailable):
        data.latest_closes(["AAA"])
    assert time.monotonic() - started < 9 * TIMEOUT
    fake.wait_idle()
    client = create_data_client("bad-key", "bad-secret", url_override=fake.url)
    with pytest.raises(BrokerError, match="refused") as info:
        AlpacaMarketData(client).latest_closes(["AAA"])
    assert "bad-secret" not in str(info.value)
    with pytest.raises(BrokerError, match="data-feed"):
        AlpacaMarketData(client, feed="nasdaq")
    with pytest.raises(BrokerError, match="https"):
        AlpacaMarketData.from_env(
            environ={
                "APCA_API_KEY_ID": "k",
                "APCA_API_SECRET_KEY": "s",
                "APCA_API_DATA_URL": "http://example.com",
            }
        )


def test_polled_alpaca_session_equals_the_paper_replay(fake: FakeAlpaca, tmp_path: Path) -> None:
    prices = gbm_prices(3, 70, seed=8)
    cash = Decimal(100_000)
    paper_journal = Journal.open(tmp_path / "paper.db")
    paper_journal.initialise(cash, {})
    paper = PaperBroker(paper_journal.connection, cash)
    LiveTrader(
        journal=paper_journal,
        broker=paper,
        strategy=sma_cross(5, 15),
        sizer=WeightSizer(0.2),
        market=paper,
    ).run(ReplayFeed(prices).bars())
    expected = [(f.symbol, f.side, f.quantity, f.price) for f in paper_journal.fills()]
    assert len(expected) >= 6

    # A new session opens every 100 fake seconds; the feed polls every 30.
    fake.cash = cash
    fake.trade_session(_day(prices, 0), _row(prices, 0))
    now = [0.0]
    opened = [0]

    def sleep(seconds: float) -> None:
        now[0] += seconds
        while opened[0] + 1 < len(prices) and now[0] >= 100 * (opened[0] + 1):
            opened[0] += 1
            fake.trade_session(_day(prices, opened[0]), _row(prices, opened[0]))

    journal = Journal.open(tmp_path / "alpaca.db")
    journal.initialise(cash, {})
    broker = AlpacaBroker(
        create_trading_client(KEY, SECRET, url_override=fake.url, timeout=TIMEOUT),
        read_retry_wait=0.0,
    )
    trader = LiveTrader(
        journal=journal, broker=broker, strategy=sma_cross(5, 15), sizer=WeightSizer(0.2)
    )
    feed = PollingFeed(
        _data(fake),
        list(prices.columns),
        history_sessions=200,
        poll_interval=30.0,
        clock=lambda: now[0],
        sleep=sleep,
    )
    trader.reconcile()
    assert trader.run(feed.bars(max_bars=len(prices))) == len(prices)
    assert [(f.symbol, f.side, f.quantity, f.price) for f in journal.fills()] == expected
    assert journal.cash() == paper_journal.cash() == fake.cash
    assert set(fake.post_attempts.values()) == {1}
    assert trader.reconcile().ok
    journal.close()
    paper_journal.close()


# -- CLI ----------------------------------------------------------------------------------------


def _env(fake: FakeAlpaca) -> dict[str, str]:
    return {
        **os.environ,
        "APCA_API_KEY_ID": KEY,
        "APCA_API_SECRET_KEY": SECRET,
        "APCA_API_BASE_URL": fake.url,
        "APCA_API_DATA_URL": fake.url,
    }


SESSION = [
    "--broker", "alpaca", "--feed", "broker", "--symbols", "S0,S1,S2",
    "--strategy", "sma-cross", "--fast", "5", "--slow", "15", "--sizer", "weight",
    "--weight", "0.2", "--history-sessions", "60", "--poll-interval", "0.05",
    "--no-record", "--format", "json",
]  # fmt: skip


def _live(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tradefolio", "live", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def _done_bars(db: Path) -> list[str]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        rows = connection.execute("SELECT bar FROM bars WHERE done_at IS NOT NULL ORDER BY bar")
        return [row[0] for row in rows]


def test_cli_polled_session_resumes_and_stops_on_sigterm(fake: FakeAlpaca, tmp_path: Path) -> None:
    prices = gbm_prices(3, 80, seed=6)
    fake.add_history(prices.iloc[:-3])
    fake.cash = Decimal(50_000)
    fake.account_number = "512345678"  # a live account: the session runs --live-account
    fake.trade_session(_day(prices, -3), _row(prices, -3))
    env = _env(fake)
    db = tmp_path / "real.db"

    refused = _live([*SESSION[:4], "--db", str(db)], env)  # --feed broker without --symbols
    assert refused.returncode == 2 and "--symbols" in refused.stderr
    assert not db.exists()

    done = _live([*SESSION, "--db", str(db), "--sessions", "1", "--live-account"], env)
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    assert status["last_bar"] == _day(prices, -3).isoformat()
    assert {p["symbol"]: Decimal(str(p["quantity"])) for p in status["positions"]} == {
        s: q for s, (q, _) in fake.positions.items()
    }
    assert SECRET not in done.stderr + done.stdout

    # Running again waits for the next session (the last one is done), processes it once,
    # and stops cleanly on SIGTERM.
    process = subprocess.Popen(
        [sys.executable, "-m", "tradefolio", "live", *SESSION, "--db", str(db), "--live-account"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        polls = sum(1 for _, path in fake.requests if path == "/v2/stocks/bars/latest")
        while sum(1 for _, p in fake.requests if p == "/v2/stocks/bars/latest") < polls + 3:
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.05)
        assert _done_bars(db) == [_day(prices, -3).isoformat()]  # nothing emitted twice
        for i in (-2, -1):
            fake.trade_session(_day(prices, i), _row(prices, i))
            while _day(prices, i).isoformat() not in _done_bars(db):
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert json.loads(out)["last_bar"] == _day(prices, -1).isoformat()
    assert _done_bars(db) == [_day(prices, i).isoformat() for i in (-3, -2, -1)]
    with sqlite3.connect(db) as connection:
        ends = [r[0] for r in connection.execute("SELECT end_reason FROM runs ORDER BY run_no")]
    assert ends == ["1 sessions done", "stopped"]
    assert len(fake.client_ids()) == len(set(fake.client_ids()))
    assert set(fake.post_attempts.values()) <= {1}
