"""`backends._scale` (one pass over both parts of the objective, no list built) against the
list it replaces (int13's, `build_reference.scale`), bit for bit: on every program a
rebalance of a stretch of the issue-15 sample run solves or checks (and of its done-when
variant, and of both over a universe with names entering): the whole-share program, its
fractional twin and the twin's aggregated program, built as `PortfolioModel.solve` builds
them; and on empty, zero, subnormal, infinite and NaN objectives.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest

from tradefolio.portfolio import backends
from tradefolio.portfolio.program import Program
from tradefolio.portfolio.rebalance_solver import _aggregation
from unit.portfolio import build_reference as reference
from unit.portfolio.test_setup_oracle import _rebalances


def _bits(value: float) -> bytes:
    return struct.pack("<d", value)


@pytest.mark.parametrize("entering", [False, True], ids=["sample", "names-entering"])
@pytest.mark.parametrize(
    "options",
    [{"max_positions": 5}, {"min_trade": 500, "whole_shares": True}],
    ids=["issue-15", "done-when"],
)
def test_the_scale_of_sample_programs_is_what_the_list_gave(
    monkeypatch: pytest.MonkeyPatch, entering: bool, options: dict[str, Any]
) -> None:
    programs: list[Program] = []
    for model, universe in _rebalances(monkeypatch, entering, options):
        ctx, twin = model._build(universe, twin=True)
        assert twin is not None
        programs += [ctx.program, twin.program]
        aggregation = _aggregation(twin)
        if aggregation is not None:
            programs.append(aggregation.program)
    assert len(programs) >= 36
    for program in programs:
        assert _bits(backends._scale(program)) == _bits(reference.scale(program))


def test_the_scale_of_odd_objectives_is_what_the_list_gave() -> None:
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
        assert _bits(backends._scale(program)) == _bits(reference.scale(program))
