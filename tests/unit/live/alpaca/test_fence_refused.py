"""39ee0b6: an inherited PENDING_SUBMIT superseded exit (never sent: the crash came right
after it was journaled) is fenced by a resend of its own quantity. If the free position is
now smaller (its older exit's stop sold some while the trader was down), the venue refuses
the resend; the refusal leaves it UNKNOWN, but the new exits (which cover every share
held, so a late original finds none free) are sent at once, not after the broker's
certainty (ACCEPTANCE_WINDOW, 5 min, a whole daily bar with the shares unprotected)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

pytest.importorskip("alpaca")
from support.fake_alpaca import FakeAlpaca
from tradefolio.execution.orders import ProtectiveExits
from unit.live.live_helpers import fake_session, flat_bars

EXITS = ProtectiveExits(stop_loss=0.05, take_profit=0.10)


class Crash(Exception):
    pass


def held(fake: FakeAlpaca) -> Decimal:
    return fake.positions.get("AAA", (Decimal(0), Decimal(0)))[0]


def protecting(fake: FakeAlpaca) -> Decimal:
    return sum(
        (
            o.qty - o.filled_qty
            for o in fake.orders.values()
            if o.protecting and o.side == "sell" and o.parent is None
        ),
        Decimal(0),
    )


@pytest.mark.parametrize("window_min", [5, 0])
def test_fence_refused(tmp_path: Path, window_min: int) -> None:
    with FakeAlpaca(
        cash=Decimal(10_000), prices={"AAA": Decimal(100)}, max_fill_per_step=Decimal(4)
    ) as fake:
        path = tmp_path / "j.db"
        bars = flat_bars(5, {"AAA": Decimal(100)})
        crashed: list[str] = []

        def first(name: str) -> None:
            if name == "after_protect_journal" and held(fake) == 8 and not crashed:
                crashed.append(name)
                raise Crash(name)

        journal, trader = fake_session(
            fake, path, exits=EXITS, checkpoint=first, sleep=lambda _: None
        )
        trader.process_bar(bars[0])
        with pytest.raises(Crash):
            trader.process_bar(bars[1])
        journal.close()
        # while down: the price falls through the first exits' stop (95)
        fake.mark(bars[2].day, {"AAA": Decimal(94)})
        later = flat_bars(5, {"AAA": Decimal(94)})
        notes: list[str] = []
        journal, trader = fake_session(
            fake,
            path,
            exits=EXITS,
            notify=notes.append,
            sleep=lambda _: None,
            broker_options={"acceptance_window": timedelta(minutes=window_min)},
        )
        trader.reconcile()
        seen = []
        for bar in later[3:]:
            trader.process_bar(bar)
            seen.append((held(fake), protecting(fake)))
        assert all(h == p for h, p in seen), seen
