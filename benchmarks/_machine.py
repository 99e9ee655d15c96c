"""Machine and version stamp shared by the benchmarks' RESULTS.md entries."""

from __future__ import annotations

import datetime as dt
import os
import platform
from importlib import metadata
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_stamp(*packages: str) -> str:
    """One line: UTC date, CPU count, platform, Python and package versions."""
    versions = ", ".join(f"{p} {_version(p)}" for p in packages)
    return (
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores; "
        f"{platform.machine()} {platform.system()}; Python {platform.python_version()}; {versions}"
    )


def append_results(title: str, stamp: str, table_markdown: str, notes: str = "") -> None:
    """Append one benchmark run to benchmarks/RESULTS.md."""
    entry = f"\n## {title}\n\n{stamp}\n\n{table_markdown}\n"
    if notes:
        entry += f"\n{notes}\n"
    with RESULTS.open("a") as handle:
        handle.write(entry)


def show_table(title: str, rows: list[dict[str, str]]) -> str:
    """Print `rows` (one dict per row, the same keys) as a rich table; return it as the
    markdown table that `append_results` records."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in rows[0]:
        table.add_column(column)
    for row in rows:
        table.add_row(*row.values())
    Console().print(table)
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(row.values()) + " |" for row in rows]
    return "\n".join(lines)


def child_stdout(script: Path, source: Path, arguments: list[str]) -> list[str]:
    """The stdout lines of `script arguments` run in a fresh process on the source tree
    `source` (the benchmarks folder on the path too): a tree measured apart from another."""
    import subprocess
    import sys

    environment = {**os.environ, "PYTHONPATH": f"{source}{os.pathsep}{script.parent}"}
    done = subprocess.run(
        [sys.executable, str(script), *arguments],
        capture_output=True,
        text=True,
        check=True,
        env=environment,
    )
    return done.stdout.strip().splitlines()
