"""Alpaca's native order classes through `AlpacaBroker`, against the loopback fake Alpaca.

The oracle is what reached the venue: the JSON body of every POST / PATCH (`fake.bodies`),
and the venue's own order state after it acted on price marks (a filled stop leg cancels
the take-profit at the venue, not in the adapter)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

pytest.importorskip("alpaca", reason="needs the alpaca extra: pip install 'tradefolio[alpaca]'")

from support.fake_alpaca import REPLACE, SUBMIT, FakeAlpaca
from tradefolio.execution.orders import OrderType, TimeInForce
from tradefolio.live.alpaca import AlpacaBroker, NotNative
from tradefolio.live.broker import OrderRejected, SubmitOutcomeUnknown
from tradefolio.live.orders import OrderRequest, OrderStatus, Side
from unit.live.live_helpers import fake_broker

DAY = date(2024, 3, 1)
D = Decimal


@pytest.fixture
def fake() -> Iterator[FakeAlpaca]:
    with FakeAlpaca(prices={"AAA": D(100)}) as server:
        # Shares to sell: the fake refuses, as Alpaca does, a sell beyond the free position.
        server.positions["AAA"] = (D(1000), D(100))
        yield server


def _order(cid: str, side: Side = Side.SELL, quantity: str = "10", **terms: Any) -> OrderRequest:
    return OrderRequest(cid, "AAA", side, D(quantity), **terms)


def _stop(cid: str = "x-stop", price: str = "95", **terms: Any) -> OrderRequest:
    terms.setdefault("oco_group", "x-oco")
    return _order(cid, type=OrderType.STOP, stop_price=D(price), parent_id="x", **terms)


def _take(cid: str = "x-take", price: str = "110", **terms: Any) -> OrderRequest:
    terms.setdefault("oco_group", "x-oco")
    return _order(cid, type=OrderType.LIMIT, limit_price=D(price), parent_id="x", **terms)


def _posted(fake: FakeAlpaca) -> dict[str, Any]:
    method, path, body = fake.bodies[-1]
    assert (method, path) == ("POST", "/v2/orders")
    assert isinstance(body, dict)
    return body


def _status(broker: AlpacaBroker, cid: str) -> OrderStatus:
    report = broker.get_order(cid)
    assert report is not None
    return report.status


# -- simple orders ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("terms", "sent"),
    [
        ({}, {"type": "market", "time_in_force": "day"}),
        (
            {"type": OrderType.LIMIT, "limit_price": D("99.5"), "time_in_force": TimeInForce.GTC},
            {"type": "limit", "limit_price": 99.5, "time_in_force": "gtc"},
        ),
        (
            {"type": OrderType.STOP, "stop_price": D("95.25")},
            {"type": "stop", "stop_price": 95.25, "time_in_force": "day"},
        ),
        (
            {
                "type": OrderType.STOP_LIMIT,
                "stop_price": D("95"),
                "limit_price": D("94.5"),
                "time_in_force": TimeInForce.GTC,
            },
            {"type": "stop_limit", "stop_price": 95.0, "limit_price": 94.5, "time_in_force": "gtc"},
        ),
        (
            {"type": OrderType.TRAILING_STOP, "trail_percent": D("0.05")},
            {"type": "trailing_stop", "trail_percent": 5.0, "time_in_force": "day"},
        ),
        (
            {"type": OrderType.TRAILING_STOP, "trail_amount": D("2.5")},
            {"type": "trailing_stop", "trail_price": 2.5, "time_in_force": "day"},
        ),
    ],
)
def test_simple_orders_reach_alpaca_in_their_native_form(
    fake: FakeAlpaca, terms: dict[str, Any], sent: dict[str, Any]
) -> None:
    fake.auto_fill = False
    broker = fake_broker(fake)
    report = broker.submit(_order("c-1", **terms))
    body = _posted(fake)
    assert body == {
        "symbol": "AAA",
        "qty": 10.0,
        "side": "sell",
        "client_order_id": "c-1",
        **sent,
    }
    # The report carries the terms back as Alpaca holds them (trail in our unit).
    assert report.type is terms.get("type", OrderType.MARKET)
    assert report.time_in_force is terms.get("time_in_force", TimeInForce.DAY)
    assert report.limit_price == terms.get("limit_price")
    assert report.trail_percent == terms.get("trail_percent")
    assert report.trail_amount == terms.get("trail_amount")
    if report.type is not OrderType.TRAILING_STOP:
        assert report.stop_price == terms.get("stop_price")


def test_stops_limits_and_trailing_stops_fill_where_the_venue_triggers_them(
    fake: FakeAlpaca,
) -> None:
    broker = fake_broker(fake)
    broker.submit(_order("stop", type=OrderType.STOP, stop_price=D(95)))
    broker.submit(_order("take", type=OrderType.LIMIT, limit_price=D(105)))
    broker.submit(_order("trail", type=OrderType.TRAILING_STOP, trail_percent=D("0.1")))
    assert [_status(broker, c) for c in ("stop", "take", "trail")] == [OrderStatus.SUBMITTED] * 3
    fake.mark(DAY, {"AAA": D(120)})  # the limit fills; the trailing stop's level rises to 108
    take = broker.get_order("take")
    assert take is not None and take.status is OrderStatus.FILLED and take.avg_fill_price == 120
    trail = broker.get_order("trail")
    assert trail is not None and trail.stop_price == D(108)
    fake.mark(DAY, {"AAA": D(107)})  # below the trailing level, above the stop
    trail = broker.get_order("trail")
    assert trail is not None and trail.status is OrderStatus.FILLED and trail.avg_fill_price == 107
    assert _status(broker, "stop") is OrderStatus.SUBMITTED
    fake.mark(DAY, {"AAA": D(94)})
    assert _status(broker, "stop") is OrderStatus.FILLED


# -- OCO and bracket ---------------------------------------------------------------------------


def test_an_oco_group_is_one_native_order_and_a_filled_stop_cancels_the_take_profit(
    fake: FakeAlpaca,
) -> None:
    broker = fake_broker(fake)
    stop, take = _stop(), _take(time_in_force=TimeInForce.GTC)
    with pytest.raises(NotNative, match="time in force"):
        broker.submit_group([stop, take])  # exits of different times in force
    stop = _stop(time_in_force=TimeInForce.GTC)
    reports = broker.submit_group([stop, take])
    assert _posted(fake) == {
        "symbol": "AAA",
        "qty": 10.0,
        "side": "sell",
        "type": "limit",
        "limit_price": 110.0,
        "time_in_force": "gtc",
        "client_order_id": "x-take",
        "order_class": "oco",
        "take_profit": {"limit_price": 110.0},
        "stop_loss": {"stop_price": 95.0},
    }
    assert [r.client_order_id for r in reports] == ["x-stop", "x-take"]
    assert [r.type for r in reports] == [OrderType.STOP, OrderType.LIMIT]
    assert len(fake.client_ids()) == 2  # the take-profit and its stop leg
    assert sorted(o.client_order_id for o in broker.open_orders()) == ["x-stop", "x-take"]
    fake.mark(DAY, {"AAA": D(94)})
    stopped = broker.get_order("x-stop")
    assert stopped is not None and stopped.status is OrderStatus.FILLED
    assert stopped.avg_fill_price == 94
    assert _status(broker, "x-take") is OrderStatus.CANCELED  # by the venue
    assert broker.open_orders() == []
    assert [f.client_order_id for f in broker.fills_since(stopped_at_least(fake))] == ["x-stop"]


def stopped_at_least(fake: FakeAlpaca) -> Any:
    """A time before every order of `fake` was touched."""
    return min(o.submitted_at for o in fake.orders.values())


def test_a_bracket_holds_its_legs_until_the_entry_fills(fake: FakeAlpaca) -> None:
    fake.auto_fill = False
    fake.positions.clear()  # the bracket's own entry buys the shares its legs sell
    broker = fake_broker(fake)
    entry = _order("x", Side.BUY)
    reports = broker.submit_group([entry, _stop(), _take()])
    body = _posted(fake)
    assert body["order_class"] == "bracket" and body["type"] == "market"
    assert body["take_profit"] == {"limit_price": 110.0}
    assert body["stop_loss"] == {"stop_price": 95.0}
    assert [r.status for r in reports] == [OrderStatus.SUBMITTED] * 3
    assert [fake.orders[r.broker_order_id].status for r in reports] == ["new", "held", "held"]
    fake.mark(DAY, {"AAA": D(105)})  # the entry fills; the legs become active
    assert _status(broker, "x") is OrderStatus.FILLED
    assert [fake.orders[r.broker_order_id].status for r in reports[1:]] == ["new", "new"]
    fake.mark(DAY, {"AAA": D(112)})
    assert _status(broker, "x-take") is OrderStatus.FILLED
    assert _status(broker, "x-stop") is OrderStatus.CANCELED
    assert fake.positions == {}  # bought 10, sold 10


def test_groups_without_a_native_form_are_refused_before_anything_is_sent(
    fake: FakeAlpaca,
) -> None:
    broker = fake_broker(fake)
    trailing = _order(
        "x-trail",
        type=OrderType.TRAILING_STOP,
        trail_percent=D("0.05"),
        parent_id="x",
        oco_group="x-oco",
    )
    cases: list[tuple[list[OrderRequest], str]] = [
        ([trailing, _take()], "trailing stop cannot be a leg"),
        ([_stop(), _take(), trailing], "got 3 order"),
        ([_stop(), _stop("x-stop2", "90")], "at most one take-profit limit and one stop"),
        ([_stop(quantity="2.5"), _take(quantity="2.5")], "fractional"),
        ([_order("x", Side.BUY, type=OrderType.STOP, stop_price=D(120)), _stop()], "entry"),
        ([_stop(), _take(oco_group="other")], "OCO groups"),
    ]
    for orders, reason in cases:
        with pytest.raises(NotNative, match=reason) as info:
            broker.submit_group(orders)
        assert not info.value.retryable
    for alone, reason in [
        (_order("f", quantity="0.5", type=OrderType.LIMIT, limit_price=D(99)), "fractional"),
        (_order("g", quantity="0.5", time_in_force=TimeInForce.GTC), "fractional"),
    ]:
        with pytest.raises(NotNative, match=reason):
            broker.submit(alone)
    assert fake.bodies == []  # nothing reached the venue
    broker.submit(_order("frac", quantity="0.5"))  # a fractional day market order is native
    assert _posted(fake)["qty"] == 0.5


def test_prices_go_on_alpacas_tick_never_less_protective(fake: FakeAlpaca) -> None:
    fake.auto_fill = False
    broker = fake_broker(fake)
    report = broker.submit(_order("s", type=OrderType.STOP, stop_price=D("54.796")))
    assert _posted(fake)["stop_price"] == 54.80 and report.stop_price == D("54.8")
    broker.submit(_order("b", Side.BUY, type=OrderType.LIMIT, limit_price=D("99.999")))
    assert _posted(fake)["limit_price"] == 99.99
    broker.submit(_order("p", type=OrderType.LIMIT, limit_price=D("0.12341")))
    assert _posted(fake)["limit_price"] == 0.1235
    broker.submit(_order("t", type=OrderType.TRAILING_STOP, trail_amount=D("1.239")))
    assert _posted(fake)["trail_price"] == 1.23
    status, payload, _ = fake.handle(
        "POST",
        "/v2/orders",
        {},
        {"symbol": "AAA", "qty": "1", "side": "sell", "type": "stop", "stop_price": "54.796",
         "time_in_force": "day", "client_order_id": "raw"},
    )  # fmt: skip
    assert status == 422 and "sub-penny" in payload["message"]


def test_two_exits_of_one_position_need_the_native_group(fake: FakeAlpaca) -> None:
    """Alpaca holds a position's shares for its open sells: a stop and a take-profit sent
    one by one leave the second refused; as one OCO both are held."""
    fake.positions.clear()
    broker = fake_broker(fake)
    broker.submit(_order("x", Side.BUY))  # 10 shares held
    alone = broker.submit(_stop())  # an exit submitted alone: a simple stop
    assert _posted(fake)["type"] == "stop" and "order_class" not in _posted(fake)
    assert alone.status is OrderStatus.SUBMITTED
    with pytest.raises(OrderRejected, match="insufficient qty available") as info:
        broker.submit(_take())
    assert not info.value.retryable
    broker.cancel("x-stop")
    reports = broker.submit_group([_stop("x-stop-b"), _take("x-take-b")])
    assert [r.status for r in reports] == [OrderStatus.SUBMITTED] * 2


def test_the_fake_refuses_what_alpaca_refuses(fake: FakeAlpaca) -> None:
    """The oracle's own rules: bodies the adapter never sends still get Alpaca's 422."""
    base = {"symbol": "AAA", "qty": "10", "side": "sell", "time_in_force": "day"}
    refused = [
        {**base, "type": "limit", "order_class": "oco", "limit_price": "110",
         "take_profit": {"limit_price": "110"},
         "stop_loss": {"stop_price": "95", "trail_percent": "5"}},
        {**base, "type": "market", "order_class": "oco",
         "take_profit": {"limit_price": "110"}, "stop_loss": {"stop_price": "95"}},
        {**base, "type": "limit", "order_class": "oco", "limit_price": "90",
         "take_profit": {"limit_price": "90"}, "stop_loss": {"stop_price": "95"}},
        {**base, "type": "trailing_stop", "trail_percent": "5", "trail_price": "1"},
        {**base, "type": "stop"},
        {**base, "type": "market", "limit_price": "10"},
        {**base, "qty": "0.5", "type": "limit", "limit_price": "99"},
        {**base, "type": "market", "time_in_force": "ioc"},
    ]  # fmt: skip
    for n, body in enumerate(refused):
        status, payload, _ = fake.handle(
            "POST", "/v2/orders", {}, {**body, "client_order_id": f"r{n}"}
        )
        assert status == 422, (body, payload)
    assert fake.orders == {}


# -- replace, lost answers, restart -------------------------------------------------------------


def test_replace_moves_a_stop_leg_and_the_group_still_cancels_at_the_venue(
    fake: FakeAlpaca,
) -> None:
    broker = fake_broker(fake)
    broker.submit_group([_stop(), _take()])
    moved = _stop("x-stop-2", "98")
    report = broker.replace("x-stop", moved)
    method, path, body = fake.bodies[-1]
    assert method == "PATCH" and path.startswith("/v2/orders/")
    assert body == {"stop_price": 98.0, "client_order_id": "x-stop-2"}
    assert report.client_order_id == "x-stop-2" and report.stop_price == 98
    assert _status(broker, "x-stop") is OrderStatus.CANCELED  # Alpaca's "replaced"
    fake.mark(DAY, {"AAA": D("97.5")})  # under the new stop, above the old one
    assert _status(broker, "x-stop-2") is OrderStatus.FILLED
    assert _status(broker, "x-take") is OrderStatus.CANCELED
    with pytest.raises(NotNative, match="type"):
        broker.replace("x-take", _order("y", type=OrderType.MARKET))
    with pytest.raises(OrderRejected, match="does not hold"):
        broker.replace("never-sent", _order("z"))


def test_a_replace_whose_answer_is_lost_is_resolved_by_looking_up_the_new_id(
    fake: FakeAlpaca,
) -> None:
    fake.auto_fill = False
    broker = fake_broker(fake)
    broker.submit(_order("lim", type=OrderType.LIMIT, limit_price=D(105)))
    fake.inject(REPLACE, 504, accept=True)
    with pytest.raises(SubmitOutcomeUnknown):
        broker.replace("lim", _order("lim-2", type=OrderType.LIMIT, limit_price=D(106)))
    found = broker.get_order("lim-2")
    assert found is not None and found.limit_price == 106
    assert [m for m, p, _ in fake.bodies if m == "PATCH"] == ["PATCH"]


def test_a_lost_group_submit_and_a_restart_are_resolved_by_track(fake: FakeAlpaca) -> None:
    broker = fake_broker(fake)
    group = [_stop(), _take()]
    assert broker.track(group) is None  # never placed
    fake.inject(SUBMIT, 504, accept=True)
    with pytest.raises(SubmitOutcomeUnknown):
        broker.submit_group(group)
    restarted = fake_broker(fake)  # a new process: it knows no legs yet
    assert restarted.get_order("x-stop") is None
    tracked = restarted.track(group)
    assert tracked is not None and [r.status for r in tracked] == [OrderStatus.SUBMITTED] * 2
    fake.mark(DAY, {"AAA": D(111)})
    assert _status(restarted, "x-take") is OrderStatus.FILLED
    assert _status(restarted, "x-stop") is OrderStatus.CANCELED
    # A resend under the same client id is a duplicate: the venue's order is the answer.
    again = restarted.submit_group(group)
    assert [r.status for r in again] == [OrderStatus.CANCELED, OrderStatus.FILLED]
    assert fake.post_attempts["x-take"] == 2 and len(fake.client_ids()) == 2
