"""An entry that filled at the venue while the trader was down is protected after restart.

The oracle is the fake Alpaca's order book: after the restart reconciles the fill, the
position must carry its stop and take-profit at the venue, for the shares held.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

pytest.importorskip("alpaca")

from support.fake_alpaca import FakeAlpaca
from tradefolio.execution.orders import ProtectiveExits
from tradefolio.live.journal import Journal
from tradefolio.live.trader import LiveTrader
from unit.live.live_helpers import EnterOnEveryBar, FixedUnits, fake_broker, fake_session, flat_bars

EXITS = ProtectiveExits(stop_loss=0.05, take_profit=0.10)


class Crash(Exception):
    """The kill -9 stand-in: raised at a durable point."""


def test_an_entry_filled_while_down_gets_its_exits_at_the_venue(tmp_path: Path) -> None:
    with FakeAlpaca(cash=Decimal(10_000), prices={"AAA": Decimal(100)}) as fake:
        path = tmp_path / "journal.db"
        bars = flat_bars(3, {"AAA": Decimal(100)})
        fired: list[str] = []

        def crash_after_submit(name: str) -> None:
            if name == "after_submit" and not fired:
                fired.append(name)
                raise Crash(name)

        journal, trader = fake_session(fake, path, exits=EXITS, checkpoint=crash_after_submit)
        with pytest.raises(Crash):
            trader.process_bar(bars[0])
        fake.mark(bars[0].day, {"AAA": Decimal(100)})  # the buy fills while the trader is down
        held = fake.positions["AAA"][0]
        assert held > 0
        journal.close()

        journal, trader = fake_session(fake, path, exits=EXITS)
        trader.reconcile()
        trader.process_bar(bars[0])
        trader.process_bar(bars[1])

        open_sells = [o for o in fake.orders.values() if o.open and o.side == "sell"]
        stops = [o for o in open_sells if o.stop_price is not None]
        takes = [o for o in open_sells if o.limit_price is not None]
        assert [Decimal(o.qty) for o in stops] == [held]
        assert [Decimal(o.qty) for o in takes] == [held]
        journal.close()


def test_a_partly_filled_take_profit_leaves_the_rest_under_a_stop(tmp_path: Path) -> None:
    # The take-profit fills 4 of 10 (the venue fills at most 4 a step); its OCO stop is
    # cancelled with it. The 6 shares left must get a stop again, not ride on the take alone.
    with FakeAlpaca(
        cash=Decimal(10_000), prices={"AAA": Decimal(100)}, max_fill_per_step=Decimal(4)
    ) as fake:
        journal = Journal.open(tmp_path / "journal.db")
        journal.initialise(Decimal(10_000), {})
        trader = LiveTrader(
            journal=journal,
            broker=fake_broker(fake),
            strategy=EnterOnEveryBar(),
            sizer=FixedUnits(10),
            exits=EXITS,
        )
        bars = flat_bars(6, {"AAA": Decimal(100)})
        for bar in bars[:3]:
            trader.process_bar(bar)
            fake.mark(bar.day, {"AAA": Decimal(100)})
        fake.mark(bars[3].day, {"AAA": Decimal(111)})  # the take at 110 fills 4
        for bar in bars[3:]:
            trader.process_bar(bar)
            held = fake.positions.get("AAA", (Decimal(0),))[0]
            stops = sum(
                (
                    Decimal(o.qty) - Decimal(o.filled_qty)
                    for o in fake.orders.values()
                    if o.open and o.side == "sell" and o.stop_price is not None
                ),
                Decimal(0),
            )
            assert stops == held, f"{bar.day}: {held} held, {stops} under a stop"
        journal.close()
