"""Start-up of `tradefolio --help` and `allocate --candidates` against a bare pywraplp script
(issue 17, item 1: both within 2x of the script, measured in the same run).

Run: .venv/bin/python benchmarks/bench_startup.py [--rounds 15] [--before SRC] [--no-record]

Every row is a fresh process (interpreter start, imports, work, output to a pipe), with
bytecode caches as an installed package has them (a first round writes them into a scratch
`PYTHONPYCACHEPREFIX`; one row runs without, for comparison). The rows
run interleaved, one of each per round, so a change in the machine's load touches them all
alike; each cell is the median over the rounds of the wall time and of the child's CPU time
(user + system, from `getrusage`), the steadier number on a shared machine. Baselines in
the same run: the bare pywraplp script of `bench_cli_costs.py` (reads the same 4-name file
with `csv`, builds the same score MIP, solves it with CBC, prints the weights) and the
floor no command can go below, the interpreter importing pywraplp and nothing else.
`--before SRC` adds the same commands on another source tree (e.g. /work/main/src).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from _machine import append_results, machine_stamp
from bench_cli_costs import BARE_PYWRAPLP, CANDIDATES, PYWRAPLP_IMPORT

SOURCE = str(Path(__file__).resolve().parents[1] / "src")
#: Variables that stop Python from reading or writing bytecode caches (a user's installed
#: package has them: pip compiles on install).
NO_BYTECODE = ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")
NO_CACHE = "allocate --candidates (4 names), no bytecode cache"
MANY = "symbol,score,price\n" + "".join(
    f"S{i:02d},{1 + (i * 7) % 13},{10 + i}\n" for i in range(40)
)


def _run(command: list[str], environment: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one run of `command`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=environment, cwd=cwd)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--before", help="another source tree for the 'before' rows")
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()
    python = sys.executable
    tf = [python, "-m", "tradefolio"]
    allocate = [*tf, "allocate", "--candidates"]
    rows: list[tuple[str, list[str], str]] = [
        ("bare pywraplp script, same MIP (baseline)", [python, "bare.py", "c.csv"], SOURCE),
        ("floor: python + import pywraplp", [python, "-c", PYWRAPLP_IMPORT], SOURCE),
        ("tradefolio --help", [*tf, "--help"], SOURCE),
        ("allocate --candidates (4 names)", [*allocate, "c.csv"], SOURCE),
        ("allocate --candidates --format json", [*allocate, "c.csv", "--format", "json"], SOURCE),
        ("allocate --candidates --format csv", [*allocate, "c.csv", "--format", "csv"], SOURCE),
        ("allocate --candidates (40 names: numpy path)", [*allocate, "many.csv"], SOURCE),
        (NO_CACHE, [*allocate, "c.csv"], SOURCE),
    ]
    if args.before:
        rows += [
            ("before: tradefolio --help", [*tf, "--help"], args.before),
            ("before: allocate --candidates (4 names)", [*allocate, "c.csv"], args.before),
            (
                "before: allocate --candidates --format json",
                [*allocate, "c.csv", "--format", "json"],
                args.before,
            ),
        ]
    samples: dict[str, list[tuple[float, float]]] = {label: [] for label, _, _ in rows}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        (work / "c.csv").write_text(CANDIDATES)
        (work / "many.csv").write_text(MANY)
        (work / "bare.py").write_text(BARE_PYWRAPLP)
        cached = {key: value for key, value in os.environ.items() if key not in NO_BYTECODE}
        for round_number in range(args.rounds + 1):  # round 0 writes the bytecode caches
            for label, command, source in rows:
                environment = {**cached, "PYTHONPATH": source}
                environment["PYTHONPYCACHEPREFIX"] = str(work / "pycache" / Path(source).name)
                if label == NO_CACHE:  # the installed packages' caches, none for tradefolio
                    del environment["PYTHONPYCACHEPREFIX"]
                    environment["PYTHONDONTWRITEBYTECODE"] = "1"
                timing = _run(command, environment, work)
                if round_number:
                    samples[label].append(timing)
    load_after = os.getloadavg()[0]

    def medians(label: str) -> tuple[float, float]:
        walls, cpus = zip(*samples[label], strict=True)
        return statistics.median(walls), statistics.median(cpus)

    bare_wall, bare_cpu = medians(rows[0][0])
    columns = ["command", "wall s", "CPU s", "vs bare script (wall / CPU)"]
    table = Table(title=f"Start-up (medians of {args.rounds} interleaved rounds)")
    for name in columns:
        table.add_column(name, justify="left" if name == "command" else "right")
    lines = []
    for label, _, _ in rows:
        wall, cpu = medians(label)
        row = [
            label,
            f"{wall:.3f}",
            f"{cpu:.3f}",
            f"{wall / bare_wall:.2f}x / {cpu / bare_cpu:.2f}x",
        ]
        table.add_row(*row)
        lines.append("| " + " | ".join(row) + " |")
    Console().print(table)
    print(f"1-minute load average: {load_before:.1f} before, {load_after:.1f} after")
    if args.no_record:
        return
    markdown = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    markdown += "\n".join(lines)
    notes = (
        f"Fresh processes, output to a pipe; medians of {args.rounds} interleaved rounds (one "
        "run of every row per round, after one round that writes the bytecode caches, kept "
        "in a scratch PYTHONPYCACHEPREFIX as an installed package keeps them in "
        "site-packages; the 'no bytecode cache' row compiles every tradefolio module from "
        "source, as every run on this machine does: its environment sets "
        "PYTHONDONTWRITEBYTECODE=1 and the source trees have no __pycache__), wall and CPU "
        "(user + system of the child). 'vs bare "
        "script': against the bare pywraplp script solving the same 4-name MIP in the same "
        "run (bound: 2x). "
        + (f"'before': the same commands on {args.before}. " if args.before else "")
        + f"1-minute load average {load_before:.1f} before, {load_after:.1f} after (2 cores "
        "shared with other work: wall times are noisy, CPU times less)."
    )
    append_results(
        "Start-up: --help and allocate --candidates (benchmarks/bench_startup.py)",
        machine_stamp("ortools", "typer", "rich"),
        markdown,
        notes,
    )


if __name__ == "__main__":
    main()
