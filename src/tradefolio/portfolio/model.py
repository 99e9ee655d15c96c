"""One composable allocation model: an objective plus any constraints, solved as one program.

    model = PortfolioModel(
        MeanVariance(risk, risk_aversion=5),
        [PositionLimits(0.25, 0.02), Cardinality(10), SectorCaps(sectors, 0.35),
         Turnover(0.2), TransactionCosts(bps=5, fixed=1), MinimumTrade(500), WholeShares()],
    )
    result = model.solve(make_universe(candidates, cash, holdings))

Every model also carries the cash row  sum_i w_i + cost <= 1  (cash never goes negative
after costs). With only `ScoreObjective`, `PositionLimits`, `Cardinality` it is exactly the
seed model of `allocator.py`. Risk minimisers (min-variance, cvar, mad) have the empty
portfolio as a trivial optimum, so unless a `Budget` says otherwise they invest fully
(min_invested = max_invested, less K lots of the dearest name with whole shares).

Solving: pre-checks -> solve (pywraplp for linear programs; for quadratic ones the branch
and bound over HiGHS QPs, or MathOpt/SCIP, see `backends.resolve_solver`) ->
on infeasibility the elastic re-solve explains the conflict (`infeasibility.py`). The result
lists target positions, the trades from the holdings, status, bound and gap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tradefolio.errors import InfeasibleAllocation, InvalidParameter
from tradefolio.portfolio.allocator import whole_or_fractional_shares
from tradefolio.portfolio.backends import resolve_solver, solve_program
from tradefolio.portfolio.constraints.base import Constraint
from tradefolio.portfolio.constraints.budget import Budget
from tradefolio.portfolio.constraints.cardinality import Cardinality
from tradefolio.portfolio.constraints.costs import TransactionCosts
from tradefolio.portfolio.constraints.whole_shares import WholeShares
from tradefolio.portfolio.context import ModelContext, Universe
from tradefolio.portfolio.holdings import Trade, trades_between
from tradefolio.portfolio.infeasibility import cross_checks, explain_infeasible, raise_conflicts
from tradefolio.portfolio.objectives.base import Objective
from tradefolio.portfolio.types import Allocation, SolveStatus, relative_gap

# Leftover cash tie-break with whole shares, relative to the largest objective coefficient.
_TIE_BREAK = 1e-7
# Below this a weight or a weight change is round-off.
_ZERO = 1e-9


@dataclass(frozen=True, slots=True)
class PortfolioResult:
    """Target positions, trades from the holdings, and how sure the solver is.

    `capital` is the account value V (cash + holdings); `cash` what is left after the
    target shares and the trading `costs`; `objective` the objective's exact value at the
    target weights (for Kelly the true log growth, not the cut model's); `best_bound` and
    `gap` bound the distance to the optimum ("feasible" = not proven optimal).
    """

    allocations: tuple[Allocation, ...]
    trades: tuple[Trade, ...]
    status: SolveStatus
    objective: float
    best_bound: float
    capital: float
    cash: float
    costs: float
    turnover: float
    solver: str
    objective_name: str
    dropped: tuple[str, ...] = ()

    @property
    def gap(self) -> float:
        """Relative gap between objective and best bound (0 when proven optimal)."""
        return 0.0 if self.status == "optimal" else relative_gap(self.objective, self.best_bound)

    @property
    def weights(self) -> dict[str, float]:
        """Target weight per held symbol."""
        return {a.symbol: a.weight for a in self.allocations}

    @property
    def invested(self) -> float:
        """Dollars in the target positions."""
        return sum(a.shares * a.price for a in self.allocations)


class PortfolioModel:
    """An objective and constraints; `solve` builds, checks, solves and explains."""

    def __init__(self, objective: Objective, constraints: Sequence[Constraint] = ()) -> None:
        self.objective = objective
        self.constraints = tuple(constraints)

    @property
    def whole_shares(self) -> WholeShares | None:
        """The whole-shares constraint, if any."""
        return next((c for c in self.constraints if isinstance(c, WholeShares)), None)

    def _all_constraints(self, universe: Universe) -> tuple[Constraint, ...]:
        constraints = self.constraints
        if self.objective.minimizes_risk and not any(isinstance(c, Budget) for c in constraints):
            constraints = (*constraints, Budget(self._default_min_invested(universe), 1.0))
        return constraints

    def _default_min_invested(self, universe: Universe) -> float:
        """Full investment, less what whole lots and the worst-case costs may leave over."""
        if universe.size == 0:
            return 0.0
        value = universe.value
        allowance = 0.0
        shares = self.whole_shares
        if shares is not None:
            count = universe.size
            for c in self.constraints:
                if isinstance(c, Cardinality):
                    count = min(count, c.max_positions)
            dearest = max(
                shares.lot_of(s) * float(p)
                for s, p in zip(universe.symbols, universe.prices, strict=True)
            )
            allowance += count * dearest / value
        traded = 1.0 + float(universe.initial_weights.sum()) + universe.forced_sell_weight
        names = 2 * universe.size + len(universe.outside)
        for c in self.constraints:
            if isinstance(c, TransactionCosts):
                allowance += c.bps / 1e4 * traded + c.fixed * names / value
        return max(0.0, 1.0 - allowance)

    def build(self, universe: Universe, elastic: bool = False) -> ModelContext:
        """The program for `universe` (`elastic` keeps policy bounds as relaxable rows)."""
        ctx = ModelContext(universe, elastic=elastic)
        constraints = self._all_constraints(universe)
        for constraint in constraints:
            constraint.tighten(ctx)
        self.objective.build(ctx)
        for constraint in constraints:
            constraint.build(ctx)
        program = ctx.program
        program.maximize = self.objective.maximize
        cash_terms = {w: 1.0 for w in ctx.weights}
        for k, c in ctx.cost_terms.items():
            cash_terms[k] = cash_terms.get(k, 0.0) + c
        program.add_row(cash_terms, hi=1.0 - ctx.cost_constant, group="capital (cash after costs)")
        if ctx.cost_in_objective > 0:
            sign = -1.0 if program.maximize else 1.0
            program.add_objective(ctx.cost_terms, sign * ctx.cost_in_objective)
            program.constant += sign * ctx.cost_in_objective * ctx.cost_constant
        if ctx.tie_break_investment:
            largest = max(
                [abs(c) for c in program.linear.values()]
                + [abs(c) for c in program.quadratic.values()]
                + [1.0]
            )
            sign = 1.0 if program.maximize else -1.0
            program.add_objective(ctx.weight_terms(np.ones(ctx.size)), sign * _TIE_BREAK * largest)
            ctx.tie_break_scale = sign * _TIE_BREAK * largest
        return ctx

    def precheck(self, ctx: ModelContext) -> None:
        """Raise `InfeasibleAllocation` if a cheap necessary condition fails."""
        conflicts = cross_checks(ctx)
        for constraint in self._all_constraints(ctx.universe):
            conflicts.extend(constraint.precheck(ctx))
        conflicts.extend(self.objective.precheck(ctx))
        raise_conflicts(conflicts)

    def solve(
        self,
        universe: Universe,
        *,
        solver: str = "auto",
        time_limit: float = 10.0,
        fractional: bool = False,
        hint: NDArray[np.float64] | None = None,
    ) -> PortfolioResult:
        """Solve for `universe`; `hint` is an optional start for the target weights."""
        if not (math.isfinite(time_limit) and time_limit > 0):
            raise InvalidParameter(f"time_limit must be > 0 seconds, got {time_limit}")
        ctx = self.build(universe)
        name = resolve_solver(solver, ctx.program)
        self.precheck(ctx)
        if universe.size == 0:
            return self._result(ctx, np.zeros(ctx.program.size), "optimal", 0.0, name, fractional)
        if hint is None and np.any(universe.held_shares > 0):
            # The holdings (re-optimised on the same names) are an incumbent from the
            # start: a search stopped early never returns worse than keeping them.
            hint = universe.initial_weights
        start = None if hint is None else self._start(ctx, hint)
        try:
            raw = solve_program(ctx.program, name, time_limit, start)
        except InfeasibleAllocation:
            conflicts = explain_infeasible(
                lambda: self.build(universe, elastic=True),
                "cbc" if ctx.program.is_quadratic else name,
                time_limit,
            )
            raise_conflicts(conflicts)
            raise
        return self._result(ctx, raw.values, raw.status, raw.best_bound, name, fractional)

    def _start(self, ctx: ModelContext, weights: NDArray[np.float64]) -> NDArray[np.float64]:
        """A (partial) start vector: weights and selections from `weights`, rest zero."""
        start = np.zeros(ctx.program.size)
        for i in range(ctx.size):
            start[ctx.weights[i]] = weights[i]
            start[ctx.selected[i]] = 1.0 if weights[i] > _ZERO else 0.0
        return start

    def _result(
        self,
        ctx: ModelContext,
        values: NDArray[np.float64],
        status: SolveStatus,
        bound: float,
        solver: str,
        fractional: bool,
    ) -> PortfolioResult:
        universe = ctx.universe
        value = universe.value
        weights = np.array([values[w] for w in ctx.weights], dtype=np.float64)
        weights[np.abs(weights) < _ZERO] = 0.0
        w0 = universe.initial_weights
        target: dict[str, float] = {}
        for i, symbol in enumerate(universe.symbols):
            if ctx.lots is not None:
                lot = self.whole_shares.lot_of(symbol) if self.whole_shares else 1
                shares = float(round(values[ctx.lots[i]])) * lot
            elif abs(weights[i] - w0[i]) <= _ZERO:
                shares = float(universe.held_shares[i])
            else:
                shares = whole_or_fractional_shares(
                    weights[i] * value, float(universe.prices[i]), fractional
                )
            if shares > 0:
                target[symbol] = shares
        prices = {s: float(p) for s, p in zip(universe.symbols, universe.prices, strict=True)}
        prices.update({h.symbol: h.price for h in universe.outside})
        held = {s: float(h) for s, h in zip(universe.symbols, universe.held_shares, strict=True)}
        held.update({h.symbol: h.shares for h in universe.outside})
        trades = trades_between({s: h for s, h in held.items() if h > 0}, target, prices)
        costs = sum(
            c.bps / 1e4 * abs(t.dollars) + c.fixed
            for c in self.constraints
            if isinstance(c, TransactionCosts)
            for t in trades
        )
        allocations = []
        for i, symbol in enumerate(universe.symbols):
            if weights[i] <= 0 and symbol not in target:
                continue
            shares = target.get(symbol, 0.0)
            weight = shares * prices[symbol] / value if ctx.lots is not None else float(weights[i])
            if weight <= 0:
                continue
            allocations.append(Allocation(symbol, weight, weight * value, shares, prices[symbol]))
        allocations.sort(key=lambda a: (-a.weight, a.symbol))
        objective = self._objective_value(ctx, values, weights)
        spent = sum(shares * prices[s] for s, shares in target.items())
        return PortfolioResult(
            allocations=tuple(allocations),
            trades=trades,
            status=status,
            objective=objective,
            best_bound=objective if status == "optimal" else bound,
            capital=value,
            cash=value - spent - costs,
            costs=costs,
            turnover=float(sum(abs(t.dollars) for t in trades) / value),
            solver=solver,
            objective_name=self.objective.name,
            dropped=universe.dropped,
        )

    def _objective_value(
        self, ctx: ModelContext, values: NDArray[np.float64], weights: NDArray[np.float64]
    ) -> float:
        """The objective without the tie-break: exact (if the objective has an exact form,
        e.g. Kelly's true log growth) plus the costs it carries."""
        program = ctx.program
        cost = ctx.cost_constant + float(sum(c * values[k] for k, c in ctx.cost_terms.items()))
        sign = -1.0 if program.maximize else 1.0
        cost_part = sign * ctx.cost_in_objective * cost
        core = (
            program.objective_value(values) - cost_part - ctx.tie_break_scale * float(weights.sum())
        )
        exact = self.objective.evaluate(weights)
        return (core if exact is None else exact) + cost_part


__all__ = ["PortfolioModel", "PortfolioResult"]
