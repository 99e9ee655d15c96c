"""`tradefolio live status|halt|resume`: read or flip a session's journal, also while a
trader runs, and how a session's status prints (the table, the JSON contract, the CSV rows).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from tradefolio.cli.common import (
    OutputFormat,
    print_csv,
    print_json,
    stderr_console,
    stdout_console,
)
from tradefolio.live.journal import Journal, JournalDamaged, emergency_set_trading_state
from tradefolio.live.risk import TradingState
from tradefolio.live.session import DEFAULT_DB, journal_errors, status_payload
from tradefolio.live.session import close_journal as _close

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
            print_status(status_payload(journal), output)
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


__all__ = [
    "STATUS_CSV_COLUMNS",
    "halt_command",
    "print_status",
    "resume_command",
    "status_command",
]
