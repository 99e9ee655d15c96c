"""rich's default table and lines as plain text, for output that is not a terminal.

Importing rich costs more than the whole solve of a few names, and what rich writes to a
file or a pipe is plain text: no colours, the heavy-head box, each column as wide as its
widest cell plus one space each side. For that case (`plain_width` says when it is) this
module writes the same characters without importing rich; anything it cannot reproduce
exactly (a terminal, forced colours, Jupyter, a non-UTF-8 stream, Windows, markup or
emoji characters, wide or control characters, a table or line wider than the console)
returns None and the caller renders with rich.
`tests/unit/cli/test_plain_table.py` compares both renderings byte for byte.
"""

from __future__ import annotations

import builtins
import os
import sys
from collections.abc import Mapping, Sequence
from typing import TextIO

# The characters rich prints as they are: printable ASCII without markup brackets.
_PLAIN = frozenset(chr(code) for code in range(0x20, 0x7F)) - {"[", "]"}


def _rich_is_terminal(stream: TextIO, environ: Mapping[str, str]) -> bool:
    """`rich.console.Console.is_terminal` for a console writing to `stream`."""
    tty_compatible = environ.get("TTY_COMPATIBLE", "")
    if tty_compatible in ("0", "1"):
        return tty_compatible == "1"
    force_color = environ.get("FORCE_COLOR")
    if force_color is not None:
        return force_color != ""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def plain_width(stream: TextIO, environ: Mapping[str, str] | None = None) -> int | None:
    """The width rich would lay out at on `stream`, when rich would write plain text there;
    None when rich must render (colours, Jupyter, a non-UTF-8 encoding, Windows)."""
    environ = os.environ if environ is None else environ
    if sys.platform == "win32" or hasattr(builtins, "get_ipython"):
        return None
    if not (getattr(stream, "encoding", None) or "utf-8").lower().startswith("utf"):
        return None
    if _rich_is_terminal(stream, environ):
        return None
    width = None
    for descriptor in (0, 1, 2):  # rich's Console.size: the first standard stream a tty
        try:
            width = os.get_terminal_size(descriptor).columns
        except (AttributeError, ValueError, OSError):
            continue
        break
    columns = environ.get("COLUMNS")
    if columns is not None and columns.isdigit():
        width = int(columns)
    return width or 80


def _plain(text: str) -> bool:
    """Whether rich prints `text` character for character (no markup, no emoji code, no
    edge whitespace, which rich trims when it justifies a cell)."""
    return (
        text.count(":") <= 1
        and text == text.strip()
        and all(character in _PLAIN for character in text)
    )


def plain_line(text: str, width: int, *, soft_wrap: bool) -> str | None:
    """`text` as `Console.print` writes it, or None if rich would change or wrap it."""
    if not _plain(text) or (not soft_wrap and len(text) > width):
        return None
    return text


def plain_table(
    title: str,
    columns: Sequence[tuple[str, bool]],
    rows: Sequence[Sequence[str]],
    width: int,
) -> str | None:
    """A left-titled `rich.table.Table` of `columns` (name, right-justified) as rich
    prints it at console `width`, or None if rich would lay it out differently."""
    cells = [[name for name, _ in columns], *rows]
    if not all(_plain(cell) for row in cells for cell in row) or not _plain(title):
        return None
    widths = [max(len(row[k]) for row in cells) for k in range(len(columns))]
    table_width = sum(widths) + 3 * len(widths) + 1
    if table_width > width or not title:  # soft wrap: rich never wraps the title
        return None

    def rule(left: str, fill: str, middle: str, right: str) -> str:
        return left + middle.join(fill * (w + 2) for w in widths) + right

    def line(edge: str, row: Sequence[str]) -> str:
        padded = (
            cell.rjust(w) if right else cell.ljust(w)
            for cell, w, (_, right) in zip(row, widths, columns, strict=True)
        )
        return edge + edge.join(f" {cell} " for cell in padded) + edge

    lines = [title, rule("┏", "━", "┳", "┓"), line("┃", cells[0]), rule("┡", "━", "╇", "┩")]
    lines += [line("│", row) for row in rows]
    lines.append(rule("└", "─", "┴", "┘"))
    return "\n".join(lines)


__all__ = ["plain_line", "plain_table", "plain_width"]
