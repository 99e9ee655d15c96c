"""Finding 7 of issue 13 (the rest of it): the journal is created 0600 and run folders
0700; a submit the venue refused before placing it (503/429/422) is retried within the
bar with backoff under the same client order id, and one that stays refused is reported
on stderr and in `live status` — through the loopback fake Alpaca."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from unit.live.live_helpers import (
    fake_session,
    flat_bars,
    gbm_prices,
    live_cli,
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_journal_and_run_folder_are_owner_only(tmp_path: Path) -> None:
    prices = tmp_path / "p.csv"
    gbm_prices(3, 60, seed=3).to_csv(prices)
    db = tmp_path / "j.db"
    runs = tmp_path / "runs"
    done = live_cli(
        ["--paper", "--prices", str(prices), "--db", str(db), "--out", str(runs), "--no-png"],
        {},
    )
    assert done.returncode == 0, done.stderr
    assert _mode(db) == 0o600
    for side in tmp_path.glob("j.db-*"):
        assert _mode(side) == 0o600, side
    folders = [p for p in runs.rglob("*") if p.is_dir()] + [runs]
    files = [p for p in runs.rglob("*") if p.is_file()]
    assert files, "no run folder was written"
    assert {_mode(p) for p in folders} == {0o700}
    assert {_mode(p) for p in files} == {0o600}


pytest.importorskip("alpaca", reason="needs the alpaca extra")

from support.fake_alpaca import KEY, SECRET, SUBMIT, FakeAlpaca  # noqa: E402
from tradefolio.cli.live import status_payload  # noqa: E402
from tradefolio.live.journal import Journal  # noqa: E402
from tradefolio.live.orders import OrderStatus  # noqa: E402
from tradefolio.live.trader import LiveTrader  # noqa: E402

PRICE = Decimal(50)


@pytest.fixture
def fake() -> Iterator[FakeAlpaca]:
    with FakeAlpaca(cash=Decimal(10_000), prices={"AAA": PRICE}) as server:
        yield server


def _trader(
    fake: FakeAlpaca, path: Path, waits: list[float], messages: list[str]
) -> tuple[Journal, LiveTrader]:
    return fake_session(fake, path, sleep=waits.append, notify=messages.append)


@pytest.mark.parametrize("status", [503, 429, 422])
def test_a_refused_submit_is_retried_within_the_bar(
    fake: FakeAlpaca, tmp_path: Path, status: int
) -> None:
    waits: list[float] = []
    messages: list[str] = []
    journal, trader = _trader(fake, tmp_path / "r.db", waits, messages)
    fake.inject(SUBMIT, status, times=2)  # refused twice, accepted the third time
    trader.process_bar(flat_bars(1, {"AAA": PRICE})[0])
    (order,) = journal.all_orders()
    assert order.status is OrderStatus.FILLED and order.filled_quantity == 10
    assert fake.client_ids() == [order.client_order_id]  # one order, one client id
    assert fake.post_attempts[order.client_order_id] == 3
    assert waits == [0.5, 1.0]  # backoff
    assert messages == []
    assert journal.cash() == fake.cash
    journal.close()


@pytest.mark.parametrize(
    ("status", "final"), [(503, OrderStatus.UNKNOWN), (422, OrderStatus.REJECTED)]
)
def test_a_submit_refused_every_time_is_reported(
    fake: FakeAlpaca, tmp_path: Path, status: int, final: OrderStatus
) -> None:
    waits: list[float] = []
    messages: list[str] = []
    journal, trader = _trader(fake, tmp_path / "x.db", waits, messages)
    fake.inject(SUBMIT, status, times=3)
    trader.process_bar(flat_bars(1, {"AAA": PRICE})[0])
    (order,) = journal.all_orders()
    assert order.status is final and fake.client_ids() == []
    assert fake.post_attempts[order.client_order_id] == 3
    (message,) = messages
    assert order.client_order_id in message and "after 3 attempts" in message
    problems = status_payload(journal)["problem_orders"]
    assert [(p["client_order_id"], p["status"]) for p in problems] == [
        (order.client_order_id, final.value)
    ]
    assert str(status) in problems[0]["detail"]
    journal.close()


def test_cli_reports_a_refused_order_on_stderr_and_in_status(tmp_path: Path) -> None:
    closes = gbm_prices(2, 40, seed=9)
    csv = tmp_path / "p.csv"
    closes.to_csv(csv)
    last = {str(s): Decimal(repr(float(v))) for s, v in closes.iloc[-1].items()}
    db = tmp_path / "a.db"
    args = ["--broker", "alpaca", "--prices", str(csv), "--db", str(db), "--no-record"]
    args += ["--strategy", "sma-cross", "--fast", "3", "--slow", "8", "--format", "json"]
    with FakeAlpaca(prices=last, cash=Decimal(50_000)) as fake:
        fake.inject(SUBMIT, 422, times=3)  # the session's first order is refused 3 times
        env = {"APCA_API_KEY_ID": KEY, "APCA_API_SECRET_KEY": SECRET}
        done = live_cli(args, {**env, "APCA_API_BASE_URL": fake.url})
        assert done.returncode == 0, done.stderr
        assert fake.client_ids(), "later orders went out"
    refused = [line for line in done.stderr.splitlines() if "rejected" in line]
    assert len(refused) == 1 and "after 3 attempts" in refused[0], done.stderr
    problems = json.loads(done.stdout)["problem_orders"]
    assert len(problems) == 1 and problems[0]["status"] == "rejected"
    assert problems[0]["client_order_id"] in refused[0]


def test_a_503_is_retried_with_the_default_backoff(fake: FakeAlpaca, tmp_path: Path) -> None:
    """The same with the trader's defaults (3 attempts, 0.5 s then 1 s): the order is
    placed within its bar instead of being left for a later bar to drop."""
    journal, trader = fake_session(fake, tmp_path / "d.db")
    fake.inject(SUBMIT, 503, times=2)
    first, second = flat_bars(2, {"AAA": PRICE})
    trader.process_bar(first)
    trader.process_bar(second)
    (order,) = journal.all_orders()
    assert order.status is OrderStatus.FILLED and order.bar == first.day
    assert fake.client_ids() == [order.client_order_id]
    journal.close()
