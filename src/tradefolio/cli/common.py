"""Pieces every command shares: output formats, consoles, option checks."""

from __future__ import annotations

import csv
import io
import json
import math
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tradefolio.errors import InvalidParameter

if TYPE_CHECKING:  # rich loads when a console is made: JSON and CSV output never need it
    from rich.console import Console


class OutputFormat(StrEnum):
    """How a command prints its data on stdout."""

    table = "table"
    json = "json"
    csv = "csv"


def stdout_console() -> Console:
    """Console for data (stdout)."""
    from rich.console import Console

    return Console(soft_wrap=True)


def stderr_console(quiet: bool = False) -> Console:
    """Console for messages and progress (stderr); prints nothing when `quiet`."""
    from rich.console import Console

    return Console(stderr=True, quiet=quiet)


def require(condition: bool, message: str) -> None:
    """Raise `InvalidParameter(message)` unless `condition` holds (a CLI check of one option)."""
    if not condition:
        raise InvalidParameter(message)


def check_fraction(flag: str, value: float, *, allow_zero: bool = False) -> None:
    """`value` must lie in (0, 1] (or [0, 1] with `allow_zero`)."""
    low_ok = value >= 0 if allow_zero else value > 0
    interval = "[0, 1]" if allow_zero else "(0, 1]"
    require(
        math.isfinite(value) and low_ok and value <= 1,
        f"{flag} must be in {interval}, got {value:g}",
    )


def check_positive(flag: str, value: float) -> None:
    """`value` must be a finite number > 0."""
    require(math.isfinite(value) and value > 0, f"{flag} must be > 0, got {value:g}")


def print_json(payload: Any) -> None:
    """Machine-readable output: one JSON document, no rich markup."""
    print(json.dumps(payload, indent=2, allow_nan=False))


def print_csv(header: list[str], rows: list[list[Any]]) -> None:
    """Plain CSV on stdout."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    print(buffer.getvalue(), end="")


__all__ = [
    "OutputFormat",
    "check_fraction",
    "check_positive",
    "print_csv",
    "print_json",
    "require",
    "stderr_console",
    "stdout_console",
]
