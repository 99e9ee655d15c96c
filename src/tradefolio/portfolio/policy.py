"""The allocation policy: the whole composable model, run on an account at one decision bar.

`backtest --portfolio`, `live --portfolio` and `sweep` with any model option (an objective,
a sector cap, turnover, costs, a minimum trade, whole shares, ...) call
`AllocationPolicy.decide` at every rebalance bar with

- the closes up to and including the decision bar (nothing later: scores and risk read
  only the tail of this history),
- the account's *current* holdings (shares) and cash,

and get back a `RebalanceDecision`: the target shares the solver proved (the trades are
target - held, so turnover caps, trading costs, minimum trades and whole shares act on the
real trades), the target weights, and the record of the solve (solver, status, objective,
bound, gap, expected turnover and costs, seconds).

The solve is exactly `tradefolio allocate --holdings` on the same data: the candidates are
the factor's scores at the last close (`score_universe`'s, computed by `score_history`
from the decision's `PriceHistory` array), `capital` is the cash, held symbols are priced
at their last close, the model is `portfolio.build.build_model` (risk from the same array:
the same bits as from the `DataFrame`, `tests/unit/portfolio/test_history.py`). One
deviation, only where `allocate` would refuse the date: a candidate with a missing close
inside the risk window is left out (`allocate` raises `DataError` for it).

The user's one-date risk and return files of `allocate` (`--covariance-file`, a factor
model, `--expected-returns`) are refused with the reason (`ONE_DATE_INPUTS`, docs/model.md).

A rebalance that cannot be solved (infeasible, time limit without an incumbent, solver
error) is never silent: with `on_failure="hold"` the decision keeps the current holdings
and says why (`failed`); with `"stop"` it raises `RebalanceFailed` naming the date.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Literal

import pandas as pd

from tradefolio.errors import (
    InfeasibleAllocation,
    InvalidParameter,
    MissingExtra,
    RebalanceFailed,
    SolverError,
    SolverUnavailable,
    SolverUnsuited,
)
from tradefolio.portfolio.build import build_model, default_sectors, model_candidates
from tradefolio.portfolio.context import make_universe
from tradefolio.portfolio.history import PriceHistory
from tradefolio.portfolio.options import FAILURE_POLICIES, AllocateOptions
from tradefolio.portfolio.scoring import DEFAULT_LOOKBACK, FACTORS, score_history
from tradefolio.portfolio.types import Candidate

FailurePolicy = Literal["hold", "stop"]
#: Why a rebalancing run refuses allocate's one-date inputs (the policy and the CLI say it).
#: One file would be the same Σ / μ at every decision of a run (33 years of the sample):
#: stale for most of them and, estimated over the run's own period, a look-ahead no test
#: can catch; the run estimates them at each decision bar from the prices up to it.
ONE_DATE_INPUTS = (
    "--covariance-file, a factor model (--factor-loadings ...) and --expected-returns are one "
    "date's estimates, so a rebalancing run does not take them: one file would be the same "
    "risk at every decision (and look ahead if estimated over the run's own period); the run "
    "estimates risk at each decision bar from the prices up to it (--covariance "
    "sample|ledoit-wolf, --risk-lookback)"
)
#: `RebalanceDecision.status` of a rebalance the solver could not answer.
FAILED_STATUSES = frozenset({"infeasible", "error"})


@dataclass(frozen=True, slots=True)
class RebalanceDecision:
    """One rebalance: what the solver proved, and the targets the engine trades to.

    `target_shares` lists every name to hold (a held name not listed is sold); on a failed
    rebalance it is the current holdings (`hold`). `status` is the solver's (`optimal`,
    `feasible` = an incumbent not proven within the gap) or `infeasible` / `error`.
    `objective`, `best_bound` and `gap` are NaN when nothing was solved.
    """

    day: date
    status: str
    solver: str
    objective: float
    best_bound: float
    gap: float
    target_shares: Mapping[str, float]
    weights: Mapping[str, float]
    expected_turnover: float
    expected_costs: float
    capital: float
    seconds: float
    message: str = ""
    prices: Mapping[str, float] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        """Whether the solver gave no answer (the positions were held)."""
        return self.status in FAILED_STATUSES

    @property
    def proven(self) -> bool:
        """Whether the solver proved the answer optimal within its gap."""
        return self.status == "optimal"

    @property
    def names(self) -> int:
        """Names held in the target."""
        return sum(1 for shares in self.target_shares.values() if shares > 0)


@dataclass(frozen=True, slots=True)
class AllocationPolicy:
    """`AllocateOptions` (the model), the scoring factor, sectors and the failure policy.

    `options.capital` is ignored: each decision's capital is the account's cash.
    """

    options: AllocateOptions
    sectors: Mapping[str, str] | None = None
    on_failure: FailurePolicy = "hold"

    def __post_init__(self) -> None:
        options = self.options
        options.validate()
        if options.factor not in FACTORS:
            raise InvalidParameter(
                f"--factor must be one of {', '.join(FACTORS)} for a rebalancing portfolio "
                f"(scores at each decision bar), got {options.factor!r}"
            )
        if options.own_risk or options.expected_returns is not None:
            raise InvalidParameter(ONE_DATE_INPUTS)
        if options.sector_cap is not None and self.sectors is None:
            # read once, not at every rebalance (the bundled table is a CSV)
            object.__setattr__(self, "sectors", default_sectors())
        if self.on_failure not in FAILURE_POLICIES:
            raise InvalidParameter(
                f"--on-solver-failure must be one of {', '.join(FAILURE_POLICIES)}, "
                f"got {self.on_failure!r}"
            )

    @property
    def window(self) -> int:
        """Sessions of history the first decision needs: the score's lookback + 1 closes,
        and the risk lookback + 1 when the objective estimates risk or scenarios."""
        options = self.options
        lookback = (
            DEFAULT_LOOKBACK[options.factor] if options.lookback is None else options.lookback
        )
        needed = lookback + 1
        if options.needs_history:
            needed = max(needed, options.risk_lookback + 1)
        return needed

    def candidates(self, history: pd.DataFrame | PriceHistory) -> list[Candidate]:
        """The factor's candidates at the last row of `history` (risk window complete)."""
        options = self.options
        closes = history if isinstance(history, PriceHistory) else PriceHistory.of(history)
        scored = score_history(closes, options.factor, options.lookback)
        if options.needs_history:
            complete = closes.complete(options.risk_lookback + 1)
            scored = [c for c in scored if c.symbol in complete]
        return model_candidates(options, scored)

    def decide(
        self,
        history: pd.DataFrame | PriceHistory,
        holdings: Mapping[str, float],
        cash: float,
    ) -> RebalanceDecision:
        """Solve the model on `history` (closes up to the decision bar) for the account.

        A backtest passes a `PriceHistory` view of its panel (no pandas per decision), a
        live session its `DataFrame` window: the same decision either way.
        Raises `RebalanceFailed` for an unsolvable rebalance with `on_failure="stop"`.
        """
        options = self.options
        if not isinstance(history, PriceHistory):
            history = PriceHistory.of(history)
        day = history.dates[-1].date()
        started = time.perf_counter()
        held = {s: float(q) for s, q in holdings.items() if q}
        # a held name without a close today: its last one
        held_prices = history.last_closes(held)
        candidates = self.candidates(history)
        try:
            universe = make_universe(
                candidates,
                max(cash, 0.0),
                held,
                held_prices,
                keep_non_positive=options.objective != "score",
            )
            model = build_model(options, universe.symbols, history, self.sectors)
            result = model.solve(
                universe,
                solver=options.solver or "auto",
                time_limit=options.time_limit,
                fractional=options.fractional,
            )
        except (MissingExtra, SolverUnsuited):
            raise  # no solver installed, or the user's can't solve it: say so once
        except (InfeasibleAllocation, SolverError, SolverUnavailable) as exc:
            # SolverUnavailable here is a solver that failed on this one model (MathOpt's
            # status errors), not a missing package
            status = "infeasible" if isinstance(exc, InfeasibleAllocation) else "error"
            message = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
            if self.on_failure == "stop":
                raise RebalanceFailed(
                    f"rebalance of {day} not solved ({status}: {message}); "
                    "--on-solver-failure hold keeps the positions instead"
                ) from exc
            value = max(cash, 0.0) + sum(q * held_prices.get(s, 0.0) for s, q in held.items())
            return RebalanceDecision(
                day=day,
                status=status,
                solver=options.solver or "auto",
                objective=math.nan,
                best_bound=math.nan,
                gap=math.nan,
                target_shares=dict(held),
                weights={
                    s: q * held_prices.get(s, 0.0) / value if value > 0 else 0.0
                    for s, q in held.items()
                },
                expected_turnover=0.0,
                expected_costs=0.0,
                capital=value,
                seconds=time.perf_counter() - started,
                message=message,
                prices=held_prices,
            )
        targets = {a.symbol: float(a.shares) for a in result.allocations if a.shares > 0}
        prices = {a.symbol: float(a.price) for a in result.allocations}
        prices.update({t.symbol: float(t.price) for t in result.trades})
        return RebalanceDecision(
            day=day,
            status=result.status,
            solver=result.solver,
            objective=float(result.objective),
            best_bound=float(result.best_bound),
            gap=float(result.gap),
            target_shares=targets,
            weights={a.symbol: float(a.weight) for a in result.allocations if a.weight > 0},
            expected_turnover=float(result.turnover),
            expected_costs=float(result.costs),
            capital=float(result.capital),
            seconds=time.perf_counter() - started,
            prices=prices,
        )

    def with_costs(self, bps: float, fixed: float) -> AllocationPolicy:
        """The same policy with the model's cost terms set to the trading core's."""
        return replace(self, options=replace(self.options, cost_bps=bps, fixed_cost=fixed))


def whole_targets(
    decision: RebalanceDecision,
    holdings: Mapping[str, float],
    min_trade: float | None = None,
) -> dict[str, int]:
    """The decision's targets as the whole units a ledger holds.

    Integer targets (whole shares inside the model) are returned as they are. Fractional
    ones (the relaxation) are rounded trade by trade *towards the holdings*, so no trade
    is larger than the model's: target = held + trunc(target - held); a trade rounded below
    `min_trade` dollars (at the decision price) is not made. Turnover and costs can only
    fall; cash can end below the model's by less than one share per sold name (the planner
    then cuts the buys, as it cuts any buy the cash cannot pay for).
    """
    targets: dict[str, int] = {}
    names = set(decision.target_shares) | {s for s, q in holdings.items() if q}
    for symbol in sorted(names):
        held = round(float(holdings.get(symbol, 0)))
        wanted = float(decision.target_shares.get(symbol, 0.0))
        if abs(wanted - round(wanted)) <= 1e-9:
            target = round(wanted)
        else:
            change = math.trunc(wanted - held)
            price = decision.prices.get(symbol, 0.0)
            if change and min_trade is not None and abs(change) * price < min_trade:
                change = 0
            target = held + change
        if target > 0:
            targets[symbol] = target
    return targets


__all__ = [
    "FAILED_STATUSES",
    "FAILURE_POLICIES",
    "ONE_DATE_INPUTS",
    "AllocationPolicy",
    "FailurePolicy",
    "RebalanceDecision",
    "RebalanceFailed",
    "whole_targets",
]
