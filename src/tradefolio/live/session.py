"""A live trading session: `tradefolio live`'s options checked, wired and run, durably.

`SessionOptions` holds what a session is made of besides its strategy (broker, account,
feed, journal, replay file, risk limits, reconciliation); `check()` makes the command's
checks in the command's order, all before anything is read or written. `TradingSetup` is
the strategy side, validated above `live` (the CLI hands over the backtest's strategies,
sizers and costs: `live` never imports `backtest`). `LiveSession.open(options, setup,
messages)` builds the feed, the strategy adapter, the cost model and the remote broker (an
unreachable broker or refused keys write nothing); `run()` opens the journal, refuses a
resume with other settings, reconciles, trades the bars and returns the status payload.

A paper replay (`--feed replay`) replays a price file (default: the bundled sample) through
`LiveTrader` with the embedded paper broker; a polled session (`--feed broker`) trades
Alpaca's market data, one bar per new trading session, until `sessions` bars were processed
or the process is asked to stop (SIGINT/SIGTERM: the bar in progress is finished first).
Real money (`--live-account`) is only ever traded on that feed, never on replayed bars.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

import pandas as pd

from tradefolio.data.market import load_benchmark, load_panel
from tradefolio.data.panel import PricePanel
from tradefolio.errors import BrokerError, DataError, InvalidParameter, RebalanceFailed
from tradefolio.execution.events import EventStrategy, check_warmup, warmup_of
from tradefolio.execution.orders import NO_EXITS, ProtectiveExits
from tradefolio.execution.sizing import PositionSizer
from tradefolio.execution.sizing_policy import SizingPolicy
from tradefolio.execution.strategy import Strategy, rebalance_sizer
from tradefolio.live.alpaca import DATA_FEEDS, KEY_ENV, SECRET_ENV, AlpacaBroker, AlpacaMarketData
from tradefolio.live.broker import Broker
from tradefolio.live.feed import Bar, ReplayFeed
from tradefolio.live.journal import Journal, JournalError, JournalPathError
from tradefolio.live.paper import CostModel, PaperBroker
from tradefolio.live.polling_feed import PollingFeed
from tradefolio.live.rebalance_log import journal_decision
from tradefolio.live.risk import RiskEngine, RiskLimits, TradingState
from tradefolio.live.settings import PRICES_KEY, differences, prices_fingerprint
from tradefolio.live.strategy import (
    Account,
    DecisionLog,
    EventSource,
    IntentSource,
    PlannedStrategy,
    RollingEventSource,
    RollingStrategy,
)
from tradefolio.live.trader import POLICY_STOP, LiveTrader, MarketSink
from tradefolio.portfolio.policy import RebalanceDecision

DEFAULT_DB = Path("tradefolio-live.db")
#: A paper replay makes whole bars durable together, one commit at most this often (a
#: crash loses at most these bars of journal and paper venue together; they are replayed).
COMMIT_GROUP_SECONDS = 0.25
#: Test hook: `point:n` makes the process SIGKILL itself the n-th time it reaches `point`.
CRASH_ENV = "TRADEFOLIO_CRASH_AT"


class SessionMessages(Protocol):
    """Where a session says what it does (the CLI: stderr), by kind."""

    def info(self, text: str) -> None:
        """A plain progress line (broker reached, bars processed, reconciliation)."""
        ...

    def warning(self, text: str) -> None:
        """A note the operator should read (an option that does not act, a stop asked)."""
        ...

    def event(self, text: str) -> None:
        """The trader's own notes while it trades (a refused order, a state change)."""
        ...


#: `progress(description, total)`: a context yielding `advance(steps)` (the CLI's bar).
Progress = Callable[[str, int], AbstractContextManager[Callable[[int], None]]]


def require(condition: bool, message: str) -> None:
    """Raise `InvalidParameter(message)` unless `condition` holds (the check of one option)."""
    if not condition:
        raise InvalidParameter(message)


@dataclass(frozen=True, slots=True)
class TradingSetup:
    """The strategy, sizer and cost options of a session, validated above `live`.

    `settings` is what the journal stores (a resume must match it); `strategy()` builds the
    strategy of the execution protocol; `sizing(closes, benchmark)` the sizing policy over
    `closes`; `history_needed` the sessions of history it needs to decide at all; `notes`
    what the operator should know about these options before the session starts.
    `policy(account)`, when given, replaces strategy and sizing: the allocation model of
    `--portfolio` with model options, deciding at each rebalance on the account the
    session's journal holds (`account()` -> positions and cash) and recording each decision
    there (`log`, `live.rebalance_log`), so it is bound to the journal once the run opens it.
    `replay_strategy()` builds what a session trades, on a replay or a polled feed (an
    event-driven strategy too, called bar by bar with the trader's book; `None`:
    `strategy()`), `entries` sizes an event-driven
    strategy's entries, `exits` are the protective orders every filled entry gets, and
    `end_notes` are said when the session's run ends. `check_history(sessions)`, when
    given, refuses a replay of `sessions` closes too short for the policy's first decision
    (before the journal is touched).
    """

    settings: Mapping[str, Any]
    strategy: Callable[[], Strategy]
    sizing: Callable[[pd.DataFrame, pd.Series | None], SizingPolicy]
    uses_benchmark: bool
    history_needed: int
    cash: float
    commission_bps: float
    commission_per_share: float
    commission_min: float
    slippage_bps: float
    notes: tuple[str, ...] = ()
    commission_fixed: float = 0.0
    policy: Callable[[Account, DecisionLog], IntentSource] | None = None
    replay_strategy: Callable[[], Strategy | EventStrategy] | None = None
    entries: PositionSizer | None = None
    exits: ProtectiveExits = NO_EXITS
    end_notes: tuple[str, ...] = ()
    check_history: Callable[[int], None] | None = None

    def costs(self) -> CostModel:
        """The exact cost model of the paper broker and the trader (floats as typed)."""
        return CostModel(
            commission_bps=Decimal(repr(self.commission_bps)),
            commission_per_share=Decimal(repr(self.commission_per_share)),
            commission_min=Decimal(repr(self.commission_min)),
            slippage_bps=Decimal(repr(self.slippage_bps)),
            commission_fixed=Decimal(repr(self.commission_fixed)),
        )


@dataclass(frozen=True, slots=True)
class SessionOptions:
    """Everything of a session but its strategy: `tradefolio live`'s own flags."""

    paper: bool = False
    broker: str = "paper"
    paper_account: bool = True
    feed: str = "replay"
    symbols: str | None = None
    poll_interval: float = 60.0
    sessions: int | None = None
    history_sessions: int = 300
    data_feed: str = "iex"
    prices_file: Path | None = None
    benchmark_file: Path | None = None
    db: Path = DEFAULT_DB
    speed: float | None = None
    adopt_broker_state: bool = False
    cash_tolerance: float = 0.0
    max_order_notional: float | None = None
    max_daily_notional: float | None = None
    max_position_pct: float | None = None
    max_orders_per_minute: int | None = None
    price_band: float | None = None
    max_daily_loss: float | None = None

    @property
    def polled(self) -> bool:
        """Whether bars come from the broker's market data (else: a replayed file)."""
        return self.feed == "broker"

    @property
    def symbol_list(self) -> list[str]:
        """`--symbols` split on commas, blanks dropped."""
        return [s.strip() for s in (self.symbols or "").split(",") if s.strip()]

    def check(self, *, beta_sizing: bool = False) -> None:
        """The session's checks, in order, before anything is read or written: one
        `InvalidParameter` (or `BrokerError` for missing keys) naming the flag.
        `beta_sizing`: whether the strategy side sizes by beta (not on a polled feed yet)."""
        broker, polled, symbols_given = self.broker, self.polled, self.symbol_list
        require(broker in ("paper", "alpaca"), f"--broker must be paper or alpaca, got {broker!r}")
        require(
            not (self.paper and broker != "paper"), "--paper and --broker alpaca exclude each other"
        )
        require(
            self.paper_account or broker == "alpaca",
            "--live-account selects Alpaca's real-money account; it cannot be used with --paper "
            "(the embedded paper broker): pass --broker alpaca --feed broker",
        )
        require(
            self.cash_tolerance >= 0, f"--cash-tolerance must be >= 0, got {self.cash_tolerance}"
        )
        require(
            self.feed in ("replay", "broker"), f"--feed must be replay or broker, got {self.feed!r}"
        )
        if polled:
            require(broker == "alpaca", "--feed broker needs --broker alpaca (its market data)")
            require(bool(symbols_given), "--feed broker needs --symbols, e.g. --symbols AAPL,MSFT")
            require(
                len(set(symbols_given)) == len(symbols_given),
                f"--symbols lists a symbol twice: {self.symbols}",
            )
            require(
                self.prices_file is None,
                "--prices replays a file; it cannot be used with --feed broker",
            )
            require(
                self.speed is None,
                "--speed throttles a replay; it cannot be used with --feed broker",
            )
            require(not beta_sizing, "--beta-sizing is not available with --feed broker yet")
            require(
                self.data_feed in DATA_FEEDS,
                f"--data-feed must be one of {', '.join(DATA_FEEDS)}",
            )
            require(
                self.sessions is None or self.sessions >= 1,
                f"--sessions must be >= 1, got {self.sessions}",
            )
            require(
                self.poll_interval > 0,
                f"--poll-interval must be > 0 seconds, got {self.poll_interval}",
            )
        else:
            require(
                self.symbols is None, "--symbols needs --feed broker (a replay trades its file)"
            )
            require(
                self.sessions is None, "--sessions needs --feed broker (a replay ends by itself)"
            )
        if broker == "alpaca":
            # Checked before the journal is touched: a missing key writes nothing.
            missing = [k for k in (KEY_ENV, SECRET_ENV) if not os.environ.get(k)]
            if missing:
                raise BrokerError(
                    f"--broker alpaca needs the environment variables {', '.join(missing)}"
                )
            # Real-money orders must never follow replayed, historical bars.
            require(
                self.paper_account or self.feed == "broker",
                "--live-account trades real money and needs --feed broker (live market data), "
                "not replayed bars",
            )

    def risk_limits(self) -> RiskLimits:
        """The risk engine's limits, exact (floats as typed)."""
        return RiskLimits(
            max_order_notional=_decimal_or_none(self.max_order_notional),
            max_daily_notional=_decimal_or_none(self.max_daily_notional),
            max_position_pct=_decimal_or_none(self.max_position_pct),
            max_orders_per_minute=self.max_orders_per_minute,
            price_band_pct=_decimal_or_none(self.price_band),
            max_daily_loss_pct=_decimal_or_none(self.max_daily_loss),
        )

    def identity(self) -> dict[str, Any]:
        """Broker, account and feed as the journal's settings record them."""
        account = "paper" if self.paper_account else "live"
        return {
            "broker": self.broker,
            "account": account if self.broker == "alpaca" else "paper",
            "feed": self.feed,
        }


class StopRequest:
    """SIGINT/SIGTERM ask a polled session to stop after the bar in progress; a second
    signal acts as usual (the journal makes even a hard stop safe)."""

    def __init__(self, say: Callable[[str], None] = lambda text: None) -> None:
        self.requested = False
        self._say = say

    def __call__(self) -> bool:
        return self.requested

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        self._say("stopping after the bar in progress")

    def install(self) -> Callable[[], None]:
        """Install the handlers; returns the function restoring the previous ones."""
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        for sig in previous:
            signal.signal(sig, self._handle)

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore


def _history_sessions(setup: TradingSetup, requested: int) -> int:
    """Sessions of history a polled bar carries: `requested`, checked against what the
    strategy needs to decide at all."""
    needed = setup.history_needed
    require(
        requested >= needed,
        f"--history-sessions must be >= {needed} for this strategy, got {requested}",
    )
    return requested


def _checkpoint_from_env() -> Callable[[str], None]:
    spec = os.environ.get(CRASH_ENV, "")
    if not spec:
        return lambda name: None
    point, _, count = spec.partition(":")
    target = int(count or "1")
    seen = {"n": 0}

    def checkpoint(name: str) -> None:
        if name == point:
            seen["n"] += 1
            if seen["n"] == target:
                os.kill(os.getpid(), signal.SIGKILL)

    return checkpoint


def _decimal_or_none(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(repr(value))


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


@contextlib.contextmanager
def journal_errors(db: Path) -> Iterator[None]:
    """Every SQLite error met while a command uses the journal (disk full, I/O error, a
    lock) becomes one `JournalError` line (exit 1); the journal keeps its last commit."""
    try:
        yield
    except sqlite3.Error as exc:
        if "readonly" in str(exc):
            raise JournalPathError(
                f"journal {db} is read-only ({exc}); `live status` can read it, writing needs "
                "write access"
            ) from exc
        raise JournalError(
            f"journal {db}: {exc}; it keeps its last commit: fix the cause and run again "
            "(a session resumes where it stopped)"
        ) from exc


def close_journal(journal: Journal) -> None:
    """Close without masking the error that is already on its way out."""
    with contextlib.suppress(sqlite3.Error):
        journal.close()


def status_payload(journal: Journal) -> dict[str, Any]:
    """The stable JSON contract of `live status` (see README), read in one snapshot: cash,
    positions and orders of the same committed state, even while a trader commits."""
    with journal.snapshot():
        return _status_payload(journal)


def _status_payload(journal: Journal) -> dict[str, Any]:
    state, reason = journal.trading_state()
    marks = journal.last_marks()
    positions = journal.positions()
    cash = journal.cash()
    equity = cash + sum(
        (p.quantity * marks.get(s, p.avg_price) for s, p in positions.items()), Decimal(0)
    )
    last_bar = journal.last_done_bar()
    return {
        "state": state,
        "state_reason": reason,
        "cash": float(cash),
        "equity": float(equity),
        "positions": [
            {"symbol": s, "quantity": _number(p.quantity), "avg_price": float(p.avg_price)}
            for s, p in positions.items()
        ],
        "open_orders": [
            {
                "client_order_id": o.client_order_id,
                "bar": o.bar.isoformat(),
                "symbol": o.symbol,
                "side": o.side.value,
                "quantity": _number(o.quantity),
                "filled_quantity": _number(o.filled_quantity),
                "status": o.status.value,
            }
            for o in journal.live_orders()
        ],
        "problem_orders": [
            {
                "client_order_id": o.client_order_id,
                "bar": o.bar.isoformat(),
                "symbol": o.symbol,
                "side": o.side.value,
                "quantity": _number(o.quantity),
                "status": o.status.value,
                "detail": detail,
            }
            for o, detail in journal.problem_orders()
        ],
        "last_bar": None if last_bar is None else last_bar.isoformat(),
        "last_reconciliation": journal.last_reconciliation(),
    }


def _load_panel(prices_file: Path | None) -> PricePanel:
    """The replayed bars: the sample's closes, or the file's closes and (OHLC files) its
    open/high/low, which the paper broker matches stops and limits against."""
    panel = load_panel(prices_file)
    closes = panel.close
    if closes.shape[0] < 2 or closes.shape[1] < 1:
        # As `backtest` says it: a replay needs a session to decide on and one to trade on.
        raise DataError(
            f"{prices_file}: prices need at least 2 sessions and 1 symbol, got "
            f"{closes.shape[0]} x {closes.shape[1]}"
        )
    return panel


def _check_same_settings(
    journal: Journal, db: Path, settings: dict[str, Any], closes: pd.DataFrame | None
) -> None:
    """A resumed session must run with the settings it started with (see
    `tradefolio.live.settings`); refuse, naming every difference, before anything else."""
    stored_text = journal.meta("config") if journal.run_id is not None else None
    if stored_text is None:
        return
    stored = json.loads(stored_text)
    found = differences(stored, json.loads(json.dumps(settings, sort_keys=True)), closes)
    if found:
        shown = "; ".join(found[:6]) + (f" (+{len(found) - 6} more)" if len(found) > 6 else "")
        raise InvalidParameter(
            f"journal {db} belongs to a session started with other settings: {shown}; pass "
            "the same options to resume it, or another --db for a new session"
        )


def _halted_note(db: Path) -> str:
    """What a session stopped by its policy says of its journal and how to go on."""
    return (
        f"trading is HALTED in {db}, which keeps the session up to then "
        f"(`tradefolio live resume --db {db}` lets a restart decide that rebalance again)"
    )


def _refuse_after_policy_stop(journal: Journal, run_no: int, db: Path) -> None:
    """A restart of a session its policy stopped (`--on-solver-failure stop`, HALTED by
    `POLICY_STOP`) says why it stopped and trades nothing: `RebalanceFailed` with the
    reason the journal kept. `live resume` (ACTIVE again) lets it decide again; a halt of
    the operator or of the risk engine is not this one (the trader runs on, sending nothing)."""
    state, reason = journal.trading_state()
    if state != TradingState.HALTED.value or journal.trading_state_source() != POLICY_STOP:
        return
    journal.end_run(run_no, f"refused: stopped by the policy: {reason}")
    raise RebalanceFailed(f"{reason}; {_halted_note(db)}")


class LiveSession:
    """One `tradefolio live` run: the feed, strategy adapter, costs and broker of checked
    options (`open`), then the journaled run (`run`)."""

    def __init__(
        self,
        options: SessionOptions,
        setup: TradingSetup,
        messages: SessionMessages,
        *,
        adapter: IntentSource | None,
        entries: PositionSizer,
        identity: dict[str, Any],
        limits: RiskLimits,
        replay: ReplayFeed | None,
        closes: pd.DataFrame | None,
        starting_cash: Decimal,
        remote: AlpacaBroker | None,
        poller: PollingFeed | None,
    ) -> None:
        self.options = options
        self.setup = setup
        self.messages = messages
        self._adapter = adapter
        self._entries = entries
        self._identity = identity
        self._limits = limits
        self._replay = replay
        self._closes = closes
        self._starting_cash = starting_cash
        self._remote = remote
        self._poller = poller

    @classmethod
    def open(
        cls, options: SessionOptions, setup: TradingSetup, messages: SessionMessages
    ) -> LiveSession:
        """The session's parts, the journal untouched: prices read (a replay), the remote
        broker reached and its account checked, the market data reached (a polled feed)."""
        for note in setup.notes:
            messages.warning(note)
        limits = options.risk_limits()  # checked here: a bad limit writes nothing
        polled, symbols_given = options.polled, options.symbol_list
        adapter: IntentSource | None = None  # the policy's is bound to the journal in `run`
        # A plan's intents carry their own sizer; an event-driven strategy's use `entries`.
        entries: PositionSizer = rebalance_sizer({})
        replay: ReplayFeed | None = None
        closes: pd.DataFrame | None = None
        session_identity = options.identity()
        history_window = options.history_sessions
        if polled:
            history_window = _history_sessions(setup, options.history_sessions)
            session_identity[PRICES_KEY] = {
                "symbols": symbols_given,
                "data_feed": options.data_feed,
            }
            if setup.policy is None:
                built = (setup.replay_strategy or setup.strategy)()
                if isinstance(built, Strategy):
                    adapter = RollingStrategy(
                        built, symbols_given, lambda window: setup.sizing(window, None)
                    )
                else:  # event-driven (on_bar): called bar by bar on the polled window
                    warmup = warmup_of(built)
                    require(
                        history_window >= warmup,
                        f"--history-sessions must be >= {warmup} for this strategy's "
                        f"warm-up, got {history_window}",
                    )
                    adapter = RollingEventSource(built, symbols_given)
                    if setup.entries is not None:
                        entries = setup.entries
        else:
            panel = _load_panel(options.prices_file)
            closes = panel.close
            session_identity[PRICES_KEY] = prices_fingerprint(closes)
            replay = ReplayFeed(closes, speed=options.speed, panel=panel)
            symbols = [str(c) for c in closes.columns]
            if setup.check_history is not None:
                setup.check_history(len(closes))  # else a session that never rebalances
            if setup.policy is None:
                built = (setup.replay_strategy or setup.strategy)()
                check_warmup(built, len(closes))  # else a silent session that trades nothing
                if isinstance(built, Strategy):
                    benchmark = load_benchmark(options.benchmark_file, needed=setup.uses_benchmark)
                    adapter = PlannedStrategy(
                        built.plan(closes), symbols, setup.sizing(closes, benchmark)
                    )
                else:  # event-driven (on_bar): called bar by bar with the trader's book
                    require(not setup.uses_benchmark, "--beta-sizing needs a strategy with plan()")
                    adapter = EventSource(built, panel)
                    if setup.entries is not None:
                        entries = setup.entries
        starting_cash = Decimal(repr(setup.cash))
        remote: AlpacaBroker | None = None
        poller: PollingFeed | None = None
        if options.broker == "alpaca":
            exits = setup.exits
            require(
                exits.trailing_stop is None
                or (exits.stop_loss is None and exits.take_profit is None),
                "--trailing-stop cannot go to Alpaca with --stop-loss or --take-profit: Alpaca "
                "has no one-cancels-other order with a trailing stop and refuses a second sell "
                "of the same shares, so one exit would be missing; with --broker alpaca give "
                "--trailing-stop alone (with the risk sizer, add --no-stop) or --stop-loss "
                "[--take-profit]",
            )
            # Reached (and the account checked) before the journal is touched: an unreachable
            # broker or refused keys write nothing. A new session starts from the account's
            # cash.
            remote = AlpacaBroker.from_env(paper=options.paper_account)
            starting_cash = remote.check_ready().cash
            messages.info(f"broker: {remote.endpoint}")
            if polled:
                market_data = AlpacaMarketData.from_env(feed=options.data_feed)
                # reachable, keys accepted: or nothing written
                market_data.latest_closes(symbols_given)
                poller = PollingFeed(
                    market_data,
                    symbols_given,
                    history_sessions=history_window,
                    poll_interval=options.poll_interval,
                )
                messages.info(f"market data: {market_data.endpoint} ({options.data_feed})")
        return cls(
            options,
            setup,
            messages,
            adapter=adapter,
            entries=entries,
            identity=session_identity,
            limits=limits,
            replay=replay,
            closes=closes,
            starting_cash=starting_cash,
            remote=remote,
            poller=poller,
        )

    def run(
        self,
        progress: Progress | None = None,
        after: Callable[[Journal], None] | None = None,
    ) -> dict[str, Any]:
        """Open (or resume) the journal, reconcile, trade the bars; `after(journal)` runs
        once the run is recorded as ended (the CLI writes its run folder there); returns
        `status_payload` of the journal at the end. SQLite errors: `JournalError`."""
        options, messages, remote = self.options, self.messages, self._remote
        db = options.db
        with journal_errors(db):
            journal = Journal.open(db)
            try:
                settings = {**self.setup.settings, **self._identity}
                _check_same_settings(journal, db, settings, self._closes)
                journal.initialise(self._starting_cash, settings)
                run_no = journal.start_run(
                    {
                        **self.setup.settings,
                        "db": str(db),
                        "broker": remote.endpoint if remote else "paper",
                    }
                )
                costs = self.setup.costs()
                venue: Broker
                market: MarketSink | None
                if remote is None:
                    paper_broker = PaperBroker(
                        journal.connection, self._starting_cash, costs, market_orders_in_match=True
                    )
                    venue, market = paper_broker, paper_broker
                else:
                    venue, market = remote, None  # the real market fills Alpaca's orders
                trader = LiveTrader(
                    journal=journal,
                    broker=venue,
                    strategy=self._strategy(journal),
                    sizer=self._entries,
                    risk=RiskEngine(self._limits),
                    costs=costs,
                    market=market,
                    exits=self.setup.exits,
                    checkpoint=_checkpoint_from_env(),
                    notify=messages.event,
                )
                report = trader.reconcile(
                    adopt=options.adopt_broker_state,
                    cash_tolerance=Decimal(repr(options.cash_tolerance)),
                )
                if report.fills_recorded or report.closed_never_sent or report.adopted:
                    messages.info(
                        f"reconciliation: {len(report.fills_recorded)} missed fills recorded, "
                        f"{len(report.closed_never_sent)} unsent orders closed"
                        + (", broker state adopted" if report.adopted else "")
                    )
                last = journal.last_done_bar()
                _refuse_after_policy_stop(journal, run_no, db)
                try:
                    processed, ended = self._trade(trader, last, progress)
                except RebalanceFailed as exc:
                    # `--on-solver-failure stop`: the trader recorded the failed decision and
                    # HALTED; the session up to it is recorded (the run folder's
                    # rebalances.csv ends on the failure, as the backtest's), then said.
                    journal.end_run(run_no, f"stopped: {exc}")
                    if after is not None:
                        after(journal)
                    raise RebalanceFailed(f"{exc}; {_halted_note(db)}") from exc
                journal.end_run(run_no, ended)
                for note in self.setup.end_notes:
                    messages.info(note)
                messages.info(
                    f"processed {processed} bars after {last or 'the start'}; session in {db}"
                )
                if after is not None:
                    after(journal)
                return status_payload(journal)
            finally:
                close_journal(journal)

    def _strategy(self, journal: Journal) -> IntentSource:
        """The session's intent source: the strategy's adapter, or the allocation policy
        deciding on the positions and cash `journal` holds."""
        if self._adapter is not None:
            return self._adapter
        assert self.setup.policy is not None  # `open` builds an adapter otherwise

        def account() -> tuple[dict[str, Decimal], Decimal]:
            return {s: p.quantity for s, p in journal.positions().items()}, journal.cash()

        def log(decision: RebalanceDecision, symbols: Sequence[str]) -> None:
            journal_decision(journal, decision, symbols)

        return self.setup.policy(account, log)

    def _trade(
        self, trader: LiveTrader, last: date | None, progress: Progress | None
    ) -> tuple[int, str]:
        """Trade the bars after `last`: (bars processed, how the run ended)."""
        bars: Iterator[Bar]
        if self._poller is not None:
            stop = StopRequest(self.messages.warning)
            restore = stop.install()
            try:
                bars = self._poller.bars(last, stop=stop, max_bars=self.options.sessions)
                processed = trader.run(bars)
            finally:
                restore()
            return processed, "stopped" if stop.requested else f"{processed} sessions done"
        assert self._replay is not None
        remaining = self._replay.remaining(last)
        with (progress or _no_progress)("live replay", remaining) as advance:
            processed = trader.run(
                self._replay.bars(last),
                # The paper broker's state is in the journal's own transactions: whole bars
                # may share one durable commit (a remote broker may not).
                commit_every=COMMIT_GROUP_SECONDS if self._remote is None else None,
                on_bar=lambda result: advance(1),
            )
        return processed, "replay finished"


@contextlib.contextmanager
def _no_progress(description: str, total: int) -> Iterator[Callable[[int], None]]:
    yield lambda steps: None


__all__ = [
    "COMMIT_GROUP_SECONDS",
    "CRASH_ENV",
    "DEFAULT_DB",
    "LiveSession",
    "SessionMessages",
    "SessionOptions",
    "StopRequest",
    "TradingSetup",
    "close_journal",
    "journal_errors",
    "status_payload",
]
