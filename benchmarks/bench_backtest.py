"""Backtest speed: tradefolio vs a plain loop of the same rules vs backtrader, same fills.

Run: .venv/bin/python benchmarks/bench_backtest.py [--symbols 500] [--days 2520]
     [--no-backtrader] [--no-record]

SMA 20/50 crossover, 10% of equity per entry, 1,000,000 cash, no costs, long-only; signals
at the close, fills at the next bar (close-only data: its close). Two data sets: seeded GBM
(`gbm_prices`, rounded to cents, written to CSV) and the bundled sample. Timed, each from
the CSV file on disk:

- `tradefolio CLI`: `python -m tradefolio backtest ... --format json` in a subprocess
  (interpreter start, imports, CSV load, validation, run, metrics, JSON out);
- `tradefolio engine`: `read_prices` (load + validation) + `run_config` + metrics, in
  process; `tradefolio run only` is the same without the load;
- `plain loop`: a numpy-assisted plain-Python loop of exactly the rules (float cash);
- `backtrader`: backtrader with `cheat_on_open` and an in-memory feed (no pandas feed).

Every engine's fills are compared with tradefolio's; the table says whether they agree.
Prints one table and appends it to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from _machine import append_results, machine_stamp
from tradefolio.backtest.config import BacktestConfig
from tradefolio.backtest.runner import run_config
from tradefolio.data.readers import read_prices
from tradefolio.data.sample_data import sample_path
from tradefolio.data.synthetic import gbm_prices

FAST, SLOW, WEIGHT, CASH = 20, 50, 0.10, 1_000_000.0

#: (date, symbol, side, quantity, price rounded to 6 decimals)
FillKey = tuple[str, str, str, int, float]


def timed(action: Callable[[], Any], repeats: int = 1) -> tuple[float, Any]:
    """Median wall time of `repeats` runs, and the last run's value."""
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        value = action()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), value


def cli_startup() -> float:
    """Wall time of `python -m tradefolio --version`: interpreter + every command's imports."""
    command = [sys.executable, "-m", "tradefolio", "--version"]
    seconds, _ = timed(lambda: subprocess.run(command, check=True, capture_output=True), 3)
    return seconds


# --- tradefolio -------------------------------------------------------------------------


def tradefolio_engine(path: Path) -> list[FillKey]:
    return tradefolio_run(read_prices(path))


def tradefolio_run(closes: pd.DataFrame) -> list[FillKey]:
    config = BacktestConfig.create(fast=FAST, slow=SLOW, sizer="weight", weight=WEIGHT, cash=CASH)
    result = run_config(config, closes)
    result.metrics()
    return [
        (f.date.isoformat(), f.symbol, f.side, f.quantity, round(float(f.price), 6))
        for f in result.fills
    ]


def tradefolio_cli(path: Path) -> list[FillKey]:
    command = [
        sys.executable, "-m", "tradefolio", "backtest", "--prices", str(path),
        "--fast", str(FAST), "--slow", str(SLOW), "--sizer", "weight",
        "--weight", str(WEIGHT), "--cash", str(CASH), "--format", "json",
        "--no-record",  # the run folder + tearsheet (~3 s) is a report, timed apart
    ]  # fmt: skip
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return [
        (f["date"], f["symbol"], f["side"], f["quantity"], round(f["price"], 6))
        for f in json.loads(output)["fills"]
    ]


# --- a plain loop of the same rules ------------------------------------------------------


def plain_loop(path: Path) -> list[FillKey]:
    """numpy for the SMAs (exact near ties), a plain Python loop and float cash for the rest."""
    frame = pd.read_csv(path, index_col=0)
    closes = frame.to_numpy(dtype=np.float64)
    dates = list(frame.index)
    symbols = list(frame.columns)
    bars, count = closes.shape
    cumsum = np.cumsum(closes, axis=0)

    def sma(window: int) -> np.ndarray:
        out = np.full(closes.shape, np.nan)
        out[window - 1] = cumsum[window - 1]
        out[window:] = cumsum[window:] - cumsum[:-window]
        return out / window

    fast, slow = sma(FAST), sma(SLOW)
    difference = fast - slow
    near = np.abs(difference) <= 1e-9 * np.maximum(np.abs(fast), np.abs(slow))
    for row, col in zip(*np.nonzero(near), strict=True):
        column = closes[:, col].tolist()
        difference[row, col] = (
            math.fsum(column[row - FAST + 1 : row + 1]) / FAST
            - math.fsum(column[row - SLOW + 1 : row + 1]) / SLOW
        )
    sign = np.sign(difference)
    carried = np.zeros(count)
    up = np.zeros(closes.shape, dtype=bool)
    down = np.zeros(closes.shape, dtype=bool)
    for bar in range(SLOW - 1, bars):
        row = sign[bar]
        if bar > SLOW - 1:
            up[bar] = (carried < 0) & (row > 0)
            down[bar] = (carried > 0) & (row < 0)
        carried = np.where(row != 0, row, carried) if bar > SLOW - 1 else row

    cash = CASH
    held: dict[int, int] = {}
    fills: list[FillKey] = []
    active = np.flatnonzero(up[:-1].any(axis=1) | down[:-1].any(axis=1))
    for decided in active.tolist():
        bar = decided + 1
        prices = closes[bar]
        equity = cash + sum(q * prices[j] for j, q in held.items())
        for j in np.flatnonzero(down[decided]).tolist():
            if j in held:
                quantity = held.pop(j)
                cash += quantity * prices[j]
                fills.append((dates[bar], symbols[j], "sell", quantity, float(prices[j])))
        for j in np.flatnonzero(up[decided]).tolist():
            if j in held:
                continue
            price = float(prices[j])
            quantity = math.floor(WEIGHT * equity / price)
            if quantity * price > cash:
                quantity = math.floor(cash / price)
            if quantity > 0:
                cash -= quantity * price
                held[j] = quantity
                fills.append((dates[bar], symbols[j], "buy", quantity, price))
    return fills


# --- backtrader ---------------------------------------------------------------------------


def backtrader_run(path: Path) -> list[FillKey]:
    import backtrader as bt

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.support.backtrader_sma import close_only_cross

    frame = pd.read_csv(path, index_col=0, parse_dates=True)
    dates = list(frame.index.to_pydatetime())

    class ArrayFeed(bt.feeds.DataBase):  # type: ignore[misc]
        params = (("closes", None),)

        def start(self) -> None:
            super().start()
            self._row = -1

        def _load(self) -> bool:
            self._row += 1
            if self._row >= len(self.p.closes):
                return False
            close = self.p.closes[self._row]
            self.lines.datetime[0] = bt.date2num(dates[self._row])
            for line in (self.lines.open, self.lines.high, self.lines.low, self.lines.close):
                line[0] = close
            self.lines.volume[0] = 0.0
            self.lines.openinterest[0] = 0.0
            return True

    cerebro = bt.Cerebro(cheat_on_open=True, stdstats=False)
    cerebro.broker.setcash(CASH)
    for symbol in frame.columns:
        cerebro.adddata(ArrayFeed(closes=frame[symbol].tolist()), name=str(symbol))
    cerebro.addstrategy(close_only_cross(bt, FAST, SLOW, WEIGHT))
    (strategy,) = cerebro.run()
    return [(d, s, side, q, round(float(p), 6)) for d, s, side, q, p in strategy.fills]


# --- table ----------------------------------------------------------------------------------


def _normalise(fills: list[FillKey]) -> list[FillKey]:
    return [(str(d)[:10], s, side, q, round(p, 6)) for d, s, side, q, p in fills]


def run_dataset(
    label: str, path: Path, with_backtrader: bool, repeats: int, console: Console
) -> list[list[str]]:
    frame = read_prices(path)
    symbol_bars = frame.shape[0] * frame.shape[1]
    engines: list[tuple[str, Callable[[Path], list[FillKey]]]] = [
        ("tradefolio CLI", tradefolio_cli),
        ("tradefolio engine", tradefolio_engine),
        ("plain loop", plain_loop),
    ]
    if with_backtrader:
        engines.append(("backtrader", backtrader_run))
    timings: dict[str, tuple[float, list[FillKey]]] = {}
    tradefolio_run(frame)
    timings["tradefolio run only"] = timed(lambda: _normalise(tradefolio_run(frame)), repeats)
    for name, engine in engines:
        console.print(f"[dim]{label}: {name} ...[/dim]")
        if name == "backtrader":  # run once: it takes minutes
            seconds, fills = timed(lambda e=engine: e(path))  # type: ignore[misc]
        else:
            engine(path)  # warm the OS file cache and imports once
            seconds, fills = timed(lambda e=engine: e(path), repeats)  # type: ignore[misc]
        timings[name] = (seconds, _normalise(fills))
    reference = timings["tradefolio engine"][1]
    baseline = timings.get("backtrader", (math.nan, []))[0]
    rows = []
    for name, (seconds, fills) in timings.items():
        rows.append(
            [
                label,
                name,
                f"{seconds:.3f}",
                f"{symbol_bars / seconds:,.0f}",
                "-" if math.isnan(baseline) else f"{baseline / seconds:,.0f}x",
                f"{len(fills):,d}",
                "yes" if fills == reference else "NO",
            ]
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--days", type=int, default=2_520)
    parser.add_argument("--repeats", type=int, default=3, help="runs per fast engine (median)")
    parser.add_argument("--no-backtrader", action="store_true")
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()
    console = Console(stderr=True)
    try:
        import backtrader  # noqa: F401

        with_backtrader = not args.no_backtrader
    except ImportError:
        with_backtrader = False

    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory() as folder:
        gbm = gbm_prices(args.symbols, args.days, seed=42, volatility=0.25).round(2)
        gbm_file = Path(folder) / "gbm.csv"
        gbm.rename_axis("Date").to_csv(gbm_file)
        label = f"GBM {args.symbols} x {args.days:,}"
        rows += run_dataset(label, gbm_file, with_backtrader, args.repeats, console)
    rows += run_dataset(
        "sample 20 x 8,313", Path(sample_path()), with_backtrader, args.repeats, console
    )
    startup = cli_startup()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan

    header = ["data", "engine", "seconds", "symbol-bars/s", "vs backtrader", "fills", "same fills"]
    table = Table(title="Backtest: SMA 20/50 cross, 10% of equity per entry, no costs")
    for column in header:
        table.add_column(column, justify="left" if column in ("data", "engine") else "right")
    for row in rows:
        table.add_row(*row)
    Console(width=120).print(table)
    print(f"CLI start-up alone (python -m tradefolio --version): {startup:.2f} s; load {load:.1f}")

    markdown = "| " + " | ".join(header) + " |\n|" + "---|" * len(header) + "\n"
    markdown += "\n".join("| " + " | ".join(row) + " |" for row in rows)
    if not args.no_record:
        append_results(
            "Backtest (benchmarks/bench_backtest.py)",
            machine_stamp("numpy", "pandas", "backtrader"),
            markdown,
            "Each engine reads the same CSV. 'tradefolio CLI' is a fresh `python -m tradefolio "
            "backtest ... --format json` process (start-up, imports, load, validation, run, "
            "metrics, JSON). 'plain loop' is numpy SMAs (exact near ties) + a plain-Python bar "
            "loop with float cash; 'backtrader' uses cheat_on_open and an in-memory feed, run "
            "once. 'same fills' compares every (date, symbol, side, quantity, price) with the "
            f"tradefolio engine. Fast engines: median of {args.repeats} runs. CLI start-up "
            f"alone (`python -m tradefolio --version`) took {startup:.2f} s; 1-minute load "
            f"average at the end: {load:.1f}.",
        )


# --- issue 14: protective stops, the event-driven form, the engine before issue 14 -------

#: In a fresh interpreter: median CPU seconds of `run_config` (close-only SMA cross, weight
#: sizer) and its fills, on the closes file argv[1]; the same code for both engines.
_ENGINE_SCRIPT = f"""
import json, statistics, sys, time
from tradefolio.backtest.config import BacktestConfig
from tradefolio.backtest.runner import run_config
from tradefolio.data.readers import read_prices
closes = read_prices(sys.argv[1])
config = BacktestConfig.create(
    fast={FAST}, slow={SLOW}, sizer="weight", weight={WEIGHT!r}, cash={CASH!r}
)
seconds = []
for _ in range(int(sys.argv[2])):
    start = time.process_time()
    result = run_config(config, closes)
    result.metrics()
    seconds.append(time.process_time() - start)
fills = [[f.date.isoformat(), f.symbol, f.side, f.quantity, str(f.price)] for f in result.fills]
print(json.dumps({{"seconds": statistics.median(seconds), "fills": fills}}))
"""


def _installed_env(pythonpath: str | None, pycache: str) -> dict[str, str]:
    """The environment of a timed subprocess: bytecode cached (in `pycache`, warmed by a
    first run) as an installed package has it, whatever PYTHONDONTWRITEBYTECODE says."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = pycache
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    return env


def _child_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cli_run(args: list[str], repeats: int, env: dict[str, str]) -> tuple[float, float, list[Any]]:
    """Median wall and median CPU seconds of the CLI run, and its fills (JSON)."""
    command = [sys.executable, "-m", "tradefolio", "backtest", *args, "--format", "json",
               "--no-record"]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, env=env)  # warm caches
    walls, cpus = [], []
    output = ""
    for _ in range(repeats):
        cpu, start = _child_cpu(), time.perf_counter()
        output = subprocess.run(command, check=True, capture_output=True, env=env, text=True).stdout
        walls.append(time.perf_counter() - start)
        cpus.append(_child_cpu() - cpu)
    return statistics.median(walls), statistics.median(cpus), json.loads(output)["fills"]


def _engine_run(closes_file: Path, repeats: int, env: dict[str, str]) -> tuple[float, list[Any]]:
    command = [sys.executable, "-c", _ENGINE_SCRIPT, str(closes_file), str(repeats)]
    output = subprocess.run(command, check=True, capture_output=True, env=env, text=True).stdout
    answer = json.loads(output)
    return float(answer["seconds"]), answer["fills"]


def _yes(flag: bool) -> str:
    return "yes" if flag else "NO"


def stops_section(symbols: int, days: int, repeats: int, baseline_src: str | None,
                  with_backtrader: bool, console: Console,
                  engine_rounds: int = 15) -> list[list[str]]:  # fmt: skip
    """Rows for the issue's speed targets (each ratio measured in this run)."""
    from decimal import Decimal

    from tradefolio.backtest.engine import run_backtest
    from tradefolio.backtest.strategies import SmaCross, SmaCrossEvents
    from tradefolio.data.synthetic import gbm_ohlc
    from tradefolio.execution.orders import ProtectiveExits
    from tradefolio.execution.sizing import PortfolioWeightSizer

    panel = gbm_ohlc(symbols, days, seed=42, volatility=0.25)
    label = f"GBM OHLC {symbols} x {days:,}"
    common = ["--fast", str(FAST), "--slow", str(SLOW), "--sizer", "weight",
              "--weight", str(WEIGHT), "--cash", str(CASH)]  # fmt: skip
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory() as folder:
        ours_env = _installed_env(None, str(Path(folder) / "pyc-ours"))
        closes_file = Path(folder) / "closes.csv"
        panel.close.rename_axis("Date").to_csv(closes_file)
        bars_file = Path(folder) / "bars.csv"
        panel.to_long().to_csv(bars_file, index=False)
        if baseline_src:
            before_env = _installed_env(baseline_src, str(Path(folder) / "pyc-before"))
            console.print(f"[dim]{label}: close-only CLI and engine, this branch and before ...")
            wall, cpu, fills = _cli_run(["--prices", str(closes_file), *common], repeats, ours_env)
            old_wall, old_cpu, old_fills = _cli_run(
                ["--prices", str(closes_file), *common], repeats, before_env
            )
            rows.append(
                [label, f"vectorised CLI, close-only, wall: this branch / before issue 14 "
                 f"(same fills: {_yes(fills == old_fills)}, {len(fills):,d})",
                 f"{wall:.2f} / {old_wall:.2f}", f"{wall / old_wall:.2f}x", "<= 1.2x"]
            )  # fmt: skip
            rows.append(
                [label, "vectorised CLI, close-only, CPU: this branch / before issue 14",
                 f"{cpu:.2f} / {old_cpu:.2f}", f"{cpu / old_cpu:.2f}x", "<= 1.2x"]
            )  # fmt: skip
            # interleaved rounds, a fresh process per engine per round (the load moves
            # between rounds; both sides see the same): median of the per-process medians
            ours_s: list[float] = []
            before_s: list[float] = []
            for round_ in range(engine_rounds):
                order = [(ours_env, ours_s), (before_env, before_s)]
                for env, per_round in order if round_ % 2 == 0 else order[::-1]:
                    value, run_fills = _engine_run(closes_file, max(repeats, 5), env)
                    per_round.append(value)
                    if env is ours_env:
                        engine_fills = run_fills
                    else:
                        old_engine_fills = run_fills
            engine, old_engine = statistics.median(ours_s), statistics.median(before_s)
            rows.append(
                [label, f"engine alone (run_config + metrics, CPU): this branch / before "
                 f"issue 14 (same fills: {_yes(engine_fills == old_engine_fills)})",
                 f"{engine:.3f} / {old_engine:.3f}", f"{engine / old_engine:.2f}x", "<= 1.2x"]
            )  # fmt: skip
        console.print(f"[dim]{label}: OHLC CLI runs with and without stops ...[/dim]")
        plain, plain_cpu, _ = _cli_run(["--prices", str(bars_file), *common], repeats, ours_env)
        stops, stops_cpu, _ = _cli_run(
            ["--prices", str(bars_file), *common, "--stop-loss", "0.05"], repeats, ours_env
        )
        rows.append([label, "CLI OHLC, wall: stop on every entry / no stops",
                     f"{stops:.2f} / {plain:.2f}", f"{stops / plain:.2f}x", "<= 2x"])  # fmt: skip
        rows.append([label, "CLI OHLC, CPU: stop on every entry / no stops",
                     f"{stops_cpu:.2f} / {plain_cpu:.2f}", f"{stops_cpu / plain_cpu:.2f}x",
                     "<= 2x"])  # fmt: skip

    exits = ProtectiveExits(stop_loss=0.05)
    sizer = PortfolioWeightSizer.fixed(WEIGHT)

    def engine_run(strategy: Any) -> Any:
        return run_backtest(panel.close, strategy, sizer, cash=CASH, opens=panel.open,
                            highs=panel.high, lows=panel.low, exits=exits)  # fmt: skip

    console.print(f"[dim]{label}: engine runs ...[/dim]")
    vectorised, result = timed(lambda: engine_run(SmaCross(FAST, SLOW)), repeats)
    events, event_result = timed(lambda: engine_run(SmaCrossEvents(FAST, SLOW)), repeats)
    same = [f.__repr__() for f in result.fills] == [f.__repr__() for f in event_result.fills]
    rows.append(
        [label, f"engine with stops: event-driven / vectorised (same fills: "
         f"{_yes(same)}, {len(result.fills):,d})",
         f"{events:.2f} / {vectorised:.2f}", f"{events / vectorised:.2f}x", "<= 3x"]
    )  # fmt: skip
    if with_backtrader:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tests.support.backtrader_sma import backtrader_run as bracket_reference

        console.print(f"[dim]{label}: backtrader with the same stops (once, minutes) ...[/dim]")
        seconds, (fills, value) = timed(
            lambda: bracket_reference(panel, FAST, SLOW, WEIGHT, CASH, stop=0.05)
        )
        micro = Decimal("0.000001")
        reference = [(d, s, side, q, p.quantize(micro)) for d, s, side, q, p in fills]
        ours = [(f.date.isoformat(), f.symbol, f.side, f.quantity, f.price)
                for f in event_result.fills]  # fmt: skip
        agree = ours == reference and abs(float(event_result.final_equity) - value) < 0.01
        rows.append([label, f"backtrader with the same stops / event-driven (fill for fill "
                     f"and final value to the cent: {_yes(agree)}, {len(fills):,d} fills)",
                     f"{seconds:.2f} / {events:.2f}",
                     f"{seconds / events:.0f}x faster", ">= 30x"])  # fmt: skip
    return rows


def stops_main() -> None:
    """`--stops`: the issue-14 rows only (see `stops_section`)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stops", action="store_true")
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--days", type=int, default=2_520)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--baseline-src",
        help="src/ of the engine before issue 14 (a `git worktree add --detach` of ffed337)",
    )
    parser.add_argument(
        "--baseline-label", default="", help="what --baseline-src is, for the notes"
    )
    parser.add_argument(
        "--engine-rounds",
        type=int,
        default=15,
        help="interleaved fresh-process rounds of the 'engine alone' comparison",
    )
    parser.add_argument("--no-backtrader", action="store_true")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    console = Console(stderr=True)
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan
    rows = stops_section(args.symbols, args.days, args.repeats, args.baseline_src,
                         not args.no_backtrader, console, args.engine_rounds)  # fmt: skip
    header = ["data", "comparison", "seconds", "ratio", "target"]
    table = Table(title="Backtest with protective stops (issue 14)")
    for column in header:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    Console(width=180).print(table)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan
    print(f"1-minute load average: {load_before:.1f} at the start, {load:.1f} at the end")
    if not args.no_record:
        markdown = "| " + " | ".join(header) + " |\n|" + "---|" * len(header) + "\n"
        markdown += "\n".join("| " + " | ".join(row) + " |" for row in rows)
        append_results(
            "Backtest with stops (benchmarks/bench_backtest.py --stops)",
            machine_stamp("numpy", "pandas", "backtrader"),
            markdown,
            "SMA 20/50 cross, 10% of equity per entry (weight sizer), stop 5% below every fill. "
            "CLI rows: a fresh `python -m tradefolio backtest ... --format json --no-record` "
            f"process, median of {args.repeats} after a warm-up run, bytecode cached as an "
            "installed package has it; wall and CPU (user + system of the child) both shown, "
            "CPU being the steadier on a shared machine. 'before issue 14' is the same CLI "
            f"with PYTHONPATH={args.baseline_src} {args.baseline_label}. 'engine alone': "
            "`run_config` + metrics on the loaded closes, median CPU of 5 or more runs in a "
            f"fresh process per engine, {args.engine_rounds} interleaved rounds (the median "
            "of the rounds' medians). Engine rows with stops: in process, same OHLC panel. "
            "backtrader: the pinned bracket reference of the dev oracle, run once, compared "
            "fill for fill with the event-driven run. The machine was shared with other "
            f"helpers' work (1-minute load {load_before:.1f} at the start, {load:.1f} at the "
            "end).",
        )


if __name__ == "__main__":
    if "--stops" in sys.argv:
        stops_main()
    else:
        main()
