from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from tradefolio.backtest.strategies import SmaCross
from tradefolio.data import load_sample
from tradefolio.errors import ReconciliationError
from tradefolio.live.feed import ReplayFeed
from tradefolio.live.journal import Journal
from tradefolio.live.orders import OrderRequest, OrderStatus, Side
from tradefolio.live.paper import CostModel, PaperBroker
from tradefolio.live.risk import RiskEngine, RiskLimits
from tradefolio.live.strategy import PlannedStrategy
from tradefolio.live.trader import LiveTrader
from unit.live.live_helpers import WeightSizer, gbm_prices, open_session, sma_cross

COSTS = CostModel(commission_bps=Decimal(5), commission_min=Decimal(1), slippage_bps=Decimal(2))


def _summary(journal: Journal) -> tuple[object, ...]:
    orders = [(o.bar, o.symbol, o.side, o.quantity, o.status) for o in journal.all_orders()]
    fills = [(f.symbol, f.side, f.quantity, f.price, f.commission) for f in journal.fills()]
    positions = {s: p.quantity for s, p in journal.positions().items()}
    return orders, fills, positions, journal.cash(), journal.last_done_bar()


def test_sample_session_matches_backtrader_golden(tmp_path: Path) -> None:
    """Issue 5's golden figures (backtrader, SMA 20/50, 10 % per entry, 1,000,000, no costs):
    2,591 fills (1,299 buys, 1,292 sells), 7 positions open, final equity 40,529,060.25."""
    prices = load_sample().prices
    journal = Journal.open(tmp_path / "golden.db")
    journal.initialise(Decimal(1_000_000), {})
    broker = PaperBroker(journal.connection, Decimal(1_000_000))
    trader = LiveTrader(
        journal=journal,
        broker=broker,
        strategy=PlannedStrategy.over(SmaCross(20, 50), prices),
        sizer=WeightSizer(0.10),
        market=broker,
    )
    trader.reconcile()
    trader.run(ReplayFeed(prices).bars())
    fills = journal.fills()
    assert len(fills) == 2591
    assert sum(f.side is Side.BUY for f in fills) == 1299
    assert len(journal.positions()) == 7
    last = journal.last_equity()
    assert last is not None and round(last, 2) == Decimal("40529060.25")
    assert journal.fill_totals() == (
        journal.cash(),
        {s: p.quantity for s, p in journal.positions().items()},
    )


def test_resume_after_clean_stop_equals_one_run(tmp_path: Path) -> None:
    prices = gbm_prices(4, 160, seed=3)
    journal, _, trader = open_session(tmp_path / "one.db", costs=COSTS)
    trader.reconcile()
    trader.run(ReplayFeed(prices).bars())
    expected = _summary(journal)
    journal.close()
    for stop_after in (40, 90, 160):
        journal, _, trader = open_session(tmp_path / "two.db", costs=COSTS)
        trader.reconcile()
        trader.run(ReplayFeed(prices.iloc[:stop_after]).bars(journal.last_done_bar()))
        journal.close()
    journal, broker, _ = open_session(tmp_path / "two.db", costs=COSTS)
    assert _summary(journal) == expected
    assert len(expected[1]) > 20  # the session traded
    assert broker.account().cash == journal.cash()
    journal.close()


def test_halt_reducing_and_daily_loss(tmp_path: Path) -> None:
    prices = gbm_prices(4, 120, seed=5)
    journal, _, trader = open_session(tmp_path / "h.db")
    journal.set_trading_state("HALTED", "operator", "cli")
    trader.reconcile()
    trader.run(ReplayFeed(prices).bars())
    orders = journal.all_orders()
    assert orders and all(o.status is OrderStatus.DENIED for o in orders)
    assert journal.fills() == [] and journal.cash() == Decimal(100_000)
    journal.close()
    risk = RiskEngine(RiskLimits(max_daily_loss_pct=Decimal("0.0001")))
    journal, _, trader = open_session(tmp_path / "loss.db", risk=risk)
    trader.run(ReplayFeed(prices).bars())
    state, reason = journal.trading_state()
    assert state == "HALTED" and reason.startswith("daily loss limit")
    journal.close()


def test_reconciliation_reports_and_adopts(tmp_path: Path) -> None:
    prices = gbm_prices(3, 60, seed=7)
    journal, broker, trader = open_session(tmp_path / "r.db")
    trader.run(ReplayFeed(prices).bars())
    broker.mark(date(2031, 1, 1), {"S0": Decimal(10)})
    broker.submit(OrderRequest("foreign-1", "S0", Side.BUY, Decimal(3)))  # someone else trades
    journal.close()
    journal, broker, trader = open_session(tmp_path / "r.db")
    with pytest.raises(ReconciliationError, match="position S0"):
        trader.reconcile()
    last = journal.last_reconciliation()
    assert last is not None and not last["ok"]
    report = trader.reconcile(adopt=True)
    assert report.adopted
    assert {p.symbol: p.quantity for p in broker.positions()} == {
        s: p.quantity for s, p in journal.positions().items()
    }
    assert trader.reconcile().ok
    journal.close()


def test_fill_while_down_is_recorded_once(tmp_path: Path) -> None:
    prices = gbm_prices(3, 80, seed=11)
    journal, broker, trader = open_session(tmp_path / "d.db", fill_delay_marks=1)
    bars = list(ReplayFeed(prices).bars())
    trader.run(bars[:40])
    open_before = [o.client_order_id for o in journal.live_orders()]
    journal.close()
    # The broker keeps trading while the trader is down: the next mark fills the orders.
    journal, broker, trader = open_session(tmp_path / "d.db", fill_delay_marks=1)
    broker.mark(bars[40].day, bars[40].prices)
    report = trader.reconcile()
    assert len(report.fills_recorded) == len(open_before)
    assert trader.reconcile().fills_recorded == []
    trader.run(bars[40:])
    assert trader.reconcile().ok
    ids = [f.fill_id for f in journal.fills()]
    assert len(ids) == len(set(ids))
    journal.close()


def test_unknown_submit_outcome_is_resolved_by_lookup(tmp_path: Path) -> None:
    from tradefolio.live.broker import SubmitOutcomeUnknown

    class LosesAnswers:
        """Places every third order but raises a timeout, as if the answer was lost."""

        def __init__(self, inner: PaperBroker) -> None:
            self.inner = inner
            self.calls = 0

        def __getattr__(self, name: str) -> object:
            return getattr(self.inner, name)

        def submit(self, order: OrderRequest):  # type: ignore[no-untyped-def]
            self.calls += 1
            report = self.inner.submit(order)
            if self.calls % 3 == 0:
                raise SubmitOutcomeUnknown("read timeout")
            return report

    prices = gbm_prices(4, 150, seed=3)
    ref, _, ref_trader = open_session(tmp_path / "ref.db", costs=COSTS)
    ref_trader.run(ReplayFeed(prices).bars())
    journal = Journal.open(tmp_path / "x.db")
    journal.initialise(Decimal(100_000), {})
    paper = PaperBroker(journal.connection, Decimal(100_000), COSTS)
    flaky = LosesAnswers(paper)
    trader = LiveTrader(
        journal=journal,
        broker=flaky,
        strategy=sma_cross(5, 15),
        sizer=WeightSizer(0.2),  # type: ignore[arg-type]
        costs=COSTS,
        market=paper,
    )
    trader.run(ReplayFeed(prices).bars())
    assert flaky.calls >= 3
    assert _summary(journal)[1:] == _summary(ref)[1:]
    events = journal.connection.execute(
        "SELECT count(*) FROM order_events WHERE to_status = 'unknown'"
    ).fetchone()[0]
    assert events == flaky.calls // 3


class _PlainVenue:
    """A broker without native OCO groups (the paper broker seen through a plain facade)."""

    def __init__(self, inner: object) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    def __repr__(self) -> str:
        return "PlainVenue()"


def test_a_broker_without_native_groups_gets_the_traders_oco_and_says_so(
    tmp_path: Path,
) -> None:
    from tradefolio.execution.orders import ProtectiveExits
    from tradefolio.live.paper import PaperBroker
    from unit.live.live_helpers import EnterOnEveryBar, FixedUnits, flat_bars

    journal = Journal.open(tmp_path / "j.db")
    journal.initialise(Decimal(10_000), {})
    paper = PaperBroker(journal.connection, Decimal(10_000))
    notes: list[str] = []
    trader = LiveTrader(
        journal=journal, broker=_PlainVenue(paper), strategy=EnterOnEveryBar(),  # type: ignore[arg-type]
        sizer=FixedUnits(10), market=paper,
        exits=ProtectiveExits(stop_loss=0.05, take_profit=0.10), notify=notes.append,
    )  # fmt: skip
    for bar in flat_bars(3, {"AAA": Decimal(100)}):
        trader.process_bar(bar)
    assert len(notes) == 1 and "places no native OCO groups" in notes[0], notes
    legs = [o for o in journal.all_orders() if o.is_protective]
    assert {o.role for o in legs} == {"stop", "take"} and len(legs) == 2
    assert all(o.status.value == "submitted" for o in legs)
