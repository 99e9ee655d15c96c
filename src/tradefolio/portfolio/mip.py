"""OR-Tools loading for every MIP backend: solver names, lazy imports, a quiet stdout.

The score-weighted allocation itself is no longer built here: `allocate` is a front of the
composable model (`allocator.py`, `model.py`), whose one translation into OR-Tools lives in
`backends.py`. This module keeps what every backend shares: which user-facing name maps to
which OR-Tools solver, the lazy import naming the missing extra, and the stdout guard that
keeps HiGHS's banner out of `--format json`.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

from tradefolio.errors import InvalidParameter
from tradefolio.errors import SolverUnavailable as SolverUnavailableError
from tradefolio.extras import import_extra

#: OR-Tools backend id for each user-facing MIP solver name.
MIP_SOLVERS: dict[str, str] = {"cbc": "CBC", "scip": "SCIP", "highs": "HIGHS"}


@contextlib.contextmanager
def native_stdout_silenced() -> Iterator[None]:
    """Send C-level writes to fd 1 to /dev/null: HiGHS prints a banner on every solve,
    which would corrupt `--format json` output."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as sink:
            os.dup2(sink.fileno(), 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def load_pywraplp() -> Any:
    """Import OR-Tools' linear solver wrapper lazily, naming the extra when it is missing."""
    return import_extra("ortools.linear_solver.pywraplp", "portfolio", "the MIP allocator")


def create_solver(name: str) -> Any:
    """An empty OR-Tools solver for `name` (cbc, scip, highs) or `SolverUnavailable`."""
    key = name.lower()
    if key not in MIP_SOLVERS:
        raise InvalidParameter(
            f"unknown solver {name!r}: choose one of {', '.join([*MIP_SOLVERS, 'exact'])}"
        )
    pywraplp = load_pywraplp()
    solver = pywraplp.Solver.CreateSolver(MIP_SOLVERS[key])
    if solver is None:
        raise SolverUnavailableError(
            f"solver {name!r} is not linked into the installed OR-Tools; use --solver cbc"
        )
    return solver


__all__ = ["MIP_SOLVERS", "create_solver", "load_pywraplp", "native_stdout_silenced"]
