"""Live-trading throughput and restart time (issues 6 and 13).

1. Durable orders per second through risk engine + journal (SQLite WAL, synchronous=FULL)
   + paper broker, on a strategy that trades every symbol on every bar. Durable commits per
   bar, whatever its number of orders: the paper mark, the plan (every order journaled
   before any is sent), the paper broker's batch of submits, the journal's record of their
   outcomes and fills, the bar's end. Baseline in the same process: the bare cost of one
   `synchronous=FULL` commit per order (sqlite3, nothing else); and the rate before
   batching (a paper commit and a journal commit per order), measured earlier and kept in
   the table (`BEFORE_BATCHING`).
2. Restart with a journal of 100,000 orders: open the journal, the paper broker and the
   trader, and reconcile with the broker, timed from a fresh process state.

3. `live --paper`'s replay of the bundled sample (8,313 bars x 20 symbols, the CLI's
   defaults: SMA 20/50, weight sizer), bars per second of the trader's loop, each in a
   fresh process: with every step its own durable commit (as a remote broker needs), with
   whole bars grouped into one commit every 0.25 s (the CLI's paper replay), and — with
   `--baseline-src`, a checkout's `src/` of the code before (issue 13) — the baseline in
   the same run. All three must end with the same equity.

Floors: >= 1,000 durable orders/s; restart < 1 s; the grouped replay >= 10x the baseline.
Writes the `## live` section of RESULTS.md, replacing the previous one in place (other
sections are left as they are).
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from tradefolio.execution.sizing import Quantity, SizingRequest
from tradefolio.live.feed import ReplayFeed
from tradefolio.live.journal import Journal
from tradefolio.live.paper import PaperBroker
from tradefolio.live.strategy import Action, Intent
from tradefolio.live.trader import LiveTrader

#: Durable orders/s of the unbatched trader (commit cdfe389: one paper commit per submit,
#: one journal commit per outcome), as measured before batching; kept as the baseline row.
BEFORE_BATCHING = "1,126"


class Flip:
    """Enter every symbol on even bars, exit on odd ones: one order per symbol per bar."""

    def intents(self, history: pd.DataFrame) -> list[Intent]:
        action = Action.ENTER if len(history) % 2 else Action.EXIT
        return [Intent(str(s), action) for s in history.columns]


class Units:
    def size(self, request: SizingRequest) -> Quantity:
        return 10


def prices(symbols: int, bars: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    closes = np.round(50 + rng.normal(0, 1, (bars, symbols)).cumsum(axis=0) * 0.1, 2)
    index = pd.bdate_range("2000-01-03", periods=bars, name="date")
    return pd.DataFrame(np.abs(closes) + 1, index=index, columns=[f"S{i}" for i in range(symbols)])


def session(path: Path) -> tuple[Journal, PaperBroker, LiveTrader]:
    journal = Journal.open(path)
    journal.initialise(Decimal(10**9), {})
    broker = PaperBroker(journal.connection, Decimal(10**9))
    trader = LiveTrader(
        journal=journal, broker=broker, strategy=Flip(), sizer=Units(), market=broker
    )
    return journal, broker, trader


def throughput(path: Path, symbols: int, bars: int) -> tuple[int, float]:
    journal, _, trader = session(path)
    feed = ReplayFeed(prices(symbols, bars))
    start = time.perf_counter()
    trader.run(feed.bars())
    elapsed = time.perf_counter() - start
    orders = len(journal.all_orders())
    journal.close()
    return orders, elapsed


def baseline(path: Path, n: int) -> float:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE t(a TEXT)")
    start = time.perf_counter()
    for i in range(n):
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO t VALUES (?)", (str(i),))
        db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    db.close()
    return n / elapsed


def restart(path: Path) -> tuple[int, float]:
    start = time.perf_counter()
    journal, _, trader = session(path)
    trader.reconcile()
    journal.last_done_bar()
    elapsed = time.perf_counter() - start
    orders = journal.connection.execute("SELECT count(*) FROM orders").fetchone()[0]
    journal.close()
    return int(orders), elapsed


#: Times `LiveTrader.run` over the sample replay in a fresh process; argv: journal path,
#: commit group seconds or "none". Uses only API the baseline code has too.
REPLAY = """
import sys, time
from decimal import Decimal
from tradefolio.backtest.config import BacktestConfig
from tradefolio.backtest.runner import build_sizing, build_strategy
from tradefolio.data.sample_data import load_sample_prices
from tradefolio.execution.strategy import rebalance_sizer
from tradefolio.live.feed import ReplayFeed
from tradefolio.live.journal import Journal
from tradefolio.live.paper import PaperBroker
from tradefolio.live.strategy import PlannedStrategy
from tradefolio.live.trader import LiveTrader

config = BacktestConfig.create()
closes = load_sample_prices()
plan = build_strategy(config).plan(closes)
symbols = [str(c) for c in closes.columns]
adapter = PlannedStrategy(plan, symbols, build_sizing(config, closes, None))
journal = Journal.open(sys.argv[1])
journal.initialise(Decimal(1_000_000), {})
broker = PaperBroker(journal.connection, Decimal(1_000_000))
trader = LiveTrader(
    journal=journal, broker=broker, strategy=adapter, sizer=rebalance_sizer({}), market=broker
)
options = {} if sys.argv[2] == "none" else {"commit_every": float(sys.argv[2])}
start = time.perf_counter()
bars = trader.run(ReplayFeed(closes).bars(), **options)
print(bars, time.perf_counter() - start, journal.last_equity())
"""


def replay(folder: Path, src: Path, group: str) -> tuple[int, float, str]:
    """(bars, seconds, final equity) of the sample replay with the sources in `src`."""
    path = folder / f"replay-{group}-{abs(hash(str(src)))}.db"
    done = subprocess.run(
        [sys.executable, "-c", REPLAY, str(path), group],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(src)},
        check=True,
    )
    bars, seconds, equity = done.stdout.split()
    return int(bars), float(seconds), equity


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--bars", type=int, default=400, help="bars of the throughput run")
    parser.add_argument("--restart-orders", type=int, default=100_000)
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument(
        "--baseline-src",
        type=Path,
        help="src/ of a checkout of the code before, for the replay baseline row",
    )
    args = parser.parse_args()
    src = Path(__file__).resolve().parent.parent / "src"
    with tempfile.TemporaryDirectory(dir=os.getcwd()) as tmp:
        base = baseline(Path(tmp) / "base.db", 2000)
        orders, elapsed = throughput(Path(tmp) / "tp.db", args.symbols, args.bars)
        rate = orders / elapsed
        big = Path(tmp) / "big.db"
        build_start = time.perf_counter()
        bars_needed = args.restart_orders // args.symbols + 1
        throughput(big, args.symbols, bars_needed)
        build = time.perf_counter() - build_start
        restart_orders, restart_s = restart(big)
        replays = {"per step": replay(Path(tmp), src, "none")}
        replays["grouped"] = replay(Path(tmp), src, "0.25")
        if args.baseline_src is not None:
            replays["baseline"] = replay(Path(tmp), args.baseline_src, "none")
    equities = {equity for _, _, equity in replays.values()}
    assert len(equities) == 1, f"the replays disagree: {replays}"
    rate_of = {name: bars / seconds for name, (bars, seconds, _) in replays.items()}
    replay_rows = [
        (f"sample replay bars/s, {name}", f"{rate:,.0f}") for name, rate in rate_of.items()
    ]
    if "baseline" in rate_of:
        replay_rows.append(
            (
                "sample replay speed-up, grouped over baseline",
                f"{rate_of['grouped'] / rate_of['baseline']:.1f}x",
            )
        )
    rows = [
        ("bare sqlite commit (synchronous=FULL), commits/s", f"{base:,.0f}"),
        (
            "durable orders/s before batching (baseline, a commit per submit and per fill record)",
            BEFORE_BATCHING,
        ),
        (f"durable orders/s ({orders:,d} orders, {args.symbols} symbols)", f"{rate:,.0f}"),
        ("speed-up over before batching", f"{rate / float(BEFORE_BATCHING.replace(',', '')):.1f}x"),
        (f"restart + reconcile, {restart_orders:,d} orders in the journal (s)", f"{restart_s:.3f}"),
        ("building that journal (s)", f"{build:.1f}"),
        *replay_rows,
    ]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value:>12}")
    speedup = rate_of["grouped"] / rate_of["baseline"] if "baseline" in rate_of else None
    print(
        f"floors: >= 1,000 orders/s: {'ok' if rate >= 1000 else 'MISSED'}; "
        f"restart < 1 s: {'ok' if restart_s < 1 else 'MISSED'}; replay >= 10x baseline: "
        + ("not measured" if speedup is None else "ok" if speedup >= 10 else "MISSED")
    )
    if args.no_record:
        return
    results = Path(__file__).with_name("RESULTS.md")
    load = os.getloadavg()[0]
    section = [
        f"## live ({datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"tradefolio {metadata.version('tradefolio')})",
        "",
        "| measure | value |",
        "| --- | ---: |",
        *[f"| {name} | {value} |" for name, value in rows],
        "",
        f"Machine: {platform.machine()} {platform.system()}; 1-minute load average at the "
        f"end: {load:.1f} (commits wait on fsync, so a busy disk lowers every row; the "
        "machine was shared with other work, so rows are noisy). The replay baseline is "
        f"{'the code before issue 13, run by --baseline-src' if speedup else 'not measured'}.",
        "",
    ]
    write_section(results, "\n".join(section))


def write_section(results: Path, section: str) -> None:
    """Replace the `## live` section of `results` (up to the next `## ` heading) with
    `section`, or append it when there is none; the rest of the file is left untouched."""
    text = results.read_text() if results.exists() else ""
    start = text.find("\n## live")
    if start < 0:
        results.write_text(text.rstrip("\n") + "\n\n" + section)
        return
    start += 1
    end = text.find("\n## ", start)
    rest = "" if end < 0 else text[end + 1 :]
    results.write_text(text[:start] + section + ("\n" + rest if rest else ""))


if __name__ == "__main__":
    main()
