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
