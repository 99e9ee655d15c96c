"""Crash test of protective exits: SIGKILL a paper session with stops and take-profits.

Every filled entry gets a stop at fill x 0.97 and a take-profit at fill x 1.05 (one OCO
group), matched by the paper broker on each bar's range. The points cover the new durable
steps as well as the old ones: `after_protect_journal` (exits journaled, not sent),
`in_match` (inside the bar's matching transaction, before each resting order),
`after_match` (the bar's stops and take-profits filled at the venue, none of it recorded),
plus the crash test's `after_plan` ... `after_bar`. The oracle is the venue's order list
(every client id once, the same orders, statuses and fills as an uninterrupted run) and
the journal agreeing with it.

Three situations are forced on purpose, besides the seeded kills: open protective orders
at kill time (every kill after the first entry), a stop that fills while the trader is
down (killed right after a match that filled a leg the journal has not recorded: the
restart records the fill, the other leg is canceled, nothing is sent twice), and a bracket
half-filled (entries filled a few units per mark: killed while an entry is partially
filled; its filled part is protected at once and the exits follow each larger fill, each
generation placed once, the older one cancelled).
"""

from __future__ import annotations

import os
import signal
import sqlite3
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tradefolio.execution.orders import ProtectiveExits
from tradefolio.live.journal import Journal
from tradefolio.live.paper import PaperBroker
from tradefolio.live.trader import exit_generations
from unit.live.live_helpers import gbm_prices
from unit.live.test_crash import _session as crash_session
from unit.live.test_crash import _state

EXITS = ProtectiveExits(stop_loss=0.03, take_profit=0.05)
POINTS = (
    "after_plan",
    "before_submit",
    "after_submit",
    "after_record",
    "after_protect_journal",
    "in_match",
    "after_match",
    "after_bar",
)

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

#: A leg filled at the venue that the journal has not recorded (a stop filled while down).
UNRECORDED_LEG = (
    "SELECT count(*) FROM paper_orders p JOIN orders o USING (client_order_id) "
    "WHERE p.status = 'filled' AND o.status != 'filled' AND o.parent_id IS NOT NULL"
)
#: An entry partially filled at the venue.
HALF_FILLED = "SELECT count(*) FROM paper_orders WHERE status = 'partially_filled' AND side = 'buy'"


def _forced(situation: str) -> Callable[[str, sqlite3.Connection], bool]:
    """Kill at every occurrence of `situation` (checked at its point)."""
    point, query = {
        "leg_filled_while_down": ("after_match", UNRECORDED_LEG),
        "half_filled": ("after_bar", HALF_FILLED),
    }[situation]
    return lambda name, db: name == point and bool(db.execute(query).fetchone()[0])


def _session(
    path: Path,
    prices: pd.DataFrame,
    kill: tuple[str, int] | str | None,
    delay: int,
    partial: Decimal | None,
) -> int:
    """The crash test's session with the exits; `kill` is a seeded (point, n-th passage)
    or the name of a forced situation."""
    if isinstance(kill, str):
        return crash_session(
            path, prices, None, delay, partial, exits=EXITS, kill_when=_forced(kill)
        )
    return crash_session(path, prices, kill, delay, partial, exits=EXITS)


def _venue(path: Path) -> list[tuple[object, ...]]:
    journal = Journal.open(path)
    broker = PaperBroker(journal.connection, Decimal(0))
    orders = [
        (o.symbol, o.side, o.type, o.quantity, o.status, o.filled_quantity, o.stop_price,
         o.limit_price)
        for o in broker.all_orders()
    ]  # fmt: skip
    journal.close()
    return orders


@pytest.mark.parametrize(("seed", "delay", "partial"), [(11, 0, None), (12, 1, Decimal(40))])
def test_sigkill_with_protective_orders_changes_nothing(
    tmp_path: Path, seed: int, delay: int, partial: Decimal | None
) -> None:
    prices = gbm_prices(3, 120, seed=seed)
    reference = tmp_path / "reference.db"
    assert _session(reference, prices, None, delay, partial) == 0
    expected = _state(reference)
    venue = _venue(reference)
    legs_filled = [o[2].value for o in venue if o[2].value != "market" and o[4].value == "filled"]
    assert "stop" in legs_filled and len(legs_filled) >= 2  # stops (and take-profits) fired
    assert sum(1 for o in venue if o[2].value != "market" and o[4].value == "canceled") >= 2

    rng = np.random.default_rng(seed)
    crashed = tmp_path / "crashed.db"
    killed_at: set[str] = set()
    kills = 0
    for attempt in range(200):
        point = POINTS[attempt % len(POINTS)]
        status = _session(crashed, prices, (point, int(rng.integers(2, 12))), delay, partial)
        assert status in (0, -signal.SIGKILL), f"run failed with status {status}"
        if status == 0:
            if kills >= 16 and killed_at == set(POINTS):
                break
            assert _state(crashed) == expected and _venue(crashed) == venue
            for suffix in ("", "-wal", "-shm"):
                Path(f"{crashed}{suffix}").unlink(missing_ok=True)
            continue
        kills += 1
        killed_at.add(point)
    assert killed_at == set(POINTS)
    assert _state(crashed) == expected
    assert _venue(crashed) == venue


@pytest.mark.parametrize(
    ("situation", "delay", "partial"),
    [("leg_filled_while_down", 0, None), ("half_filled", 1, Decimal(40))],
)
def test_forced_situations_resume_to_the_uninterrupted_run(
    tmp_path: Path, situation: str, delay: int, partial: Decimal | None
) -> None:
    prices = gbm_prices(3, 120, seed=13)
    reference = tmp_path / "reference.db"
    assert _session(reference, prices, None, delay, partial) == 0
    crashed = tmp_path / "crashed.db"
    kills = 0
    while _session(crashed, prices, situation, delay, partial) == -signal.SIGKILL:
        kills += 1  # killed at every occurrence of the situation, resumed each time
        assert kills < 100
    assert kills >= 2, "the situation never arose"
    assert _state(crashed) == _state(reference)  # every client id once at the venue
    assert _venue(crashed) == _venue(reference)
    journal = Journal.open(crashed)
    broker = PaperBroker(journal.connection, Decimal(0))
    for group in {o.oco_group for o in broker.all_orders() if o.oco_group}:
        legs = [o for o in broker.all_orders() if o.oco_group == group]
        assert sum(1 for o in legs if o.filled_quantity) <= 1, f"both legs of {group} filled"
        if any(o.filled_quantity for o in legs):
            assert all(o.status.value in ("filled", "canceled") for o in legs)
    entries = [o for o in journal.all_orders() if o.role == "enter" and o.filled_quantity]
    resized = 0
    for entry in entries:
        # One generation of exits per fill size (none: sold before it was protected), each
        # a stop and a take-profit placed once; the older ones cancelled unfilled or, when
        # one of their legs sold, the trade's end.
        generations = list(exit_generations(journal.children_of(entry.client_order_id)).values())
        resized += len(generations) > 1
        assert all(sorted(o.role for o in g) == ["stop", "take"] for g in generations)
        sold = sum((o.filled_quantity for g in generations for o in g), Decimal(0))
        assert sold <= entry.filled_quantity
        if generations and not sold:
            assert generations[-1][0].quantity == entry.filled_quantity
        for older in generations[:-1]:
            assert all(o.status.value in ("filled", "canceled") for o in older)
    if situation == "half_filled":
        assert resized, "no entry's exits followed a partial fill"
    journal.close()
