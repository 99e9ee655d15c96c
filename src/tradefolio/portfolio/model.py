"""One composable allocation model: an objective plus any constraints, solved as one program.

    model = PortfolioModel(
        MeanVariance(risk, risk_aversion=5),
        [PositionLimits(0.25, 0.02), Cardinality(10), SectorCaps(sectors, 0.35),
         Turnover(0.2), TransactionCosts(bps=5, fixed=1), MinimumTrade(500), WholeShares()],
    )
    result = model.solve(make_universe(candidates, cash, holdings))

Every model also carries the cash row  sum_i w_i + cost <= 1  (cash never goes negative
after costs). With only `ScoreObjective`, `PositionLimits`, `Cardinality` it is exactly the
score model of `allocator.py`. Risk minimisers (min-variance, cvar, mad) have the empty
portfolio as a trivial optimum, so unless a `Budget` says otherwise they invest fully
(min_invested = max_invested, less what whole lots need: `invested_floor.py`).

Solving: pre-checks -> solve (pywraplp for linear programs; for quadratic ones the branch
and bound over HiGHS QPs, or MathOpt/SCIP, see `backends.resolve_solver`) ->
on infeasibility the elastic re-solve explains the conflict (`infeasibility.py`). The result
lists target positions, the trades from the holdings, status, bound and gap.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from tradefolio.collector import collector_paused
from tradefolio.errors import InfeasibleAllocation, InvalidParameter, SolverError
from tradefolio.portfolio.backends import (
    QUADRATIC_RELATIVE_GAP,
    RawSolution,
    claim,
    objective_scale,
    resolve_solver,
    solve_program,
)
from tradefolio.portfolio.constraints.base import Constraint
from tradefolio.portfolio.constraints.budget import Budget, budget_source
from tradefolio.portfolio.constraints.costs import TransactionCosts
from tradefolio.portfolio.constraints.whole_shares import WholeShares
from tradefolio.portfolio.context import ModelContext, Universe
from tradefolio.portfolio.holdings import trades_between
from tradefolio.portfolio.infeasibility import cross_checks, explain_infeasible, raise_conflicts
from tradefolio.portfolio.listed import ListedTrades
from tradefolio.portfolio.objectives.base import Objective
from tradefolio.portfolio.program import Program, arrays_of, bounds_of, extended_arrays
from tradefolio.portfolio.rebalance_solver import (
    LEAST_SCIP_SECONDS,
    solve_rebalance,
    suits_rebalance_solver,
)
from tradefolio.portfolio.score_path import (
    SCORE_RELATIVE_GAP,
    ScoreSolution,
    polish_selection,
    polished_claim,
    score_shape,
    solve_score_exact,
)
from tradefolio.portfolio.share_repair import solve_by_repair, whole_point
from tradefolio.portfolio.shares import FRACTIONAL_DECIMALS, whole_or_fractional_shares
from tradefolio.portfolio.types import Allocation, AllocationResult, SolveStatus

# Leftover cash tie-break with whole shares, relative to the largest objective coefficient.
_TIE_BREAK = 1e-7
# Below this a weight or a weight change is round-off.
_ZERO = 1e-9
# A weight change within the solvers' feasibility tolerance is no trade (a held position
# the solver left alone is not sold by one share because its weight came back 1e-7 lower).
_NO_TRADE = 1e-6


#: A repaired whole-share answer (`share_repair.py`) whose gap to the fractional bound is
#: at most this is returned by `--solver auto` as it is ("feasible" with that gap when above
#: 1e-5); above it SCIP runs too. On the sample's whole-share rebalances of a $1M account
#: the repair's gaps are 1e-5..3e-4 and SCIP's answers equal it to 1e-5 (SCIP proving them
#: tripled a backtest's solve time); on a $450 account of $90-$240 shares the lots alone
#: leave gaps of percent, where SCIP's proof is what the user needs.
SCIP_AFTER_REPAIR_GAP = 1e-3
#: The gap the fractional twin of a whole-share rebalance is proven to: only its bound B
#: reaches the answer (the repaired point's claim is its gap to B, against
#: `QUADRATIC_RELATIVE_GAP`), so a tenth of that target is enough; proving 1e-9 there cost
#: ~4 of the sample run's ~17 s CPU for the same 378 proven rebalances.
TWIN_GAP = QUADRATIC_RELATIVE_GAP / 10


#: The composable model's result is the allocator's one result type.
PortfolioResult = AllocationResult


class PortfolioModel:
    """An objective and constraints; `solve` builds, checks, solves and explains."""

    def __init__(self, objective: Objective, constraints: Sequence[Constraint] = ()) -> None:
        self.objective = objective
        self.constraints = tuple(constraints)
        # the risk minimisers' default invested floor of the last universe asked about
        self._invested_floor: tuple[Universe, float] | None = None
        # the lot sizes of the last universe asked about (the repair and the result ask)
        self._lots: tuple[Universe, NDArray[np.float64]] | None = None

    @property
    def whole_shares(self) -> WholeShares | None:
        """The whole-shares constraint, if any."""
        return next((c for c in self.constraints if isinstance(c, WholeShares)), None)

    def _all_constraints(self, universe: Universe) -> tuple[Constraint, ...]:
        constraints = self.constraints
        if self.objective.minimizes_risk and not any(isinstance(c, Budget) for c in constraints):
            floor = self._default_min_invested(universe)
            constraints = (*constraints, Budget(floor, 1.0, implied_by=self.objective.name))
        return constraints

    def _default_min_invested(self, universe: Universe) -> float:
        """Full investment, less one lot of the cheapest name and the worst-case costs when
        whole lots reach it, else as much as they can (`invested_floor.py`); computed once
        per universe (build, precheck and the fractional twin all ask)."""
        cached = self._invested_floor
        if cached is not None and cached[0] is universe:
            return cached[1]
        from tradefolio.portfolio.invested_floor import default_min_invested

        floor = default_min_invested(self, universe)
        self._invested_floor = (universe, floor)
        return floor

    def build(self, universe: Universe, elastic: bool = False) -> ModelContext:
        """The program for `universe` (`elastic` keeps policy bounds as relaxable rows)."""
        return self._build(universe, elastic)[0]

    def _build(
        self, universe: Universe, elastic: bool = False, twin: bool = False
    ) -> tuple[ModelContext, ModelContext | None]:
        """The program for `universe` and, with `twin`, its fractional twin when it is a
        quadratic program with lots (else None): the same program without the
        `WholeShares` pieces, as `PortfolioModel(objective, kept).build` builds it.

        Both are built from the same pieces: the tightening, the objective and every
        constraint before the first `WholeShares` once (a lot constraint tightens nothing,
        so the twin's bounds are the same), then the context is forked and each goes on
        with the rest (the lots and what follows them; the twin without the lots)."""
        constraints = self._all_constraints(universe)
        ctx = ModelContext(universe, elastic=elastic)
        for constraint in constraints:
            constraint.tighten(ctx)
        self.objective.build(ctx)
        fork_at = None
        if twin and not elastic and ctx.program.is_quadratic:
            fork_at = next(
                (k for k, c in enumerate(constraints) if isinstance(c, WholeShares)), None
            )
        kept = [c for c in constraints if not isinstance(c, WholeShares)]
        separate = fork_at is not None and any(
            type(c).tighten is not Constraint.tighten
            for c in constraints
            if isinstance(c, WholeShares)
        )
        if separate:
            fork_at = None  # a lot constraint that tightens bounds: the twin's own build
        shared = constraints if fork_at is None else constraints[:fork_at]
        for constraint in shared:
            constraint.build(ctx)
        twin_ctx = None
        if separate:
            twin_ctx = PortfolioModel(self.objective, kept).build(universe)
        elif fork_at is not None:
            twin_ctx = ctx.fork()
            shared_rows = len(ctx.program.rows)
            for constraint in constraints[fork_at:]:
                constraint.build(ctx)
            for constraint in constraints[fork_at:]:
                if not isinstance(constraint, WholeShares):
                    constraint.build(twin_ctx)
            self._finish(twin_ctx)
        self._finish(ctx)
        if twin_ctx is not None and not separate:
            _keep_set_up(ctx.program, twin_ctx.program, shared_rows)
        return ctx, twin_ctx

    def _finish(self, ctx: ModelContext) -> None:
        """The direction, the cash row, the costs carried by the objective and the
        leftover-cash tie-break: the last steps of every build."""
        program = ctx.program
        program.maximize = self.objective.maximize
        cash_terms = dict.fromkeys(ctx.weights, 1.0)
        total = cash_terms.get
        for k, c in ctx.cost_terms.items():
            cash_terms[k] = total(k, 0.0) + c
        # the row takes the dict over (built here, not copied)
        program.add_rows(
            [cash_terms], hi=1.0 - ctx.cost_constant, group="capital (cash after costs)"
        )
        if ctx.cost_in_objective > 0:
            sign = -1.0 if program.maximize else 1.0
            program.add_objective(ctx.cost_terms, sign * ctx.cost_in_objective)
            program.constant += sign * ctx.cost_in_objective * ctx.cost_constant
        if ctx.tie_break_investment:
            largest = max(
                itertools.chain(
                    map(abs, program.linear.values()), map(abs, program.quadratic.values()), (1.0,)
                )
            )
            sign = 1.0 if program.maximize else -1.0
            program.add_objective(ctx.weight_terms(np.ones(ctx.size)), sign * _TIE_BREAK * largest)
            ctx.tie_break_scale = sign * _TIE_BREAK * largest

    def precheck(self, ctx: ModelContext) -> None:
        """Raise `InfeasibleAllocation` if a cheap necessary condition fails."""
        constraints = self._all_constraints(ctx.universe)
        # one constraint's own conflict first (the most specific); then those of several
        conflicts = [c for constraint in constraints for c in constraint.precheck(ctx)]
        conflicts.extend(self.objective.precheck(ctx))
        conflicts.extend(cross_checks(ctx, budget_source(constraints)))
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
        """Solve for `universe`; `hint` is an optional start for the target weights.

        `solver="exact"` is the score model's O(N log N) fast path (`score_path.py`); it
        raises `InvalidParameter` for any other model. Python's cyclic garbage collector
        is paused while it runs (`collector_paused`).
        """
        if not (math.isfinite(time_limit) and time_limit > 0):
            raise InvalidParameter(f"time_limit must be > 0 seconds, got {time_limit}")
        model = self
        if (
            not fractional
            and solver.lower() != "exact"
            and self.whole_shares is None
            and any(c.acts_on_trades() for c in self.constraints)
        ):
            # The trades must be what the solver proved: whole shares inside the model
            # (solved here, not through a second `solve`: one check, one paused collector).
            model = PortfolioModel(self.objective, [*self.constraints, WholeShares()])
        from tradefolio.portfolio.invested_floor import floor_scope

        # the default invested floor's probes follow the user's time limit (a fraction)
        with collector_paused(), floor_scope(time_limit):
            return model._solve(universe, solver, time_limit, fractional, hint)

    def _solve(
        self,
        universe: Universe,
        solver: str,
        time_limit: float,
        fractional: bool,
        hint: NDArray[np.float64] | None,
    ) -> PortfolioResult:
        """`solve`'s work (`time_limit` checked; whole shares added when trades need them)."""
        score_params = score_shape(self.objective, self.constraints, universe)
        if solver.lower() == "exact":
            if score_params is None:
                raise InvalidParameter(
                    "--solver exact solves only the score model (score objective, "
                    "--max-weight, --min-weight, --max-positions, no holdings); choose "
                    "cbc, scip, highs or auto"
                )
            return self._score_result(
                universe, solve_score_exact(universe, score_params), fractional
            )
        ctx, without_lots = self._build(universe, twin=True)
        # Trade flags (a fixed cost per trade, a minimum trade) in a quadratic model: the
        # aggregated branch and bound of `rebalance_solver.py` instead of SCIP.
        rebalance = solver.lower() in ("auto", "highs") and suits_rebalance_solver(ctx)
        name = "highs" if rebalance else resolve_solver(solver, ctx.program)
        # Quadratic whole shares: the fractional twin by the rebalance solver or the branch
        # and bound, then repaired to whole lots (`share_repair.py`); SCIP when the repair
        # fails (`auto`) or is asked for (`scip`, its claim checked against the twin).
        twin = _suited_twin(without_lots) if name == "scip" else None
        self.precheck(ctx)
        if universe.size == 0:
            empty = RawSolution(np.zeros(ctx.program.size), "optimal", 0.0, 0.0, name)
            return self._result(ctx, empty, name, fractional)
        if hint is None and np.any(universe.held_shares > 0):
            # The holdings (re-optimised on the same names) are an incumbent from the
            # start: a search stopped early never returns worse than keeping them.
            hint = universe.initial_weights
        start = None if hint is None else self._start(ctx, hint)
        try:
            if rebalance:
                raw = solve_rebalance(ctx, time_limit, start)
                name = raw.solver  # "scip" when HiGHS's answer broke the model
            elif twin is not None:
                twin_hint = None if hint is None else self._start(twin, hint)
                raw = self._solve_whole_quadratic(
                    ctx, twin, solver.lower() == "auto", time_limit, start, twin_hint
                )
                name = raw.solver
            else:
                raw = solve_program(
                    ctx.program,
                    name,
                    time_limit,
                    start,
                    SCORE_RELATIVE_GAP if score_params else None,
                )
                name = raw.solver  # "scip" when the linear solver's answer broke the model
        except InfeasibleAllocation:
            conflicts = explain_infeasible(
                lambda: self.build(universe, elastic=True),
                "cbc" if ctx.program.is_quadratic else name,
                time_limit,
            )
            raise_conflicts(conflicts)
            raise
        if score_params is not None:
            polished = polish_selection(
                universe.expected,
                raw.values[ctx.weights],
                raw.values[ctx.selected],
                score_params,
                name,
            )
            status, bound, gap = polished_claim(
                polished.objective, raw, objective_scale(ctx.program)
            )
            return self._score_result(universe, polished, fractional, status, bound, name, gap)
        return self._result(ctx, raw, name, fractional)

    def _score_result(
        self,
        universe: Universe,
        solution: ScoreSolution,
        fractional: bool,
        status: SolveStatus = "optimal",
        bound: float | None = None,
        solver: str = "exact",
        gap: float | None = None,
    ) -> PortfolioResult:
        """The result of a score-shaped model (no holdings): buys of the target shares."""
        value = universe.value
        allocations = []
        spent = 0.0
        for i in np.flatnonzero(solution.weights > 0):
            weight = float(solution.weights[i])
            price = float(universe.prices[i])
            dollars = weight * value
            shares = whole_or_fractional_shares(dollars, price, fractional)
            spent += shares * price
            allocations.append(Allocation(universe.symbols[i], weight, dollars, shares, price))
        allocations.sort(key=lambda a: (-a.weight, a.symbol))
        trades = trades_between(
            {},
            {a.symbol: a.shares for a in allocations if a.shares > 0},
            {a.symbol: a.price for a in allocations},
        )
        return PortfolioResult(
            allocations=tuple(allocations),
            status=status,
            objective=solution.objective,
            capital=value,
            cash=value - spent,
            solver=solver,
            best_bound=solution.objective if bound is None else bound,
            dropped=universe.dropped,
            trades=trades,
            costs=0.0,
            turnover=float(spent / value),
            objective_name=self.objective.name,
            proven_gap=gap,
        )

    def _fractional_twin(self, universe: Universe, ctx: ModelContext) -> ModelContext | None:
        """The program of this model without its lots (same constraints, the default budget
        made explicit so it keeps the whole-share allowance) when `ctx` is a quadratic
        whole-share program and the twin suits the rebalance solver or the branch and bound;
        else None. (`solve` builds both from the same pieces: `_build`.)"""
        if ctx.lots is None or not ctx.program.is_quadratic:
            return None
        return _suited_twin(self._build(universe, twin=True)[1])

    def _solve_whole_quadratic(
        self,
        ctx: ModelContext,
        twin: ModelContext,
        auto: bool,
        time_limit: float,
        start: NDArray[np.float64] | None,
        twin_hint: NDArray[np.float64] | None,
    ) -> RawSolution:
        """A quadratic whole-share program through its fractional `twin`: the twin's proven
        optimum repaired to whole lots (`share_repair.py`); with `auto` that answer when its
        gap is at most `SCIP_AFTER_REPAIR_GAP`, else (and always with `--solver scip`) SCIP
        too, whose claim is checked against the repaired point and the twin's bound
        (`checked_whole_claim`): the lots of a small account can put the optimum far from
        the fractional bound, which only SCIP's own search proves.

        `time_limit` bounds the whole: each step gets what the earlier ones left, and a
        repaired answer is returned as it stands (with its gap) once no time is left."""
        deadline = time.monotonic() + time_limit

        def left() -> float:
            return max(deadline - time.monotonic(), 0.0)

        relaxed: RawSolution | None = None
        try:
            if suits_rebalance_solver(twin):
                relaxed = solve_rebalance(twin, time_limit, twin_hint, TWIN_GAP)
            else:
                relaxed = solve_program(twin.program, "highs", time_limit, twin_hint)
        except SolverError:
            relaxed = None
        repaired = None
        if relaxed is not None:
            repaired = solve_by_repair(
                ctx,
                twin,
                self._lot_sizes(ctx.universe),
                left(),
                twin_hint,
                relaxed,
                mend_above=SCIP_AFTER_REPAIR_GAP if auto else math.inf,
            )
        if repaired is not None and (
            (auto and repaired.gap <= SCIP_AFTER_REPAIR_GAP) or left() < LEAST_SCIP_SECONDS
        ):
            return repaired
        try:
            # with nothing else to return, SCIP gets at least its least useful time
            scip = solve_program(ctx.program, "scip", max(left(), LEAST_SCIP_SECONDS), start)
        except SolverError:
            if repaired is None:
                raise
            return repaired
        # SCIP's weights meet their lot rows to its feasibility tolerance only (aggregation
        # off): the point of its lots, exact, is what is listed and evaluated
        exact = whole_point(ctx, self._lot_sizes(ctx.universe), scip.values)
        if exact is not None and not ctx.program.violations(exact, 1e-6):
            scip = replace(scip, values=exact, objective=ctx.program.objective_value(exact))
        claimed = checked_whole_claim(ctx, scip, repaired, relaxed)
        if repaired is not None and claimed.values is not repaired.values:
            try:
                self._result(ctx, claimed, claimed.solver, False)
            except SolverError:
                # SCIP's point meets its rows to its tolerance (1e-6) but its listed trades
                # break one (a turnover of 0.200001 under 0.2): the checked repaired point
                # is the answer, claimed against the tightest bound that holds (SCIP's
                # proof bounds every point of the program, the repaired one too)
                return checked_whole_claim(ctx, scip, repaired, relaxed, scip_listed=False)
        return claimed

    def _lot_sizes(self, universe: Universe) -> NDArray[np.float64]:
        """Shares per lot of each candidate (1 without whole shares), read-only; computed
        once per universe."""
        cached = self._lots
        if cached is not None and cached[0] is universe:
            return cached[1]
        whole = self.whole_shares
        sizes = np.array(
            [whole.lot_of(s) if whole else 1 for s in universe.symbols], dtype=np.float64
        )
        sizes.flags.writeable = False
        self._lots = (universe, sizes)
        return sizes

    def _start(self, ctx: ModelContext, weights: NDArray[np.float64]) -> NDArray[np.float64]:
        """A (partial) start vector: weights and selections from `weights`, rest zero."""
        start = np.zeros(ctx.program.size)
        names = np.asarray(weights, dtype=np.float64)[: ctx.size]
        start[ctx.weights] = names
        start[ctx.selected] = np.where(names > _ZERO, 1.0, 0.0)
        return start

    def _result(
        self, ctx: ModelContext, raw: RawSolution, solver: str, fractional: bool
    ) -> PortfolioResult:
        """Target shares, trades and costs as listed, checked (`listed.py`); the objective's
        exact value, and the solver's bound moved with it by the proven distance."""
        values = raw.values
        universe = ctx.universe
        value = universe.value
        weights = np.array(values[ctx.weights], dtype=np.float64)
        # A name is held only when the solver selected it: an unselected weight is within
        # the solver's tolerance of zero (a 5e-9 weight is not an extra name).
        unselected = np.array(values[ctx.selected], dtype=np.float64) < 0.5
        weights[unselected | (np.abs(weights) < _ZERO)] = 0.0
        shares = self._target_shares(ctx, values, weights, fractional)
        symbols = universe.symbols
        prices = dict(zip(symbols, universe.prices.tolist(), strict=True))
        prices.update({h.symbol: h.price for h in universe.outside})
        held = dict(zip(symbols, universe.held_shares.tolist(), strict=True))
        held.update({h.symbol: h.shares for h in universe.outside})
        target = {symbols[i]: float(shares[i]) for i in np.flatnonzero(shares > 0)}
        trades = trades_between({s: h for s, h in held.items() if h > 0}, target, prices)
        if raw.status == "feasible" and not math.isfinite(raw.best_bound) and not trades:
            # stopped before any bound, at the start it was given (the holdings as they are,
            # or cash): the solver found nothing, which the caller's failure policy decides
            raise SolverError(
                f"{solver} stopped at the time limit with no bound and no portfolio of its "
                "own (only the holdings as they are); raise --time-limit"
            )
        costs = sum(c.cost_of(trades) for c in self.constraints if isinstance(c, TransactionCosts))
        self._check_listed(ListedTrades(universe, shares, trades, costs, target), solver)
        allocations = []
        for i in np.flatnonzero((weights > 0) | (shares > 0)):
            symbol = symbols[i]
            weight = shares[i] * prices[symbol] / value if ctx.lots is not None else weights[i]
            if weight <= 0:
                continue
            allocations.append(
                Allocation(
                    symbol, float(weight), float(weight) * value, float(shares[i]), prices[symbol]
                )
            )
        allocations.sort(key=lambda a: (-a.weight, a.symbol))
        objective = self._objective_value(ctx, values, weights)
        spent = sum(count * prices[s] for s, count in target.items())
        return PortfolioResult(
            allocations=tuple(allocations),
            trades=trades,
            status=raw.status,
            objective=objective,
            best_bound=objective + _bound_distance(raw),
            capital=value,
            cash=value - spent - costs,
            costs=costs,
            turnover=float(sum(abs(t.dollars) for t in trades) / value),
            solver=solver,
            objective_name=self.objective.name,
            dropped=universe.dropped,
            proven_gap=raw.gap,
        )

    def _target_shares(
        self,
        ctx: ModelContext,
        values: NDArray[np.float64],
        weights: NDArray[np.float64],
        fractional: bool,
    ) -> NDArray[np.float64]:
        """Target shares per candidate: the solver's lots when shares are integer in the
        model; otherwise the weights in shares (a name the solver left alone keeps exactly
        what it holds). With fractional shares and a constraint on trades, each trade is
        rounded to 1e-6 shares towards more cash (buys down, sells up), inside the rows'
        trade margin; without one, targets are floored as in the score allocation."""
        universe = ctx.universe
        held = universe.held_shares
        if ctx.lots is not None:
            target = np.round(values[ctx.lots]) * self._lot_sizes(universe)
            for index, (keep, odd) in ctx.odd_lots.items():
                if values[keep] > 0.5:
                    target[index] += odd
            return np.asarray(target, dtype=np.float64)
        # A weight within _NO_TRADE of the holding keeps the holding, but never a name the
        # solver dropped (dust would be an extra name) and, in fractional shares, never a
        # small sale the solver counted on: its cash pays for the other buys (no rounding
        # slack there to cover it)
        untraded = (np.abs(weights - universe.initial_weights) <= _NO_TRADE) & (weights > 0)
        if fractional:
            untraded &= weights >= universe.initial_weights
        if ctx.buy_flags is not None and ctx.sell_flags is not None:
            untraded |= (values[ctx.buy_flags] < 0.5) & (values[ctx.sell_flags] < 0.5)
        value = universe.value
        on_trades = any(c.acts_on_trades() for c in self.constraints)
        target = np.array(held, dtype=np.float64)
        for i in np.flatnonzero(~untraded):
            price = float(universe.prices[i])
            if weights[i] <= 0:
                target[i] = 0.0
            elif fractional and on_trades:
                scale = 10**FRACTIONAL_DECIMALS
                change = (weights[i] * value - held[i] * price) / price * scale
                rounded = math.floor(change + 1e-9) if change > 0 else -math.ceil(-change - 1e-9)
                target[i] = max(held[i] + rounded / scale, 0.0)
            else:
                target[i] = whole_or_fractional_shares(weights[i] * value, price, fractional)
        return target

    def _check_listed(self, listed: ListedTrades, solver: str) -> None:
        """Raise `SolverError` if the shares and trades listed break a constraint."""
        broken = [v for c in self.constraints for v in c.listed_violations(listed)]
        broken.extend(listed.overspent())
        if broken:
            raise SolverError(
                f"{solver}'s answer, in the shares listed, breaks a constraint: "
                f"{'; '.join(broken)}; use --fractional or report this with the inputs"
            )

    def _objective_value(
        self, ctx: ModelContext, values: NDArray[np.float64], weights: NDArray[np.float64]
    ) -> float:
        """The objective without the tie-break: exact (if the objective has an exact form,
        e.g. Kelly's true log growth) plus the costs it carries."""
        program = ctx.program
        # over Python floats: the same products and sums as over numpy's float64 scalars
        point = np.asarray(values, dtype=np.float64).tolist()
        # a sum of a list, not of a generator: the same products in the same order
        cost = ctx.cost_constant + float(sum([c * point[k] for k, c in ctx.cost_terms.items()]))
        sign = -1.0 if program.maximize else 1.0
        cost_part = sign * ctx.cost_in_objective * cost
        core = (
            program.objective_value(values) - cost_part - ctx.tie_break_scale * float(weights.sum())
        )
        exact = self.objective.evaluate(weights)
        return (core if exact is None else exact) + cost_part


def checked_whole_claim(
    ctx: ModelContext,
    scip: RawSolution,
    repaired: RawSolution | None,
    relaxed: RawSolution | None,
    *,
    scip_listed: bool = True,
) -> RawSolution:
    """SCIP's answer to a whole-share program, its claim checked against what is proven
    without it: `repaired`, a checked whole-share point, and `relaxed`, the fractional
    twin's solution, whose bound B bounds every whole-share point.

    SCIP's bound is taken only when no checked point beats it, and then the tighter of it
    and B; otherwise B alone. The answer is the better of SCIP's and the repaired point
    (the repaired point when SCIP's cannot be listed, `scip_listed=False`: its listed
    trades break a constraint; SCIP's bound still bounds the program); "optimal" only when
    its gap to that bound meets `QUADRATIC_RELATIVE_GAP`, else "feasible" with the gap.

    A SCIP bound beyond B without such a point is kept: on a small account the lots alone
    put the whole-share optimum far below the fractional one (a $1,000 account of $90
    shares), and there the enumeration tests confirm SCIP's proofs.
    """
    program = ctx.program
    sign = 1.0 if program.maximize else -1.0

    def reported(raw: RawSolution) -> float:
        # the objective `_result` reports: without the leftover-cash tie-break
        return raw.objective - ctx.tie_break_scale * float(raw.values[ctx.weights].sum())

    best = scip
    if repaired is not None and (
        not scip_listed or sign * (reported(repaired) - reported(scip)) > 0.0
    ):
        best = repaired
    scip_bound = reported(scip) + (scip.best_bound - scip.objective)
    target = QUADRATIC_RELATIVE_GAP
    # a bound a checked point beats is no bound: SCIP's presolve was wrong (docs/model.md)
    trusted = sign * (scip_bound - reported(best)) >= -1e-12 * max(1.0, abs(scip_bound))
    # the tightest bound of those that hold
    valid = [scip_bound] if trusted else []
    if relaxed is not None:
        valid.append(relaxed.best_bound)
    bound = sign * min((sign * b for b in valid), default=math.inf)
    objective = reported(best)
    # as `backends._finish`: the relative target, or an absolute gap below the solvers'
    # tolerance (an objective of 0: a bound 1e-13 above it is no shortfall), in one number
    status, gap = claim(program, objective, bound, target)
    return RawSolution(
        best.values, status, best.objective, best.objective + (bound - objective), best.solver, gap
    )


def _keep_set_up(program: Program, twin: Program, shared: int) -> None:
    """Keep the coefficient arrays of a whole-share `program` and of its fractional `twin`
    (and the twin's row bounds), whose first `shared` rows are the same rows
    (`ModelContext.fork`: the same coefficients, in the same order): those rows are read
    once for both. Both programs' rows are final (the search, the repair and the result
    only read them); each program's arrays are what its `coefficient_arrays` computes,
    read by the rebalance solver and its row checks (the twin: arrays and bounds) and by
    the repair's lot program (the program: arrays)."""
    head = arrays_of(program.rows[:shared])
    program.keep_coefficient_arrays(extended_arrays(program.rows, head, shared))
    twin.keep_coefficient_arrays(extended_arrays(twin.rows, head, shared), bounds_of(twin.rows))


def _suited_twin(twin: ModelContext | None) -> ModelContext | None:
    """`twin` when the rebalance solver or the branch and bound solves it, else None."""
    if twin is None:
        return None
    from tradefolio.portfolio.branch_and_bound import suits_branch_and_bound

    if suits_rebalance_solver(twin) or suits_branch_and_bound(twin.program):
        return twin
    return None


def _bound_distance(raw: RawSolution) -> float:
    """How far the solver's bound lies beyond its objective, in the optimisation's
    direction (0 when the proven gap is 0)."""
    if raw.gap == 0.0:
        return 0.0
    return raw.best_bound - raw.objective


__all__ = ["PortfolioModel", "PortfolioResult", "collector_paused"]
