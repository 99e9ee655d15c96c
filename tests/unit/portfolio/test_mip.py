"""OR-Tools loading shared by the MIP backends."""

from __future__ import annotations

import os

import pytest

from tradefolio.errors import InvalidParameter
from tradefolio.portfolio.mip import MIP_SOLVERS, create_solver, native_stdout_silenced

pytest.importorskip("ortools")


def test_every_name_maps_to_an_or_tools_backend() -> None:
    assert MIP_SOLVERS == {"cbc": "CBC", "scip": "SCIP", "highs": "HIGHS"}
    assert create_solver("CBC").SolverVersion()


def test_an_unknown_name_lists_the_choices() -> None:
    with pytest.raises(InvalidParameter, match="choose one of cbc, scip, highs, exact"):
        create_solver("gurobi")


def test_native_writes_to_stdout_are_silenced_and_restored(
    capfd: pytest.CaptureFixture[str],
) -> None:
    with native_stdout_silenced():
        os.write(1, b"HiGHS banner\n")
    os.write(1, b"after\n")
    assert capfd.readouterr().out == "after\n"
