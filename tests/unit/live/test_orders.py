from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradefolio.live.orders import (
    TERMINAL_STATUSES,
    TRANSITIONS,
    InvalidTransition,
    OrderStatus,
    Side,
    check_transition,
    client_order_id,
)


def test_client_order_id_is_deterministic_and_distinct() -> None:
    a = client_order_id("abcdef0123", date(2024, 1, 2), "BRK.B", Side.BUY)
    assert a == client_order_id("abcdef0123", date(2024, 1, 2), "BRK.B", Side.BUY)
    others = {
        client_order_id("abcdef0123", date(2024, 1, 2), "BRK_B", Side.BUY),
        client_order_id("abcdef0123", date(2024, 1, 2), "BRK.B", Side.SELL),
        client_order_id("abcdef0123", date(2024, 1, 3), "BRK.B", Side.BUY),
        client_order_id("abcdef0124", date(2024, 1, 2), "BRK.B", Side.BUY),
    }
    assert a not in others and len(others) == 4
    assert len(a) <= 48 and a.startswith("tf-abcdef01-20240102-BRK_B-b-")


@given(st.lists(st.sampled_from(list(OrderStatus)), max_size=12))
def test_random_walks_never_leave_a_terminal_state(path: list[OrderStatus]) -> None:
    status = OrderStatus.PENDING_SUBMIT
    for new in path:
        try:
            check_transition(status, new)
        except InvalidTransition:
            assert new not in TRANSITIONS[status]
            assert not (new is status and status not in TERMINAL_STATUSES)
            continue
        assert status not in TERMINAL_STATUSES
        status = new


def test_terminal_states_have_no_exits_and_every_state_is_reachable() -> None:
    for status in TERMINAL_STATUSES:
        assert not TRANSITIONS[status]
        with pytest.raises(InvalidTransition):
            check_transition(status, status)
    reachable = {OrderStatus.PENDING_SUBMIT}
    frontier = [OrderStatus.PENDING_SUBMIT]
    while frontier:
        for nxt in TRANSITIONS[frontier.pop()]:
            if nxt not in reachable:
                reachable.add(nxt)
                frontier.append(nxt)
    assert reachable == set(OrderStatus)
    with pytest.raises(InvalidTransition):
        check_transition(OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED)
