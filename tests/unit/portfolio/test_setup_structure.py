"""The branch and bound's set-up reads factor rows through their arrays (session 9).

`selection_structure` skips a row built from arrays by its columns (no selection among
them) and `factor_definitions` assembles its matrix in one assignment. Oracle: the older
computations, on random factor-model programs with selections, trade flags and costs: the
same rows as plain dicts (read by set intersections, as before) give the same structure,
bit for bit, and the matrix equals the one `np.unique` + `np.add.at` built.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from tradefolio.portfolio.branch_and_bound import Selections, selection_structure
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
from tradefolio.portfolio.program import INF, Program, Row
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


def _numpy_selection_structure(
    program: Program, integers: NDArray[np.intp], costed: bool = False
) -> Selections | None:
    """`selection_structure` as it was before it read plain lists (session 10), verbatim
    but for `_link_of`'s inlined body: the oracle of the list-based one."""
    if integers.size == 0:
        return None
    position = {int(k): j for j, k in enumerate(integers)}
    sign = -1.0 if program.maximize else 1.0
    costs = np.zeros(len(integers))
    for k, j in position.items():
        if program.lower[k] != 0.0 or program.upper[k] != 1.0:
            return None
        cost = program.linear.get(k, 0.0)
        if cost != 0.0 and not (costed and sign * cost > 0.0):
            return None
        costs[j] = cost
    if any(i in position or j in position for i, j in program.quadratic):
        return None
    count = len(integers)
    weights = np.full(count, -1, dtype=np.intp)
    caps = np.zeros(count)
    floors = np.zeros(count)
    structural: set[int] = set()
    counting: list[tuple[int, NDArray[np.intp], NDArray[np.float64]]] = []
    mixed: set[int] = set()
    keys = position.keys()
    selection = np.zeros(program.size, dtype=bool)
    selection[integers] = True
    for r, row in enumerate(program.rows):
        if row.arrays is not None:
            if not selection[row.arrays[0]].any():
                continue
        elif not row.coefficients.keys() & keys:
            continue
        selections = [k for k in row.coefficients if k in position]
        link: tuple[int, int, float, bool] | None = None
        if len(row.coefficients) == 2 and len(selections) == 1:
            z = selections[0]
            w = next(k for k in row.coefficients if k != z)
            a, b = row.coefficients[w], row.coefficients[z]
            if not (program.integer[w] or program.lower[w] < 0 or a <= 0 or b >= 0):
                if row.lo == -INF and row.hi == 0.0:
                    link = z, w, -b / a, True
                elif row.lo == 0.0 and row.hi == INF:
                    link = z, w, -b / a, False
        if link is None:
            every = len(selections) == len(row.coefficients)
            if not (every or costed):
                return None
            coefficients = np.array([row.coefficients[k] for k in selections])
            if row.lo != -INF or np.any(coefficients < 0):
                return None
            members = np.array([position[k] for k in selections], dtype=np.intp)
            counting.append((r, members, coefficients))
            if not every:
                mixed.add(r)
            continue
        z, w, ratio, is_cap = link
        j = position[z]
        if weights[j] not in (-1, w):
            return None
        weights[j] = w
        if is_cap:
            if caps[j] > 0:
                return None
            caps[j] = ratio
        else:
            floors[j] = max(floors[j], ratio)
        structural.add(r)
    if np.any(weights < 0) or np.any(caps <= 0) or len(set(weights.tolist())) != count:
        return None
    return Selections(
        weights, caps, floors, frozenset(structural), tuple(counting), costs, frozenset(mixed)
    )


def _mutated(program: Program, rng: np.random.Generator) -> Program:
    """`program` with one row's coefficient flipped, one link row reversed in order, one
    bound moved, a selection's cost or a row's side changed: the shapes the structure must
    refuse (or keep) as the oracle does."""
    rows = list(program.rows)
    touching = [
        r for r, row in enumerate(rows) if any(program.integer[k] for k in row.coefficients)
    ]
    r = int(rng.choice(touching)) if touching else int(rng.integers(len(rows)))
    row = rows[r]
    items = list(row.coefficients.items())
    kind = int(rng.integers(5))
    if kind == 0:
        k = int(rng.integers(len(items)))
        items[k] = (items[k][0], -items[k][1])
        rows[r] = Row(dict(items), row.lo, row.hi, row.group)
    elif kind == 1:
        rows[r] = Row(dict(reversed(items)), row.lo, row.hi, row.group)
    elif kind == 2:
        rows[r] = Row(dict(items), float(rng.choice([-INF, 0.0, 0.5])), row.hi, row.group)
    lower, upper, linear = list(program.lower), list(program.upper), dict(program.linear)
    k = int(rng.integers(program.size))
    if kind == 3:
        lower[k] = float(rng.choice([0.0, 0.25, -1.0]))
    elif kind == 4:
        linear[k] = float(rng.normal())
    return replace(program, rows=rows, lower=lower, upper=upper, linear=linear)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    names=st.integers(2, 9),
    factors=st.integers(1, 3),
    flags=st.integers(0, 31),
    mutate=st.integers(0, 2),
)
def test_the_list_based_selection_structure_matches_the_numpy_one(
    seed: int, names: int, factors: int, flags: int, mutate: int
) -> None:
    program = _random_program(seed, names, factors, flags)
    rng = np.random.default_rng(seed)
    for _ in range(mutate):
        program = _mutated(program, rng)
    integers = np.flatnonzero(np.array(program.integer, dtype=bool))
    for costed in (False, True):
        found = selection_structure(program, integers, costed=costed)
        expected = _numpy_selection_structure(program, integers, costed=costed)
        assert (found is None) == (expected is None)
        if found is not None and expected is not None:
            for field in found.__dataclass_fields__:
                assert _same(getattr(found, field), getattr(expected, field)), field


def test_a_counting_row_with_a_negative_count_is_refused_as_before() -> None:
    program = _random_program(1, 6, 2, 2 | 8 | 16)
    integers = np.flatnonzero(np.array(program.integer, dtype=bool))
    found = selection_structure(program, integers, costed=True)
    assert found is not None and found.counting
    r = found.counting[0][0]
    row = program.rows[r]
    first = next(iter(row.coefficients))
    flipped = {k: -c if k == first else c for k, c in row.coefficients.items()}
    rows = [*program.rows[:r], Row(flipped, row.lo, row.hi, row.group), *program.rows[r + 1 :]]
    broken = replace(program, rows=rows)
    assert _numpy_selection_structure(broken, integers, costed=True) is None
    assert selection_structure(broken, integers, costed=True) is None
