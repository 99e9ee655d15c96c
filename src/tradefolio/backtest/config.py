"""`BacktestConfig`: one validated, frozen description of a backtest run.

The CLI builds it from options; run folders and parameter sweeps build it from files or
grids. Whatever builds it, `BacktestConfig.create(**fields)` validates everything up front
and raises `InvalidParameter` with a one-line message naming the option and the fix.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from tradefolio.backtest.strategies import parse_rebalance
from tradefolio.backtest.user_strategy import (
    is_user_spec,
    load_strategy_class,
    parse_params,
    split_params,
)
from tradefolio.errors import InvalidParameter
from tradefolio.portfolio.allocator import SOLVERS
from tradefolio.portfolio.backends import MODEL_SOLVERS
from tradefolio.portfolio.options import (
    ALLOCATE_DEFAULTS,
    FAILURE_POLICIES,
    MODEL_FIELDS,
    AllocateOptions,
)
from tradefolio.portfolio.scoring import DEFAULT_LOOKBACK, DEFAULT_SKIP, FACTORS

if TYPE_CHECKING:
    import pandas as pd

StrategyName = Literal["sma-cross", "momentum", "buy-and-hold"]
SizerName = Literal["risk", "weight", "beta"]
STRATEGIES: tuple[str, ...] = ("sma-cross", "momentum", "buy-and-hold")
#: The risk sizer's stop distance when `--stop-loss` is not given.
DEFAULT_STOP_LOSS = 0.05
SIZERS: tuple[str, ...] = ("risk", "weight", "beta")

#: Largest starting cash. The engine's curves count micro-dollars in 64-bit integers
#: (2**63 micro-dollars ~ 9.2e12 dollars); 1e10 leaves the account room to grow 900x.
MAX_CASH = 10_000_000_000.0
#: Largest price per unit: prices are micro-dollars in 64-bit integers and float64 signals,
#: exact below ~9e9 (2**53 micro-dollars); a bigger close is a broken file, not a stock.
MAX_PRICE = 1_000_000_000.0
#: Costs in basis points must stay below 100% of the traded value.
MAX_COST_BPS = 10_000.0

#: Option spelling (as the CLI shows it) of each field, for error messages.
_FLAG = {
    "strategy": "--strategy",
    "fast": "--fast",
    "slow": "--slow",
    "lookback": "--lookback",
    "max_positions": "--max-positions",
    "rebalance": "--rebalance",
    "factor": "--factor",
    "max_weight": "--max-weight",
    "min_weight": "--min-weight",
    "solver": "--solver",
    "sizer": "--sizer",
    "weight": "--weight",
    "risk_per_trade": "--risk-per-trade",
    "stop_loss": "--stop-loss",
    "take_profit": "--take-profit",
    "trailing_stop": "--trailing-stop",
    "no_stop": "--no-stop",
    "max_position": "--max-position",
    "beta_window": "--beta-window",
    "target_beta": "--target-beta",
    "cash": "--cash",
    "commission_bps": "--commission-bps",
    "commission_per_share": "--commission-per-share",
    "commission_min": "--commission-min",
    "slippage_bps": "--slippage-bps",
    "param": "--param",
    "portfolio": "--portfolio",
    "beta_sizing": "--beta-sizing",
    "on_solver_failure": "--on-solver-failure",
    "sectors": "--sectors",
}

_A = ALLOCATE_DEFAULTS

#: The options of the bundled strategies (and where they apply): ignored by a user's class.
_BUILTIN_OPTIONS = {
    "fast": "sma-cross",
    "slow": "sma-cross",
    "lookback": "momentum and --portfolio",
    "max_positions": "momentum and --portfolio",
    "rebalance": "momentum and --portfolio",
}


#: The options a `--portfolio` run never reads (it has no strategy, sizer or exits).
NOT_PORTFOLIO: tuple[str, ...] = (
    "strategy",
    "fast",
    "slow",
    "param",
    "sizer",
    "weight",
    "risk_per_trade",
    "stop_loss",
    "take_profit",
    "trailing_stop",
    "no_stop",
    "max_position",
    "beta_window",
    "target_beta",
)

#: What a pydantic error type means, in the words of a command-line option.
_PLAIN_WORDING = {
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "int_type": "must be a whole number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "finite_number": "must be a finite number",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "string_type": "must be text",
}


class BacktestConfig(BaseModel):
    """Strategy, sizing, capital and costs of one run (defaults = the CLI's defaults)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    strategy: str = "sma-cross"
    fast: int = 20
    slow: int = 50
    lookback: int | None = None
    max_positions: int = 5
    rebalance: str = "monthly"
    portfolio: bool = False
    factor: str = "momentum"
    max_weight: float = 0.25
    min_weight: float = 0.02
    solver: str = "cbc"
    sizer: SizerName = "risk"
    weight: float = 0.10
    risk_per_trade: float = 0.01
    stop_loss: float | None = None
    take_profit: float | None = None
    trailing_stop: float | None = None
    no_stop: bool = False
    max_position: float = 0.25
    beta_sizing: bool = False
    beta_window: int = 252
    target_beta: float = 1.0
    cash: float = 1_000_000.0
    commission_bps: float = 0.0
    commission_per_share: float = 0.0
    commission_min: float = 0.0
    slippage_bps: float = 0.0
    param: tuple[str, ...] | None = None
    # the allocation model of `--portfolio` (allocate's options; defaults are allocate's)
    objective: str = _A.objective
    risk_aversion: float = _A.risk_aversion
    min_return: float | None = _A.min_return
    cvar_alpha: float = _A.cvar_alpha
    covariance: str = _A.covariance
    risk_lookback: int = _A.risk_lookback
    sector_cap: float | None = _A.sector_cap
    max_turnover: float | None = _A.max_turnover
    fixed_cost: float = _A.fixed_cost
    cost_bps: float = _A.cost_bps
    cost_budget: float | None = _A.cost_budget
    min_trade: float | None = _A.min_trade
    whole_shares: bool = _A.whole_shares
    lot: int = _A.lot
    min_invested: float | None = _A.min_invested
    time_limit: float = _A.time_limit
    on_solver_failure: str = "hold"
    sectors: str | None = None

    @field_validator("strategy")
    @classmethod
    def _strategy(cls, value: str) -> str:
        if value not in STRATEGIES and not is_user_spec(value):
            raise ValueError(
                f"must be one of {', '.join(STRATEGIES)}, or a class of your own: "
                f"path/to/file.py:ClassName or package.module:ClassName; got {value!r}"
            )
        return value

    @field_validator("stop_loss", "trailing_stop")
    @classmethod
    def _exit_fraction(cls, value: float | None) -> float | None:
        if value is not None and not (math.isfinite(value) and 0 < value < 1):
            raise ValueError(f"must be in (0, 1), got {value:g}")
        return value

    @field_validator("take_profit")
    @classmethod
    def _take_profit(cls, value: float | None) -> float | None:
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ValueError(f"must be > 0 (a fraction above the fill), got {value:g}")
        return value

    @field_validator("weight", "risk_per_trade", "max_weight", "max_position")
    @classmethod
    def _fraction(cls, value: float) -> float:
        if not (math.isfinite(value) and 0 < value <= 1):
            raise ValueError(f"must be in (0, 1], got {value:g}")
        return value

    @field_validator("min_weight")
    @classmethod
    def _floor(cls, value: float) -> float:
        if not (math.isfinite(value) and 0 <= value <= 1):
            raise ValueError(f"must be in [0, 1], got {value:g}")
        return value

    @field_validator("commission_bps", "commission_per_share", "commission_min", "slippage_bps")
    @classmethod
    def _cost(cls, value: float) -> float:
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"must be a finite number >= 0, got {value:g}")
        return value

    @field_validator("commission_bps", "slippage_bps")
    @classmethod
    def _below_whole_price(cls, value: float) -> float:
        if value >= MAX_COST_BPS:
            raise ValueError(
                f"must be below {MAX_COST_BPS:,.0f} (100% of the traded value), got {value:g}"
            )
        return value

    @field_validator("cash")
    @classmethod
    def _ledger_cash(cls, value: float) -> float:
        if math.isfinite(value) and value > MAX_CASH:
            raise ValueError(
                f"must be at most {MAX_CASH:,.0f}: the ledger counts micro-dollars in 64-bit "
                f"integers (exact to 9.2e12 dollars, with room to grow), got {value:g}"
            )
        return value

    @field_validator("cash", "target_beta")
    @classmethod
    def _positive(cls, value: float) -> float:
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"must be > 0, got {value:g}")
        return value

    @field_validator("fast", "slow", "max_positions")
    @classmethod
    def _at_least_one(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"must be >= 1, got {value}")
        return value

    @field_validator("lookback", "beta_window")
    @classmethod
    def _window(cls, value: int | None) -> int | None:
        if value is not None and value < 2:
            raise ValueError(f"must be >= 2 sessions, got {value}")
        return value

    @field_validator("rebalance", mode="before")
    @classmethod
    def _sessions_as_text(cls, value: Any) -> Any:
        # `rebalance=20` in a sweep grid arrives as the number 20: the same as --rebalance 20
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("rebalance")
    @classmethod
    def _rebalance(cls, value: str) -> str:
        try:
            return str(parse_rebalance(value))
        except InvalidParameter as exc:
            raise ValueError(str(exc)) from exc

    @field_validator("factor")
    @classmethod
    def _factor(cls, value: str) -> str:
        if value not in FACTORS:
            raise ValueError(f"must be one of {', '.join(FACTORS)}, got {value!r}")
        return value

    @field_validator("solver")
    @classmethod
    def _solver(cls, value: str) -> str:
        choices = (*SOLVERS, *(s for s in MODEL_SOLVERS if s not in SOLVERS))
        if value.lower() not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, got {value!r}")
        return value.lower()

    @field_validator("on_solver_failure")
    @classmethod
    def _failure_policy(cls, value: str) -> str:
        if value not in FAILURE_POLICIES:
            raise ValueError(f"must be one of {', '.join(FAILURE_POLICIES)}, got {value!r}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> BacktestConfig:
        if is_user_spec(self.strategy):
            self._refuse_builtin_options()
            self.strategy_params  # noqa: B018 (loads the class and checks every --param)
        elif self.param:
            raise ValueError(
                f"--param sets a parameter of your own strategy class; {self.strategy} takes "
                "its options (--fast, --slow, ...)"
            )
        if self.strategy == "sma-cross" and self.fast >= self.slow:
            raise ValueError(f"--fast ({self.fast}) must be shorter than --slow ({self.slow})")
        if self.min_weight > self.max_weight:
            raise ValueError(
                f"--min-weight ({self.min_weight:g}) must not exceed --max-weight "
                f"({self.max_weight:g})"
            )
        momentum = self.factor == "momentum" if self.portfolio else self.strategy == "momentum"
        if momentum and self.lookback is not None and self.lookback <= DEFAULT_SKIP:
            raise ValueError(
                f"--lookback must be > {DEFAULT_SKIP} sessions for momentum (it skips the "
                f"latest {DEFAULT_SKIP}), got {self.lookback}"
            )
        self._check_model()
        if self.portfolio and self.beta_sizing:
            raise ValueError(
                "--beta-sizing sizes entries; --portfolio trades to the allocator's weights: "
                "use one of them"
            )
        return self

    def _refuse_builtin_options(self) -> None:
        """A built-in strategy's option (`--fast`, `--lookback`, ...) given with a class of
        the user's would be silently ignored: refuse it, pointing at `--param`."""
        if self.portfolio:  # `--portfolio` trades the allocator's weights: its options apply
            return
        for name, owners in _BUILTIN_OPTIONS.items():
            value = getattr(self, name)
            if value != BacktestConfig.model_fields[name].default:
                raise ValueError(
                    f"{_FLAG[name]} applies to {owners}; your class takes its own parameters: "
                    f"use --param {name}={value} (sweep: --set param.{name}={value})"
                )

    def _refuse_unused(self) -> None:
        """A `--portfolio` run trades to the allocator's weights: the strategy's, sizer's
        and protective exits' options are never read, so a value other than the default is
        refused (a default changes nothing, given or not). `--sectors` is read only by
        `--sector-cap`; `--solver exact` solves only the score model without holdings."""
        for name in NOT_PORTFOLIO:
            value = getattr(self, name)
            if value != BacktestConfig.model_fields[name].default:
                raise ValueError(not_used_by_portfolio(name))
        try:
            self._model_options().refuse_unused()
        except InvalidParameter as exc:
            raise ValueError(str(exc)) from None
        if self.sectors is not None and self.sector_cap is None:
            raise ValueError(
                "--sectors is read only for --sector-cap: add --sector-cap or drop --sectors"
            )
        given = [name for name in MODEL_FIELDS if getattr(self, name) != getattr(_A, name)]
        if self.solver == "exact" and given:
            flag = "--" + given[0].replace("_", "-")
            raise ValueError(
                f"--solver exact solves only the score model (no holdings, no model options), "
                f"but {flag} makes every rebalance solve the whole model on the account's "
                "holdings: choose cbc, scip, highs or auto"
            )

    def _check_model(self) -> None:
        """The model options: only with `--portfolio`, checked as `allocate` checks them."""
        given = [name for name in MODEL_FIELDS if getattr(self, name) != getattr(_A, name)]
        if self.on_solver_failure != "hold":
            given.append("on_solver_failure")
        if self.sectors is not None:
            given.append("sectors")
        if given and not self.portfolio:
            flag = "--" + given[0].replace("_", "-")
            raise ValueError(f"{flag} is an option of the allocation model: it needs --portfolio")
        if self.portfolio:
            self._refuse_unused()
        if not self.uses_model:
            if self.portfolio and self.solver not in SOLVERS:
                raise ValueError(
                    f"--solver {self.solver} needs a model option (--objective, ...); the score "
                    f"model solves with {', '.join(SOLVERS)}"
                )
            return
        if self.cost_bps and self.commission_bps:
            raise ValueError(
                "--cost-bps and --commission-bps are the same cost with --portfolio (the "
                "fills pay what the model expects): pass one"
            )
        try:
            self.allocate_options.validate()
        except InvalidParameter as exc:
            raise ValueError(str(exc)) from None

    @property
    def uses_model(self) -> bool:
        """Whether `--portfolio` runs the whole allocation model at each rebalance (any
        model option given), rather than the seed's score model on weights alone."""
        if not self.portfolio:
            return False
        options = self._model_options()
        return options.uses_model() or self.solver == "auto"

    def _model_options(self) -> AllocateOptions:
        return AllocateOptions(
            factor=self.factor,
            lookback=self.lookback,
            capital=self.cash,
            max_weight=self.max_weight,
            min_weight=self.min_weight,
            max_positions=self.max_positions,
            solver=None if self.solver == "cbc" else self.solver,
            fractional=False,
            **{name: getattr(self, name) for name in MODEL_FIELDS},
        )

    @property
    def allocate_options(self) -> AllocateOptions:
        """The allocation model's options, as `tradefolio allocate` would take them (the
        costs are the trading core's: `--cost-bps` is the commission rate, `--fixed-cost`
        the fee per fill; the default `--solver cbc` lets the model choose, `auto`).

        The model is solved as `allocate` solves it without `--fractional`: whole shares
        inside the model when a constraint acts on trades (or with `--whole-shares`), else
        weights floored to shares, so every constraint holds on the trades the ledger makes.
        (Solving in fractional shares and rounding each trade towards the holdings broke
        `--max-weight` and `--sector-cap`: a sell rounded below `--min-trade` was dropped.)"""
        return self._model_options()

    @property
    def strategy_params(self) -> dict[str, object]:
        """`--param` values typed against the user strategy's declared parameters."""
        if not is_user_spec(self.strategy):
            return {}
        cls = load_strategy_class(self.strategy)
        return parse_params(cls, self.strategy, split_params(self.param or ()))

    @classmethod
    def create(cls, **fields: Any) -> BacktestConfig:
        """A validated config; `InvalidParameter` (one line) on the first bad field.

        A sweep's `param.NAME=VALUE` fields are folded into `param` (`NAME=VALUE` strings).
        """
        folded = [
            f"{k.removeprefix('param.')}={v}" for k, v in fields.items() if k.startswith("param.")
        ]
        if folded:
            fields = {k: v for k, v in fields.items() if not k.startswith("param.")}
            fields["param"] = (*(fields.get("param") or ()), *folded)
        try:
            return cls(**fields)
        except ValidationError as exc:
            error = exc.errors()[0]
            location = error.get("loc", ())
            field = str(location[0]) if location else ""
            message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
            kind = str(error.get("type", ""))
            if kind in _PLAIN_WORDING:  # pydantic's own sentences name its internals
                message = f"{_PLAIN_WORDING[kind]}, got {error.get('input')!r}"
            if kind == "extra_forbidden":
                message = f"{field!r} is not a backtest option ({', '.join(cls.model_fields)})"
                field = ""
            if error.get("type") == "literal_error":
                choices = {"strategy": STRATEGIES, "sizer": SIZERS}.get(field, ())
                message = f"must be one of {', '.join(choices)}, got {error.get('input')!r}"
            message = message.removeprefix(f"{field} ")
            if field in _FLAG:
                message = f"{_FLAG[field]} {message}"
            elif field:
                message = f"{field}: {message}"
            raise InvalidParameter(message) from None

    def windows(self) -> list[tuple[str, int]]:
        """(flag, sessions) of every trailing window the run needs before its first signal."""
        needed: list[tuple[str, int]] = []
        if self.portfolio:
            needed.append(("--lookback", self.lookback or DEFAULT_LOOKBACK[self.factor]))
        elif self.strategy == "sma-cross":
            needed.append(("--slow", self.slow))
        elif self.strategy == "momentum":
            needed.append(("--lookback", self.lookback or DEFAULT_LOOKBACK["momentum"]))
        if self.uses_benchmark:
            needed.append(("--beta-window", self.beta_window))
        return needed

    def check_data(self, closes: pd.DataFrame, source: str) -> None:
        """Refuse, up front, prices this run cannot use: a window as long as the data (the
        run would trade nothing and report all-zero metrics) or a price beyond `MAX_PRICE`.

        `InvalidParameter` names the option, the data's length and the fix."""
        self.check_sessions(len(closes), source)
        check_prices(closes, source)

    def check_sessions(
        self, sessions: int, source: str, longer: str = "a longer price file"
    ) -> None:
        """Every trailing window of the run is shorter than the `sessions` of `source`."""
        for flag, window in self.windows():
            if window >= sessions:
                raise InvalidParameter(
                    f"{flag} {window:,d} needs more than {window:,d} sessions but {source} has "
                    f"{sessions:,d}: use a shorter {flag} or {longer}"
                )

    @property
    def risk_sized(self) -> bool:
        """Whether entries are sized by the risk sizer (`--sizer risk`, or `beta` over it)."""
        return self.sizer != "weight"

    @property
    def sizing_stop(self) -> float:
        """The stop distance the risk sizer sizes from: `--stop-loss`, else 5%."""
        return DEFAULT_STOP_LOSS if self.stop_loss is None else self.stop_loss

    @property
    def placed_stop(self) -> float | None:
        """The protective stop every entry gets: the risk sizer's stop (unless `--no-stop`),
        or `--stop-loss` for any other sizer; None when no stop is placed (and for
        `--portfolio`, which trades to target weights and has no entries to protect)."""
        if self.no_stop or self.portfolio:
            return None
        return self.sizing_stop if self.risk_sized else self.stop_loss

    @property
    def uses_benchmark(self) -> bool:
        """Whether the run needs a benchmark series (beta sizing)."""
        return self.beta_sizing or self.sizer == "beta"


def not_used_by_portfolio(name: str) -> str:
    """Why the option of field `name` (one of `NOT_PORTFOLIO`) is refused with `--portfolio`."""
    return (
        f"{_FLAG[name]} is not used by --portfolio, which sizes every trade from the "
        "allocator's weights (no strategy, sizer or exits): drop it"
    )


def refuse_given_with_portfolio(given: Iterable[str]) -> None:
    """`InvalidParameter` for the first of the fields `given` (explicitly, e.g. on the
    command line) that a `--portfolio` run never reads, even at its default value:
    `--portfolio --sizer risk` reads as risk sizing, which a portfolio run never does."""
    for name in given:
        if name in NOT_PORTFOLIO:
            raise InvalidParameter(not_used_by_portfolio(name))


def check_prices(closes: pd.DataFrame, source: str) -> None:
    """No close of `source` exceeds `MAX_PRICE` (`InvalidParameter` naming symbol and date)."""
    values = closes.to_numpy(dtype=np.float64, na_value=np.nan)
    too_big = np.nan_to_num(values, nan=0.0) > MAX_PRICE
    if too_big.any():
        row, column = divmod(int(np.argmax(too_big)), values.shape[1])
        raise InvalidParameter(
            f"{source}: {closes.columns[column]} closes at {values[row, column]:g} on "
            f"{closes.index[row].date()}, beyond the {MAX_PRICE:,.0f} per unit the ledger "
            "prices exactly; check the file"
        )


__all__ = [
    "DEFAULT_STOP_LOSS",
    "MAX_CASH",
    "MAX_COST_BPS",
    "MAX_PRICE",
    "NOT_PORTFOLIO",
    "SIZERS",
    "STRATEGIES",
    "BacktestConfig",
    "SizerName",
    "StrategyName",
    "check_prices",
    "not_used_by_portfolio",
    "refuse_given_with_portfolio",
]
