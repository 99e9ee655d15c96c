"""Finding 1 of issue 13: sizing and risk count the *working* exposure (filled positions
plus the unfilled part of every open order, cash reserved for open buys), so resting or
partially filled orders never stack and a long-only book never goes short — with the paper
broker and through the loopback fake Alpaca alike."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from tradefolio.execution.sizing import Quantity, SizingRequest
from tradefolio.live.feed import ReplayFeed
from tradefolio.live.journal import Journal
from tradefolio.live.orders import TERMINAL_STATUSES, JournalOrder, Side
from tradefolio.live.paper import PaperBroker
from tradefolio.live.strategy import Action, Intent
from tradefolio.live.trader import LiveTrader
from unit.live.live_helpers import WeightSizer, fake_broker, gbm_prices

CASH = Decimal(100_000)


class TargetEveryBar:
    """Asks every bar for the sizer's target in every symbol (a rebalance that repeats
    while orders rest: the `--portfolio` pattern of the finding)."""

    def __init__(self, weight: float) -> None:
        self.sizer = WeightSizer(weight)

    def intents(self, history: pd.DataFrame) -> list[Intent]:
        return [Intent(str(s), Action.TARGET, self.sizer) for s in history.columns]


class EnterEveryBar:
    """Enters every symbol on every bar (an entry signal repeated while flat)."""

    def intents(self, history: pd.DataFrame) -> list[Intent]:
        return [Intent(str(s), Action.ENTER) for s in history.columns]


class Flip:
    """Enters every symbol on even bars and exits on odd ones."""

    def intents(self, history: pd.DataFrame) -> list[Intent]:
        action = Action.ENTER if len(history) % 2 else Action.EXIT
        return [Intent(str(s), action) for s in history.columns]


class EnterOnceThenExit:
    """Enters every symbol on the first bar with history, then asks to exit on every bar
    (an exit signal repeated while the sell is still filling)."""

    def intents(self, history: pd.DataFrame) -> list[Intent]:
        action = Action.ENTER if len(history) == 1 else Action.EXIT
        return [Intent(str(s), action) for s in history.columns]


class Units:
    def __init__(self, units: int) -> None:
        self.units = units

    def size(self, request: SizingRequest) -> Quantity:
        return self.units


def _open_buys(orders: list[JournalOrder]) -> list[JournalOrder]:
    return [o for o in orders if o.side is Side.BUY and o.status not in TERMINAL_STATUSES]


def _check_no_stacking(journal: Journal) -> None:
    """At most one open order per symbol and direction, and the open buys cost (at their
    bar's price) no more than the cash the ledger holds."""
    live = journal.live_orders()
    keys = [(o.symbol, o.side) for o in live]
    assert len(keys) == len(set(keys)), f"a second order on a symbol with an open one: {keys}"
    committed = sum(
        ((o.quantity - o.filled_quantity) * _price(journal, o) for o in _open_buys(live)),
        Decimal(0),
    )
    assert committed <= journal.cash(), f"open buys of {committed} on cash {journal.cash()}"


def _check_never_short(journal: Journal) -> None:
    """No position is short, and the open sells never exceed what is held (whatever the
    open buys deliver later)."""
    held = {s: p.quantity for s, p in journal.positions().items()}
    assert all(q >= 0 for q in held.values()), held
    selling: dict[str, Decimal] = {}
    for order in journal.live_orders():
        if order.side is Side.SELL:
            remaining = order.quantity - order.filled_quantity
            selling[order.symbol] = selling.get(order.symbol, Decimal(0)) + remaining
    for symbol, quantity in selling.items():
        assert quantity <= held.get(symbol, Decimal(0)), (symbol, quantity, held)


def _price(journal: Journal, order: JournalOrder) -> Decimal:
    (notional,) = journal.connection.execute(
        "SELECT risk_notional FROM orders WHERE client_order_id = ?", (order.client_order_id,)
    ).fetchone()
    return Decimal(notional) / order.quantity


@pytest.mark.parametrize("strategy", [TargetEveryBar(0.3), EnterEveryBar()])
def test_paper_orders_that_never_fill_are_not_sized_again(tmp_path: Path, strategy: object) -> None:
    """The market is closed (orders rest forever): each symbol gets one buy, and the buys
    together never cost more than the cash."""
    prices = gbm_prices(4, 30, seed=2)
    journal = Journal.open(tmp_path / "closed.db")
    journal.initialise(CASH, {})
    broker = PaperBroker(journal.connection, CASH, fill_delay_marks=10**6)
    trader = LiveTrader(
        journal=journal,
        broker=broker,
        strategy=strategy,  # type: ignore[arg-type]
        sizer=WeightSizer(0.3),
        market=broker,
    )
    for bar in ReplayFeed(prices).bars():
        trader.process_bar(bar)
        _check_no_stacking(journal)
    buys = [o for o in broker.all_orders() if o.side is Side.BUY]
    # One buy per symbol: three of 30 % and the fourth with the cash left, never more.
    assert sorted(o.symbol for o in buys) == ["S0", "S1", "S2", "S3"]
    assert len(broker.all_orders()) == 4
    journal.close()


def test_paper_partial_fills_never_stack_a_second_order(tmp_path: Path) -> None:
    prices = gbm_prices(3, 40, seed=4)
    journal = Journal.open(tmp_path / "partial.db")
    journal.initialise(CASH, {})
    broker = PaperBroker(journal.connection, CASH, fill_delay_marks=1, max_fill_per_mark=Decimal(3))
    trader = LiveTrader(
        journal=journal, broker=broker, strategy=Flip(), sizer=Units(10), market=broker
    )
    for bar in ReplayFeed(prices).bars():
        trader.process_bar(bar)
        _check_no_stacking(journal)
        _check_never_short(journal)
    assert journal.fill_totals()[0] == journal.cash() == broker.account().cash
    journal.close()


# -- the same through the loopback fake Alpaca ---------------------------------------------

alpaca = pytest.importorskip("alpaca", reason="needs the alpaca extra")

from support.fake_alpaca import KEY, SECRET, FakeAlpaca  # noqa: E402


@pytest.fixture
def fake() -> Iterator[FakeAlpaca]:
    with FakeAlpaca(cash=CASH) as server:
        yield server


def _alpaca_trader(
    fake: FakeAlpaca, journal: Journal, strategy: object, sizer: object, *, market: bool = True
) -> LiveTrader:
    broker = fake_broker(fake, timeout=2.0)
    return LiveTrader(
        journal=journal,
        broker=broker,
        strategy=strategy,  # type: ignore[arg-type]
        sizer=sizer,  # type: ignore[arg-type]
        market=fake if market else None,
    )


@pytest.mark.parametrize("strategy", [TargetEveryBar(0.3), EnterEveryBar()])
def test_alpaca_replay_with_the_market_closed_never_overcommits(
    fake: FakeAlpaca, tmp_path: Path, strategy: object
) -> None:
    """The finding's `--broker alpaca` dry run: orders accepted but not filled. Once the
    market fills everything, cash is not negative and each symbol was bought once."""
    fake.auto_fill = False
    prices = gbm_prices(4, 20, seed=6)
    journal = Journal.open(tmp_path / "a.db")
    journal.initialise(CASH, {})
    trader = _alpaca_trader(fake, journal, strategy, WeightSizer(0.3), market=False)
    fake.marks.clear()
    bars = list(ReplayFeed(prices).bars())
    for bar in bars:
        fake.marks.update(bar.prices)  # prices move, nothing fills (market closed)
        trader.process_bar(bar)
        _check_no_stacking(journal)
    sent = fake.client_ids()
    assert len(sent) == 4, sent  # one buy per symbol
    for cid in sent:
        fake.fill(cid, price=_price(journal, journal.order(cid)))  # type: ignore[arg-type]
    assert fake.cash >= 0
    journal.close()


def test_alpaca_slow_sells_never_turn_a_long_only_book_short(
    fake: FakeAlpaca, tmp_path: Path
) -> None:
    """The position is bought whole; then every bar asks to exit while the sell fills one
    unit per bar: one sell, never a second one on top (which would end short)."""
    prices = gbm_prices(2, 16, seed=8)
    journal = Journal.open(tmp_path / "slow.db")
    journal.initialise(CASH, {})
    trader = _alpaca_trader(fake, journal, EnterOnceThenExit(), Units(10))
    bars = list(ReplayFeed(prices).bars())
    for number, bar in enumerate(bars):
        trader.process_bar(bar)
        if number == 1:
            assert {s: q for s, (q, _) in fake.positions.items()} == {"S0": 10, "S1": 10}
            fake.max_fill_per_step = Decimal(1)  # from now on, one unit per step
        _check_no_stacking(journal)
        _check_never_short(journal)
        assert all(q >= 0 for q, _ in fake.positions.values()), fake.positions
    sells = [cid for cid in fake.client_ids() if fake.order(cid).side == "sell"]
    assert len(sells) == 2  # one per symbol
    assert fake.positions == {}  # sold out exactly, never short
    journal.close()


def test_alpaca_partial_fills_never_turn_a_long_only_book_short(
    fake: FakeAlpaca, tmp_path: Path
) -> None:
    fake.max_fill_per_step = Decimal(3)
    prices = gbm_prices(3, 30, seed=8)
    journal = Journal.open(tmp_path / "p.db")
    journal.initialise(CASH, {})
    trader = _alpaca_trader(fake, journal, Flip(), Units(10))
    for bar in ReplayFeed(prices).bars():
        trader.process_bar(bar)
        _check_no_stacking(journal)
        assert all(q >= 0 for q, _ in fake.positions.values()), fake.positions
        _check_never_short(journal)
    assert len(fake.client_ids()) > 6  # it traded both ways
    journal.close()


def test_cli_alpaca_dry_run_with_the_market_closed_never_overcommits(tmp_path: Path) -> None:
    """The finding as a user meets it: `live --broker alpaca` replaying a file while the
    market is closed (orders accepted, never filled). Each symbol is bought at most once
    and the buys together cost no more than the account's cash."""
    import sqlite3

    from unit.live.live_helpers import live_cli

    closes = gbm_prices(5, 50, seed=12)
    csv = tmp_path / "p.csv"
    closes.to_csv(csv)
    db = tmp_path / "dry.db"
    args = ["--broker", "alpaca", "--prices", str(csv), "--db", str(db), "--no-record"]
    args += ["--strategy", "sma-cross", "--fast", "3", "--slow", "8"]
    args += ["--sizer", "weight", "--weight", "0.3", "--format", "json"]
    with FakeAlpaca(cash=CASH, auto_fill=False) as server:
        env = {"APCA_API_KEY_ID": KEY, "APCA_API_SECRET_KEY": SECRET}
        done = live_cli(args, {**env, "APCA_API_BASE_URL": server.url})
        assert done.returncode == 0, done.stderr
        buys = [server.order(cid) for cid in server.client_ids()]
    assert buys and all(o.side == "buy" and o.status == "new" for o in buys)
    symbols = [o.symbol for o in buys]
    assert len(symbols) == len(set(symbols)), f"a symbol was bought twice: {symbols}"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        (committed,) = connection.execute(
            "SELECT sum(CAST(risk_notional AS REAL)) FROM orders WHERE side = 'buy' "
            "AND status != 'denied'"
        ).fetchone()
    assert committed <= float(CASH), f"buys of {committed:,.2f} on {CASH:,} of cash"
