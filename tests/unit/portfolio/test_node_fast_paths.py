"""Session 13's per-node savings in `node_qp.py` and `branch_and_bound.py` against main's
code (`node_reference.py`, `search_reference.py`, verbatim), bit for bit.

The savings: `np.count_nonzero` for `any` / `all`, np.clip's ufunc and unwrapped ufunc
reductions, c + H x kept while a solve's point stays, and per-search caches (the row
sets' widened sides of `_start_fits`, the weights' bounds and per-weight costs of
`pieces`, the counting rows' c_j / u_j, 0.5 kappa of the weights, `_values`' floored
selections). On the issue-15 sample's rebalance programs (recorded from a sample run) and
on random small ones (trade flags, buy-in floors with and without a cardinality cap): the
whole search's result, and along random branchings every node's forced bounds, solve
(value, point, bound, rises), warm-start state and down bounds must be the same floats.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from tradefolio.errors import InfeasibleAllocation, SolverError
from tradefolio.portfolio import branch_and_bound as search
from tradefolio.portfolio.backends import _scale
from tradefolio.portfolio.program import Program
from unit.portfolio import search_reference
from unit.portfolio.test_node_qp import branch_at_random, floored_program, rebalance_program

pytest.importorskip("highspy")


def _same(new: object, old: object) -> bool:
    """The same floats bit for bit (arrays by their bytes), or equal otherwise."""
    if isinstance(new, np.ndarray) or isinstance(old, np.ndarray):
        a, b = np.asarray(new), np.asarray(old)
        return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()
    if isinstance(new, float) and isinstance(old, float):
        return bool(np.float64(new).tobytes() == np.float64(old).tobytes())
    if isinstance(new, tuple) and isinstance(old, tuple):
        return len(new) == len(old) and all(_same(a, b) for a, b in zip(new, old, strict=True))
    return new == old


def _same_state(new: Any, old: Any) -> bool:
    """Two `NodeState`s (or None) alike field by field."""
    if new is None or old is None:
        return new is None and old is None
    return (
        _same(new.x, old.x)
        and _same(new.status, old.status)
        and new.working == old.working
        and _same(float(new.multiplier), float(old.multiplier))
    )


@pytest.fixture(scope="module")
def sample_searches() -> list[tuple[Program, float, tuple[Any, ...], dict[str, Any]]]:
    """The branch-and-bound searches of the issue-15 sample run (its options, the sample
    prices of 1996-1999: 36 rebalances, ~300 nodes) as the rebalance solver makes them."""
    import tradefolio as tf
    from tradefolio.data.sample_data import load_sample_prices

    recorded: list[tuple[Program, float, tuple[Any, ...], dict[str, Any]]] = []
    real = search.branch_and_bound

    def record(program: Program, scale: float, *args: Any, **kwargs: Any) -> Any:
        recorded.append((program, scale, args, kwargs))
        return real(program, scale, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(search, "branch_and_bound", record)
        tf.backtest(
            prices=load_sample_prices().loc["1996-01-01":"1999-12-31"],
            portfolio=True,
            objective="mean-variance",
            risk_aversion=5,
            sector_cap=0.35,
            max_turnover=0.2,
            cost_bps=5,
            fixed_cost=1,
            max_positions=5,
        )
    assert len(recorded) >= 20, "the sample run made too few branch-and-bound searches"
    return recorded


def _small_programs() -> Iterator[Program]:
    """Random small programs of every node shape: trade flags (with and without a minimum
    trade and a turnover cap), buy-in floors, and floors under a cardinality cap."""
    for seed in range(3):
        yield rebalance_program(seed, min_trade=None, fixed=1.0, max_turnover=0.2)
        yield rebalance_program(seed, min_trade=30.0, fixed=1.0, max_turnover=None)
        yield floored_program(seed)
        yield floored_program(seed, max_positions=3)


def _assert_searches_alike(program: Program, scale: float, *args: Any, **kwargs: Any) -> None:
    """The whole search's result the same as main's (or the same error)."""
    try:
        new = search.branch_and_bound(program, scale, *args, **kwargs)
    except (InfeasibleAllocation, SolverError) as error:
        with pytest.raises(type(error), match=re.escape(str(error))):
            search_reference.branch_and_bound(program, scale, *args, **kwargs)
        return
    old = search_reference.branch_and_bound(program, scale, *args, **kwargs)
    assert new.nodes == old.nodes
    assert new.status == old.status
    assert _same(new.values, old.values)
    for field in ("objective", "best_bound", "incumbent_bound"):
        assert _same(float(getattr(new, field)), float(getattr(old, field))), field


def _assert_nodes_alike(program: Program, scale: float, seed: int) -> None:
    """Along a random branching (as the search makes it: forced bounds, then the solve
    warm-started from the parent's state), every node's answers the same as main's."""
    new = search.Relaxation(program, scale)
    old = search_reference.Relaxation(program, scale)
    ints = new.integers
    lower = np.ceil(new.lower[ints] - 1e-6)
    upper = np.floor(new.upper[ints] + 1e-6)
    rng = np.random.default_rng(seed)
    new_state = old_state = None
    for _ in range(8):
        new_forced = new.forced(lower, upper, new_state)
        old_forced = old.forced(lower, upper, old_state)
        assert (new_forced is None) == (old_forced is None)
        if new_forced is None or old_forced is None:
            return
        assert _same(new_forced, old_forced)
        lower, upper = new_forced
        new_found = new.solve(lower, upper, 30.0, start=new_state)
        old_found = old.solve(lower, upper, 30.0, start=old_state)
        assert (new_found is None) == (old_found is None)
        if new_found is None or old_found is None:
            return
        assert _same(float(new_found[0]), float(old_found[0]))
        assert _same(new_found[1], old_found[1])
        assert _same(float(new.bound), float(old.bound))
        assert _same(new.up_increase, old.up_increase)
        assert _same(new.down_increase, old.down_increase)
        assert _same_state(new.last_state, old.last_state)
        for j in np.flatnonzero((lower < 0.5) & (upper > 0.5)).tolist():
            new_down = new.down_bound(new.last_down, j)
            old_down = old.down_bound(old.last_down, j)
            assert (new_down is None) == (old_down is None)
            if new_down is not None and old_down is not None:
                assert _same(float(new_down), float(old_down)) or (
                    math.isnan(new_down) and math.isnan(old_down)
                )
        new_state, old_state = new.last_state, old.last_state
        branched = branch_at_random(lower, upper, rng)
        if branched is None:
            return
        lower, upper = branched


def test_the_sample_searches_are_unchanged(
    sample_searches: list[tuple[Program, float, tuple[Any, ...], dict[str, Any]]],
) -> None:
    """Each recorded sample search gives main's result, bit for bit."""
    for program, scale, args, kwargs in sample_searches:
        _assert_searches_alike(program, scale, *args, **kwargs)


def test_the_sample_nodes_are_unchanged(
    sample_searches: list[tuple[Program, float, tuple[Any, ...], dict[str, Any]]],
) -> None:
    """Along random branchings of the sample programs, every node as main solves it."""
    for number, (program, scale, _, _) in enumerate(sample_searches):
        for seed in range(3):
            _assert_nodes_alike(program, scale, 100 * number + seed)


def test_small_programs_search_and_solve_as_before() -> None:
    """The random small programs of every node shape: searches and nodes as main's."""
    for number, program in enumerate(_small_programs()):
        scale = _scale(program)
        _assert_searches_alike(program, scale, 10.0, 1e-6)
        for seed in range(3):
            _assert_nodes_alike(program, scale, 100 * number + seed)
