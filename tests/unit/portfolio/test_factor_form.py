"""Factor exposures found on the program and substituted by one matrix product.

Oracles: the definition rows themselves (a substituted value must satisfy its row) and the
objective's square terms evaluated directly, on a real factor model's program and on
hand-built programs for each rule that keeps a row.
"""

from __future__ import annotations

import numpy as np
import pytest

from tradefolio.portfolio.constraints import Cardinality, PositionLimits, TransactionCosts
from tradefolio.portfolio.context import make_universe
from tradefolio.portfolio.covariance import RiskModel
from tradefolio.portfolio.factor_form import factor_definitions
from tradefolio.portfolio.model import PortfolioModel
from tradefolio.portfolio.objectives import MeanVariance
from tradefolio.portfolio.program import INF, Program, Row, array_row
from tradefolio.portfolio.types import Candidate


def _factor_program() -> Program:
    symbols = ["A", "B", "C", "D", "E"]
    loadings = np.array([[0.2, 0.1, -0.1, 0.05, 0.3], [0.0, -0.2, 0.1, 0.15, 0.05]])
    risk = RiskModel(tuple(symbols), loadings, np.full(5, 0.02))
    constraints = [PositionLimits(0.5), Cardinality(3), TransactionCosts(bps=5.0, fixed=1.0)]
    model = PortfolioModel(MeanVariance(risk, 2.0), constraints)
    candidates = [Candidate(s, 0.1, 10.0) for s in symbols]
    return model.build(make_universe(candidates, 1_000.0, {"B": 10.0})).program


def test_a_factor_models_exposures_are_found_and_their_form_is_the_square_terms() -> None:
    program = _factor_program()
    found = factor_definitions(program)
    assert len(found) == 2  # one exposure per factor
    rng = np.random.default_rng(3)
    for _ in range(5):
        point = rng.uniform(0.0, 0.5, size=program.size)
        point[found.variables] = found.values(point)
        for f, v in enumerate(found.variables):
            row = program.rows[int(found.rows[f])]
            activity = sum(c * point[k] for k, c in row.coefficients.items())
            assert activity == pytest.approx(0.0, abs=1e-12)
            assert program.quadratic[(int(v), int(v))] == found.weights[f]
        direct = sum(found.weights[f] * point[v] ** 2 for f, v in enumerate(found.variables))
        reads = point[found.reads]
        assert reads @ found.gram() @ reads == pytest.approx(direct, rel=1e-12)


def _hand_built(
    y_bounds: tuple[float, float] = (-INF, INF),
    x_upper: float = 1.0,
    y_cost: float = 0.0,
    group: str | None = None,
) -> Program:
    """y = 2 x0 - x1 (row y - 2 x0 + x1 = 0), objective -3 y^2."""
    program = Program()
    x0 = program.add_variable("x0", 0.0, x_upper)
    x1 = program.add_variable("x1", 0.0, 1.0)
    y = program.add_variable("y", *y_bounds)
    program.add_row({y: 1.0, x0: -2.0, x1: 1.0}, 0.0, 0.0, group)
    program.quadratic[(y, y)] = -3.0
    if y_cost:
        program.linear[y] = y_cost
    return program


def test_a_plain_definition_is_substituted() -> None:
    found = factor_definitions(_hand_built())
    assert found.variables.tolist() == [2]
    assert found.reads.tolist() == [0, 1]
    assert found.matrix.tolist() == [[2.0, -1.0]]
    assert found.gram().tolist() == [[-12.0, 6.0], [6.0, -3.0]]
    # bounds holding |y| <= sum_k |a_k| max|x_k| = 3 keep it substitutable
    assert factor_definitions(_hand_built(y_bounds=(-3.0, 3.0))).variables.tolist() == [2]


@pytest.mark.parametrize(
    "variant",
    [
        {"y_bounds": (-1.5, 1.5)},  # y = 2 is reachable: the bounds cut into the definition
        {"x_upper": INF},  # an unbounded variable in the definition
        {"y_cost": 0.1},  # y has a linear cost too
        {"group": "a constraint"},  # a constraint row, not a definition
    ],
)
def test_rows_a_substitution_would_change_are_kept(variant: dict[str, object]) -> None:
    program = _hand_built(**variant)  # type: ignore[arg-type]
    assert len(factor_definitions(program)) == 0


def test_a_variable_in_a_second_row_or_a_cross_term_is_kept() -> None:
    program = _hand_built()
    program.add_row({2: 1.0}, -INF, 1.0, "cap on y")
    assert len(factor_definitions(program)) == 0
    program = _hand_built()
    program.quadratic[(0, 2)] = 0.5
    assert len(factor_definitions(program)) == 0


def dict_rows(program: Program) -> Program:
    """`program` with every row as a plain dict (no arrays)."""
    return Program(
        names=program.names,
        lower=program.lower,
        upper=program.upper,
        integer=program.integer,
        rows=[Row(dict(r.coefficients), r.lo, r.hi, r.group, r.unit) for r in program.rows],
        linear=program.linear,
        quadratic=program.quadratic,
        constant=program.constant,
        maximize=program.maximize,
    )


def test_array_rows_give_the_definitions_their_dicts_give() -> None:
    """The factor rows are built from arrays (read through them); the same rows as plain
    dicts give the same definitions, bit for bit, and a second use of an exposure in an
    array row keeps its definition row."""
    program = _factor_program()
    assert any(row.arrays is not None for row in program.rows)
    plain = dict_rows(program)
    found, expected = factor_definitions(program), factor_definitions(plain)
    for field in ("variables", "rows", "reads", "matrix", "weights"):
        assert getattr(found, field).tobytes() == getattr(expected, field).tobytes()
    exposure = int(found.variables[0])
    program.rows.append(array_row([exposure, 0], np.array([1.0, 1.0]), hi=1.0))
    assert exposure not in factor_definitions(program).variables.tolist()
