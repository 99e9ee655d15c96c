"""The options of `allocate`, named and defaulted as the CLI's flags and checked once for all.

`tradefolio allocate --max-weight 0.1` and `tf.allocate(max_weight=0.1)` build the same
`AllocateOptions`; its defaults are the CLI's defaults (the score model's three come from
`AllocatorParams`), and `validate()` raises the `InvalidParameter` the CLI prints as its
one `error:` line (messages name the flag: `--max-weight` is the keyword `max_weight`).

No pandas and no solver here: the CLI reads these defaults when it builds its `--help`
(the factor and estimator names come from `portfolio/choices.py` for the same reason).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from tradefolio.errors import InvalidParameter
from tradefolio.portfolio.choices import ESTIMATORS, FACTORS
from tradefolio.portfolio.params import AllocatorParams

#: Objectives of the composable model (`--objective`).
OBJECTIVES: tuple[str, ...] = ("score", "mean-variance", "min-variance", "cvar", "mad", "kelly")
#: Objectives that need a price history (risk or scenarios).
NEEDS_HISTORY = frozenset({"mean-variance", "min-variance", "cvar", "mad", "kelly"})
#: `factor=` choices: the scoring factors, or `user` for `scores=`.
FACTOR_CHOICES: tuple[str, ...] = (*FACTORS, "user")
#: Largest `capital`: float64 dollars are exact to the cent below ~9e13.
MAX_CAPITAL = 1e12

SCORE_MODEL_DEFAULTS = AllocatorParams()
#: What a rebalancing portfolio does with a rebalance the solver cannot answer
#: (`--on-solver-failure`): keep the positions, or end the run.
FAILURE_POLICIES: tuple[str, ...] = ("hold", "stop")

#: The allocation model's options a `--portfolio` run takes (`allocate`'s flags, same names).
MODEL_FIELDS: tuple[str, ...] = (
    "objective",
    "risk_aversion",
    "min_return",
    "cvar_alpha",
    "covariance",
    "risk_lookback",
    "sector_cap",
    "max_turnover",
    "fixed_cost",
    "cost_bps",
    "cost_budget",
    "min_trade",
    "whole_shares",
    "lot",
    "min_invested",
    "time_limit",
)


def require(condition: bool, message: str) -> None:
    """Raise `InvalidParameter(message)` unless `condition` holds (the check of one option)."""
    if not condition:
        raise InvalidParameter(message)


def check_fraction(flag: str, value: float, *, allow_zero: bool = False) -> None:
    """`value` must lie in (0, 1] (or [0, 1] with `allow_zero`)."""
    low_ok = value >= 0 if allow_zero else value > 0
    interval = "[0, 1]" if allow_zero else "(0, 1]"
    require(
        math.isfinite(value) and low_ok and value <= 1,
        f"{flag} must be in {interval}, got {value:g}",
    )


def check_positive(flag: str, value: float) -> None:
    """`value` must be a finite number > 0."""
    require(math.isfinite(value) and value > 0, f"{flag} must be > 0, got {value:g}")


@dataclass(frozen=True, slots=True, eq=False)
class AllocateOptions:
    """Every option of `allocate` but its inputs (prices, candidates, scores, sectors,
    holdings, covariance), with the CLI's defaults.

    The score model (score objective, position limits, cardinality) is solved unless a
    composable-model option is used (`uses_model`): an objective other than `score`, a
    sector cap, holdings, turnover, costs, a minimum trade, whole shares, a minimum invested
    fraction, a return floor, or a sectors table or covariance matrix given.
    """

    factor: str = "momentum"
    lookback: int | None = None
    capital: float = 100_000.0
    max_weight: float = SCORE_MODEL_DEFAULTS.max_weight
    min_weight: float = SCORE_MODEL_DEFAULTS.min_weight
    max_positions: int = SCORE_MODEL_DEFAULTS.max_positions
    fractional: bool = False
    solver: str | None = None
    time_limit: float = 10.0
    objective: str = "score"
    risk_aversion: float = 1.0
    min_return: float | None = None
    cvar_alpha: float = 0.95
    covariance: str = "ledoit-wolf"
    risk_lookback: int = 252
    sector_cap: float | None = None
    max_turnover: float | None = None
    fixed_cost: float = 0.0
    cost_bps: float = 0.0
    cost_budget: float | None = None
    min_trade: float | None = None
    whole_shares: bool = False
    lot: int = 1
    min_invested: float | None = None
    expected_returns: Path | None = None
    covariance_file: Path | None = None
    factor_loadings: Path | None = None
    factor_covariance: Path | None = None
    specific_variance: Path | None = None
    bounds: Path | None = None

    @property
    def factor_files(self) -> tuple[Path | None, Path | None, Path | None]:
        """`factor_loadings`, `factor_covariance`, `specific_variance` (Σ = B F B' + diag)."""
        return (self.factor_loadings, self.factor_covariance, self.specific_variance)

    @property
    def own_risk(self) -> bool:
        """Whether the user brings the covariance (a matrix file or a factor model)."""
        return self.covariance_file is not None or any(f is not None for f in self.factor_files)

    @property
    def params(self) -> AllocatorParams:
        """The score model's parameters (validated again by `AllocatorParams`)."""
        return AllocatorParams(
            max_weight=self.max_weight,
            min_weight=self.min_weight,
            max_positions=self.max_positions,
        )

    @property
    def needs_history(self) -> bool:
        """Whether the objective needs a price history (risk or scenarios)."""
        return self.objective in NEEDS_HISTORY and not self.own_risk

    def uses_model(self, *, sectors: bool = False, holdings: bool = False) -> bool:
        """Whether the composable model runs (see the class docstring); `sectors` /
        `holdings`: whether a sectors table / holdings were given."""
        return (
            self.objective != "score"
            or sectors
            or holdings
            or any(
                value is not None
                for value in (
                    self.min_return,
                    self.sector_cap,
                    self.max_turnover,
                    self.cost_budget,
                    self.min_trade,
                    self.min_invested,
                    self.expected_returns,
                    self.covariance_file,
                    self.factor_loadings,
                    self.bounds,
                )
            )
            or self.fixed_cost != 0
            or self.cost_bps != 0
            or self.whole_shares
        )

    def validate(self) -> None:
        """The first bad option as one `InvalidParameter`, in the CLI's order."""
        check_fraction("--max-weight", self.max_weight)
        check_fraction("--min-weight", self.min_weight, allow_zero=True)
        require(
            self.min_weight <= self.max_weight,
            f"--min-weight ({self.min_weight:g}) must not exceed --max-weight "
            f"({self.max_weight:g})",
        )
        require(self.max_positions >= 1, f"--max-positions must be >= 1, got {self.max_positions}")
        require(  # with holdings, capital is the account's cash: 0 for a fully invested one
            math.isfinite(self.capital) and self.capital >= 0,
            f"--capital must be >= 0 (the cash beside --holdings; > 0 without), "
            f"got {self.capital:g}",
        )
        require(
            self.capital <= MAX_CAPITAL,
            f"--capital must be at most {MAX_CAPITAL:,.0f} (dollars stay exact to the cent "
            f"below it), got {self.capital:g}",
        )
        check_positive("--time-limit", self.time_limit)
        self._validate_model()

    def validate_cash(self, *, holdings: bool) -> None:
        """Without holdings the whole account is `capital` in cash: it must be > 0 (with
        them, 0 is a fully invested account)."""
        require(
            holdings or self.capital > 0,
            f"--capital must be > 0 without --holdings (the whole account is cash), "
            f"got {self.capital:g}",
        )

    def validate_score_model(self, solvers: tuple[str, ...], factors: tuple[str, ...]) -> None:
        """The checks of the score model's path: cash, solver, factor and lookback."""
        self.validate_cash(holdings=False)  # holdings select the composable model
        solver = self.solver or "cbc"
        require(
            solver.lower() in solvers,
            f"--solver must be one of {', '.join(solvers)}, got {solver!r}",
        )
        require(
            self.factor in factors,
            f"--factor must be one of {', '.join(factors)}, got {self.factor!r}",
        )
        require(
            self.lookback is None or self.lookback >= 2,
            f"--lookback must be >= 2 sessions, got {self.lookback}",
        )

    def _validate_model(self) -> None:
        require(
            self.objective in OBJECTIVES,
            f"--objective must be one of {', '.join(OBJECTIVES)}, got {self.objective!r}",
        )
        require(
            math.isfinite(self.risk_aversion) and self.risk_aversion >= 0,
            f"--risk-aversion must be >= 0, got {self.risk_aversion:g}",
        )
        require(
            math.isfinite(self.cvar_alpha) and 0 < self.cvar_alpha < 1,
            f"--cvar-alpha must be in (0, 1), got {self.cvar_alpha:g}",
        )
        require(
            self.covariance in ESTIMATORS,
            f"--covariance must be one of {', '.join(ESTIMATORS)}, got {self.covariance!r}",
        )
        require(self.risk_lookback >= 2, f"--risk-lookback must be >= 2, got {self.risk_lookback}")
        if self.sector_cap is not None:
            check_fraction("--sector-cap", self.sector_cap)
        if self.min_invested is not None:
            check_fraction("--min-invested", self.min_invested, allow_zero=True)
        for flag, value in (
            ("--max-turnover", self.max_turnover),
            ("--fixed-cost", self.fixed_cost),
            ("--cost-bps", self.cost_bps),
            ("--cost-budget", self.cost_budget),
        ):
            require(
                value is None or (math.isfinite(value) and value >= 0),
                f"{flag} must be >= 0, got {value}",
            )
        require(
            self.min_trade is None or (math.isfinite(self.min_trade) and self.min_trade > 0),
            f"--min-trade must be > 0 dollars, got {self.min_trade}",
        )
        require(self.lot >= 1, f"--lot must be >= 1, got {self.lot}")
        # contradictions, refused as unused options are: whole shares used to win silently
        require(
            not (self.fractional and self.whole_shares),
            "--fractional and --whole-shares contradict each other (fractional shares are "
            "not whole ones): pass one",
        )
        require(
            not (self.fractional and self.lot != 1),
            f"--lot {self.lot} contradicts --fractional (a lot is a whole number of shares): "
            "drop one",
        )
        require(
            self.min_return is None or math.isfinite(self.min_return),
            f"--min-return must be a finite number, got {self.min_return}",
        )
        self._validate_risk_files()
        self.refuse_unused()

    def refuse_unused(self) -> None:
        """An option the chosen model never reads, given a value other than its default,
        is refused rather than silently ignored (`--cvar-alpha 0.5` with mean-variance
        would change nothing). Defaults pass: a value equal to the default changes
        nothing whether it is read or not."""
        objective = self.objective
        estimates = objective in ("mean-variance", "min-variance") and not self.own_risk
        scenarios = objective in ("cvar", "mad", "kelly")
        risk_file = "--covariance-file" if self.covariance_file else "the factor model"
        unused = (
            (
                "risk_aversion",
                objective == "mean-variance",
                f"it is λ of --objective mean-variance, not {objective}: drop it",
            ),
            (
                "min_return",
                objective in ("min-variance", "cvar", "mad"),
                f"it is the return floor of --objective min-variance, cvar or mad, not "
                f"{objective}: drop it",
            ),
            (
                "cvar_alpha",
                objective == "cvar",
                f"it is the confidence level of --objective cvar, not {objective}: drop it",
            ),
            (
                "covariance",
                estimates,
                f"{risk_file} is the risk model: drop it"
                if self.own_risk
                else f"it estimates the risk of --objective mean-variance or min-variance, "
                f"not {objective}: drop it",
            ),
            (
                "risk_lookback",
                estimates or scenarios,
                f"{risk_file} is the risk model: drop it"
                if self.own_risk
                else "it is the price history of a risk objective (mean-variance, "
                f"min-variance, cvar, mad, kelly), not {objective}: drop it",
            ),
            (
                "lot",
                self.whole_shares,
                "it is the lot size of --whole-shares: add --whole-shares or drop it",
            ),
        )
        for name, used, reason in unused:
            value = getattr(self, name)
            if not used and value != getattr(_DEFAULTS, name):
                shown = f"{value:g}" if isinstance(value, float) else str(value)
                raise InvalidParameter(f"--{name.replace('_', '-')} {shown} is not used: {reason}")

    def _validate_risk_files(self) -> None:
        """A factor model is three files together, one risk model at a time, and the
        user's risk or expected returns only for the quadratic objectives."""
        factor_flags = ("--factor-loadings", "--factor-covariance", "--specific-variance")
        given = [flag for flag, f in zip(factor_flags, self.factor_files, strict=True) if f]
        require(
            not given or len(given) == 3,
            f"a factor model needs {', '.join(factor_flags)} together; missing "
            f"{', '.join(f for f in factor_flags if f not in given)}",
        )
        require(
            not (given and self.covariance_file is not None),
            "--covariance-file and a factor model (--factor-loadings ...) are two risk models; "
            "pass one",
        )
        quadratic = self.objective in ("mean-variance", "min-variance")
        for flag, path in (
            ("--covariance-file", self.covariance_file),
            ("--factor-loadings", self.factor_loadings),
            ("--expected-returns", self.expected_returns),
        ):
            require(
                path is None or quadratic,
                f"{flag} is used by --objective mean-variance or min-variance, "
                f"not {self.objective}",
            )

    def as_dict(self) -> dict[str, Any]:
        """Option name -> value (for a record of what was asked)."""
        return {field.name: getattr(self, field.name) for field in fields(self)}


#: The defaults of every `allocate` option (the CLI's `--help` shows these).
ALLOCATE_DEFAULTS = AllocateOptions()
_DEFAULTS = ALLOCATE_DEFAULTS

__all__ = [
    "ALLOCATE_DEFAULTS",
    "ESTIMATORS",
    "FACTOR_CHOICES",
    "FAILURE_POLICIES",
    "MAX_CAPITAL",
    "MODEL_FIELDS",
    "NEEDS_HISTORY",
    "OBJECTIVES",
    "AllocateOptions",
    "check_fraction",
    "check_positive",
    "require",
]
