"""`AlpacaBroker` against the loopback fake Alpaca server (offline; alpaca-py does the HTTP)."""

from __future__ import annotations

import json
import logging
import socket
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

# The adapter is an optional extra; `make test` installs it so these run in CI.
pytest.importorskip("alpaca", reason="needs the alpaca extra: pip install 'tradefolio[alpaca]'")

import tradefolio.live.alpaca.execution as alpaca_execution
from support.fake_alpaca import (
    CANCEL,
    KEY,
    LIST,
    LOOKUP,
    POSITIONS,
    SECRET,
    SUBMIT,
    FakeAlpaca,
)
from tradefolio.data import load_sample
from tradefolio.errors import BrokerError, MissingExtra
from tradefolio.live.alpaca import AlpacaBroker, create_trading_client
from tradefolio.live.alpaca.execution import map_status
from tradefolio.live.broker import Broker, BrokerPosition, OrderRejected, SubmitOutcomeUnknown
from tradefolio.live.feed import ReplayFeed
from tradefolio.live.journal import Journal, PlannedOrder
from tradefolio.live.orders import OrderRequest, OrderStatus, Side
from tradefolio.live.paper import PaperBroker
from tradefolio.live.trader import LiveTrader
from unit.live.live_helpers import WeightSizer, live_cli, sma_cross

TIMEOUT = 0.3  # client request timeout of these tests (seconds)


@pytest.fixture
def fake() -> Iterator[FakeAlpaca]:
    with FakeAlpaca(prices={"AAA": Decimal("100"), "BBB": Decimal("20.25")}) as server:
        yield server


def _broker(fake: FakeAlpaca, **options: Any) -> AlpacaBroker:
    client = create_trading_client(KEY, SECRET, url_override=fake.url, timeout=TIMEOUT)
    options.setdefault("read_retry_wait", 0.0)
    return AlpacaBroker(client, endpoint=fake.url, **options)


def _buy(cid: str, quantity: int = 10, symbol: str = "AAA") -> OrderRequest:
    return OrderRequest(cid, symbol, Side.BUY, Decimal(quantity))


def _assert_one_order_per_client_id(fake: FakeAlpaca) -> None:
    ids = fake.client_ids()
    assert len(ids) == len(set(ids))


# -- plumbing -----------------------------------------------------------------------------


def test_client_has_no_sdk_retries_and_a_timeout(fake: FakeAlpaca) -> None:
    client = create_trading_client(KEY, SECRET, url_override=fake.url, timeout=TIMEOUT)
    assert client._retry == 0  # alpaca-py 0.44 would resend POST /v2/orders on 429/504
    broker = AlpacaBroker(client)
    assert isinstance(broker, Broker)
    fake.inject(LIST, delay=1.0)  # an answer slower than the timeout
    started = time.monotonic()
    with pytest.raises(SubmitOutcomeUnknown):
        AlpacaBroker(client, read_retries=0).open_orders()
    assert time.monotonic() - started < 0.9


def test_missing_sdk_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "alpaca.trading.client", None)
    with pytest.raises(MissingExtra, match=r"pip install 'tradefolio\[alpaca\]'"):
        create_trading_client(KEY, SECRET)


def test_from_env_needs_keys_and_refuses_cleartext_to_remote_hosts() -> None:
    with pytest.raises(BrokerError, match="APCA_API_SECRET_KEY"):
        AlpacaBroker.from_env(environ={"APCA_API_KEY_ID": "key-4711"})
    env = {"APCA_API_KEY_ID": "key-4711", "APCA_API_SECRET_KEY": "secret-0815"}
    with pytest.raises(BrokerError, match="https"):
        AlpacaBroker.from_env(environ={**env, "APCA_API_BASE_URL": "http://example.com"})
    broker = AlpacaBroker.from_env(environ=env, paper=True)
    assert broker.endpoint == "alpaca paper"
    assert "4711" not in repr(broker) and "0815" not in repr(broker)


def test_unreachable_broker_is_one_clear_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: nothing listens
    client = create_trading_client(KEY, SECRET, url_override=f"http://127.0.0.1:{port}")
    with pytest.raises(BrokerError, match="cannot reach Alpaca"):
        AlpacaBroker(client, read_retry_wait=0.0).check_ready()


def test_wrong_keys_are_reported_without_the_keys(fake: FakeAlpaca) -> None:
    client = create_trading_client("bad-key", "bad-secret", url_override=fake.url)
    with pytest.raises(BrokerError, match="refused the keys") as info:
        AlpacaBroker(client).check_ready()
    assert "bad-secret" not in str(info.value)


@pytest.mark.parametrize(
    ("alpaca_status", "filled", "expected"),
    [
        ("new", "0", OrderStatus.SUBMITTED),
        ("accepted", "0", OrderStatus.SUBMITTED),
        ("pending_new", "0", OrderStatus.SUBMITTED),
        ("partially_filled", "3", OrderStatus.PARTIALLY_FILLED),
        ("done_for_day", "3", OrderStatus.PARTIALLY_FILLED),
        ("pending_cancel", "0", OrderStatus.SUBMITTED),
        ("filled", "10", OrderStatus.FILLED),
        ("canceled", "0", OrderStatus.CANCELED),
        ("canceled", "4", OrderStatus.CANCELED),
        ("expired", "0", OrderStatus.CANCELED),
        ("rejected", "0", OrderStatus.REJECTED),
    ],
)
def test_status_mapping(alpaca_status: str, filled: str, expected: OrderStatus) -> None:
    assert map_status(alpaca_status, Decimal(filled)) is expected


# -- round trips ----------------------------------------------------------------------------


def test_submit_lookup_positions_account(fake: FakeAlpaca) -> None:
    broker = _broker(fake)
    report = broker.submit(_buy("c-1", 10))
    assert report.status is OrderStatus.FILLED
    assert (report.filled_quantity, report.avg_fill_price) == (Decimal(10), Decimal(100))
    sell = broker.submit(OrderRequest("c-2", "BBB", Side.BUY, Decimal(3)))
    assert sell.filled_notional == Decimal("60.75")  # exact, no float on the way
    assert broker.get_order("c-1") == report
    assert broker.get_order("never-sent") is None
    assert broker.positions() == [
        BrokerPosition("AAA", Decimal(10), Decimal(100)),
        BrokerPosition("BBB", Decimal(3), Decimal("20.25")),
    ]
    account = broker.account()
    assert account.cash == Decimal(100_000) - Decimal(1000) - Decimal("60.75")
    assert account.equity == Decimal(100_000)
    assert broker.open_orders() == []


def test_cancel_round_trip(fake: FakeAlpaca) -> None:
    fake.auto_fill = False
    broker = _broker(fake)
    assert broker.submit(_buy("c-open")).status is OrderStatus.SUBMITTED
    assert [o.client_order_id for o in broker.open_orders()] == ["c-open"]
    broker.cancel("c-open")
    assert broker.get_order("c-open").status is OrderStatus.CANCELED  # type: ignore[union-attr]
    broker.cancel("c-open")  # no longer open: left alone
    broker.cancel("never-sent")
    assert broker.open_orders() == []
    # A fill that races the cancel: Alpaca's 422 "not cancelable" is not an error.
    broker.submit(_buy("c-race"))
    fake.fill("c-race")
    broker.cancel("c-race")
    assert fake.order("c-race").status == "filled"


def test_open_orders_pages_through_all(fake: FakeAlpaca, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.auto_fill = False
    monkeypatch.setattr(alpaca_execution, "PAGE_LIMIT", 2)
    broker = _broker(fake)
    for n in range(5):
        broker.submit(_buy(f"c-{n}", 1))
    assert [o.client_order_id for o in broker.open_orders()] == [f"c-{n}" for n in range(5)]


# -- faults on submit -------------------------------------------------------------------------


def test_504_after_the_order_was_accepted_is_resolved_by_lookup(fake: FakeAlpaca) -> None:
    broker = _broker(fake)
    fake.inject(SUBMIT, 504, accept=True)
    started = time.monotonic()
    with pytest.raises(SubmitOutcomeUnknown, match="504"):
        broker.submit(_buy("c-504"))
    assert time.monotonic() - started < 2  # the SDK's own retry would have waited 3 s
    assert fake.post_attempts["c-504"] == 1  # not resent by the SDK
    found = broker.get_order("c-504")
    assert found is not None and found.status is OrderStatus.FILLED
    # Resending anyway (a trader that did not look first) meets the 422 duplicate, which
    # the adapter answers with the existing order instead of placing a second one.
    assert broker.submit(_buy("c-504")) == found
    assert fake.client_ids() == ["c-504"]
    assert fake.positions["AAA"] == (Decimal(10), Decimal(100))


@pytest.mark.parametrize("status", [429, 500, 503, 504])
@pytest.mark.parametrize("accepted", [True, False])
def test_lost_answers_are_outcome_unknown_never_two_orders(
    fake: FakeAlpaca, status: int, accepted: bool
) -> None:
    broker = _broker(fake)
    fake.inject(SUBMIT, status, accept=accepted)
    with pytest.raises(SubmitOutcomeUnknown):
        broker.submit(_buy("c-x"))
    assert fake.post_attempts["c-x"] == 1
    found = broker.get_order("c-x")
    assert (found is not None) is accepted
    if found is None:  # the trader submits again, with the same id
        broker.submit(_buy("c-x"))
    else:
        assert broker.submit(_buy("c-x")) == found
    _assert_one_order_per_client_id(fake)
    assert fake.client_ids() == ["c-x"]
    assert fake.positions["AAA"][0] == Decimal(10)


def test_timeout_after_accept_and_late_accept(fake: FakeAlpaca) -> None:
    broker = _broker(fake)
    fake.inject(SUBMIT, accept=True, delay=3 * TIMEOUT)  # placed; the answer comes too late
    with pytest.raises(SubmitOutcomeUnknown, match="Timeout"):
        broker.submit(_buy("c-slow"))
    assert broker.get_order("c-slow") is not None
    fake.inject(SUBMIT, delay=3 * TIMEOUT)  # the venue processes it after we gave up
    with pytest.raises(SubmitOutcomeUnknown):
        broker.submit(_buy("c-late", symbol="BBB"))
    fake.wait_idle()
    late = broker.get_order("c-late")
    assert late is not None and late.filled_quantity == Decimal(10)
    assert all(fake.post_attempts[c] == 1 for c in ("c-slow", "c-late"))
    _assert_one_order_per_client_id(fake)


def test_definitive_refusals_are_rejections(fake: FakeAlpaca) -> None:
    broker = _broker(fake)
    body = json.dumps({"code": 40310000, "message": "insufficient buying power"})
    fake.inject(SUBMIT, 403, body=body)
    with pytest.raises(OrderRejected, match="insufficient buying power"):
        broker.submit(_buy("c-poor"))
    assert broker.get_order("c-poor") is None
    with pytest.raises(OrderRejected, match="not exactly representable"):
        broker.submit(OrderRequest("c-odd", "AAA", Side.BUY, Decimal("0.1000000000000000001")))
    fake.rejected_symbols.add("BBB")  # accepted, then rejected by the venue
    report = broker.submit(_buy("c-rej", symbol="BBB"))
    assert report.status is OrderStatus.REJECTED and report.filled_quantity == 0
    assert "BBB" not in fake.positions
    # 40010001 is also Alpaca's generic validation code: only the unique-id message means
    # "already there".
    fake.inject(SUBMIT, 422, body=json.dumps({"code": 40010001, "message": "qty is required"}))
    with pytest.raises(OrderRejected):
        broker.submit(_buy("c-bad"))


# -- faults on reads --------------------------------------------------------------------------


def test_reads_retry_transient_errors_then_give_up(fake: FakeAlpaca) -> None:
    broker = _broker(fake, read_retries=2)
    broker.submit(_buy("c-r"))
    fake.inject(LOOKUP, 503, times=2)
    assert broker.get_order("c-r") is not None
    fake.inject(POSITIONS, 429, times=3)
    with pytest.raises(SubmitOutcomeUnknown, match="3 attempts"):
        broker.positions()
    fake.inject(LOOKUP, 404, body="<html>not found</html>")  # not Alpaca speaking
    with pytest.raises(BrokerError, match="404"):
        broker.get_order("c-r")
    fake.inject(CANCEL, 500, times=3)
    fake.auto_fill = False
    broker.submit(_buy("c-c"))
    with pytest.raises(SubmitOutcomeUnknown):
        broker.cancel("c-c")


def test_partial_fills_accumulate_exactly(fake: FakeAlpaca, tmp_path: Path) -> None:
    fake.auto_fill = False
    fake.max_fill_per_step = Decimal(4)
    broker = _broker(fake)
    journal = Journal.open(tmp_path / "j.db")
    journal.initialise(Decimal(100_000), {})
    day = datetime(2024, 1, 2).date()
    journal.write_plan(day, [], [PlannedOrder("c-p", "AAA", Side.BUY, Decimal(10))])
    broker.submit(_buy("c-p", 10))
    seen = []
    for price in ("100", "101", "102"):
        fake.mark(day, {"AAA": Decimal(price)})
        report = broker.get_order("c-p")
        assert report is not None
        seen.append((report.status, report.filled_quantity, report.avg_fill_price))
        journal.apply_execution(
            "c-p", report.filled_quantity, report.filled_notional, report.commission,
            report.status, report.broker_order_id,
        )  # fmt: skip
        journal.apply_execution(  # the same report again records nothing
            "c-p", report.filled_quantity, report.filled_notional, report.commission,
            report.status, report.broker_order_id,
        )  # fmt: skip
    assert seen == [
        (OrderStatus.PARTIALLY_FILLED, Decimal(4), Decimal(100)),
        (OrderStatus.PARTIALLY_FILLED, Decimal(8), Decimal("100.5")),
        (OrderStatus.FILLED, Decimal(10), Decimal("100.8")),
    ]
    assert [(f.quantity, f.price) for f in journal.fills()] == [
        (Decimal(4), Decimal(100)),
        (Decimal(4), Decimal(101)),
        (Decimal(2), Decimal(102)),
    ]
    assert journal.cash() == Decimal(100_000) - Decimal(1008) == broker.account().cash
    since = datetime.now(UTC) - timedelta(minutes=1)
    assert [o.client_order_id for o in broker.fills_since(since)] == ["c-p"]
    assert broker.fills_since(datetime.now(UTC) + timedelta(minutes=1)) == []
    journal.close()


# -- with the live trader ---------------------------------------------------------------------


def _sample(n_bars: int = 100, n_symbols: int = 4) -> pd.DataFrame:
    prices = load_sample().prices
    return prices.iloc[:n_bars, :n_symbols]


Ledger = tuple[list[tuple[str, Side, Decimal, Decimal]], dict[str, Decimal], Decimal]


def _ledger(journal: Journal) -> Ledger:
    fills = [(f.symbol, f.side, f.quantity, f.price) for f in journal.fills()]
    positions = {s: p.quantity for s, p in journal.positions().items()}
    return fills, positions, journal.cash()


def _trader(journal: Journal, broker: Broker, market: Any, **kwargs: Any) -> LiveTrader:
    return LiveTrader(
        journal=journal,
        broker=broker,
        strategy=sma_cross(5, 15),
        sizer=WeightSizer(0.2),
        market=market,
        **kwargs,
    )


def test_live_trader_on_alpaca_equals_paper_despite_faults(
    fake: FakeAlpaca, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    prices = _sample()
    cash = Decimal(100_000)
    paper_journal = Journal.open(tmp_path / "paper.db")
    paper_journal.initialise(cash, {})
    paper = PaperBroker(paper_journal.connection, cash)
    paper_trader = _trader(paper_journal, paper, paper)
    paper_trader.reconcile()
    paper_trader.run(ReplayFeed(prices).bars())
    expected = _ledger(paper_journal)
    assert len(expected[0]) >= 10  # the session trades

    fake.marks.clear()
    fake.cash = cash
    journal = Journal.open(tmp_path / "alpaca.db")
    journal.initialise(cash, {})
    submits = {"n": 0}
    faults: dict[int, list[dict[str, Any]]] = {  # n-th submit -> faults injected before it
        2: [{"route": SUBMIT, "status": 504, "accept": True}],
        4: [{"route": SUBMIT, "accept": True, "delay": 3 * TIMEOUT}],
        6: [{"route": SUBMIT, "status": 500, "accept": True}, {"route": LOOKUP, "status": 503}],
        8: [{"route": SUBMIT, "status": 429, "accept": True}],
    }

    def checkpoint(name: str) -> None:
        if name == "before_submit":
            submits["n"] += 1
            for fault in faults.get(submits["n"], []):
                fake.inject(**fault)

    trader = _trader(journal, _broker(fake), fake, checkpoint=checkpoint)
    trader.reconcile()
    trader.run(ReplayFeed(prices).bars())
    fake.wait_idle()
    assert submits["n"] >= 8 and fake.pending_faults() == 0
    assert _ledger(journal) == expected
    assert fake.cash == journal.cash() == paper_journal.cash()
    assert {s: q for s, (q, _) in fake.positions.items()} == expected[1]
    assert set(fake.post_attempts.values()) == {1}  # no order was ever sent twice
    _assert_one_order_per_client_id(fake)
    assert len(fake.client_ids()) == len(journal.fills())
    paper_journal.close()
    journal.close()
    # The keys are never logged or journaled.
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("alpaca.db*"))
    for secret in (KEY, SECRET):
        assert secret.encode() not in stored
        assert secret not in caplog.text


def test_fill_while_down_is_recorded_once_by_reconciliation(
    fake: FakeAlpaca, tmp_path: Path
) -> None:
    prices = _sample(60)
    fake.marks.clear()
    fake.auto_fill = False  # orders rest until the market fills them
    path = tmp_path / "down.db"
    journal = Journal.open(path)
    journal.initialise(Decimal(100_000), {})
    broker = _broker(fake)
    trader = _trader(journal, broker, None)
    trader.reconcile()
    bars = list(ReplayFeed(prices).bars())
    for bar in bars:
        trader.process_bar(bar)
        if journal.live_orders():
            break  # the trader goes down with an order resting at the broker
    resting = journal.live_orders()
    assert resting and all(o.status is OrderStatus.SUBMITTED for o in resting)
    journal.close()
    for order in resting:  # ... and the market fills it meanwhile
        fake.fill(order.client_order_id, price=Decimal("50.5"))

    journal = Journal.open(path)
    trader = _trader(journal, _broker(fake), None)
    report = trader.reconcile()
    assert len(report.fills_recorded) == len(resting) and report.ok
    assert trader.reconcile().fills_recorded == []  # recorded exactly once
    assert {s: p.quantity for s, p in journal.positions().items()} == {
        s: q for s, (q, _) in fake.positions.items()
    }
    assert journal.cash() == fake.cash
    assert all(f.price == Decimal("50.5") for f in journal.fills())
    journal.close()


# -- CLI ----------------------------------------------------------------------------------------


def test_cli_broker_alpaca_against_the_fake(tmp_path: Path) -> None:
    prices = _sample(80, 3)
    csv = tmp_path / "p.csv"
    prices.to_csv(csv)
    db = tmp_path / "a.db"
    last = {str(s): Decimal(repr(float(v))) for s, v in prices.iloc[-1].items()}
    session = ["--broker", "alpaca", "--prices", str(csv), "--db", str(db)]
    session += ["--strategy", "sma-cross", "--fast", "5", "--slow", "15"]
    session += ["--sizer", "weight", "--weight", "0.2", "--format", "json"]
    with FakeAlpaca(prices=last, cash=Decimal(50_000)) as fake:
        env = {"APCA_API_KEY_ID": KEY, "APCA_API_SECRET_KEY": SECRET}
        env["APCA_API_BASE_URL"] = fake.url
        refused = live_cli([*session, "--live-account"], env)
        assert refused.returncode == 2 and "--live-account" in refused.stderr
        assert not db.exists()
        done = live_cli(session, env)
        assert done.returncode == 0, done.stderr
        status = json.loads(done.stdout)
        assert fake.client_ids(), "the session sent orders"
        assert {p["symbol"]: Decimal(str(p["quantity"])) for p in status["positions"]} == {
            s: q for s, (q, _) in fake.positions.items()
        }
        assert Decimal(repr(status["cash"])) == fake.cash
        again = live_cli(session, env)  # resumes: reconciles cleanly, nothing new to do
        assert again.returncode == 0, again.stderr
        _assert_one_order_per_client_id(fake)
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("a.db*"))
    assert SECRET.encode() not in stored and KEY.encode() not in stored
    assert SECRET not in done.stderr + done.stdout


def test_cli_unreachable_broker_writes_nothing(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    db = tmp_path / "never.db"
    env = {"APCA_API_KEY_ID": KEY, "APCA_API_SECRET_KEY": SECRET}
    env["APCA_API_BASE_URL"] = f"http://127.0.0.1:{port}"
    run = live_cli(["--broker", "alpaca", "--db", str(db)], env)
    assert run.returncode == 1
    assert "cannot reach Alpaca" in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert not db.exists()
