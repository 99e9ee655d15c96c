"""How `tradefolio live` shows a session: its messages and replay progress on stderr, the
run folder it writes at the end, and its status (the table, the JSON contract of
`status_payload`, the CSV rows of `STATUS_CSV_COLUMNS`) on stdout.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.table import Table

from tradefolio.cli.common import (
    OutputFormat,
    print_csv,
    print_json,
    stderr_console,
    stdout_console,
)
from tradefolio.data.market import report_benchmark
from tradefolio.data.readers import read_benchmark
from tradefolio.errors import DataError
from tradefolio.live.journal import Journal
from tradefolio.reporting.live_record import write_live_run
from tradefolio.reporting.progress import progress_bar


class StderrMessages:
    """A session's messages on stderr (`SessionMessages`)."""

    def info(self, text: str) -> None:
        """A plain line."""
        stderr_console().print(text)

    def warning(self, text: str) -> None:
        """A yellow line."""
        stderr_console().print(text, style="yellow")

    def event(self, text: str) -> None:
        """A yellow line, never wrapped (the trader's own notes)."""
        stderr_console().print(text, style="yellow", soft_wrap=True)


@contextmanager
def replay_progress(description: str, total: int) -> Iterator[Callable[[int], None]]:
    """A session's `Progress`: the replay's bar on stderr (a terminal only)."""
    with progress_bar(description, total, console=stderr_console()) as advance:
        yield advance


def write_run_folder(
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
    given = read_benchmark(benchmark_file) if benchmark_file else None
    benchmark = report_benchmark(given, sample_prices=prices_file is None and sample)
    try:
        folder = write_live_run(journal, config, out, benchmark=benchmark, png=png)
    except DataError as exc:
        messages.print(f"no run folder: {exc}", style="dim")
        return
    for note in folder.notes:
        messages.print(note, style="yellow")
    messages.print(f"tearsheet: {folder.tearsheet or folder.path}", style="dim", soft_wrap=True)


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


def print_status(payload: dict[str, Any], output: OutputFormat) -> None:
    """`status_payload` as JSON, CSV (`STATUS_CSV_COLUMNS`) or a table and a summary line."""
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
    state = payload["state"]
    if state != "ACTIVE" and payload["state_reason"]:
        # Why orders are stopped is the first thing an operator reads after a halt.
        state = f"{state} ({payload['state_reason']})"
    console.print(
        f"state {state}; cash {payload['cash']:,.2f}; "
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


__all__ = [
    "STATUS_CSV_COLUMNS",
    "StderrMessages",
    "print_status",
    "replay_progress",
    "write_run_folder",
]
