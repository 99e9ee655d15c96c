"""The options of `tradefolio live` itself (broker, account, feed, journal, replay, risk
limits, reconciliation, output), declared once; their defaults are `SessionOptions`'
(`SESSION_DEFAULTS`). The strategy, sizer and cost options are `trading_options`'
(shared with `backtest`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tradefolio.cli.common import OutputFormat
from tradefolio.live.alpaca import DATA_FEEDS
from tradefolio.live.session import SessionOptions

#: The defaults of the session's own options.
SESSION_DEFAULTS = SessionOptions()

PaperOption = Annotated[
    bool, typer.Option("--paper", help="Trade with the embedded paper broker (default).")
]

BrokerOption = Annotated[str, typer.Option(help="Broker: paper or alpaca.")]

PaperAccountOption = Annotated[
    bool,
    typer.Option(
        "--paper-account/--live-account",
        help="alpaca: the paper (default) or the live, real-money account; this flag alone "
        "chooses it. Keys: APCA_API_KEY_ID, APCA_API_SECRET_KEY; APCA_API_BASE_URL "
        "overrides the endpoint (refused when it names the other account's endpoint).",
    ),
]

FeedOption = Annotated[
    str,
    typer.Option(
        "--feed",
        help="Bars: replay (a price file, offline) or broker (the broker's market data, "
        "one bar per new trading session; needs --broker alpaca and --symbols).",
    ),
]

SymbolsOption = Annotated[
    str | None,
    typer.Option("--symbols", help="--feed broker: comma-separated universe, e.g. AAPL,MSFT."),
]

PollIntervalOption = Annotated[
    float, typer.Option(help="--feed broker: seconds between market-data polls.")
]

SessionsOption = Annotated[
    int | None,
    typer.Option(help="--feed broker: stop after N sessions (default: run until stopped)."),
]

HistorySessionsOption = Annotated[
    int, typer.Option(help="--feed broker: daily sessions of history per bar.")
]

DataFeedOption = Annotated[
    str, typer.Option(help=f"--feed broker: Alpaca data feed ({', '.join(DATA_FEEDS)}).")
]

PricesOption = Annotated[
    Path | None, typer.Option("--prices", help="Replay this price file (default: sample).")
]

BenchmarkOption = Annotated[
    Path | None, typer.Option("--benchmark", help="Benchmark prices for beta sizing.")
]

DbOption = Annotated[Path, typer.Option(help="Journal (SQLite) of the session.")]

SpeedOption = Annotated[
    float | None, typer.Option(help="Replay at most N bars per second (default: unthrottled).")
]

AdoptBrokerStateOption = Annotated[
    bool,
    typer.Option("--adopt-broker-state", help="Accept the broker's positions and cash."),
]

CashToleranceOption = Annotated[
    float,
    typer.Option(
        help="Reconciliation: accept a cash difference up to this (broker fees, interest)."
    ),
]

MaxOrderNotionalOption = Annotated[float | None, typer.Option(help="Risk: max notional per order.")]

MaxDailyNotionalOption = Annotated[float | None, typer.Option(help="Risk: max notional per day.")]

MaxPositionPctOption = Annotated[float | None, typer.Option(help="Risk: max position / equity.")]

MaxOrdersPerMinuteOption = Annotated[int | None, typer.Option(help="Risk: order rate limit.")]

PriceBandOption = Annotated[float | None, typer.Option(help="Risk: max move vs last close.")]

MaxDailyLossOption = Annotated[float | None, typer.Option(help="Risk: HALT below this daily loss.")]

FormatOption = Annotated[
    OutputFormat, typer.Option("--format", help="table, json or csv (see README).")
]

OutOption = Annotated[
    Path,
    typer.Option(
        "--out",
        envvar="TRADEFOLIO_RUNS_DIR",
        help="Folder for the run folder (<UTC timestamp>-live/ with tearsheet).",
    ),
]

RecordOption = Annotated[
    bool,
    typer.Option("--record/--no-record", help="Write a run folder when the replay ends."),
]

PngOption = Annotated[bool, typer.Option("--png/--no-png", help="Export PNG charts too.")]


__all__ = [
    "SESSION_DEFAULTS",
    "AdoptBrokerStateOption",
    "BenchmarkOption",
    "BrokerOption",
    "CashToleranceOption",
    "DataFeedOption",
    "DbOption",
    "FeedOption",
    "FormatOption",
    "HistorySessionsOption",
    "MaxDailyLossOption",
    "MaxDailyNotionalOption",
    "MaxOrderNotionalOption",
    "MaxOrdersPerMinuteOption",
    "MaxPositionPctOption",
    "OutOption",
    "PaperAccountOption",
    "PaperOption",
    "PngOption",
    "PollIntervalOption",
    "PriceBandOption",
    "PricesOption",
    "RecordOption",
    "SessionsOption",
    "SpeedOption",
    "SymbolsOption",
]
