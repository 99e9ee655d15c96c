"""`tradefolio live`: run a strategy against a broker (paper by default), durably.

`tradefolio live --paper ...` replays a price file (default: the bundled sample) through
`LiveTrader` with the embedded paper broker; the session lives in `--db` and running the
command again resumes it after the last processed bar. `live status|halt|resume` read or
flip the same journal, also while a trader runs.

`--broker alpaca --feed broker --symbols ...` trades a real session: bars come from
Alpaca's market data (`PollingFeed`), one per new trading session, until `--sessions` bars
were processed or the process is asked to stop (SIGINT/SIGTERM: the bar in progress is
finished first). Real money (`--live-account`) is only ever traded on that feed, never on
replayed bars.

The strategy, sizer and cost options mean exactly what they mean for `backtest`: they are
validated by the same `BacktestConfig` and built by the backtest's own factories (the
strategy protocol they follow lives in `execution`, below both engines); the live trader
reads them through `tradefolio.live.strategy`'s adapters (cli may import both engines;
`live` and `backtest` never import each other).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import pandas as pd
import typer
from rich.table import Table

from tradefolio.backtest.config import BacktestConfig
from tradefolio.backtest.runner import build_plan_strategy, build_sizing, protective_exits
from tradefolio.cli.backtest import exits_note
from tradefolio.cli.common import (
    OutputFormat,
    print_csv,
    print_json,
    require,
    stderr_console,
    stdout_console,
)
from tradefolio.cli.trading_options import (
    DEFAULTS,
    BetaSizingOption,
    BetaWindowOption,
    CashOption,
    CommissionBpsOption,
    CommissionMinOption,
    CommissionPerShareOption,
    FactorOption,
    FastOption,
    LookbackOption,
    MaxPositionOption,
    MaxPositionsOption,
    MaxWeightOption,
    MinWeightOption,
    NoStopOption,
    ParamOption,
    PortfolioOption,
    RebalanceOption,
    RiskPerTradeOption,
    SizerOption,
    SlippageBpsOption,
    SlowOption,
    SolverOption,
    StopLossOption,
    StrategyOption,
    TakeProfitOption,
    TargetBetaOption,
    TrailingStopOption,
    WeightOption,
)
from tradefolio.data.panel import PricePanel
from tradefolio.data.readers import read_benchmark, read_panel
from tradefolio.data.sample_data import load_sample_benchmark, load_sample_prices
from tradefolio.errors import BrokerError, DataError, InvalidParameter
from tradefolio.execution.strategy import rebalance_sizer
from tradefolio.live.alpaca import DATA_FEEDS, KEY_ENV, SECRET_ENV, AlpacaBroker, AlpacaMarketData
from tradefolio.live.broker import Broker
from tradefolio.live.feed import Bar, ReplayFeed
from tradefolio.live.journal import (
    Journal,
    JournalDamaged,
    JournalError,
    JournalPathError,
    emergency_set_trading_state,
)
from tradefolio.live.paper import CostModel, PaperBroker
from tradefolio.live.polling_feed import PollingFeed
from tradefolio.live.risk import RiskEngine, RiskLimits, TradingState
from tradefolio.live.settings import PRICES_KEY, differences, prices_fingerprint
from tradefolio.live.strategy import IntentSource, PlannedStrategy, RollingStrategy
from tradefolio.live.trader import LiveTrader, MarketSink
from tradefolio.reporting.live_record import record_from_journal
from tradefolio.reporting.progress import progress_bar
from tradefolio.reporting.run_folder import write_run_folder

DEFAULT_DB = Path("tradefolio-live.db")
#: A paper replay makes whole bars durable together, one commit at most this often (a
#: crash loses at most these bars of journal and paper venue together; they are replayed).
COMMIT_GROUP_SECONDS = 0.25
#: Test hook: `point:n` makes the process SIGKILL itself the n-th time it reaches `point`.
CRASH_ENV = "TRADEFOLIO_CRASH_AT"

EXAMPLES = """
Examples:

  tradefolio live --paper --strategy sma-cross --fast 20 --slow 50 --sizer weight --weight 0.10

  tradefolio live --paper --portfolio --factor momentum --max-positions 5 --db session.db

  tradefolio live --broker alpaca --feed broker --symbols AAPL,MSFT,SPY --db real.db

  tradefolio live status --db session.db --format json

  tradefolio live halt --db session.db ; tradefolio live resume --db session.db
"""


class StopRequest:
    """SIGINT/SIGTERM ask a polled session to stop after the bar in progress; a second
    signal acts as usual (the journal makes even a hard stop safe)."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self) -> bool:
        return self.requested

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        stderr_console().print("stopping after the bar in progress", style="yellow")

    def install(self) -> Callable[[], None]:
        """Install the handlers; returns the function restoring the previous ones."""
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        for sig in previous:
            signal.signal(sig, self._handle)

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore


def _history_sessions(config: BacktestConfig, requested: int) -> int:
    """Sessions of history a polled bar carries: `requested`, checked against what the
    strategy needs to decide at all."""
    needed = 2
    if config.portfolio or config.strategy == "momentum":
        needed = (config.lookback or 0) + 2
    elif config.strategy == "sma-cross":
        needed = config.slow + 1
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


def _close(journal: Journal) -> None:
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


#: Columns of `live status --format csv`: one `account` row, then one row per position,
#: open order and problem order (the fields a row's kind does not have are empty).
STATUS_CSV_COLUMNS = [
    "kind", "symbol", "side", "quantity", "filled_quantity", "avg_price", "status",
    "client_order_id", "bar", "detail", "cash", "equity", "state", "last_bar",
]  # fmt: skip


def _status_rows(payload: dict[str, Any]) -> list[list[Any]]:
    def row(kind: str, **fields: Any) -> list[Any]:
        return [kind, *(fields.get(name, "") for name in STATUS_CSV_COLUMNS[1:])]

    rows = [
        row(
            "account",
            cash=payload["cash"],
            equity=payload["equity"],
            state=payload["state"],
            detail=payload["state_reason"],
            last_bar=payload["last_bar"] or "",
        )
    ]
    rows += [row("position", **p) for p in payload["positions"]]
    rows += [row("open_order", **o) for o in payload["open_orders"]]
    rows += [row("problem_order", **o) for o in payload["problem_orders"]]
    return rows


def _print_status(payload: dict[str, Any], output: OutputFormat) -> None:
    if output is OutputFormat.json:
        print_json(payload)
        return
    if output is OutputFormat.csv:
        print_csv(STATUS_CSV_COLUMNS, _status_rows(payload))
        return
    console = stdout_console()
    table = Table(title="positions", title_justify="left")
    for name in ("symbol", "quantity", "avg_price"):
        table.add_column(name, justify="left" if name == "symbol" else "right")
    for p in payload["positions"]:
        table.add_row(p["symbol"], f"{p['quantity']:,}", f"{p['avg_price']:,.4f}")
    console.print(table)
    recon = payload["last_reconciliation"]
    checked = "none" if recon is None else f"{recon['at']} {'ok' if recon['ok'] else 'FAILED'}"
    console.print(
        f"state {payload['state']}; cash {payload['cash']:,.2f}; "
        f"equity {payload['equity']:,.2f}; "
        f"last bar {payload['last_bar']}; {len(payload['open_orders'])} open orders; "
        f"last reconciliation: {checked}"
    )
    for problem in payload["problem_orders"]:
        console.print(
            f"{problem['status']}: {problem['side']} {problem['quantity']} {problem['symbol']} "
            f"(bar {problem['bar']}, {problem['client_order_id']}): {problem['detail']}",
            soft_wrap=True,
        )


def _load_panel(prices_file: Path | None) -> PricePanel:
    """The replayed bars: the sample's closes, or the file's closes and (long files) its
    open/high/low, which the paper broker matches stops and limits against."""
    panel = (
        PricePanel.from_closes(load_sample_prices())
        if prices_file is None
        else read_panel(prices_file)
    )
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


def _write_run_folder(
    journal: Journal,
    config: dict[str, Any],
    prices_file: Path | None,
    benchmark_file: Path | None,
    out: Path,
    png: bool,
    sample: bool = True,
) -> None:
    """The session so far as a run folder with its tearsheet (like a backtest's)."""
    messages = stderr_console()
    benchmark = read_benchmark(benchmark_file) if benchmark_file else None
    if benchmark is None and prices_file is None and sample:
        benchmark = load_sample_benchmark()
    try:
        record = record_from_journal(journal, config, name="live", benchmark=benchmark)
    except DataError as exc:
        messages.print(f"no run folder: {exc}", style="dim")
        return
    # Owner-only (folders 0700, files 0600) from the moment they exist: the run folder
    # holds the session's config and trades. The umask is the process's; restored at once.
    previous = os.umask(0o077)
    try:
        folder = write_run_folder(record, out, png=png)
    finally:
        os.umask(previous)
    for note in folder.notes:
        messages.print(note, style="yellow")
    messages.print(f"tearsheet: {folder.tearsheet or folder.path}", style="dim", soft_wrap=True)


def run_command(
    ctx: typer.Context,
    paper: Annotated[
        bool, typer.Option("--paper", help="Trade with the embedded paper broker (default).")
    ] = False,
    broker: Annotated[str, typer.Option(help="Broker: paper or alpaca.")] = "paper",
    paper_account: Annotated[
        bool,
        typer.Option(
            "--paper-account/--live-account",
            help="alpaca: the paper (default) or the live, real-money account; this flag alone "
            "chooses it. Keys: APCA_API_KEY_ID, APCA_API_SECRET_KEY; APCA_API_BASE_URL "
            "overrides the endpoint (refused when it names the other account's endpoint).",
        ),
    ] = True,
    feed_name: Annotated[
        str,
        typer.Option(
            "--feed",
            help="Bars: replay (a price file, offline) or broker (the broker's market data, "
            "one bar per new trading session; needs --broker alpaca and --symbols).",
        ),
    ] = "replay",
    symbols_option: Annotated[
        str | None,
        typer.Option("--symbols", help="--feed broker: comma-separated universe, e.g. AAPL,MSFT."),
    ] = None,
    poll_interval: Annotated[
        float, typer.Option(help="--feed broker: seconds between market-data polls.")
    ] = 60.0,
    sessions: Annotated[
        int | None,
        typer.Option(help="--feed broker: stop after N sessions (default: run until stopped)."),
    ] = None,
    history_sessions: Annotated[
        int, typer.Option(help="--feed broker: daily sessions of history per bar.")
    ] = 300,
    data_feed: Annotated[
        str, typer.Option(help=f"--feed broker: Alpaca data feed ({', '.join(DATA_FEEDS)}).")
    ] = "iex",
    prices_file: Annotated[
        Path | None, typer.Option("--prices", help="Replay this price file (default: sample).")
    ] = None,
    benchmark_file: Annotated[
        Path | None, typer.Option("--benchmark", help="Benchmark prices for beta sizing.")
    ] = None,
    db: Annotated[Path, typer.Option(help="Journal (SQLite) of the session.")] = DEFAULT_DB,
    speed: Annotated[
        float | None, typer.Option(help="Replay at most N bars per second (default: unthrottled).")
    ] = None,
    adopt_broker_state: Annotated[
        bool,
        typer.Option("--adopt-broker-state", help="Accept the broker's positions and cash."),
    ] = False,
    cash_tolerance: Annotated[
        float,
        typer.Option(
            help="Reconciliation: accept a cash difference up to this (broker fees, interest)."
        ),
    ] = 0.0,
    strategy: StrategyOption = DEFAULTS.strategy,
    param: ParamOption = None,
    fast: FastOption = DEFAULTS.fast,
    slow: SlowOption = DEFAULTS.slow,
    lookback: LookbackOption = DEFAULTS.lookback,
    max_positions: MaxPositionsOption = DEFAULTS.max_positions,
    rebalance: RebalanceOption = DEFAULTS.rebalance,
    portfolio: PortfolioOption = DEFAULTS.portfolio,
    factor: FactorOption = DEFAULTS.factor,
    max_weight: MaxWeightOption = DEFAULTS.max_weight,
    min_weight: MinWeightOption = DEFAULTS.min_weight,
    solver: SolverOption = DEFAULTS.solver,
    sizer: SizerOption = DEFAULTS.sizer,
    weight: WeightOption = DEFAULTS.weight,
    risk_per_trade: RiskPerTradeOption = DEFAULTS.risk_per_trade,
    stop_loss: StopLossOption = DEFAULTS.stop_loss,
    take_profit: TakeProfitOption = DEFAULTS.take_profit,
    trailing_stop: TrailingStopOption = DEFAULTS.trailing_stop,
    no_stop: NoStopOption = DEFAULTS.no_stop,
    max_position: MaxPositionOption = DEFAULTS.max_position,
    beta_sizing: BetaSizingOption = DEFAULTS.beta_sizing,
    beta_window: BetaWindowOption = DEFAULTS.beta_window,
    target_beta: TargetBetaOption = DEFAULTS.target_beta,
    cash: CashOption = DEFAULTS.cash,
    commission_bps: CommissionBpsOption = DEFAULTS.commission_bps,
    commission_per_share: CommissionPerShareOption = DEFAULTS.commission_per_share,
    commission_min: CommissionMinOption = DEFAULTS.commission_min,
    slippage_bps: SlippageBpsOption = DEFAULTS.slippage_bps,
    max_order_notional: Annotated[
        float | None, typer.Option(help="Risk: max notional per order.")
    ] = None,
    max_daily_notional: Annotated[
        float | None, typer.Option(help="Risk: max notional per day.")
    ] = None,
    max_position_pct: Annotated[
        float | None, typer.Option(help="Risk: max position / equity.")
    ] = None,
    max_orders_per_minute: Annotated[
        int | None, typer.Option(help="Risk: order rate limit.")
    ] = None,
    price_band: Annotated[float | None, typer.Option(help="Risk: max move vs last close.")] = None,
    max_daily_loss: Annotated[
        float | None, typer.Option(help="Risk: HALT below this daily loss.")
    ] = None,
    output: Annotated[
        OutputFormat, typer.Option("--format", help="table, json or csv (see README).")
    ] = OutputFormat.table,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            envvar="TRADEFOLIO_RUNS_DIR",
            help="Folder for the run folder (<UTC timestamp>-live/ with tearsheet).",
        ),
    ] = Path("runs"),
    record: Annotated[
        bool,
        typer.Option("--record/--no-record", help="Write a run folder when the replay ends."),
    ] = True,
    png: Annotated[bool, typer.Option("--png/--no-png", help="Export PNG charts too.")] = True,
) -> None:
    """Trade live (paper by default) with the backtest's strategies and sizers, durably."""
    if ctx.invoked_subcommand is not None:
        return
    require(broker in ("paper", "alpaca"), f"--broker must be paper or alpaca, got {broker!r}")
    require(not (paper and broker != "paper"), "--paper and --broker alpaca exclude each other")
    require(
        paper_account or broker == "alpaca",
        "--live-account selects Alpaca's real-money account; it cannot be used with --paper "
        "(the embedded paper broker): pass --broker alpaca --feed broker",
    )
    require(cash_tolerance >= 0, f"--cash-tolerance must be >= 0, got {cash_tolerance}")
    require(
        feed_name in ("replay", "broker"), f"--feed must be replay or broker, got {feed_name!r}"
    )
    polled = feed_name == "broker"
    symbols_given = [s.strip() for s in (symbols_option or "").split(",") if s.strip()]
    if polled:
        require(broker == "alpaca", "--feed broker needs --broker alpaca (its market data)")
        require(bool(symbols_given), "--feed broker needs --symbols, e.g. --symbols AAPL,MSFT")
        require(
            len(set(symbols_given)) == len(symbols_given),
            f"--symbols lists a symbol twice: {symbols_option}",
        )
        require(
            prices_file is None, "--prices replays a file; it cannot be used with --feed broker"
        )
        require(speed is None, "--speed throttles a replay; it cannot be used with --feed broker")
        require(not beta_sizing, "--beta-sizing is not available with --feed broker yet")
        require(data_feed in DATA_FEEDS, f"--data-feed must be one of {', '.join(DATA_FEEDS)}")
        require(sessions is None or sessions >= 1, f"--sessions must be >= 1, got {sessions}")
        require(poll_interval > 0, f"--poll-interval must be > 0 seconds, got {poll_interval}")
    else:
        require(symbols_option is None, "--symbols needs --feed broker (a replay trades its file)")
        require(sessions is None, "--sessions needs --feed broker (a replay ends by itself)")
    if broker == "alpaca":
        # Checked before the journal is touched: a missing key writes nothing.
        missing = [k for k in (KEY_ENV, SECRET_ENV) if not os.environ.get(k)]
        if missing:
            raise BrokerError(
                f"--broker alpaca needs the environment variables {', '.join(missing)}"
            )
        # Real-money orders must never follow replayed, historical bars.
        require(
            paper_account or feed_name == "broker",
            "--live-account trades real money and needs --feed broker (live market data), "
            "not replayed bars",
        )
    config = BacktestConfig.create(
        strategy=strategy,
        param=tuple(param) if param else None,
        fast=fast,
        slow=slow,
        lookback=lookback,
        max_positions=max_positions,
        rebalance=rebalance,
        portfolio=portfolio,
        factor=factor,
        max_weight=max_weight,
        min_weight=min_weight,
        solver=solver,
        sizer=sizer,
        weight=weight,
        risk_per_trade=risk_per_trade,
        stop_loss=stop_loss,
        take_profit=take_profit,
        trailing_stop=trailing_stop,
        no_stop=no_stop,
        max_position=max_position,
        beta_sizing=beta_sizing,
        beta_window=beta_window,
        target_beta=target_beta,
        cash=cash,
        commission_bps=commission_bps,
        commission_per_share=commission_per_share,
        commission_min=commission_min,
        slippage_bps=slippage_bps,
    )
    limits = RiskLimits(
        max_order_notional=_decimal_or_none(max_order_notional),
        max_daily_notional=_decimal_or_none(max_daily_notional),
        max_position_pct=_decimal_or_none(max_position_pct),
        max_orders_per_minute=max_orders_per_minute,
        price_band_pct=_decimal_or_none(price_band),
        max_daily_loss_pct=_decimal_or_none(max_daily_loss),
    )
    adapter: IntentSource
    replay: ReplayFeed | None = None
    closes: pd.DataFrame | None = None
    session_identity: dict[str, Any] = {
        "broker": broker,
        "account": ("paper" if paper_account else "live") if broker == "alpaca" else "paper",
        "feed": feed_name,
    }
    history_window = history_sessions
    if polled:
        history_window = _history_sessions(config, history_sessions)
        session_identity[PRICES_KEY] = {"symbols": symbols_given, "data_feed": data_feed}
        adapter = RollingStrategy(
            build_plan_strategy(config, "live"),
            symbols_given,
            lambda window: build_sizing(config, window, None),
        )
    else:
        panel = _load_panel(prices_file)
        closes = panel.close
        session_identity[PRICES_KEY] = prices_fingerprint(closes)
        benchmark = None
        if config.uses_benchmark:
            benchmark = (
                read_benchmark(benchmark_file) if benchmark_file else load_sample_benchmark()
            )
        replay = ReplayFeed(closes, speed=speed, panel=panel)
        symbols = [str(c) for c in closes.columns]
        adapter = PlannedStrategy(
            build_plan_strategy(config, "live").plan(closes),
            symbols,
            build_sizing(config, closes, benchmark),
        )
    costs = CostModel(
        commission_bps=Decimal(repr(commission_bps)),
        commission_per_share=Decimal(repr(commission_per_share)),
        commission_min=Decimal(repr(commission_min)),
        slippage_bps=Decimal(repr(slippage_bps)),
    )
    starting_cash = Decimal(repr(cash))
    remote: AlpacaBroker | None = None
    poller: PollingFeed | None = None
    if broker == "alpaca":
        # Reached (and the account checked) before the journal is touched: an unreachable
        # broker or refused keys write nothing. A new session starts from the account's cash.
        remote = AlpacaBroker.from_env(paper=paper_account)
        starting_cash = remote.check_ready().cash
        stderr_console().print(f"broker: {remote.endpoint}")
        if polled:
            market_data = AlpacaMarketData.from_env(feed=data_feed)
            market_data.latest_closes(symbols_given)  # reachable, keys accepted: or nothing written
            poller = PollingFeed(
                market_data,
                symbols_given,
                history_sessions=history_window,
                poll_interval=poll_interval,
            )
            stderr_console().print(f"market data: {market_data.endpoint} ({data_feed})")
    with journal_errors(db):
        journal = Journal.open(db)
        try:
            settings = {**config.model_dump(), **session_identity}
            _check_same_settings(journal, db, settings, closes)
            journal.initialise(starting_cash, settings)
            run_no = journal.start_run(
                {
                    **config.model_dump(),
                    "db": str(db),
                    "broker": remote.endpoint if remote else "paper",
                }
            )
            venue: Broker
            market: MarketSink | None
            if remote is None:
                paper_broker = PaperBroker(journal.connection, starting_cash, costs)
                venue, market = paper_broker, paper_broker
            else:
                venue, market = remote, None  # the real market fills Alpaca's orders
            trader = LiveTrader(
                journal=journal,
                broker=venue,
                strategy=adapter,
                sizer=rebalance_sizer({}),
                risk=RiskEngine(limits),
                costs=costs,
                market=market,
                exits=protective_exits(config),
                checkpoint=_checkpoint_from_env(),
                notify=lambda line: stderr_console().print(line, style="yellow", soft_wrap=True),
            )
            report = trader.reconcile(
                adopt=adopt_broker_state, cash_tolerance=Decimal(repr(cash_tolerance))
            )
            messages = stderr_console()
            # The protective orders every filled entry gets, as in the backtest (one line).
            messages.print(exits_note(config), style="dim", soft_wrap=True)
            if report.fills_recorded or report.closed_never_sent or report.adopted:
                messages.print(
                    f"reconciliation: {len(report.fills_recorded)} missed fills recorded, "
                    f"{len(report.closed_never_sent)} unsent orders closed"
                    + (", broker state adopted" if report.adopted else "")
                )
            after = journal.last_done_bar()
            bars: Iterator[Bar]
            if poller is not None:
                stop = StopRequest()
                restore = stop.install()
                try:
                    bars = poller.bars(after, stop=stop, max_bars=sessions)
                    processed = trader.run(bars)
                finally:
                    restore()
                ended = "stopped" if stop.requested else f"{processed} sessions done"
            else:
                assert replay is not None
                remaining = replay.remaining(after)
                with progress_bar("live replay", remaining, console=stderr_console()) as advance:
                    processed = trader.run(
                        replay.bars(after),
                        # The paper broker's state is in the journal's own transactions:
                        # whole bars may share one durable commit (a remote broker may not).
                        commit_every=COMMIT_GROUP_SECONDS if remote is None else None,
                        on_bar=lambda result: advance(1),
                    )
                ended = "replay finished"
            journal.end_run(run_no, ended)
            messages.print(
                f"processed {processed} bars after {after or 'the start'}; session in {db}"
            )
            if record:
                _write_run_folder(
                    journal,
                    config.model_dump(),
                    prices_file,
                    benchmark_file,
                    out,
                    png,
                    sample=not polled,
                )
            _print_status(status_payload(journal), output)
        finally:
            _close(journal)


def status_command(
    db: Annotated[Path, typer.Option(help="Journal (SQLite) of the session.")] = DEFAULT_DB,
    output: Annotated[
        OutputFormat, typer.Option("--format", help="table, json or csv (see README).")
    ] = OutputFormat.table,
) -> None:
    """Positions, open orders, trading state and the last reconciliation."""
    with journal_errors(db):
        journal = Journal.open(db, writer=False)
        try:
            _print_status(status_payload(journal), output)
        finally:
            _close(journal)


def halt_command(
    db: Annotated[Path, typer.Option(help="Journal (SQLite) of the session.")] = DEFAULT_DB,
    reducing: Annotated[
        bool, typer.Option("--reducing", help="Allow risk-reducing orders (REDUCING).")
    ] = False,
    reason: Annotated[str, typer.Option(help="Why (kept in the journal).")] = "operator",
) -> None:
    """Stop new orders (HALTED), or only allow risk-reducing ones (--reducing)."""
    state = TradingState.REDUCING if reducing else TradingState.HALTED
    with journal_errors(db):
        try:
            journal = Journal.open(db, writer=False)
        except JournalDamaged as exc:
            # The emergency stop must not be lost on a damaged file: the trading state
            # alone is written when its table still can be (else: how to stop instead).
            emergency_set_trading_state(db, state.value, reason, "cli")
            stderr_console().print(
                f"trading state of {db}: {state.value} (written although {exc})", soft_wrap=True
            )
            return
        try:
            journal.set_trading_state(state.value, reason, "cli")
        finally:
            _close(journal)
    stderr_console().print(f"trading state of {db}: {state.value}")


def resume_command(
    db: Annotated[Path, typer.Option(help="Journal (SQLite) of the session.")] = DEFAULT_DB,
    reason: Annotated[str, typer.Option(help="Why (kept in the journal).")] = "operator",
) -> None:
    """Allow orders again (ACTIVE)."""
    with journal_errors(db):
        journal = Journal.open(db, writer=False)
        try:
            journal.set_trading_state(TradingState.ACTIVE.value, reason, "cli")
        finally:
            _close(journal)
    stderr_console().print(f"trading state of {db}: ACTIVE")


def build_live_app() -> typer.Typer:
    """The `live` group: running a session is the group's own command."""
    live = typer.Typer(
        help="Live trading (paper by default): durable journal, exactly-once orders.",
        epilog=EXAMPLES,
        invoke_without_command=True,
        no_args_is_help=False,
    )
    live.callback(invoke_without_command=True, epilog=EXAMPLES)(run_command)
    live.command("status")(status_command)
    live.command("halt")(halt_command)
    live.command("resume")(resume_command)
    return live


def register(app: typer.Typer) -> None:
    """Add the `live` group to the application."""
    app.add_typer(build_live_app(), name="live")


__all__ = ["build_live_app", "register", "status_payload"]
