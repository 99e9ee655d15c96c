"""The relaxation's set-up through what it keeps by structure gives the numbers it gave in
full, bit for bit.

- `factor_definitions` through a plan (`factor_form._DefinitionPlan`: the definition rows'
  index work, and its placements by the definitions the bounds allow) made on another
  program of the same definition rows equals the dict-walking reference of session 11
  (`setup_reference.factor_definitions`), every array the same floats: on the rebalance
  solver's programs of random accounts with other loadings, on programs of other sizes
  around the same definitions, with the bounds cutting into some definitions and with a
  chain (a row defining two variables).
- `Relaxation._symmetric` by the kept triangles is the np.tril formula it replaced.
- a counting row of one selection is dropped or kept as its count's sum decides.
- `selection_structure` refuses a quadratic term on a selection, either side.
The 384 programs of issue 15's sample were replayed through `branch_and_bound` when this
was written (one plan, one placement; every `SearchResult` equal to main's)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradefolio.portfolio import branch_and_bound as bnb_module
from tradefolio.portfolio import factor_form
from tradefolio.portfolio.branch_and_bound import Relaxation, selection_structure
from tradefolio.portfolio.constraints import Cardinality, PositionLimits, TransactionCosts, Turnover
from tradefolio.portfolio.context import make_universe
from tradefolio.portfolio.covariance import RiskModel
from tradefolio.portfolio.factor_form import FactorDefinitions, factor_definitions
from tradefolio.portfolio.model import PortfolioModel
from tradefolio.portfolio.objectives import MeanVariance
from tradefolio.portfolio.program import INF, Program
from tradefolio.portfolio.rebalance_solver import _aggregation, suits_rebalance_solver
from tradefolio.portfolio.types import Candidate
from unit.portfolio import setup_reference

_FIELDS = ("variables", "rows", "reads", "matrix", "weights")


def _check_same(found: FactorDefinitions, expected: FactorDefinitions) -> None:
    for name in _FIELDS:
        a, b = getattr(found, name), getattr(expected, name)
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), name


def _through_plan(first: Program, second: Program) -> FactorDefinitions:
    """`second`'s definitions after `first`'s made the plans (none kept before)."""
    factor_form._PLANS.clear()
    factor_definitions(first)
    return factor_definitions(second)


def _account(
    rng: np.random.Generator, count: int, factors: int, held: dict[str, float], cap: float
) -> Program:
    """The program the branch and bound gets for a rebalance (aggregated when it can be)."""
    symbols = [f"S{i}" for i in range(count)]
    risk = RiskModel(
        tuple(symbols), rng.normal(0.0, 0.2, (factors, count)), rng.uniform(0.01, 0.05, count)
    )
    constraints = [
        PositionLimits(cap),
        Cardinality(max(1, count // 2)),
        Turnover(0.5),
        TransactionCosts(bps=5.0, fixed=1.0),
    ]
    model = PortfolioModel(MeanVariance(risk, 2.0), constraints)
    scores = rng.normal(0.1, 0.1, count)
    candidates = [Candidate(s, float(v), 10.0) for s, v in zip(symbols, scores, strict=True)]
    ctx = model.build(make_universe(candidates, 500.0, {s: n for s, n in held.items() if n}))
    found = _aggregation(ctx) if suits_rebalance_solver(ctx) else None
    return ctx.program if found is None else found.program


@settings(max_examples=40, deadline=None)
@given(data=st.data(), count=st.integers(2, 7))
def test_definitions_through_a_plan_equal_the_reference(data: st.DataObject, count: int) -> None:
    seed = data.draw(st.integers(0, 2**32 - 1))
    factors = data.draw(st.integers(1, 3))
    cap = data.draw(st.sampled_from([0.3, 0.5, 1.0]))
    symbols = [f"S{i}" for i in range(count)]
    held = {s: float(data.draw(st.sampled_from([0.0, 5.0, 20.0]))) for s in symbols}
    # the same account with other loadings, variances and scores (other numbers), and
    # with other holdings (other trade rows and sizes around the same definition rows)
    first = _account(np.random.default_rng(seed), count, factors, held, cap)
    second = _account(np.random.default_rng(seed + 1), count, factors, held, cap)
    other_held = {s: float(data.draw(st.sampled_from([0.0, 5.0, 20.0]))) for s in symbols}
    third = _account(np.random.default_rng(seed + 2), count, factors, other_held, cap)
    for target in (second, third):
        _check_same(_through_plan(first, target), setup_reference.factor_definitions(target))


def _two_definitions(y_bound: float = 3.0, z_bound: float = 3.0, extra: int = 0) -> Program:
    """y = 2 x0 - x1 and z = x0 + x1 (rows y - 2 x0 + x1 = 0, z - x0 - x1 = 0), objective
    -3 y^2 - z^2, with `extra` unused variables after them (another program size)."""
    program = Program()
    x0 = program.add_variable("x0", 0.0, 1.0)
    x1 = program.add_variable("x1", 0.0, 1.0)
    y = program.add_variable("y", -y_bound, y_bound)
    z = program.add_variable("z", -z_bound, z_bound)
    for k in range(extra):
        program.add_variable(f"e{k}", 0.0, 1.0)
    program.add_row({y: 1.0, x0: -2.0, x1: 1.0}, 0.0, 0.0)
    program.add_row({z: 1.0, x0: -1.0, x1: -1.0}, 0.0, 0.0)
    program.quadratic[(y, y)] = -3.0
    program.quadratic[(z, z)] = -1.0
    return program


@pytest.mark.parametrize(
    ("first", "second"),
    [
        # the bounds of y cut into its definition in one program and not in the other
        # (other definitions allowed: one plan, two placements)
        ((3.0, 3.0, 0), (1.5, 3.0, 0)),
        ((1.5, 3.0, 0), (3.0, 3.0, 0)),
        ((3.0, 3.0, 0), (1.5, 1.5, 0)),
        # other sizes around the same definition rows
        ((3.0, 3.0, 0), (3.0, 3.0, 4)),
        ((3.0, 1.5, 5), (3.0, 1.5, 0)),
    ],
)
def test_a_plan_serves_other_bounds_and_sizes(
    first: tuple[float, float, int], second: tuple[float, float, int]
) -> None:
    target = _two_definitions(*second)
    found = _through_plan(_two_definitions(*first), target)
    _check_same(found, setup_reference.factor_definitions(target))
    assert len(found) == sum(bound >= 3.0 for bound in second[:2])
    assert len(factor_form._PLANS) == 1  # (one structure: the second program's plan hit)


def _chain(pivot: float) -> Program:
    """y + z - x = 0 (one row defining both: each reads the other), x in [0, 0]."""
    program = Program()
    x = program.add_variable("x", 0.0, 0.0)
    y = program.add_variable("y", -1.0, 1.0)
    z = program.add_variable("z", -1.0, 1.0)
    program.add_row({y: pivot, z: 1.0, x: -1.0}, 0.0, 0.0)
    program.quadratic[(y, y)] = -1.0
    program.quadratic[(z, z)] = -2.0
    return program


def test_a_chain_is_dropped_through_a_plan_as_in_full() -> None:
    target = _chain(1.0)
    found = _through_plan(_chain(1.0), target)
    _check_same(found, setup_reference.factor_definitions(target))
    assert found.variables.tolist() == [2]  # y dropped (it reads z), z kept
    assert len(factor_form._PLANS) == 1


def test_other_definition_rows_make_another_plan() -> None:
    factor_form._PLANS.clear()
    factor_definitions(_two_definitions())
    moved = _two_definitions()
    moved.rows[0] = type(moved.rows[0])({2: 1.0, 0: -2.0}, 0.0, 0.0, None)  # y = 2 x0
    found = factor_definitions(moved)
    _check_same(found, setup_reference.factor_definitions(moved))
    assert len(factor_form._PLANS) == 2
    assert found.matrix.tolist() == [[2.0, 0.0], [1.0, 1.0]]


def test_a_definitions_arrays_are_its_own() -> None:
    """The kept plan's arrays are read-only and never handed out: a caller may write into
    what it got without changing the next program's definitions."""
    program = _two_definitions()
    factor_form._PLANS.clear()
    found = factor_definitions(program)
    for name in _FIELDS:
        getattr(found, name)[...] = 7
    _check_same(factor_definitions(program), setup_reference.factor_definitions(program))


@pytest.mark.parametrize("size", [1, 2, 5, 30])
def test_the_symmetric_form_by_kept_triangles_is_the_tril_formula(size: int) -> None:
    rng = np.random.default_rng(size)
    hessian = rng.normal(size=(size, size))
    hessian[np.diag_indices(size)] = np.abs(hessian[np.diag_indices(size)])
    hessian[0, 0] = 1e-14  # round-off to drop
    hessian[-1, 0] = -0.0
    lower = np.tril(hessian)
    lower[np.abs(lower) <= 1e-12 * max(float(np.abs(lower).max(initial=0.0)), 1e-300)] = 0.0
    expected = lower + np.tril(lower, -1).T
    for _ in range(2):  # the triangles made, then kept
        found = Relaxation._symmetric(hessian)
        assert found.tobytes() == expected.tobytes()
    on_and_below, below = bnb_module._triangles((size, size))
    assert not on_and_below.flags.writeable and not below.flags.writeable
    assert (on_and_below == np.tri(size, dtype=bool)).all()
    assert (below == np.tri(size, k=-1, dtype=bool)).all()


def _flagged(count: float, hi: float) -> Program:
    """max x^2-ish program: w <= z (link), a counting row count * z <= hi."""
    program = Program(maximize=False)
    w = program.add_variable("w", 0.0, 1.0)
    z = program.add_binary("z")
    program.add_row({w: 1.0, z: -1.0}, -INF, 0.0)
    program.add_row({z: count}, -INF, hi, "count")
    program.quadratic[(w, w)] = 1.0
    program.linear[w] = -1.0
    return program


@pytest.mark.parametrize(("count", "hi", "kept"), [(1.0, 1.0, False), (2.0, 1.0, True)])
def test_a_counting_row_of_one_selection_is_kept_only_when_it_binds(
    count: float, hi: float, kept: bool
) -> None:
    relaxation = Relaxation(_flagged(count, hi), 1.0)
    assert [row.binds for row in relaxation._counting] == ([True] if kept else [])


def test_a_quadratic_term_on_a_selection_is_no_selection_structure() -> None:
    program = _flagged(1.0, 1.0)
    integers = np.array([1], dtype=np.intp)
    assert selection_structure(program, integers) is not None
    for pair in [(0, 1), (1, 0), (1, 1)]:
        touched = _flagged(1.0, 1.0)
        touched.quadratic[pair] = 0.5
        assert selection_structure(touched, integers) is None


def test_a_program_without_definitions_has_the_references_empty_arrays() -> None:
    for program in (_flagged(1.0, 1.0), Program()):
        factor_form._PLANS.clear()
        for _ in range(2):  # the plan made, then used
            found = factor_definitions(program)
            _check_same(found, setup_reference.factor_definitions(program))
            assert len(found) == 0
