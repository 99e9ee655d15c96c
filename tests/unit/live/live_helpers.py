"""Shared builders of the live tests (imported by module name; tests/ is on sys.path)."""

from __future__ import annotations

import dataclasses
import math
import os
import signal
import subprocess
import sys
import traceback
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradefolio.backtest.strategies import SmaCross
from tradefolio.execution.orders import NO_EXITS, ProtectiveExits
from tradefolio.execution.sizing import Quantity, SizingRequest
from tradefolio.live.feed import Bar
from tradefolio.live.journal import Journal
from tradefolio.live.paper import CostModel, PaperBroker
from tradefolio.live.risk import RiskEngine
from tradefolio.live.strategy import Action, Intent, RollingStrategy
from tradefolio.live.trader import Checkpoint, LiveTrader


class WeightSizer:
    """floor(weight · equity / price): the backtest's fixed-fraction entry size."""

    def __init__(self, weight: float) -> None:
        self.weight = weight

    def size(self, request: SizingRequest) -> Quantity:
        return math.floor(self.weight * request.equity / request.price)


def sma_cross(fast: int, slow: int) -> RollingStrategy:
    """The backtest's `SmaCross` as the live trader reads it on any feed (planned per bar)."""
    return RollingStrategy(SmaCross(fast, slow))


def gbm_prices(n_symbols: int, n_bars: int, seed: int) -> pd.DataFrame:
    """Seeded random-walk closes (rounded to cents) for small, fast sessions."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0003, 0.02, size=(n_bars, n_symbols))
    closes = np.round(50 * np.exp(np.cumsum(steps, axis=0)), 2)
    index = pd.bdate_range("2020-01-01", periods=n_bars, name="date")
    return pd.DataFrame(closes, index=index, columns=[f"S{i}" for i in range(n_symbols)])


def open_session(
    path: Path,
    *,
    cash: Decimal = Decimal(100_000),
    costs: CostModel | None = None,
    checkpoint: Checkpoint | None = None,
    fast: int = 5,
    slow: int = 15,
    weight: float = 0.2,
    risk: RiskEngine | None = None,
    fill_delay_marks: int = 0,
    max_fill_per_mark: Decimal | None = None,
    exits: ProtectiveExits = NO_EXITS,
) -> tuple[Journal, PaperBroker, LiveTrader]:
    """Journal + paper broker + trader on `path` (created or resumed)."""
    journal = Journal.open(path)
    journal.initialise(cash, {"test": True})
    broker = PaperBroker(
        journal.connection,
        cash,
        costs,
        fill_delay_marks=fill_delay_marks,
        max_fill_per_mark=max_fill_per_mark,
        checkpoint=checkpoint,
    )
    kwargs = {} if checkpoint is None else {"checkpoint": checkpoint}
    trader = LiveTrader(
        journal=journal,
        broker=broker,
        strategy=sma_cross(fast, slow),
        sizer=WeightSizer(weight),
        costs=costs,
        market=broker,
        risk=risk,
        exits=exits,
        **kwargs,
    )
    return journal, broker, trader


def backtest_and_paper(capsys: Any, out: Path, *args: str) -> tuple[Any, Any]:
    """`backtest ARGS` and `live --paper ARGS` through the CLI in this process, their run
    folders under `out / "b"` and `out / "l"` (the session's journal `out / "s.db"`); both
    must succeed. Returns both results (`support.cli.CliResult`)."""
    from support.cli import run_cli

    back = run_cli(capsys, "backtest", *args, "--out", str(out / "b"))
    assert back.code == 0, back.stderr
    live = run_cli(
        capsys, "live", "--paper", *args, "--db", str(out / "s.db"), "--out", str(out / "l")
    )
    assert live.code == 0, live.stderr
    return back, live


def live_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`tradefolio live ARGS` in a fresh process with `env` added to the environment."""
    return subprocess.run(
        [sys.executable, "-m", "tradefolio", "live", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )


class EnterOnEveryBar:
    """Asks to enter `symbol` on every bar with history (a replacement of an order still
    open would show up as a second buy)."""

    def __init__(self, symbol: str = "AAA") -> None:
        self.symbol = symbol

    def intents(self, history: pd.DataFrame) -> list[Intent]:
        return [Intent(self.symbol, Action.ENTER)] if len(history) else []


class FixedUnits:
    """Always `units` units."""

    def __init__(self, units: int = 10) -> None:
        self.units = units

    def size(self, request: SizingRequest) -> Quantity:
        return self.units


def flat_bars(n: int, prices: dict[str, Decimal]) -> list[Bar]:
    """`n` business-day bars at constant `prices`, each with the history before it."""
    days = pd.bdate_range("2024-03-01", periods=n + 1, name="date")
    closes = pd.DataFrame({s: [float(p)] * (n + 1) for s, p in prices.items()}, index=days)
    return [Bar(days[i].date(), dict(prices), closes.iloc[:i]) for i in range(1, n + 1)]


def fake_broker(fake: Any, *, timeout: float = 2.0, **options: Any) -> Any:
    """An `AlpacaBroker` on the loopback fake Alpaca `fake` (reads retried without waits)."""
    from support.fake_alpaca import KEY, SECRET
    from tradefolio.live.alpaca import AlpacaBroker, create_trading_client

    client = create_trading_client(KEY, SECRET, url_override=fake.url, timeout=timeout)
    options.setdefault("read_retry_wait", 0.0)
    return AlpacaBroker(client, endpoint=fake.url, **options)


def fake_session(
    fake: Any,
    path: Path,
    *,
    timeout: float = 2.0,
    broker_options: dict[str, Any] | None = None,
    **trader_options: Any,
) -> tuple[Journal, LiveTrader]:
    """A 10,000 session on the fake Alpaca that enters AAA (10 units) on every bar (or runs
    the `strategy` given)."""
    journal = Journal.open(path)
    journal.initialise(Decimal(10_000), {})
    trader_options.setdefault("strategy", EnterOnEveryBar())
    trader = LiveTrader(
        journal=journal,
        broker=fake_broker(fake, timeout=timeout, **(broker_options or {})),
        sizer=FixedUnits(10),
        market=fake,
        **trader_options,
    )
    return journal, trader


class BracketOnce:
    """An event-driven strategy that submits one bracket (`units` of AAA, stop 95,
    take-profit 110) on its first bar, and cancels both children by their ids on bar
    `cancel_at` (if given)."""

    name = "bracket-once"
    warmup = 1

    def __init__(
        self,
        units: int = 10,
        cancel_at: int | None = None,
        entry_id: str = "e1",
        child_ids: tuple[str, str] | None = None,
    ) -> None:
        self.units = units
        self.cancel_at = cancel_at
        self.entry_id = entry_id
        #: The stop's and the take-profit's ids, when not `bracket`'s own.
        self.child_ids = child_ids
        self.sent = False

    def on_bar(self, context: Any) -> None:
        from tradefolio.execution.orders import Order, bracket

        if context.bar == self.cancel_at:
            context.cancel(f"{self.entry_id}-stop")
            context.cancel(f"{self.entry_id}-take")
        if self.sent or "AAA" in context.positions:
            return
        self.sent = True
        entry, *children = bracket(
            Order(self.entry_id, "AAA", "buy", self.units),
            stop_price=95.0,
            take_profit_price=110.0,
        )
        if self.child_ids is not None:
            children = [
                dataclasses.replace(child, client_order_id=cid)
                for child, cid in zip(children, self.child_ids, strict=True)
            ]
        for order in (entry, *children):
            context.submit(order)


def bracket_source(n: int, price: Decimal, **options: Any) -> Any:
    """`BracketOnce(**options)` over the panel of `flat_bars(n, {"AAA": price})`."""
    from tradefolio.data.panel import PricePanel
    from tradefolio.live.strategy import EventSource

    days = pd.bdate_range("2024-03-01", periods=n + 1, name="date")
    closes = pd.DataFrame({"AAA": [float(price)] * (n + 1)}, index=days)
    strategy = BracketOnce(**options)
    return EventSource(strategy, PricePanel.from_closes(closes))  # type: ignore[arg-type]


def run_killable(
    body: Callable[[Checkpoint], None],
    kill_at: tuple[str, int] | None,
    kill_when: Callable[[str], bool] | None = None,
) -> int:
    """The crash tests' harness: `body(checkpoint)` in a forked child that SIGKILLs itself
    when `checkpoint(name)` is passed the n-th time for `kill_at = (name, n)`, or when
    `kill_when(name)` says so. Returns the child's status: 0 done, -9 killed, 3 when `body`
    raised (its traceback on stderr)."""
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            seen: dict[str, int] = {}

            def checkpoint(name: str) -> None:
                seen[name] = seen.get(name, 0) + 1
                if kill_at is not None and (name, seen[name]) == kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)
                if kill_when is not None and kill_when(name):
                    os.kill(os.getpid(), signal.SIGKILL)

            body(checkpoint)
        except BaseException:
            traceback.print_exc()
            sys.stderr.flush()
            code = 3
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
