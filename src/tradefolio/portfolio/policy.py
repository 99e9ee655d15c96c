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

`ScorePolicy` is the seed's score model (`--portfolio` with none of the model's options)
as the same kind of policy: `allocate(candidates, 1, params)` at each decision, exactly
`tradefolio allocate` on the same date's data, its weights traded as every
`Rebalance(weights)` is (sized on the account's equity at the fill bar); the same
`RebalanceDecision` records it, so every `--portfolio` run writes the same record.

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
from typing import Literal, Protocol

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
from tradefolio.portfolio.allocator import SOLVERS, allocate
from tradefolio.portfolio.build import build_model, default_sectors, model_candidates
from tradefolio.portfolio.context import make_universe
from tradefolio.portfolio.covariance import check_risk_window
from tradefolio.portfolio.history import PriceHistory
from tradefolio.portfolio.options import FAILURE_POLICIES, AllocateOptions
from tradefolio.portfolio.scoring import (
    DEFAULT_LOOKBACK,
    FACTORS,
    check_score_window,
    score_history,
)
from tradefolio.portfolio.types import AllocationResult, Candidate

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

    `sized_at_fill`: the targets are `weights` of the account's equity at the fill bar
    (the score model's `ScorePolicy`, traded as every `Rebalance(weights)` is);
    `target_shares` are then what those weights meant at the decision close, the trades
    `expected_turnover` and `expected_costs` price. Otherwise `target_shares` are the
    exact units to trade to (the allocation model's proven answer).
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
    sized_at_fill: bool = False

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


#: The solver failures a rebalance survives under `--on-solver-failure hold`
#: (SolverUnavailable here is a solver that failed on this one model, MathOpt's status
#: errors, not a missing package: `MissingExtra` and `SolverUnsuited` are re-raised first).
UNSOLVED = (InfeasibleAllocation, SolverError, SolverUnavailable)


def history_window(options: AllocateOptions) -> int:
    """Sessions of history a policy's first decision needs: the score's lookback + 1
    closes, and the risk lookback + 1 when the objective estimates risk or scenarios."""
    lookback = DEFAULT_LOOKBACK[options.factor] if options.lookback is None else options.lookback
    needed = lookback + 1
    if options.needs_history:
        needed = max(needed, options.risk_lookback + 1)
    return needed


def check_history(options: AllocateOptions, sessions: int) -> None:
    """Refuse, before the first bar, a run whose `sessions` closes cannot hold the first
    decision's window (`history_window`): the `DataError` `allocate` gives on the same
    history and options, in its words (the score's lookback first, then the risk
    lookback when the objective estimates risk or scenarios), not a run that never
    rebalances and trades nothing."""
    check_score_window(options.factor, options.lookback, sessions)
    if options.needs_history:
        check_risk_window(options.risk_lookback, sessions)


def check_failure_policy(on_failure: str) -> None:
    """`--on-solver-failure` is one of `FAILURE_POLICIES` (`InvalidParameter`)."""
    if on_failure not in FAILURE_POLICIES:
        raise InvalidParameter(
            f"--on-solver-failure must be one of {', '.join(FAILURE_POLICIES)}, got {on_failure!r}"
        )


@dataclass(frozen=True, slots=True)
class _Account:
    """The account at one decision: holdings (shares) at their last closes, and cash."""

    day: date
    held: Mapping[str, float]
    prices: Mapping[str, float]
    cash: float
    started: float

    @classmethod
    def of(cls, history: PriceHistory, holdings: Mapping[str, float], cash: float) -> _Account:
        """The account at `history`'s last row (a held name without a close today: its
        last one); the decision's clock starts here."""
        started = time.perf_counter()
        held = {s: float(q) for s, q in holdings.items() if q}
        return cls(history.last_day, held, history.last_closes(held), cash, started)

    @property
    def value(self) -> float:
        """V = cash + Σ held · last close (negative cash counts as 0, as the model's)."""
        return max(self.cash, 0.0) + sum(q * self.prices.get(s, 0.0) for s, q in self.held.items())

    def solved(
        self,
        result: AllocationResult,
        targets: Mapping[str, float],
        weights: Mapping[str, float],
        turnover: float,
        costs: float,
        capital: float,
        prices: Mapping[str, float],
        *,
        sized_at_fill: bool = False,
    ) -> RebalanceDecision:
        """The decision of a solved rebalance: the solver's claim (status, objective, bound,
        gap) of `result` and the targets, expected turnover and costs of the policy."""
        return RebalanceDecision(
            day=self.day,
            status=result.status,
            solver=result.solver,
            objective=float(result.objective),
            best_bound=float(result.best_bound),
            gap=float(result.gap),
            target_shares=dict(targets),
            weights=dict(weights),
            expected_turnover=turnover,
            expected_costs=costs,
            capital=capital,
            seconds=time.perf_counter() - self.started,
            prices=dict(prices),
            sized_at_fill=sized_at_fill,
        )

    def unsolved(self, exc: Exception, solver: str, on_failure: str) -> RebalanceDecision:
        """The decision of a rebalance the solver could not answer: the holdings kept
        (`hold`), or `RebalanceFailed` naming the date (`stop`)."""
        status = "infeasible" if isinstance(exc, InfeasibleAllocation) else "error"
        message = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        if on_failure == "stop":
            raise RebalanceFailed(
                f"rebalance of {self.day} not solved ({status}: {message}); "
                "--on-solver-failure hold keeps the positions instead"
            ) from exc
        value = self.value
        return RebalanceDecision(
            day=self.day,
            status=status,
            solver=solver,
            objective=math.nan,
            best_bound=math.nan,
            gap=math.nan,
            target_shares=dict(self.held),
            weights={
                s: q * self.prices.get(s, 0.0) / value if value > 0 else 0.0
                for s, q in self.held.items()
            },
            expected_turnover=0.0,
            expected_costs=0.0,
            capital=value,
            seconds=time.perf_counter() - self.started,
            message=message,
            prices=dict(self.prices),
        )


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
        check_failure_policy(self.on_failure)

    @property
    def window(self) -> int:
        """Sessions of history the first decision needs: the score's lookback + 1 closes,
        and the risk lookback + 1 when the objective estimates risk or scenarios."""
        return history_window(self.options)

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
        account = _Account.of(history, holdings, cash)
        candidates = self.candidates(history)
        try:
            universe = make_universe(
                candidates,
                max(cash, 0.0),
                account.held,
                account.prices,
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
        except UNSOLVED as exc:
            return account.unsolved(exc, options.solver or "auto", self.on_failure)
        targets = {a.symbol: float(a.shares) for a in result.allocations if a.shares > 0}
        prices = {a.symbol: float(a.price) for a in result.allocations}
        prices.update({t.symbol: float(t.price) for t in result.trades})
        weights = {a.symbol: float(a.weight) for a in result.allocations if a.weight > 0}
        return account.solved(
            result,
            targets,
            weights,
            float(result.turnover),
            float(result.costs),
            float(result.capital),
            prices,
        )

    def with_costs(self, bps: float, fixed: float) -> AllocationPolicy:
        """The same policy with the model's cost terms set to the trading core's."""
        return replace(self, options=replace(self.options, cost_bps=bps, fixed_cost=fixed))


class TradeCosts(Protocol):
    """What a trade of `quantity` units at reference `price` is expected to pay, in dollars
    (commission and slippage): the trading core's cost model, handed in from above
    (`execution.costs.CostModel.expected_cost`; this area cannot import it)."""

    def expected_cost(self, side: Literal["buy", "sell"], quantity: int, price: float) -> float:
        """Dollars paid to trade `quantity` (> 0) of a name at `price`."""
        ...


class RebalancePolicy(Protocol):
    """What a rebalancing run asks of its policy (`AllocationPolicy`, `ScorePolicy`):
    the options (its minimum trade), the history its first decision needs, and one
    `RebalanceDecision` per rebalance bar on the account as it stands."""

    @property
    def options(self) -> AllocateOptions:
        """The model's options."""
        ...

    @property
    def window(self) -> int:
        """Sessions of history the first decision needs."""
        ...

    def decide(
        self,
        history: pd.DataFrame | PriceHistory,
        holdings: Mapping[str, float],
        cash: float,
    ) -> RebalanceDecision:
        """The decision at the last row of `history` for the account (holdings, cash)."""
        ...


@dataclass(frozen=True, slots=True)
class ScorePolicy:
    """The seed's score model as a rebalancing policy (`--portfolio` with no model option).

    At each decision: the factor's candidates at the last close (`score_history`) and
    `allocate(candidates, 1, options.params, solver, time_limit)`, exactly `tradefolio
    allocate` on the same date's data (the score model reads neither capital nor holdings:
    its weights are the same for any account). The weights are traded as every
    `Rebalance(weights)` is, sized on the account's equity at the fill bar
    (`sized_at_fill`), so the run's fills are the seed's. The record prices what the
    weights meant at the decision close on the account (holdings q, cash c, closes p):

        V = c + Σ q_j p_j,  target_j = floor(w_j V / p_j),
        expected_turnover = Σ |target_j - q_j| p_j / V,
        expected_costs = Σ costs.expected_cost(side_j, |target_j - q_j|, p_j)

    (0 without `costs`). A solve that fails is held or stops the run as
    `AllocationPolicy`'s does (`on_failure`).
    """

    options: AllocateOptions
    on_failure: FailurePolicy = "hold"
    costs: TradeCosts | None = None

    def __post_init__(self) -> None:
        options = self.options
        options.validate()
        options.validate_score_model(SOLVERS, FACTORS)
        if options.uses_model():
            raise InvalidParameter(
                "ScorePolicy solves the score model alone; the allocation model's options "
                "(an objective, costs, turnover, ...) are AllocationPolicy's"
            )
        check_failure_policy(self.on_failure)

    @property
    def window(self) -> int:
        """The score's lookback + 1 closes."""
        return history_window(self.options)

    def decide(
        self,
        history: pd.DataFrame | PriceHistory,
        holdings: Mapping[str, float],
        cash: float,
    ) -> RebalanceDecision:
        """The score model's weights at the last row of `history` (see the class).

        Raises `RebalanceFailed` for an unsolved rebalance with `on_failure="stop"`.
        """
        options = self.options
        if not isinstance(history, PriceHistory):
            history = PriceHistory.of(history)
        account = _Account.of(history, holdings, cash)
        held = account.held
        candidates = score_history(history, options.factor, options.lookback)
        solver = (options.solver or "cbc").lower()
        try:
            result = allocate(
                candidates, 1.0, options.params, solver=solver, time_limit=options.time_limit
            )
        except (MissingExtra, SolverUnsuited):
            raise
        except UNSOLVED as exc:
            return account.unsolved(exc, solver, self.on_failure)
        weights = {a.symbol: float(a.weight) for a in result.allocations if a.weight > 0}
        prices = dict(account.prices)
        prices.update({c.symbol: float(c.price) for c in candidates if c.symbol in weights})
        value = account.value
        targets = {
            s: float(math.floor(w * value / prices[s])) if value > 0 else 0.0
            for s, w in weights.items()
        }
        traded = 0.0
        costs = 0.0
        for symbol in sorted(set(targets) | set(held)):
            change = targets.get(symbol, 0.0) - held.get(symbol, 0.0)
            if not change:
                continue
            traded += abs(change) * prices[symbol]
            if self.costs is not None:
                side: Literal["buy", "sell"] = "buy" if change > 0 else "sell"
                costs += self.costs.expected_cost(side, round(abs(change)), prices[symbol])
        return account.solved(
            result,
            {s: q for s, q in targets.items() if q > 0},
            weights,
            traded / value if value > 0 else 0.0,
            costs,
            value,
            prices,
            sized_at_fill=True,
        )


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
    "RebalancePolicy",
    "ScorePolicy",
    "TradeCosts",
    "check_failure_policy",
    "check_history",
    "history_window",
    "whole_targets",
]
