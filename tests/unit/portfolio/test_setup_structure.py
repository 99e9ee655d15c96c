"""The branch and bound's set-up reads factor rows through their arrays (session 9).

`selection_structure` skips a row built from arrays by its columns (no selection among
them) and `factor_definitions` assembles its matrix in one assignment. Oracle: the older
computations, on random factor-model programs with selections, trade flags and costs: the
same rows as plain dicts (read by set intersections, as before) give the same structure,
bit for bit, and the matrix equals the one `np.unique` + `np.add.at` built.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradefolio.portfolio.branch_and_bound import selection_structure
from tradefolio.portfolio.constraints import (
    Cardinality,
    Constraint,
    PositionLimits,
    SectorCaps,
    TransactionCosts,
    Turnover,
)
from tradefolio.portfolio.context import make_universe
from tradefolio.portfolio.covariance import RiskModel
from tradefolio.portfolio.factor_form import factor_definitions
from tradefolio.portfolio.model import PortfolioModel
from tradefolio.portfolio.objectives import MeanVariance
from tradefolio.portfolio.program import Program
from tradefolio.portfolio.types import Candidate
from unit.portfolio.test_factor_form import dict_rows


def _random_program(seed: int, names: int, factors: int, flags: int) -> Program:
    rng = np.random.default_rng(seed)
    symbols = [f"S{i}" for i in range(names)]
    loadings = rng.normal(0.0, 0.2, size=(factors, names))
    risk = RiskModel(tuple(symbols), loadings, rng.uniform(0.01, 0.05, size=names))
    constraints: list[Constraint] = [PositionLimits(0.6, 0.02 * (flags & 1))]
    if flags & 2:
        constraints.append(Cardinality(max(1, names // 2)))
    if flags & 4:
        constraints.append(TransactionCosts(bps=5.0, fixed=1.0))
    if flags & 8:
        constraints.append(Turnover(0.5))
    if flags & 16:
        constraints.append(SectorCaps({s: "ab"[i % 2] for i, s in enumerate(symbols)}, 0.7))
    model = PortfolioModel(MeanVariance(risk, 3.0), constraints)
    prices = rng.uniform(5.0, 50.0, size=names)
    candidates = [
        Candidate(s, float(rng.normal(0.05, 0.02)), float(p))
        for s, p in zip(symbols, prices, strict=True)
    ]
    held = {s: float(rng.integers(1, 20)) for s in symbols[: names // 3]}
    return model.build(make_universe(candidates, 10_000.0, held)).program


def _same(a: object, b: object) -> bool:
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    names=st.integers(2, 9),
    factors=st.integers(1, 4),
    flags=st.integers(0, 31),
)
def test_the_set_up_finds_what_the_dict_rows_and_add_at_found(
    seed: int, names: int, factors: int, flags: int
) -> None:
    program = _random_program(seed, names, factors, flags)
    assert any(row.arrays is not None for row in program.rows)  # factor rows from arrays
    plain = dict_rows(program)
    integers = np.flatnonzero(np.array(program.integer, dtype=bool))
    for costed in (False, True):
        found = selection_structure(program, integers, costed=costed)
        expected = selection_structure(plain, integers, costed=costed)
        assert (found is None) == (expected is None)
        if found is not None and expected is not None:
            for field in found.__dataclass_fields__:
                assert _same(getattr(found, field), getattr(expected, field)), field
    definitions = factor_definitions(program)
    assert len(definitions) >= 1  # (the risk model may merge factors beyond the names)
    columns, values = [], []
    for f, v in enumerate(definitions.variables.tolist()):
        row = program.rows[int(definitions.rows[f])]
        pivot = row.coefficients[v]
        columns.append(np.array([k for k in row.coefficients if k != v], dtype=np.intp))
        values.append(-np.array([c for k, c in row.coefficients.items() if k != v]) / pivot)
    reads = np.unique(np.concatenate(columns))
    matrix = np.zeros((len(columns), reads.size))
    for f, (index, coefficients) in enumerate(zip(columns, values, strict=True)):
        np.add.at(matrix[f], np.searchsorted(reads, index), coefficients)
    assert definitions.reads.tobytes() == reads.astype(np.intp).tobytes()
    assert definitions.matrix.tobytes() == matrix.tobytes()
    dict_definitions = factor_definitions(plain)
    for field in ("variables", "rows", "reads", "matrix", "weights"):
        assert getattr(definitions, field).tobytes() == getattr(dict_definitions, field).tobytes()
