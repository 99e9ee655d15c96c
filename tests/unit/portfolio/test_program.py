"""The solver-neutral program: building blocks, evaluation and the row-by-row check."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradefolio.portfolio.program import INF, FrozenCoefficients, Program, array_row


def test_bulk_variables_and_rows_get_consecutive_indices() -> None:
    program = Program()
    first = program.add_variable("z", -1.0, 1.0)
    weights = program.add_variables(["w0", "w1"], 0.0, 0.5)
    flags = program.add_variables(["x0", "x1"], 0.0, 1.0, integer=True)
    assert (first, weights, flags) == (0, [1, 2], [3, 4])
    assert program.integer == [False, False, False, True, True]
    assert program.upper == [1.0, 0.5, 0.5, 1.0, 1.0]
    rows = program.add_rows([{1: 1.0, 3: -0.5}, {2: 1.0, 4: -0.5}], hi=0.0, group="link")
    assert program.rows[-2:] == rows
    assert all(r.lo == -INF and r.hi == 0.0 and r.group == "link" for r in rows)


@settings(max_examples=50, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    variables=st.integers(1, 12),
    rows=st.integers(0, 15),
)
def test_row_activities_equal_the_dense_product(seed: int, variables: int, rows: int) -> None:
    rng = np.random.default_rng(seed)
    program = Program()
    program.add_variables([f"v{k}" for k in range(variables)], -2.0, 2.0)
    dense = np.zeros((rows, variables))
    for r in range(rows):
        columns = rng.choice(variables, size=int(rng.integers(0, variables + 1)), replace=False)
        coefficients = {int(c): float(rng.normal()) for c in columns}
        for c, value in coefficients.items():
            dense[r, c] = value
        program.add_row(coefficients, lo=-1.0, hi=1.0)
    values = rng.normal(size=variables)
    assert program.row_activities(values) == pytest.approx(dense @ values, abs=1e-12)


def test_violations_name_every_broken_bound_integrality_and_row() -> None:
    program = Program()
    x = program.add_variable("x", 0.0, 1.0)
    n = program.add_variable("n", 0.0, 5.0, integer=True)
    program.add_row({x: 1.0, n: 1.0}, hi=3.0, group="total")
    program.add_row({x: 1.0}, lo=0.0, hi=0.5)
    assert program.violations(np.array([0.5, 2.0])) == []
    broken = program.violations(np.array([1.2, 2.5]))
    assert broken == [
        "x=1.2 outside [0.0, 1.0]",
        "n=2.5 is not integral",
        "total: 3.7 outside [-inf, 3.0]",
        "definition: 1.2 outside [0.0, 0.5]",
    ]
    assert program.violations(np.array([0.5 + 1e-7, 2.0]), tolerance=1e-6) == []


def test_objective_value_is_linear_plus_quadratic_plus_constant() -> None:
    program = Program()
    a, b = program.add_variables(["a", "b"], 0.0, 1.0)
    program.add_objective({a: 2.0, b: -1.0}, scale=0.5)
    program.add_square_terms(a, 3.0)
    program.constant = 0.25
    assert program.objective_value(np.array([0.5, 1.0])) == pytest.approx(
        0.25 + 0.5 * (2 * 0.5 - 1.0) + 3.0 * 0.25
    )
    assert program.is_quadratic and program.size == 2


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 10_000), variables=st.integers(2, 12), rows=st.integers(1, 12))
def test_rows_built_from_arrays_give_the_same_activities_bit_for_bit(
    seed: int, variables: int, rows: int
) -> None:
    """A program mixing array rows and dict rows sums every row as the all-dict one does."""
    rng = np.random.default_rng(seed)
    plain, mixed = Program(), Program()
    for program in (plain, mixed):
        program.add_variables([f"v{k}" for k in range(variables)], -2.0, 2.0)
    for r in range(rows):
        columns = rng.choice(variables, size=int(rng.integers(1, variables + 1)), replace=False)
        values = rng.normal(size=columns.size)
        values[values == 0.0] = 1.0
        plain.add_row(dict(zip(columns.tolist(), values.tolist(), strict=True)), -1.0, 1.0)
        if r % 2:
            mixed.rows.append(array_row(columns.tolist(), values, -1.0, 1.0))
        else:
            mixed.add_row(dict(zip(columns.tolist(), values.tolist(), strict=True)), -1.0, 1.0)
    point = rng.normal(size=variables)
    assert plain.row_activities(point).tobytes() == mixed.row_activities(point).tobytes()
    assert plain.violations(point) == mixed.violations(point)


def test_an_array_rows_coefficients_are_read_only_dicts_that_pickle() -> None:
    row = array_row([3, 1], np.array([0.5, -2.0]), hi=1.0, group="g")
    coefficients = row.coefficients
    assert isinstance(coefficients, dict) and list(coefficients.items()) == [(3, 0.5), (1, -2.0)]
    assert row.arrays is not None and row.arrays[0].tolist() == [3, 1]
    for write in (
        lambda: coefficients.__setitem__(3, 1.0),
        lambda: coefficients.pop(3),
        lambda: coefficients.update({4: 1.0}),
        lambda: coefficients.setdefault(5, 1.0),
        lambda: coefficients.clear(),
    ):
        with pytest.raises(TypeError, match="read-only"):
            write()
    assert dict(coefficients) == {3: 0.5, 1: -2.0}  # a copy is an ordinary dict
    copied = pickle.loads(pickle.dumps(row))
    assert isinstance(copied.coefficients, FrozenCoefficients)
    assert copied.coefficients == coefficients
    with pytest.raises(ValueError, match="distinct"):
        array_row([1, 1], np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="zero"):
        array_row([1, 2], np.array([1.0, 0.0]))
