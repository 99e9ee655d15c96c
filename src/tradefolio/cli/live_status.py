"""`tradefolio live status|halt|resume`: read or flip a session's journal, also while a
trader runs (the status prints as `tradefolio.cli.live_output.print_status`)."""

from __future__ import annotations

from typing import Annotated

import typer

from tradefolio.cli.common import (
    OutputFormat,
    stderr_console,
)
from tradefolio.cli.live_options import DbOption, FormatOption
from tradefolio.cli.live_output import print_status
from tradefolio.live.journal import Journal, JournalDamaged, emergency_set_trading_state
from tradefolio.live.risk import TradingState
from tradefolio.live.session import DEFAULT_DB, journal_errors, status_payload
from tradefolio.live.session import close_journal as _close


def status_command(
    db: DbOption = DEFAULT_DB,
    output: FormatOption = OutputFormat.table,
) -> None:
    """Positions, open orders, trading state and the last reconciliation."""
    with journal_errors(db):
        journal = Journal.open(db, writer=False)
        try:
            print_status(status_payload(journal), output)
        finally:
            _close(journal)


def halt_command(
    db: DbOption = DEFAULT_DB,
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
    db: DbOption = DEFAULT_DB,
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


__all__ = ["halt_command", "resume_command", "status_command"]
