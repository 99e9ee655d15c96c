"""Session 13's round-2 set-up rewrites against the code they replace, on real sample programs.

Every program a rebalance of a stretch of the issue-15 sample run (and of its done-when
variant, and of both over a universe with names entering) solves or checks: the whole-share
program, its fractional twin and the twin's aggregated program, built as
`PortfolioModel.solve` builds them. Oracles, bit for bit:

- `backends._scale` (one pass over both parts of the objective, no list built) against the
  list it replaces (`build_reference.scale`);
- `factor_definitions` (the program's parts and bounds read once) against int13's
  (`build_reference.factor_definitions`): the same variables, rows, reads, matrix and
  weights.

The aggregation's row loop (`_reduced_rows`) is checked against session 12's by
`test_setup_oracle.py`.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import pytest

from tradefolio.portfolio import backends
from tradefolio.portfolio.factor_form import FactorDefinitions, factor_definitions
from tradefolio.portfolio.program import Program
from tradefolio.portfolio.rebalance_solver import _aggregation
from unit.portfolio import build_reference as reference
from unit.portfolio.test_setup_oracle import _rebalances


def _assert_same_array(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _assert_same_definitions(new: FactorDefinitions, old: FactorDefinitions) -> None:
    for part in ("variables", "rows", "reads", "matrix", "weights"):
        _assert_same_array(getattr(new, part), getattr(old, part))


def _programs(
    monkeypatch: pytest.MonkeyPatch, entering: bool, options: dict[str, Any]
) -> list[Program]:
    programs: list[Program] = []
    for model, universe in _rebalances(monkeypatch, entering, options):
        ctx, twin = model._build(universe, twin=True)
        assert twin is not None
        programs += [ctx.program, twin.program]
        aggregation = _aggregation(twin)
        if aggregation is not None:
            programs.append(aggregation.program)
    return programs


@pytest.mark.parametrize("entering", [False, True], ids=["sample", "names-entering"])
@pytest.mark.parametrize(
    "options",
    [{"max_positions": 5}, {"min_trade": 500, "whole_shares": True}],
    ids=["issue-15", "done-when"],
)
def test_scale_and_factor_definitions_are_the_code_they_replace(
    monkeypatch: pytest.MonkeyPatch, entering: bool, options: dict[str, Any]
) -> None:
    programs = _programs(monkeypatch, entering, options)
    assert len(programs) >= 36
    defined = 0
    for program in programs:
        scale = backends._scale(program)
        assert struct.pack("<d", scale) == struct.pack("<d", reference.scale(program))
        new, old = factor_definitions(program), reference.factor_definitions(program)
        _assert_same_definitions(new, old)
        defined += len(new) > 0
    assert defined == len(programs)  # every program has its factor definitions


def test_scale_of_odd_objectives_is_the_code_it_replaces() -> None:
    """Empty, zero, subnormal, infinite and NaN objectives: the same scale, bit for bit."""
    cases: list[tuple[dict[int, float], dict[tuple[int, int], float]]] = [
        ({}, {}),
        ({0: 0.0, 1: -0.0}, {}),
        ({0: 5e-324}, {(0, 0): -5e-324}),
        ({0: 2.0, 1: -3.0}, {(0, 0): 0.5, (0, 1): -7.0}),
        ({0: float("inf")}, {(0, 0): 1.0}),
        ({0: float("nan"), 1: 2.0}, {(1, 1): 3.0}),
        ({0: 2.0, 1: float("nan")}, {(1, 1): 3.0}),
        ({}, {(0, 0): float("nan"), (1, 1): 4.0}),
    ]
    for linear, quadratic in cases:
        program = Program(linear=dict(linear), quadratic=dict(quadratic))
        new, old = backends._scale(program), reference.scale(program)
        assert struct.pack("<d", new) == struct.pack("<d", old)
