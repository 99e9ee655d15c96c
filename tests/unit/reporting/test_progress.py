"""Progress bars: drawn on a terminal, silent when piped or quiet."""

from __future__ import annotations

import io

from rich.console import Console

from tradefolio.reporting.progress import progress_bar, progress_enabled, track


def _terminal() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=True, width=100), buffer


def _pipe() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=False, width=100), buffer


def test_piped_output_gets_no_bar() -> None:
    console, buffer = _pipe()
    assert not progress_enabled(console)
    assert list(track(range(5), "work", console=console)) == [0, 1, 2, 3, 4]
    assert buffer.getvalue() == ""


def test_quiet_terminal_gets_no_bar() -> None:
    console, buffer = _terminal()
    assert not progress_enabled(console, quiet=True)
    with progress_bar("work", 3, quiet=True, console=console) as advance:
        advance(3)
    assert buffer.getvalue() == ""


def test_terminal_gets_a_bar_with_counts() -> None:
    console, buffer = _terminal()
    assert progress_enabled(console)
    seen = list(track([10, 20, 30], "backtesting", console=console))
    assert seen == [10, 20, 30]
    output = buffer.getvalue()
    assert "backtesting" in output
    assert "3/3" in output


def test_unknown_total_spins_without_failing() -> None:
    console, _ = _terminal()
    with progress_bar("downloading", None, console=console) as advance:
        advance(1)
        advance(5)
