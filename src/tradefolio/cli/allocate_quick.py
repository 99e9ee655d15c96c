"""The fast path of `tradefolio allocate --candidates FILE`: no typer, rich or numpy.

A user's `allocate --candidates picks.csv` on a few names should cost about what a bare
pywraplp script solving the same MIP costs; importing typer and click, rich and numpy
used to cost twice the script alone. `app.main` therefore offers the arguments here
first. When they are `allocate --candidates FILE` with only the score model's flags
(`QUICK_OPTIONS`, each given once in a form click reads the same way: `--flag value` or
`--flag=value`, a number Python's `float` / `int` reads, a `--format` choice) this module
runs the command: the same `AllocateOptions` checks in the same order, the same candidate
reader, `small_score.allocate_small` (the score model's own program through pywraplp,
proven equal to the full path) or, for a larger file, `allocator.allocate`, and the same
printer (`allocate_output.py`). Anything else (help, a typo, a value click would reject,
any other flag) returns False and typer runs the command, errors and all.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tradefolio.cli.common import OutputFormat

#: Flags this path takes (typer's names) -> the option they set and how click converts it.
QUICK_OPTIONS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "--candidates": ("candidates", Path),
    "--capital": ("capital", float),
    "--max-weight": ("max_weight", float),
    "--min-weight": ("min_weight", float),
    "--max-positions": ("max_positions", int),
    "--solver": ("solver", str),
    "--time-limit": ("time_limit", float),
    "--format": ("output", OutputFormat),
}
#: Flags without a value.
QUICK_FLAGS: dict[str, str] = {"--fractional": "fractional"}


def parse_quick(args: Sequence[str]) -> dict[str, Any] | None:
    """The options of `allocate ARGS` if this path can run them exactly as typer would,
    else None (`args` without the command name)."""
    parsed: dict[str, Any] = {}
    remaining = list(args)
    while remaining:
        token = remaining.pop(0)
        flag, equals, inline = token.partition("=")
        if flag in QUICK_FLAGS and not equals and QUICK_FLAGS[flag] not in parsed:
            parsed[QUICK_FLAGS[flag]] = True
            continue
        if flag not in QUICK_OPTIONS or QUICK_OPTIONS[flag][0] in parsed:
            return None
        if not equals:
            if not remaining:
                return None
            inline = remaining.pop(0)
        if inline.startswith("-") or not inline.strip():
            return None  # an option's name as a value, or a blank: typer's errors
        name, convert = QUICK_OPTIONS[flag]
        try:
            parsed[name] = convert(inline)
        except ValueError:
            return None
    candidates = parsed.get("candidates")
    if candidates is None or not (candidates.is_file() and os.access(candidates, os.R_OK)):
        return None  # click checks that the file is readable: its error, not ours
    return parsed


def run_quick(args: Sequence[str]) -> bool:
    """Run `allocate ARGS` if `parse_quick` takes them (True), else do nothing (False).

    Raises what the typer command raises for the same arguments (`InvalidParameter`,
    `DataError`, `SolverError`, ...): `app.main` maps them to the same exit codes."""
    parsed = parse_quick(args)
    if parsed is None:
        return False
    from tradefolio.cli.allocate_output import print_allocation
    from tradefolio.portfolio.candidates import read_candidates
    from tradefolio.portfolio.options import FACTOR_CHOICES, AllocateOptions
    from tradefolio.portfolio.small_score import SOLVERS, allocate_small

    candidates_file: Path = parsed.pop("candidates")
    output: OutputFormat = parsed.pop("output", OutputFormat.table)
    options = AllocateOptions(**parsed)
    options.validate()
    if options.uses_model():  # pragma: no cover - none of the quick flags selects it
        return False
    options.validate_score_model(SOLVERS, FACTOR_CHOICES)
    candidates = read_candidates(candidates_file)
    solver = options.solver or "cbc"
    arguments: dict[str, Any] = {
        "fractional": options.fractional,
        "solver": solver,
        "time_limit": options.time_limit,
    }
    result = allocate_small(candidates, options.capital, options.params, **arguments)
    if result is None:  # many names: the allocator's own path (numpy, the composable model)
        from tradefolio.portfolio.allocator import allocate

        result = allocate(candidates, options.capital, options.params, **arguments)
    title = f"allocation of {candidates_file}"
    print_allocation(result, options.fractional, {}, title, output)
    return True


__all__ = ["QUICK_FLAGS", "QUICK_OPTIONS", "parse_quick", "run_quick"]
