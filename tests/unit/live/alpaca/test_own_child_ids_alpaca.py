"""Own bracket child ids with a dash in the suffix (e1-stop-loss) at the fake Alpaca."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

pytest.importorskip("alpaca")
from support.fake_alpaca import FakeAlpaca
from unit.live.live_helpers import fake_session, flat_bars
from unit.live.test_own_child_ids import _source


@pytest.mark.parametrize("ids", [("e1-stop", "e1-take"), ("e1-stop-loss", "e1-take-profit")])
def test_cover(tmp_path: Path, ids: tuple[str, str]) -> None:
    with FakeAlpaca(
        cash=Decimal(10_000), prices={"AAA": Decimal(100)}, max_fill_per_step=Decimal(4)
    ) as fake:
        notes: list[str] = []
        _journal, trader = fake_session(
            fake,
            tmp_path / "j.db",
            strategy=_source(5, child_ids=ids),
            notify=notes.append,
            sleep=lambda _: None,
        )
        seen = []
        for bar in flat_bars(5, {"AAA": Decimal(100)}):
            trader.process_bar(bar)
            held = fake.positions.get("AAA", (Decimal(0), Decimal(0)))[0]
            cover = sum(
                (
                    o.qty - o.filled_qty
                    for o in fake.orders.values()
                    if o.open and o.side == "sell" and o.parent is None
                ),
                Decimal(0),
            )
            seen.append((held, cover))
        pass
        assert all(h == c for h, c in seen), seen
