"""Session 14's cheaper branch-and-bound set-up against main's code (`search_reference.py`,
verbatim), bit for bit.

The savings: `selection_structure` reads the rows through the program's flat coefficient
arrays (link rows tested element by element, not row by row), and `Relaxation` assembles
HiGHS's rows only when HiGHS is built (its fallback, rarely used), builds the ridge of its
node guard on first use, skips the perspective of floorless trade flags and writes the
linear costs and the factor form's block at once. Oracles: the reference's structure on
the issue-15 sample's programs, on random factor-model programs and on mutated ones (the
shapes the structure refuses), and on hand-made edge cases; the reference's HiGHS model
(columns, costs, rows, Hessian, ridged Hessian) and HiGHS's node answers along random
branchings, on the sample's programs and on random small ones of every node shape.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from tradefolio.portfolio import branch_and_bound as search
from tradefolio.portfolio.backends import _scale
from tradefolio.portfolio.program import INF, Program, Row
from unit.portfolio import search_reference
from unit.portfolio.test_node_fast_paths import (  # noqa: F401 (a fixture)
    _same,
    _small_programs,
    sample_searches,
)
from unit.portfolio.test_node_qp import branch_at_random
from unit.portfolio.test_setup_structure import _mutated, _random_program

pytest.importorskip("highspy")

Searches = list[tuple[Program, float, tuple[Any, ...], dict[str, Any]]]


def _assert_structure_alike(program: Program) -> None:
    """`selection_structure` as the reference finds it, with and without costs, field by
    field (arrays by dtype, shape and bytes)."""
    integers = np.flatnonzero(np.array(program.integer, dtype=bool))
    for costed in (False, True):
        found = search.selection_structure(program, integers, costed=costed)
        expected = search_reference.selection_structure(program, integers, costed=costed)
        assert (found is None) == (expected is None), costed
        if found is not None and expected is not None:
            for name in found.__dataclass_fields__:
                assert _same(getattr(found, name), getattr(expected, name)), name


def test_the_sample_structures_are_unchanged(sample_searches: Searches) -> None:  # noqa: F811
    for program, _, _, _ in sample_searches:
        _assert_structure_alike(program)


def test_random_and_mutated_structures_are_unchanged() -> None:
    for seed in range(60):
        program = _random_program(seed, 2 + seed % 8, 1 + seed % 3, seed % 32)
        _assert_structure_alike(program)
        rng = np.random.default_rng(seed)
        for _ in range(3):
            program = _mutated(program, rng)
            _assert_structure_alike(program)


def _edited(program: Program, r: int, coefficients: dict[int, float], **sides: float) -> Program:
    """`program` with row `r`'s coefficients (and sides) replaced (a new row list: the
    kept coefficient arrays do not apply)."""
    row = program.rows[r]
    rows = list(program.rows)
    rows[r] = Row(coefficients, sides.get("lo", row.lo), sides.get("hi", row.hi), row.group)
    return replace(program, rows=rows)


def _link_rows(program: Program) -> list[int]:
    """The rows of two entries, one of them an integer (a selection's link candidates)."""
    return [
        r
        for r, row in enumerate(program.rows)
        if len(row.coefficients) == 2 and sum(program.integer[k] for k in row.coefficients) == 1
    ]


def test_edge_cases_of_link_rows_are_as_before() -> None:
    """NaN and infinite coefficients, a cap that underflows to 0, a second cap or floor
    for one selection, a link read in the other order, a positive lower side: each is a
    link, a counting row or a refusal exactly as the reference decides."""
    for program in _small_programs():  # (each has the structure: trade flags, floors)
        integers = np.flatnonzero(np.array(program.integer, dtype=bool))
        assert search.selection_structure(program, integers, costed=True) is not None
        links = _link_rows(program)
        assert links
        for r in links[:3]:
            row = program.rows[r]
            (first, a), (second, b) = row.coefficients.items()
            variants = [
                {first: math.nan, second: b},
                {first: a, second: math.nan},
                {first: math.inf, second: b},
                {first: a, second: -math.inf},
                {first: 1e300, second: -1e-300} if a > 0 else {first: -1e-300, second: 1e300},
                {second: b, first: a},
                {first: -a, second: -b},
            ]
            for coefficients in variants:
                _assert_structure_alike(_edited(program, r, coefficients))
            _assert_structure_alike(_edited(program, r, dict(row.coefficients), lo=0.5))
            _assert_structure_alike(_edited(program, r, dict(row.coefficients), lo=0.0, hi=INF))
        # a second copy of a link row: a second cap (or floor) of the same selection
        rows = [*program.rows, program.rows[links[0]]]
        _assert_structure_alike(replace(program, rows=rows))
        rows = [*program.rows, program.rows[links[-1]]]
        _assert_structure_alike(replace(program, rows=rows))


def _lp(relaxation: Any) -> list[Any]:
    """HiGHS's model of a relaxation: columns, costs, rows and the Hessian as passed."""
    h = relaxation.highs
    relaxation._highs_ready()
    lp = h.getLp()
    matrix = lp.a_matrix_
    model = h.getModel()
    hessian = model.hessian_
    return [
        np.asarray(lp.col_lower_),
        np.asarray(lp.col_upper_),
        np.asarray(lp.col_cost_),
        np.asarray(lp.row_lower_),
        np.asarray(lp.row_upper_),
        np.asarray(matrix.start_),
        np.asarray(matrix.index_),
        np.asarray(matrix.value_),
        np.asarray(hessian.start_),
        np.asarray(hessian.index_),
        np.asarray(hessian.value_),
    ]


def _assert_highs_alike(program: Program, scale: float, seed: int) -> None:
    """The HiGHS model (built on first use, after the recorded calls) and, along a random
    branching, HiGHS's node answers (`active_set=False`: every node by HiGHS) as main's."""
    new = search.Relaxation(program, scale)
    old = search_reference.Relaxation(program, scale)
    for a, b in zip(_lp(new), _lp(old), strict=True):
        assert _same(a, b)
    ridged_new, ridged_old = new._ridged_hessian(), old._ridged_hessian()
    for name in ("start_", "index_", "value_"):
        assert _same(np.asarray(getattr(ridged_new, name)), np.asarray(getattr(ridged_old, name)))
    new = search.Relaxation(program, scale, active_set=False)
    old = search_reference.Relaxation(program, scale, active_set=False)
    ints = new.integers
    lower = np.ceil(new.lower[ints] - 1e-6)
    upper = np.floor(new.upper[ints] + 1e-6)
    rng = np.random.default_rng(seed)
    for _ in range(6):
        new_found = new.solve(lower, upper, 30.0)
        old_found = old.solve(lower, upper, 30.0)
        assert (new_found is None) == (old_found is None)
        if new_found is None or old_found is None:
            return
        assert _same(float(new_found[0]), float(old_found[0]))
        assert _same(new_found[1], old_found[1])
        assert _same(float(new.bound), float(old.bound))
        assert _same(new.up_increase, old.up_increase)
        branched = branch_at_random(lower, upper, rng)
        if branched is None:
            return
        lower, upper = branched


def test_the_sample_highs_models_are_unchanged(sample_searches: Searches) -> None:  # noqa: F811
    for number, (program, scale, _, _) in enumerate(sample_searches[::3]):
        _assert_highs_alike(program, scale, number)


def test_small_programs_highs_models_are_unchanged() -> None:
    for number, program in enumerate(_small_programs()):
        _assert_highs_alike(program, _scale(program), number)
