"""One bar blocks at most `cancel_wait` (5 s) in polled cancels, however many resized
names wait on the venue's pending cancels (it slept 10 s for one name, 40 s for four)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

pytest.importorskip("alpaca")
from support.fake_alpaca import FakeAlpaca
from tradefolio.execution.orders import ProtectiveExits
from tradefolio.live.strategy import Action, Intent
from unit.live.live_helpers import fake_session, flat_bars

SYMS = ["AAA", "BBB", "CCC", "DDD"]


class EnterAll:
    def intents(self, history):  # type: ignore[no-untyped-def]
        return [Intent(s, Action.ENTER) for s in SYMS] if len(history) else []


@pytest.mark.parametrize("n", [1, 4])
def test_bar_block(tmp_path: Path, n: int) -> None:
    global SYMS
    SYMS = ["AAA", "BBB", "CCC", "DDD"][:n]
    prices = {s: Decimal(100) for s in SYMS}
    with FakeAlpaca(cash=Decimal(100_000), prices=prices, max_fill_per_step=Decimal(4)) as fake:
        fake.cancel_pending_reads = 10_000  # cancels stay pending for the whole bar
        slept: list[float] = []
        notes: list[str] = []
        _journal, trader = fake_session(
            fake,
            tmp_path / "j.db",
            exits=ProtectiveExits(stop_loss=0.05, take_profit=0.10),
            strategy=EnterAll(),
            notify=notes.append,
            sleep=slept.append,
        )
        per_bar = []
        for bar in flat_bars(3, prices):
            before = len(slept)
            trader.process_bar(bar)
            per_bar.append(round(sum(slept[before:]), 2))
        assert max(per_bar) <= 5.0, per_bar  # cancel_wait bounds the whole bar
