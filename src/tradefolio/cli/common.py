"""Pieces every command shares: output formats, consoles, option checks."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tradefolio.api.options import check_fraction, check_positive, require
from tradefolio.reporting.json_values import finite_or_null

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


def given_on_command_line(names: Iterable[str]) -> list[str]:
    """The parameters among `names` of the running command given on its command line (or
    by their environment variable), not left at their defaults; none outside click."""
    import click
    from click.core import ParameterSource

    context = click.get_current_context(silent=True)
    if context is None:
        return []
    given = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    return [name for name in names if context.get_parameter_source(name) in given]


def print_json(payload: Any, *, indent: int | None = 2) -> None:
    """Machine-readable output: one JSON document, no rich markup, non-finite as null."""
    print(json.dumps(finite_or_null(payload), indent=indent, allow_nan=False))


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
    "given_on_command_line",
    "print_csv",
    "print_json",
    "require",
    "stderr_console",
    "stdout_console",
]
