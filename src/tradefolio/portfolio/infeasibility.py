"""Explained infeasibility: cheap pre-checks, then an elastic re-solve.

1. Pre-checks (before any solve) catch the obvious: a minimum investment the caps,
   cardinality or sector caps cannot hold, a turnover budget smaller than the forced sells,
   a return floor above the best reachable return, a cost budget below forced costs.
2. When the solver still reports infeasible, the *elastic* program relaxes every
   constraint group g by one slack s_g >= 0 (rows a^T v <= hi become a^T v - s_g <= hi,
   rows a^T v >= lo become a^T v + s_g >= lo; definitions are never relaxed) and minimises
   sum_g s_g. The groups with s_g > 0 are the conflicting constraints, and s_g is how far
   each would have to move (in weight, or names for the cardinality).

Both end in `InfeasibleAllocation` whose message is one plain line per conflict.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from tradefolio.errors import InfeasibleAllocation, SolverError
from tradefolio.portfolio.backends import solve_program
from tradefolio.portfolio.constraints.base import Conflict
from tradefolio.portfolio.context import ModelContext
from tradefolio.portfolio.program import INF, Program

# A slack below this is solver noise, not a conflict.
_SLACK_TOLERANCE = 1e-7


def cross_checks(ctx: ModelContext) -> list[Conflict]:
    """Necessary conditions that involve several constraints at once."""
    conflicts: list[Conflict] = []
    universe = ctx.universe
    caps = np.array([ctx.weight_upper(i) for i in range(ctx.size)])
    count = ctx.size if ctx.max_positions is None else min(ctx.max_positions, ctx.size)
    reachable = float(np.sort(caps)[::-1][:count].sum())
    if ctx.sector_caps:
        by_sector = sum(
            min(cap, float(np.sort(caps[members])[::-1].sum()))
            for members, cap in ctx.sector_caps.values()
        )
        if by_sector + 1e-12 < ctx.min_invested:
            conflicts.append(
                Conflict(
                    "sector caps",
                    f"all sectors at their caps hold {by_sector:.4f}, less than the minimum "
                    f"investment {ctx.min_invested:.4f}; raise the caps by "
                    f"{ctx.min_invested - by_sector:.4f} in total",
                    ctx.min_invested - by_sector,
                )
            )
        reachable = min(reachable, by_sector)
    if reachable + 1e-12 < ctx.min_invested and not any(
        c.constraint == "sector caps" for c in conflicts
    ):
        conflicts.append(
            Conflict(
                "min invested",
                f"{count} names at their caps hold {reachable:.4f}, less than the minimum "
                f"investment {ctx.min_invested:.4f}; raise --max-positions or --max-weight, "
                f"or lower the minimum by {ctx.min_invested - reachable:.4f}",
                ctx.min_invested - reachable,
            )
        )
    if ctx.max_turnover is not None:
        w0 = universe.initial_weights
        forced = universe.forced_sell_weight + float(np.maximum(w0 - caps, 0.0).sum())
        if forced > ctx.max_turnover + 1e-12:
            conflicts.append(
                Conflict(
                    "turnover",
                    f"forced sells (holdings outside the universe or above their caps) are "
                    f"{forced:.4f} of the account, more than the turnover budget "
                    f"{ctx.max_turnover:.4f}; raise it by {forced - ctx.max_turnover:.4f}",
                    forced - ctx.max_turnover,
                )
            )
    return conflicts


def raise_conflicts(conflicts: Sequence[Conflict]) -> None:
    """Raise `InfeasibleAllocation` with one line per conflict (no-op when empty)."""
    if conflicts:
        lines = "\n".join(f"  - {c.line()}" for c in conflicts)
        raise InfeasibleAllocation(f"the allocation is infeasible:\n{lines}")


def elastic_program(program: Program) -> tuple[Program, dict[str, int]]:
    """A copy of `program` with one slack per constraint group, minimising their sum."""
    elastic = Program(
        names=list(program.names),
        lower=list(program.lower),
        upper=list(program.upper),
        integer=list(program.integer),
        maximize=False,
    )
    slacks: dict[str, int] = {}
    for row in program.rows:
        coefficients = dict(row.coefficients)
        if row.group is not None:
            if row.group not in slacks:
                slacks[row.group] = elastic.add_variable(f"slack[{row.group}]", 0.0, INF)
            slack = slacks[row.group]
            if row.lo == row.hi:
                # An equality relaxes both ways: split into two rows sharing the slack.
                elastic.add_row({**coefficients, slack: 1.0}, lo=row.lo, group=row.group)
                elastic.add_row({**coefficients, slack: -1.0}, hi=row.hi, group=row.group)
                continue
            if row.lo > -INF and row.hi < INF:
                elastic.add_row({**coefficients, slack: 1.0}, lo=row.lo, group=row.group)
                elastic.add_row({**coefficients, slack: -1.0}, hi=row.hi, group=row.group)
                continue
            coefficients[slack] = 1.0 if row.lo > -INF else -1.0
        elastic.add_row(coefficients, row.lo, row.hi, row.group, row.unit)
    units = {row.group: row.unit for row in program.rows if row.group is not None}
    for group, index in slacks.items():
        # A name is worth a whole account of weight: prefer moving weights over counts.
        elastic.linear[index] = 1.0 if units[group] == "weight" else 1.0 + 1e-3
    return elastic, slacks


def explain_infeasible(
    build_elastic: Callable[[], ModelContext], solver: str, time_limit: float
) -> list[Conflict]:
    """Solve the elastic program and list every relaxed group with its amount."""
    ctx = build_elastic()
    elastic, slacks = elastic_program(ctx.program)
    units = {row.group: row.unit for row in ctx.program.rows if row.group is not None}
    try:
        solution = solve_program(elastic, "cbc" if solver == "auto" else solver, time_limit)
    except (InfeasibleAllocation, SolverError) as exc:
        return [Conflict("model", f"no relaxation of the constraint groups is feasible ({exc})")]
    conflicts = []
    for group, index in sorted(slacks.items(), key=lambda item: -solution.values[item[1]]):
        amount = float(solution.values[index])
        if amount <= _SLACK_TOLERANCE:
            continue
        if units[group] == "names":
            message = f"needs {math.ceil(amount - 1e-9)} more name(s)"
        else:
            message = f"must move by {amount:.6g} (weight, fraction of the account)"
        conflicts.append(Conflict(group, message, amount))
    if not conflicts:
        conflicts.append(
            Conflict("model", "the solver reported infeasible but no constraint group conflicts")
        )
    return conflicts


__all__ = ["cross_checks", "elastic_program", "explain_infeasible", "raise_conflicts"]
