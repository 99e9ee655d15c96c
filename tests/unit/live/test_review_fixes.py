"""Regression tests for the review of issue 13 (/work/notes/review13.md): each test names
the finding it pins and fails on the code before its fix."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

pytest.importorskip("alpaca", reason="needs the alpaca extra")

from support.fake_alpaca import LOOKUP, SUBMIT, FakeAlpaca
from tradefolio.live.journal import Journal
from tradefolio.live.orders import OrderStatus
from unit.live.live_helpers import fake_session, flat_bars

NOT_FOUND_BODY = json.dumps({"code": 40410000, "message": "order not found"})
NO_BUYING_POWER = json.dumps({"code": 40310000, "message": "insufficient buying power"})
PRICE = Decimal(50)


def _journal_positions(journal: Journal) -> dict[str, Decimal]:
    return {s: p.quantity for s, p in journal.positions().items()}


def test_refused_retry_after_an_uncertain_attempt_keeps_the_fill(tmp_path: Path) -> None:
    """Finding 1: attempt 1 is placed but answered 503, the lookup does not show it yet and
    the retry is refused (403, the first order holds the buying power). The order must stay
    UNKNOWN, so the venue's fill is recorded later and no second order is sent."""
    with FakeAlpaca(cash=Decimal(10_000), prices={"AAA": PRICE}) as fake:
        journal, trader = fake_session(fake, tmp_path / "r.db", sleep=lambda s: None)
        fake.inject(SUBMIT, 503, accept=True)
        fake.inject(LOOKUP, 404, body=NOT_FOUND_BODY)
        fake.inject(SUBMIT, 403, body=NO_BUYING_POWER)
        first, second = flat_bars(2, {"AAA": PRICE})
        trader.process_bar(first)
        (order,) = journal.all_orders()
        assert order.status is OrderStatus.UNKNOWN
        trader.process_bar(second)
        venue = {s: q for s, (q, _) in fake.positions.items()}
        assert _journal_positions(journal) == venue
        assert len(fake.client_ids()) == 1
        statuses = [o.status for o in journal.all_orders()]
        assert statuses == [OrderStatus.FILLED]


def test_halt_during_the_retry_wait_stops_the_retry(tmp_path: Path) -> None:
    """Finding 2: `live halt` journaled while a refused submit waits for its retry stops
    the retry; nothing reaches the venue after HALTED."""
    with FakeAlpaca(cash=Decimal(10_000), prices={"AAA": PRICE}) as fake:
        holder: dict[str, Journal] = {}

        def sleep(seconds: float) -> None:
            holder["journal"].set_trading_state("HALTED", "operator", "cli")

        told: list[str] = []
        journal, trader = fake_session(fake, tmp_path / "h.db", sleep=sleep, notify=told.append)
        holder["journal"] = journal
        fake.inject(SUBMIT, 503, times=1)
        trader.process_bar(flat_bars(1, {"AAA": PRICE})[0])
        assert fake.client_ids() == []
        (order,) = journal.all_orders()
        # The 503'd attempt may have been placed: the order stays open until the venue is
        # certain, never closed as if nothing had happened.
        assert order.status is OrderStatus.UNKNOWN
        assert len(told) == 1 and "HALTED" in told[0].upper()


@pytest.mark.parametrize(
    ("paper", "url"),
    [
        (True, "https://api.alpaca.markets./"),
        (True, "https://API.Alpaca.Markets.:443/v2"),
        (True, "https://api\uff0ealpaca\u3002markets"),
        (False, "https://paper-api.alpaca.markets."),
        (False, "https://PAPER-API.ALPACA.MARKETS../"),
    ],
)
def test_the_other_accounts_host_is_refused_however_spelled(paper: bool, url: str) -> None:
    """Finding 6: a trailing dot, upper case or an IDNA dot still names the other account's
    Alpaca host, and is refused before any request."""
    from support.fake_alpaca import KEY, SECRET
    from tradefolio.errors import InvalidParameter
    from tradefolio.live.alpaca import AlpacaBroker

    environ = {"APCA_API_KEY_ID": KEY, "APCA_API_SECRET_KEY": SECRET, "APCA_API_BASE_URL": url}
    with pytest.raises(InvalidParameter, match="--paper-account" if paper else "--live-account"):
        AlpacaBroker.from_env(paper=paper, environ=environ)


@pytest.mark.parametrize("paper", [True, False])
def test_a_missing_account_number_is_refused(paper: bool) -> None:
    """Finding 6: the backstop fails closed — an account without a number cannot be told
    paper from live, so nothing is sent."""
    from support.fake_alpaca import KEY, SECRET
    from tradefolio.errors import TradefolioError
    from tradefolio.live.alpaca import AlpacaBroker

    with FakeAlpaca(prices={"AAA": PRICE}) as fake:
        fake.account_number = ""
        environ = {
            "APCA_API_KEY_ID": KEY,
            "APCA_API_SECRET_KEY": SECRET,
            "APCA_API_BASE_URL": fake.url,
        }
        broker = AlpacaBroker.from_env(paper=paper, environ=environ, read_retry_wait=0.0)
        with pytest.raises(TradefolioError, match="account number"):
            broker.check_ready()
        assert fake.client_ids() == []


class _EnterThenExitOnce:
    """Enter AAA on the first bar, exit on the second, nothing after."""

    def intents(self, history: object) -> list[object]:
        from tradefolio.live.strategy import Action, Intent

        n = len(history)  # type: ignore[arg-type]
        if n == 1:
            return [Intent("AAA", Action.ENTER)]
        if n == 2:
            return [Intent("AAA", Action.EXIT)]
        return []


def _slow_paper(journal: Journal, *, defer_cancel: bool) -> object:
    from tradefolio.live.paper import PaperBroker

    class SlowCancelPaper(PaperBroker):
        """A venue filling 10 units per mark whose cancels take effect at the next mark,
        after that mark's fills (a remote venue's pending_cancel)."""

        pending: list[str]
        cancels: list[str]

        def cancel(self, client_order_id: str) -> None:
            self.cancels.append(client_order_id)
            if defer_cancel:
                self.pending.append(client_order_id)
            else:
                super().cancel(client_order_id)

        def mark(self, day: object, prices: object) -> None:
            super().mark(day, prices)  # type: ignore[arg-type]
            for cid in self.pending:
                super().cancel(cid)
            self.pending = []

    broker = SlowCancelPaper(journal.connection, Decimal(100_000), max_fill_per_mark=Decimal(10))
    broker.pending = []
    broker.cancels = []
    return broker


@pytest.mark.parametrize("defer_cancel", [False, True])
def test_an_exit_cancels_the_open_buy_and_ends_flat(tmp_path: Path, defer_cancel: bool) -> None:
    """Finding 3: the entry's buy of 100 fills 10 units a bar; the strategy exits once on
    the second bar. The exit cancels the open buy before its sell is sent, and once the
    cancel is confirmed (at once, or a bar later after more fills) the book is flat."""
    from tradefolio.live.orders import Side
    from tradefolio.live.trader import LiveTrader
    from unit.live.live_helpers import FixedUnits

    journal = Journal.open(tmp_path / "e.db")
    journal.initialise(Decimal(100_000), {})
    broker = _slow_paper(journal, defer_cancel=defer_cancel)
    trader = LiveTrader(
        journal=journal,
        broker=broker,  # type: ignore[arg-type]
        strategy=_EnterThenExitOnce(),  # type: ignore[arg-type]
        sizer=FixedUnits(100),
        market=broker,  # type: ignore[arg-type]
    )
    for bar in flat_bars(12, {"AAA": PRICE}):
        trader.process_bar(bar)
    assert journal.positions() == {}
    buys = [o for o in journal.all_orders() if o.side is Side.BUY]
    assert len(buys) == 1 and buys[0].status is OrderStatus.CANCELED
    assert buys[0].filled_quantity < 100
    assert broker.cancels == [buys[0].client_order_id]  # type: ignore[attr-defined]
    sold = sum(o.filled_quantity for o in journal.all_orders() if o.side is Side.SELL)
    assert sold == buys[0].filled_quantity


def test_a_stale_plan_is_finished_with_the_prices_before_the_new_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 5: bar 2's plan is journaled, then a crash; the restart is on a later session
    (bar 3, BBB gapping 20 → 30). A crash right after the stale bar 2 is finished and before
    bar 3's plan must not leave bar 3's prices as the price band's references: the next
    start still denies the gap entry, as an uninterrupted run does."""
    import pandas as pd

    from tradefolio.live.feed import Bar
    from tradefolio.live.paper import PaperBroker
    from tradefolio.live.risk import RiskEngine, RiskLimits
    from tradefolio.live.strategy import Action, Intent
    from tradefolio.live.trader import LiveTrader
    from unit.live.live_helpers import FixedUnits

    class Boom(Exception):
        pass

    class Strategy:
        def intents(self, history: pd.DataFrame) -> list[Intent]:
            if len(history) == 1:
                return [Intent("AAA", Action.ENTER)]
            return [Intent("BBB", Action.ENTER)] if len(history) >= 2 else []

    days = pd.bdate_range("2024-03-01", periods=4, name="date")
    closes = pd.DataFrame({"AAA": [50.0] * 4, "BBB": [20.0, 20.0, 20.0, 30.0]}, index=days)
    bars = [
        Bar(
            days[i].date(),
            {s: Decimal(repr(float(closes.iloc[i][s]))) for s in closes.columns},
            closes.iloc[:i],
        )
        for i in range(1, 4)
    ]

    def session(checkpoint: object = None) -> tuple[Journal, LiveTrader]:
        journal = Journal.open(tmp_path / "s.db")
        journal.initialise(Decimal(10_000), {})
        broker = PaperBroker(journal.connection, Decimal(10_000))
        options = {} if checkpoint is None else {"checkpoint": checkpoint}
        trader = LiveTrader(
            journal=journal,
            broker=broker,
            strategy=Strategy(),
            sizer=FixedUnits(10),
            market=broker,
            risk=RiskEngine(RiskLimits(price_band_pct=Decimal("0.10"))),
            **options,  # type: ignore[arg-type]
        )
        return journal, trader

    def crash_after_plan(name: str) -> None:
        if name == "after_plan":
            raise Boom

    def crash(self: LiveTrader, day: object) -> None:
        raise Boom

    journal, trader = session()
    trader.process_bar(bars[0])
    journal.close()
    journal, trader = session(crash_after_plan)
    with pytest.raises(Boom):
        trader.process_bar(bars[1])
    journal.close()
    journal, trader = session()
    monkeypatch.setattr(LiveTrader, "_trading_state", crash)
    with pytest.raises(Boom):
        trader.process_bar(bars[2])
    monkeypatch.undo()
    journal.close()
    journal, trader = session()
    assert journal.last_marks()["BBB"] == Decimal(20)
    trader.reconcile()
    trader.process_bar(bars[2])
    gap = [o for o in journal.all_orders() if o.symbol == "BBB" and o.bar == bars[2].day]
    assert [o.status for o in gap] == [OrderStatus.DENIED]


def test_a_remote_brokers_unfilled_sell_funds_no_buy(tmp_path: Path) -> None:
    """Finding 4: XXX (all the cash) is exited and YYY entered on the same bar; the venue
    rejects the sell. With a remote broker the buy is sized on the cash there is, never on
    the sell's proceeds before it fills: cash never goes negative."""
    from tradefolio.live.strategy import Action, Intent
    from tradefolio.live.trader import LiveTrader
    from unit.live.live_helpers import FixedUnits, fake_broker

    class Rotate:
        def intents(self, history: object) -> list[Intent]:
            n = len(history)  # type: ignore[arg-type]
            if n == 1:
                return [Intent("XXX", Action.ENTER)]
            if n == 2:
                return [Intent("XXX", Action.EXIT), Intent("YYY", Action.ENTER)]
            return []

    prices = {"XXX": PRICE, "YYY": PRICE}
    with FakeAlpaca(cash=Decimal(10_000), prices=prices) as fake:
        journal = Journal.open(tmp_path / "r.db")
        journal.initialise(Decimal(10_000), {})
        trader = LiveTrader(
            journal=journal,
            broker=fake_broker(fake),
            strategy=Rotate(),  # type: ignore[arg-type]
            sizer=FixedUnits(200),
            market=fake,
        )
        bars = flat_bars(3, prices)
        trader.process_bar(bars[0])
        fake.rejected_symbols.add("XXX")
        for bar in bars[1:]:
            trader.process_bar(bar)
        assert journal.cash() >= 0
        assert fake.cash >= 0
        assert _journal_positions(journal) == {"XXX": Decimal(200)}


def _damage_orders_index(path: Path) -> None:
    """Zero the pages of the orders' partial index: `PRAGMA quick_check` fails, while the
    control table (the trading state) stays readable and writable."""
    import sqlite3

    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        (page_size,) = db.execute("PRAGMA page_size").fetchone()
        (root,) = db.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'orders_live'"
        ).fetchone()
    db.close()
    with path.open("r+b") as handle:
        handle.seek((root - 1) * page_size)
        handle.write(b"\xff" * page_size)


def _damaged_journal(path: Path) -> None:
    """A closed paper session of three bars at `path`, then its orders' index damaged."""
    from unit.live.live_helpers import open_session

    journal, _, trader = open_session(path)
    for bar in flat_bars(3, {"AAA": PRICE}):
        trader.process_bar(bar)
    journal.close()
    _damage_orders_index(path)


def test_live_halt_works_on_a_journal_that_fails_its_integrity_check(tmp_path: Path) -> None:
    """Finding 8: the emergency stop is not lost when the journal fails quick_check but its
    trading state can still be written: `live halt` writes HALTED (and says the journal is
    damaged), and a reader of the control table sees it."""
    import sqlite3

    from unit.live.live_helpers import live_cli

    path = tmp_path / "d.db"
    _damaged_journal(path)
    with pytest.raises(Exception, match="damaged"):
        Journal.open(path, writer=False)
    run = live_cli(["halt", "--db", str(path), "--reason", "disk trouble"], {})
    assert run.returncode == 0, run.stderr
    assert "HALTED" in run.stderr and "damaged" in run.stderr
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        state = db.execute("SELECT state, reason FROM control ORDER BY id DESC LIMIT 1").fetchone()
    assert state == ("HALTED", "disk trouble")
    resumed = live_cli(["resume", "--db", str(path)], {})
    assert resumed.returncode == 2 and "damaged" in resumed.stderr


def test_probing_a_damaged_wal_journal_writes_nothing_next_to_it(tmp_path: Path) -> None:
    """Finding 9: refusing a damaged WAL-mode journal that no trader has open leaves the
    folder as it was — no -wal or -shm side files created by the probe."""
    from tradefolio.live.journal import JournalDamaged

    path = tmp_path / "w.db"
    _damaged_journal(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.db"]
    before = path.read_bytes()
    with pytest.raises(JournalDamaged):
        Journal.open(path, writer=False)
    with pytest.raises(JournalDamaged):
        Journal.open(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.db"]
    assert path.read_bytes() == before


def test_urls_are_redacted_to_scheme_host_and_port_and_queries_refused() -> None:
    """Finding 10: a token in the path is never printed or stored, an IPv6 host is shown
    bracketed, and a URL with a query or fragment (``?key=SECRET``) is refused before it
    reaches the SDK, without echoing it."""
    from tradefolio.errors import InvalidParameter
    from tradefolio.live.alpaca.client import check_url, redact_url

    assert redact_url("https://host:8443/T0KEN/v2") == "https://host:8443"
    assert redact_url("https://[::1]:8080/x") == "https://[::1]:8080"
    for url in ("https://paper-api.alpaca.markets/?key=S3CRET", "https://h.example/v2#S3CRET"):
        with pytest.raises(InvalidParameter) as info:
            check_url(url)
        assert "S3CRET" not in str(info.value)
