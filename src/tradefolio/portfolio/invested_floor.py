"""The investment floor a risk minimiser implies when the user gave no `--min-invested`.

Min-variance, CVaR and MAD have the empty portfolio as a trivial optimum (cash has no
risk), so the model asks them to invest fully: sum_i w_i >= floor. The optimiser then
goes straight down to that floor, so the floor *is* the invested fraction the user gets.

With fractional shares the floor is 1 less the worst-case costs of the trades

    c = bps * (1 + sum_i w0_i + forced sells) + fixed * (2 N + outside) / V.

With whole shares (or lots) full investment is not reachable exactly. The loose allowance

    loose = 1 - K * max_i(lot_i p_i) / V - c        (K = max positions)

is what flooring every position of a fully invested portfolio can leave, and was the
default until session 10: a risk objective then left up to half a small-lot account in
cash ($1M, lots of 100: 47.6% invested against 99.0% reachable). The default is now

    floor = min(tight, max(loose, M)),   tight = 1 - min_i(lot_i p_i) / V - c,

where M is the most any whole-lot portfolio meeting every other constraint of the model
can invest (a linear MIP: the same program with the objective max sum_i w_i). So the
answer invests within one lot of the cheapest name (plus costs) of the whole account when
the lots allow it (leftover cash beyond that could buy one more lot, were no cap or
other row in the way), else as much as any whole-lot portfolio can (never less than the loose
floor, so a model infeasible before stays infeasible, explained as before). M is the
value of a point the solver found, feasible by construction, so the floor never makes a
feasible model infeasible; when that solve finds nothing the loose floor is kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from tradefolio.errors import TradefolioError
from tradefolio.portfolio.backends import solve_program
from tradefolio.portfolio.constraints.budget import Budget
from tradefolio.portfolio.constraints.cardinality import Cardinality
from tradefolio.portfolio.constraints.costs import TransactionCosts
from tradefolio.portfolio.constraints.whole_shares import WholeShares
from tradefolio.portfolio.context import Universe

if TYPE_CHECKING:
    from tradefolio.portfolio.model import PortfolioModel

#: Each probe's share of the user's time limit (`--time-limit`): at most two probes run
#: before the solve (is the tight floor reachable, else the most investable), so they add
#: at most 40% of it; 2 s each at the default 10 s (a knapsack of lots: milliseconds on
#: the sample, though proving its maximum can take the whole allowance).
PROBE_FRACTION = 0.2
#: The probes' seconds when no time limit is in scope (`floor_scope`): 0.2 of the
#: default 10 s.
PROBE_SECONDS = 2.0
#: The found maximum is lowered by the solvers' feasibility tolerance before it is a row
#: bound, so the point that reached it (exact lots) meets the row again.
PROBE_SLACK = 1e-6


@dataclass(slots=True)
class FloorScope:
    """The probes' time limit within a solve, and the default floors chosen in it (one per
    model and universe asked: `default_min_invested`, so a caller can report them)."""

    time_limit: float | None = None
    chosen: list[float] = field(default_factory=list)

    @property
    def probe_seconds(self) -> float:
        """Seconds for one probe: `PROBE_FRACTION` of the time limit (`PROBE_SECONDS`
        without one)."""
        if self.time_limit is None:
            return PROBE_SECONDS
        return PROBE_FRACTION * self.time_limit


_SCOPE: ContextVar[FloorScope | None] = ContextVar("invested_floor_scope", default=None)


@contextmanager
def floor_scope(time_limit: float | None) -> Iterator[FloorScope]:
    """Within the block the probes follow `time_limit` (the user's `--time-limit`: each
    gets `PROBE_FRACTION` of it) and the floors chosen are collected in the scope yielded.
    A scope inside another keeps collecting into the outer one's list."""
    outer = _SCOPE.get()
    scope = FloorScope(time_limit, outer.chosen if outer is not None else [])
    token = _SCOPE.set(scope)
    try:
        yield scope
    finally:
        _SCOPE.reset(token)


def probe_seconds() -> float:
    """Seconds for one probe in the current `floor_scope` (`PROBE_SECONDS` outside one)."""
    scope = _SCOPE.get()
    return PROBE_SECONDS if scope is None else scope.probe_seconds


def cost_allowance(model: PortfolioModel, universe: Universe) -> float:
    """The worst-case costs c of any trades from the holdings (fraction of the account)."""
    traded = 1.0 + float(universe.initial_weights.sum()) + universe.forced_sell_weight
    names = 2 * universe.size + len(universe.outside)
    return sum(
        c.bps / 1e4 * traded + c.fixed * names / universe.value
        for c in model.constraints
        if isinstance(c, TransactionCosts)
    )


def lot_values(shares: WholeShares, universe: Universe) -> NDArray[np.float64]:
    """lot_i p_i / V per candidate: one lot of each, as a fraction of the account."""
    lots = np.array([shares.lot_of(s) for s in universe.symbols], dtype=np.float64)
    values: NDArray[np.float64] = lots * np.asarray(universe.prices, dtype=np.float64)
    return values / universe.value


def max_positions(model: PortfolioModel, universe: Universe) -> int:
    """K: the cardinality cap, or the number of candidates."""
    caps = [c.max_positions for c in model.constraints if isinstance(c, Cardinality)]
    return min([universe.size, *caps])


def loose_floor(model: PortfolioModel, universe: Universe) -> float:
    """1 - K lots of the dearest name - c (1 - c with fractional shares)."""
    allowance = cost_allowance(model, universe)
    shares = model.whole_shares
    if shares is not None:
        allowance += max_positions(model, universe) * float(lot_values(shares, universe).max())
    return max(0.0, 1.0 - allowance)


def tight_floor(model: PortfolioModel, universe: Universe) -> float:
    """1 - one lot of the cheapest name - c."""
    allowance = cost_allowance(model, universe)
    shares = model.whole_shares
    if shares is not None:
        allowance += float(lot_values(shares, universe).min())
    return max(0.0, 1.0 - allowance)


def _probe(model: PortfolioModel, universe: Universe, floor: float | None) -> float | None:
    """sum_i w_i of a point meeting the model's own rows (its objective's, e.g. a
    `--min-return` floor, and every constraint's) with no investment floor but `floor`:
    with `floor` any such point (a feasibility problem, no objective), without it the
    most-invested one found; None when the solve finds no point (infeasible, or nothing
    within its time)."""
    explicit = Budget(0.0 if floor is None else floor, 1.0)
    probe = type(model)(model.objective, [*model.constraints, explicit])
    ctx = probe.build(universe)
    program = ctx.program
    program.quadratic = {}
    program.linear = {} if floor is not None else {w: 1.0 for w in ctx.weights}
    program.constant = 0.0
    program.maximize = True
    try:
        raw = solve_program(program, "auto", probe_seconds())
    except TradefolioError:
        return None
    return float(raw.values[ctx.weights].sum())


def most_investable(model: PortfolioModel, universe: Universe) -> float | None:
    """M: the most any point of the model's own rows invests (the best found)."""
    return _probe(model, universe, None)


def default_min_invested(model: PortfolioModel, universe: Universe) -> float:
    """The floor min(tight, max(loose, M)) of the module docstring (loose = tight without
    whole shares: 1 - c). Whether tight is reachable is a feasibility problem first (a
    solver stops at its first point; proving the maximum of a knapsack of lots of 100 took
    CBC its whole 2 s on the sample); M is solved for only when it is not."""
    floor = _default_floor(model, universe)
    scope = _SCOPE.get()
    if scope is not None:
        scope.chosen.append(floor)
    return floor


def _default_floor(model: PortfolioModel, universe: Universe) -> float:
    if universe.size == 0:
        return 0.0
    loose = loose_floor(model, universe)
    tight = tight_floor(model, universe)
    if tight <= loose:
        return loose
    if _probe(model, universe, tight) is not None:
        return tight
    reachable = most_investable(model, universe)
    if reachable is None:
        return loose
    return min(tight, max(loose, reachable - PROBE_SLACK))


__all__ = [
    "PROBE_FRACTION",
    "FloorScope",
    "cost_allowance",
    "default_min_invested",
    "floor_scope",
    "loose_floor",
    "lot_values",
    "most_investable",
    "probe_seconds",
    "tight_floor",
]
