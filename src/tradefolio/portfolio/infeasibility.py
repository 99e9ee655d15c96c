"""Explained infeasibility: cheap pre-checks, then an elastic re-solve.

1. Pre-checks (before any solve) catch the obvious: a minimum investment the caps,
   cardinality or sector caps cannot hold, a turnover budget smaller than the forced sells,
   a return floor above the best reachable return, a cost budget below forced costs.
2. When the solver still reports infeasible, the *elastic* program relaxes every
   constraint group g by one slack s_g >= 0 (rows a^T v <= hi become a^T v - s_g <= hi,
   rows a^T v >= lo become a^T v + s_g >= lo; definitions are never relaxed) and minimises
   sum_g s_g. The groups with s_g > 0 are the conflicting constraints, and s_g is how far
   each would have to move: in weight, said in the option's own unit (dollars for the cost
   budget and the minimum trade, an expected return for the return floor), or names for
   the cardinality.

Both end in `InfeasibleAllocation` whose message is one line: the first conflict in the
user's own options (a flag, or the full investment a risk minimiser implies) with a fix.
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


#: The user's option behind each constraint group of the elastic re-solve.
GROUP_FLAGS = {
    "min invested": "--min-invested",
    "full investment": "full investment (--min-invested lowers it)",
    "max invested": "max invested",
    "turnover": "--max-turnover",
    "max positions": "--max-positions",
    "max weight": "--max-weight",
    "min weight": "--min-weight",
    "name max weight": "--bounds max_weight",
    "name min weight": "--bounds min_weight",
    "cost budget": "--cost-budget",
    "min return": "--min-return",
    "min trade": "--min-trade",
}


#: Groups whose option is in dollars: the slack (a weight) times the account value.
DOLLAR_GROUPS = frozenset({"cost budget", "min trade"})
#: Groups whose option is an expected return (the row is mu^T w >= floor).
RETURN_GROUPS = frozenset({"min return"})


def cross_checks(ctx: ModelContext, investment: str = "--min-invested") -> list[Conflict]:
    """Necessary conditions that involve several constraints at once (`investment`: what
    sets the investment floor, in the user's words: see `budget_source`)."""
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
                    f"all sectors at their caps hold {by_sector:.4f}, less than "
                    f"{investment} ({ctx.min_invested:.4f}); raise the caps by "
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
                f"{count} names at their caps hold {reachable:.4f}, less than {investment} "
                f"({ctx.min_invested:.4f}); raise --max-positions or --max-weight, "
                f"or lower --min-invested by {ctx.min_invested - reachable:.4f}",
                ctx.min_invested - reachable,
            )
        )
    if ctx.max_turnover is not None:
        w0 = universe.initial_weights
        above = np.maximum(w0 - caps, 0.0)
        forced = universe.forced_sell_weight + float(above.sum())
        if forced > ctx.max_turnover + 1e-12:
            conflicts.append(_forced_sells(ctx, above, forced))
    return conflicts


def _forced_sells(ctx: ModelContext, above: np.ndarray, forced: float) -> Conflict:
    """The turnover cap below the sells no allocation avoids: which holdings force them,
    how much (in dollars too: a few dollars over a cap is a tiny weight), and the fix."""
    universe = ctx.universe
    names = [universe.symbols[i] for i in np.flatnonzero(above > 0)]
    reasons = []
    if names:
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        reasons.append(f"{shown} held above the weight cap")
    if universe.outside:
        reasons.append(f"{len(universe.outside)} held name(s) not among the candidates")
    fix = f"raise --max-turnover to {math.ceil(forced * 1e6) / 1e6:g}"
    if names:
        held_cap = float(np.max(universe.initial_weights[above > 0]))
        fix += f" or --max-weight to {math.ceil(held_cap * 1e6) / 1e6:g}"
    assert ctx.max_turnover is not None
    return Conflict(
        "turnover",
        f"--max-turnover {ctx.max_turnover:g} is below the sells it forces ({'; '.join(reasons)}: "
        f"{forced:.3g} of the account, {forced * universe.value:,.2f} dollars); {fix}",
        forced - ctx.max_turnover,
    )


def raise_conflicts(conflicts: Sequence[Conflict]) -> None:
    """Raise `InfeasibleAllocation` with one line: the first conflict (the pre-checks'
    first, or the elastic re-solve's largest move), naming any others (no-op when empty)."""
    if conflicts:
        first, *rest = conflicts
        others = list(dict.fromkeys(c.constraint for c in rest if c.constraint != first.constraint))
        also = f" (also in conflict: {', '.join(others)})" if others else ""
        raise InfeasibleAllocation(f"the allocation is infeasible: {first.line()}{also}")


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
        flag = GROUP_FLAGS.get(group, group.replace("sector cap ", "--sector-cap for "))
        if units[group] == "names":
            message = f"{flag} needs {math.ceil(amount - 1e-9)} more name(s)"
        else:
            message = (
                f"{flag} must {_direction(ctx.program, group)} by {_in_unit(ctx, group, amount)}"
            )
        conflicts.append(Conflict(group, message, amount))
    if not conflicts:
        conflicts.append(
            Conflict("model", "the solver reported infeasible but no constraint group conflicts")
        )
    return conflicts


def _direction(program: Program, group: str) -> str:
    """How the user's option relaxes the group: `rise` for upper limits (a^T v <= hi, a
    slack raises hi), `fall` for lower ones, `move` when the group has both."""
    sides = {(row.hi < INF, row.lo > -INF) for row in program.rows if row.group == group}
    if sides == {(True, False)}:
        return "rise"
    if sides == {(False, True)}:
        return "fall"
    return "move"


def _in_unit(ctx: ModelContext, group: str, amount: float) -> str:
    """A slack in the unit of the option behind its group: dollars for `--cost-budget` /
    `--min-trade` (the rows are in weight, dollars / account value), an expected return
    for `--min-return`, a fraction of the account for the weights and turnover."""
    if group in DOLLAR_GROUPS:
        return f"{amount * ctx.universe.value:,.2f} dollars ({amount:.6g} of the account)"
    if group in RETURN_GROUPS:
        return f"{amount:.6g} (expected return)"
    return f"{amount:.6g} (weight, fraction of the account)"


__all__ = [
    "DOLLAR_GROUPS",
    "GROUP_FLAGS",
    "RETURN_GROUPS",
    "cross_checks",
    "elastic_program",
    "explain_infeasible",
    "raise_conflicts",
]
