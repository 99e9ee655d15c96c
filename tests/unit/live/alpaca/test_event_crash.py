"""Crash test of an event-driven strategy on the polled feed, against the fake Alpaca.

A user's event-driven strategy (`examples/strategies/reentry.py`: trend following with a
cooling-off period after each stop-out, stateful) trades a polled session (`--feed
broker`: Alpaca's market data, one bar per new session) with a protective stop and a
take-profit on every entry, one native OCO order each. Each session is processed by a
forked child that SIGKILLs itself at a seeded point (the trader's durable steps: plan
journaled, before / after each submit, outcomes recorded, exits journaled, bar finished)
and is restarted until it finishes the session; between sessions the fake venue trades
the next day's prices, so stops and take-profits fill while the trader is down.

The oracle is the venue's order list: every order the journal holds reached the venue at
most once (the fake refuses a second independent sell of the same shares, and unique
client ids), the venue holds no order the journal does not know, and no fill is
forgotten (each order's fill, the positions and the cash agree). Kills land while
protective orders are open at the venue, and legs fill while the trader is down.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("alpaca", reason="needs the alpaca extra: pip install 'tradefolio[alpaca]'")

from support.fake_alpaca import KEY, SECRET, FakeAlpaca
from tradefolio.backtest.user_strategy import load_strategy_class
from tradefolio.execution.orders import ProtectiveExits
from tradefolio.live.alpaca import AlpacaMarketData, create_data_client
from tradefolio.live.journal import Journal
from tradefolio.live.orders import OrderRequest, OrderStatus
from tradefolio.live.polling_feed import PollingFeed
from tradefolio.live.strategy import RollingEventSource
from tradefolio.live.trader import Checkpoint, LiveTrader
from unit.live.live_helpers import WeightSizer, fake_broker, gbm_prices, live_cli, run_killable

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

EXAMPLES = Path(__file__).resolve().parents[4] / "examples" / "strategies"
EXITS = ProtectiveExits(stop_loss=0.03, take_profit=0.05)
SYMBOLS = ["S0", "S1", "S2"]
CASH = Decimal(100_000)
POINTS = (
    "after_plan",
    "before_submit",
    "in_submit_batch",
    "after_submit",
    "in_record_batch",
    "after_record",
    "after_protect_journal",
    "after_bar",
)
#: Points passed at most once a bar (the others: once per order).
ONCE_A_BAR = ("after_plan", "after_protect_journal", "after_bar")
HISTORY = 30  # sessions of history each polled bar carries
WARM = 35  # sessions the fake knows before the live ones


@pytest.fixture
def fake() -> Iterator[FakeAlpaca]:
    with FakeAlpaca(cash=CASH) as server:
        yield server


def _row(prices: pd.DataFrame, i: int) -> dict[str, Decimal]:
    return {str(s): Decimal(repr(float(v))) for s, v in prices.iloc[i].items()}


def _day(prices: pd.DataFrame, i: int) -> date:
    return pd.Timestamp(prices.index[i]).date()


def _strategy() -> object:
    cls = load_strategy_class(f"{EXAMPLES}/reentry.py:ReEntryAfterStop")
    return cls(sma=10, cooldown=3)


def _child(fake: FakeAlpaca, path: Path, kill_at: tuple[str, int] | None) -> int:
    """Process (or resume) the latest session in a forked child; its exit status (-9 when
    killed)."""

    def session(checkpoint: Checkpoint) -> None:
        journal = Journal.open(path)
        journal.initialise(CASH, {"test": True})
        client = create_data_client(KEY, SECRET, url_override=fake.url, timeout=2.0)
        data = AlpacaMarketData(client, read_retry_wait=0.0)
        trader = LiveTrader(
            journal=journal,
            broker=fake_broker(fake),
            strategy=RollingEventSource(_strategy(), SYMBOLS),  # type: ignore[arg-type]
            sizer=WeightSizer(0.2),
            exits=EXITS,
            checkpoint=checkpoint,
        )
        trader.reconcile()
        feed = PollingFeed(data, SYMBOLS, history_sessions=HISTORY, poll_interval=0.01)
        deadline = time.monotonic() + 20
        bars = feed.bars(
            journal.last_done_bar(), stop=lambda: time.monotonic() > deadline, max_bars=1
        )
        trader.run(bars)
        journal.close()

    return run_killable(session, kill_at)


def _last_done(path: Path) -> str | None:
    if not path.exists():
        return None
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return db.execute("SELECT max(bar) FROM bars WHERE done_at IS NOT NULL").fetchone()[0]


def _open_protective(fake: FakeAlpaca) -> int:
    return sum(1 for o in fake.orders.values() if o.open and o.side == "sell")


def _check_against_venue(fake: FakeAlpaca, path: Path) -> None:
    """The oracle: the venue's order list against the journal."""
    journal = Journal.open(path)
    try:
        broker = fake_broker(fake)
        # A fresh adapter, as after a restart: reconciliation re-learns the native groups
        # and raises on any venue order the journal does not know, any position or cash
        # difference.
        trader = LiveTrader(
            journal=journal, broker=broker, strategy=RollingEventSource(_strategy(), SYMBOLS),  # type: ignore[arg-type]
            sizer=WeightSizer(0.2), exits=EXITS,
        )  # fmt: skip
        report = trader.reconcile()
        assert report.ok, report.differences
        groups: dict[str, list[OrderRequest]] = {}
        for order in journal.all_orders():
            if order.oco_group is not None:
                groups.setdefault(order.oco_group, []).append(order.request())
        for members in groups.values():  # finished groups too (the trader needs only open ones)
            broker.track(members)
        venue_ids: list[str] = []
        for order in journal.all_orders():
            remote = broker.get_order(order.client_order_id)
            if remote is None:
                assert order.status in (OrderStatus.DENIED, OrderStatus.CANCELED), order
                assert not order.filled_quantity
                continue
            venue_ids.append(remote.broker_order_id)
            assert (remote.status, remote.filled_quantity) == (
                order.status,
                order.filled_quantity,
            ), order.client_order_id
        # Every order at the venue is one journal order, once.
        assert len(venue_ids) == len(set(venue_ids))
        assert sorted(venue_ids) == sorted(fake.orders), "the venue holds an order twice"
        assert {s: q for s, (q, _) in fake.positions.items()} == {
            s: p.quantity for s, p in journal.positions().items()
        }
        assert journal.cash() == fake.cash
    finally:
        journal.close()


def test_sigkill_of_an_event_driven_polled_session_loses_and_doubles_nothing(
    fake: FakeAlpaca, tmp_path: Path
) -> None:
    prices = gbm_prices(3, WARM + 30, seed=21)
    fake.add_history(prices.iloc[:WARM])
    path = tmp_path / "crashed.db"
    rng = np.random.default_rng(21)
    kills = 0
    killed_at: set[str] = set()
    open_at_kill = 0
    for i in range(WARM, len(prices)):
        fake.trade_session(_day(prices, i), _row(prices, i))  # fills while the trader is down
        for _ in range(len(POINTS)):
            # The points in turn: one that this session never reaches (no order to send)
            # is tried again on the next.
            point = POINTS[kills % len(POINTS)]
            nth = 1 if point in ONCE_A_BAR else int(rng.integers(1, 3))
            protective = _open_protective(fake)
            status = _child(fake, path, (point, nth))
            assert status in (0, -signal.SIGKILL), f"the child failed with status {status}"
            if status == -signal.SIGKILL:
                kills += 1
                killed_at.add(point)
                open_at_kill += protective > 0
            if _last_done(path) == _day(prices, i).isoformat():
                break
        else:
            assert _child(fake, path, None) == 0
            assert _last_done(path) == _day(prices, i).isoformat()
        if i % 10 == 0:
            _check_against_venue(fake, path)
    _check_against_venue(fake, path)
    assert kills >= 16 and killed_at == set(POINTS), (kills, killed_at)
    assert open_at_kill >= 5, "no kill while protective orders were open"
    legs = [o for o in fake.orders.values() if o.order_class == "oco"]
    assert any(o.status == "filled" for o in legs), "no protective exit ever filled"
    assert any(o.status == "canceled" for o in legs)


def test_the_cli_runs_a_users_event_driven_strategy_on_the_broker_feed(
    fake: FakeAlpaca, tmp_path: Path
) -> None:
    """`--strategy file.py:Class` with `--feed broker` (refused before): it trades the fake's
    sessions with native OCO exits, and a second run resumes after the last session."""
    prices = gbm_prices(3, WARM + 3, seed=22)
    fake.add_history(prices.iloc[:WARM])
    fake.trade_session(_day(prices, WARM), _row(prices, WARM))
    env = {
        "APCA_API_KEY_ID": KEY,
        "APCA_API_SECRET_KEY": SECRET,
        "APCA_API_BASE_URL": fake.url,
        "APCA_API_DATA_URL": fake.url,
    }
    args = [
        "--broker", "alpaca", "--feed", "broker", "--symbols", ",".join(SYMBOLS),
        "--strategy", f"{EXAMPLES}/reentry.py:ReEntryAfterStop", "--param", "sma=10",
        "--sizer", "weight", "--weight", "0.2", "--stop-loss", "0.03", "--take-profit", "0.05",
        "--history-sessions", "5", "--poll-interval", "0.05", "--sessions", "1",
        "--db", str(tmp_path / "j.db"), "--no-record", "--format", "json",
    ]  # fmt: skip
    short = live_cli(args, env)
    assert short.returncode == 2, short.stderr
    assert "--history-sessions must be >= 10" in short.stderr
    args[args.index("--history-sessions") + 1] = str(HISTORY)
    done = live_cli(args, env)
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    assert status["last_bar"] == _day(prices, WARM).isoformat()
    assert {p["symbol"] for p in status["positions"]} == set(fake.positions)
    groups = [b for m, _, b in fake.bodies if m == "POST" and b.get("order_class") == "oco"]
    assert len(groups) == len(fake.positions) >= 1  # every entry protected by one native OCO
    fake.trade_session(_day(prices, WARM + 1), _row(prices, WARM + 1))
    again = live_cli(args, env)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["last_bar"] == _day(prices, WARM + 1).isoformat()
    assert set(fake.post_attempts.values()) == {1}
