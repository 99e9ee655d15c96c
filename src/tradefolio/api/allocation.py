"""`tf.allocate(...)`: scores become an optimal allocation, as `tradefolio allocate` does.

The CLI command is a client of this function: it parses its flags, calls `allocate` with
the same keywords (`--max-weight` is `max_weight=`) and prints the result, so the two
cannot disagree. There is one allocator path (`PortfolioModel.solve`); which model it
solves:

- the **score model** (score objective, position limits, cardinality; CBC by default,
  through `tradefolio.portfolio.allocator.allocate`, the composable model's thin front)
  when no composable-model option is used:

      maximise Σ score_i · w_i  s.t.  w_i ≤ max_weight · x_i,  w_i ≥ min_weight · x_i,
                                      Σ w_i ≤ 1,  Σ x_i ≤ max_positions

- the **composable model** (`PortfolioModel`: objective plus constraints) as soon as one
  of `objective`, `sector_cap`, `sectors`, `holdings`, `max_turnover`, `fixed_cost`,
  `cost_bps`, `cost_budget`, `min_trade`, `whole_shares`, `min_invested`, `min_return` or a
  covariance matrix is given.

Candidates come from `candidates=` (a `symbol, score, price` table), or are scored from
`prices=` with `factor=` over `lookback=` sessions, or are the user's `scores=` (a
`Series` symbol -> score) priced at the last close.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import fields
from pathlib import Path
from typing import TypeAlias

import numpy as np
import pandas as pd

from tradefolio.api.checked import checked
from tradefolio.api.options import ALLOCATE_DEFAULTS, FACTOR_CHOICES, AllocateOptions, require
from tradefolio.api.prices import PricesLike, describe_source, price_panel
from tradefolio.api.results import AllocationResult
from tradefolio.errors import DataError, InvalidParameter
from tradefolio.portfolio.allocator import SOLVERS
from tradefolio.portfolio.allocator import allocate as score_allocate
from tradefolio.portfolio.build import (
    build_model,
    build_objective,
    default_sectors,
    model_candidates,
    read_sectors,
)
from tradefolio.portfolio.candidates import (
    check_scoring_unused,
    read_candidates,
    read_user_scores,
)
from tradefolio.portfolio.context import make_universe
from tradefolio.portfolio.holdings import (
    held_price,
    held_shares,
    read_holding_prices,
    read_holdings,
)
from tradefolio.portfolio.invested_floor import floor_scope
from tradefolio.portfolio.model import PortfolioResult
from tradefolio.portfolio.risk_inputs import aligned_risk, covariance_frame
from tradefolio.portfolio.scoring import Scores, score_universe
from tradefolio.portfolio.types import Candidate, validate_candidates

CandidatesLike: TypeAlias = str | Path | pd.DataFrame | Iterable[Candidate]
ScoresLike: TypeAlias = str | Path | pd.Series
SectorsLike: TypeAlias = str | Path | pd.Series | Mapping[str, str]
HoldingsLike: TypeAlias = str | Path | pd.Series | pd.DataFrame | Mapping[str, float]
CovarianceLike: TypeAlias = str | pd.DataFrame
#: A user's risk / return / bounds file (`expected_returns=`, `covariance_file=`, ...).
FileLike: TypeAlias = str | Path
#: The keywords of `allocate` that name such a file.
FILE_OPTIONS: tuple[str, ...] = (
    "expected_returns",
    "covariance_file",
    "factor_loadings",
    "factor_covariance",
    "specific_variance",
    "bounds",
)


def _file_path(name: str, value: object) -> Path | None:
    """A file keyword's path; `InvalidParameter` (not a bare `TypeError`) for anything
    else, saying where a pandas object goes instead."""
    if value is None:
        return None
    if isinstance(value, str | os.PathLike):
        return Path(value)
    hint = (
        "pass a covariance DataFrame as covariance="
        if name == "covariance_file"
        else "write the table to CSV (DataFrame.to_csv) and pass its path"
    )
    raise InvalidParameter(
        f"{name} takes the path of a CSV file, got a {type(value).__name__}: {hint}"
    )


def _table_columns(frame: pd.DataFrame, required: tuple[str, ...], what: str) -> pd.DataFrame:
    """`frame` with lower-case column names and `symbol` as a column (not the index)."""
    table = frame.copy()
    if "symbol" not in {str(c).strip().lower() for c in table.columns}:
        table = table.rename_axis("symbol").reset_index()
    table.columns = [str(c).strip().lower() for c in table.columns]
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise DataError(
            f"{what}: missing column {', '.join(missing)}; expected {','.join(required)}"
        )
    return table


def _candidate_list(candidates: CandidatesLike) -> tuple[list[Candidate], str]:
    """Candidates and how to name them in a title."""
    if isinstance(candidates, str | Path):
        return read_candidates(candidates), str(candidates)
    if isinstance(candidates, pd.DataFrame):
        table = _table_columns(candidates, ("symbol", "score", "price"), "candidates")
        rows = [
            Candidate(str(symbol).strip(), float(score), float(price))
            for symbol, score, price in zip(
                table["symbol"], table["score"], table["price"], strict=True
            )
        ]
        return validate_candidates(rows), "candidates"
    return validate_candidates(list(candidates)), "candidates"


def _user_scores(scores: ScoresLike) -> pd.Series:
    if isinstance(scores, str | Path):
        return read_user_scores(scores)
    if not isinstance(scores, pd.Series):
        raise DataError(f"scores: expected a path or a Series symbol -> score, got {scores!r}")
    values = pd.to_numeric(scores, errors="coerce").astype("float64")
    bad = values[~np.isfinite(values.to_numpy(dtype=np.float64, na_value=np.nan))]
    if not bad.empty:
        raise DataError(f"scores: {bad.index[0]}'s score {scores[bad.index[0]]!r} is not finite")
    values.index = pd.Index([str(s).strip() for s in values.index])
    if not values.index.is_unique:
        duplicated = values.index[values.index.duplicated()][0]
        raise DataError(f"scores: duplicate symbol {duplicated!r}; list each symbol once")
    return values.rename("user")


def _candidates(
    candidates: CandidatesLike | None,
    prices: PricesLike,
    closes: pd.DataFrame | None,
    scores: ScoresLike | None,
    factor: str,
    lookback: int | None,
) -> tuple[list[Candidate], dict[str, str], str]:
    """Candidates, symbols excluded from scoring with reasons, and a title for the table."""
    if candidates is not None:
        listed, label = _candidate_list(candidates)
        return listed, {}, f"allocation of {label}"
    assert closes is not None
    source = describe_source(prices)
    if factor == "user":
        require(scores is not None, "--factor user needs --scores FILE (symbol,score)")
        assert scores is not None
        user = _user_scores(scores)
        last = closes.ffill().iloc[-1]
        unknown = [s for s in user.index if s not in last.index or not last[s] > 0]
        require(
            not unknown,
            f"--scores lists {unknown[0] if unknown else ''!s} with no price in {source}",
        )
        scored = Scores(values=user, prices=last[user.index])
    else:
        require(scores is None, "--scores is only used with --factor user")
        scored = score_universe(closes, factor, lookback)
    day = closes.index[-1].date().isoformat()
    return scored.candidates(), dict(scored.excluded), f"{factor} allocation of {source} on {day}"


def sector_map(sectors: SectorsLike | None) -> dict[str, str]:
    """Symbol -> sector: a CSV `symbol,sector`, a `Series`/mapping, or the bundled GICS."""
    if sectors is None:
        return default_sectors()
    if isinstance(sectors, str | Path):
        return read_sectors(sectors)
    return {str(k).strip(): str(v).strip() for k, v in dict(sectors).items()}


def holdings_of(holdings: HoldingsLike) -> tuple[dict[str, float], dict[str, float]]:
    """Shares per symbol and the prices given with them (a `price` column), from a CSV
    `symbol,shares[,price]`, a `DataFrame` of those columns, a `Series` or a mapping."""
    if isinstance(holdings, str | Path):
        return read_holdings(holdings), read_holding_prices(holdings)
    prices: dict[str, float] = {}
    if isinstance(holdings, pd.DataFrame):
        table = _table_columns(holdings, ("symbol", "shares"), "holdings")
        rows = list(zip(table["symbol"], table["shares"], strict=True))
        if "price" in table.columns:
            for symbol, price in zip(table["symbol"], table["price"], strict=True):
                value = held_price(f"holdings: {str(symbol).strip()}", price)
                if value is not None:
                    prices[str(symbol).strip()] = value
    elif isinstance(holdings, pd.Series | Mapping):
        rows = list(holdings.items())
    else:
        raise DataError(
            "holdings: expected a path, a Series or mapping symbol -> shares, or a DataFrame "
            f"symbol,shares[,price]; got a {type(holdings).__name__}"
        )
    held: dict[str, float] = {}
    for symbol, quantity in rows:
        name = str(symbol).strip() if isinstance(symbol, str) else ""
        if not name:
            raise DataError(f"holdings: symbol {symbol!r} is not a name (shares {quantity!r})")
        if name in held:
            raise DataError(f"holdings: duplicate symbol {name!r}; list each symbol once")
        held[name] = held_shares(f"holdings: {name}", quantity)
    return held, prices


def solve_model(
    candidates: list[Candidate],
    prices: pd.DataFrame,
    options: AllocateOptions,
    *,
    sectors: SectorsLike | None = None,
    holdings: HoldingsLike | None = None,
    covariance: pd.DataFrame | None = None,
    notes: list[str] | None = None,
) -> PortfolioResult:
    """Build the composable model the options describe (`portfolio.build.build_model`)
    and solve it; `notes` (when given) receives a line naming the invested floor a risk
    objective chose by default (`invested_floor.default_min_invested`, its probes
    following `options.time_limit`).

    Held symbols without a price of their own are priced at their last close in `prices`.
    With `options.expected_returns` the file's mu replaces each candidate's score; with
    `options.bounds` listed names take their own floor and cap, the others
    `min_weight`/`max_weight`.
    """
    candidates = model_candidates(options, candidates)
    held, held_prices = holdings_of(holdings) if holdings is not None else ({}, {})
    last = prices.ffill().iloc[-1]
    for symbol in held:
        if symbol not in held_prices and symbol in last.index and last[symbol] > 0:
            held_prices[symbol] = float(last[symbol])
    universe = make_universe(
        candidates,
        options.capital,
        held if holdings is not None else None,
        held_prices,
        keep_non_positive=options.objective != "score",
    )
    table = sector_map(sectors) if options.sector_cap is not None else None
    if covariance is not None:  # the checks and messages of --covariance-file
        aligned_risk(covariance_frame(covariance), universe.symbols, "covariance")
    model = build_model(options, universe.symbols, prices, table, covariance)
    with floor_scope(options.time_limit) as scope:
        solved = model.solve(
            universe,
            solver=options.solver or "auto",
            time_limit=options.time_limit,
            fractional=options.fractional,
        )
    chosen = scope.chosen[0] if scope.chosen else None
    if notes is not None and options.min_invested is None and chosen is not None and chosen < 1:
        # full investment (the documented default) goes without saying
        notes.append(floor_note(options.objective, chosen))
    return solved


def floor_note(objective: str, floor: float) -> str:
    """The line that names the invested floor `--objective` chose without --min-invested."""
    return (
        f"--objective {objective} invests at least {floor:.4%} of the account (the default "
        "floor: full investment less the worst-case costs and what whole shares leave in "
        "cash); --min-invested sets another"
    )


@checked(data=("prices", "candidates", "scores", "sectors", "holdings"), own=FILE_OPTIONS)
def allocate(
    prices: PricesLike = None,
    *,
    candidates: CandidatesLike | None = None,
    scores: ScoresLike | None = None,
    factor: str | None = None,
    lookback: int | None = ALLOCATE_DEFAULTS.lookback,
    capital: float = ALLOCATE_DEFAULTS.capital,
    max_weight: float = ALLOCATE_DEFAULTS.max_weight,
    min_weight: float = ALLOCATE_DEFAULTS.min_weight,
    max_positions: int = ALLOCATE_DEFAULTS.max_positions,
    fractional: bool = ALLOCATE_DEFAULTS.fractional,
    solver: str | None = ALLOCATE_DEFAULTS.solver,
    time_limit: float = ALLOCATE_DEFAULTS.time_limit,
    objective: str = ALLOCATE_DEFAULTS.objective,
    risk_aversion: float = ALLOCATE_DEFAULTS.risk_aversion,
    min_return: float | None = ALLOCATE_DEFAULTS.min_return,
    cvar_alpha: float = ALLOCATE_DEFAULTS.cvar_alpha,
    covariance: CovarianceLike = ALLOCATE_DEFAULTS.covariance,
    risk_lookback: int = ALLOCATE_DEFAULTS.risk_lookback,
    sector_cap: float | None = ALLOCATE_DEFAULTS.sector_cap,
    sectors: SectorsLike | None = None,
    holdings: HoldingsLike | None = None,
    max_turnover: float | None = ALLOCATE_DEFAULTS.max_turnover,
    fixed_cost: float = ALLOCATE_DEFAULTS.fixed_cost,
    cost_bps: float = ALLOCATE_DEFAULTS.cost_bps,
    cost_budget: float | None = ALLOCATE_DEFAULTS.cost_budget,
    min_trade: float | None = ALLOCATE_DEFAULTS.min_trade,
    whole_shares: bool = ALLOCATE_DEFAULTS.whole_shares,
    lot: int = ALLOCATE_DEFAULTS.lot,
    min_invested: float | None = ALLOCATE_DEFAULTS.min_invested,
    expected_returns: FileLike | None = None,
    covariance_file: FileLike | None = None,
    factor_loadings: FileLike | None = None,
    factor_covariance: FileLike | None = None,
    specific_variance: FileLike | None = None,
    bounds: FileLike | None = None,
) -> AllocationResult:
    """Turn scores into an optimal allocation: weights, dollars and shares.

    Every keyword is the `tradefolio allocate` flag of the same name with its default
    (`max_weight=0.25` is `--max-weight 0.25`); see `docs/cli.md` for each one's meaning.
    Inputs that the CLI reads from files also accept pandas objects:

    - `prices`: a path, a wide `DataFrame` of closes, a long OHLCV `DataFrame`, or `None`
      for the bundled sample (see `tradefolio.api.prices`);
    - `candidates`: a path or a `DataFrame` with columns `symbol, score, price` (or a
      `symbol` index), or `Candidate` values;
    - `scores`: a `Series` symbol -> score (or a path to `symbol,score`); `factor`
      defaults to `momentum`, or to `user` when `scores` is given;
    - `sectors`: a `Series`/mapping symbol -> sector (default: the sample's GICS sectors);
    - `holdings`: a `Series`/mapping symbol -> shares, or a `DataFrame` `symbol, shares
      [, price]`;
    - `covariance`: an estimator name (`sample`, `ledoit-wolf`) or an annualised covariance
      `DataFrame` (symbols on both axes) for `mean-variance` / `min-variance`;
    - `expected_returns`, `covariance_file`, `factor_loadings` + `factor_covariance` +
      `specific_variance`, `bounds`: paths to the user's own CSV files, as the CLI's
      `--expected-returns` ... `--bounds` (forms in `tradefolio.portfolio.risk_inputs`).

    Numbers are floats: the allocator's weights, dollars and shares are float64 analytics
    (shares floored to whole units, or to 1e-6 with `fractional=True`; whole shares inside
    the model when a constraint acts on trades, so the trades listed are the ones the
    solver proved). `status` is `optimal` only when the solver's proven `gap` meets its
    target.

    Raises `InvalidParameter` for a bad option (the message names the CLI flag, as
    `tradefolio allocate` prints it), `DataError` for unusable inputs,
    `InfeasibleAllocation` (listing the conflicting constraints) when no allocation meets
    the constraints, `SolverUnavailable` / `SolverError` when the solver is missing or
    finds nothing in time.
    """
    user_covariance = covariance if isinstance(covariance, pd.DataFrame) else None
    if user_covariance is None and not isinstance(covariance, str):
        raise InvalidParameter(
            f"covariance must be an estimator name or a DataFrame, got {type(covariance).__name__}"
        )
    given = locals()  # every keyword but the inputs is an `AllocateOptions` field
    options = AllocateOptions(
        **{
            **{field.name: given[field.name] for field in fields(AllocateOptions)},
            "factor": factor
            if factor is not None
            else ("user" if scores is not None else ALLOCATE_DEFAULTS.factor),
            "covariance": covariance
            if isinstance(covariance, str)
            else ALLOCATE_DEFAULTS.covariance,
            **{name: _file_path(name, given[name]) for name in FILE_OPTIONS},
        }
    )
    options.validate()
    if user_covariance is not None:
        require(
            options.objective in ("mean-variance", "min-variance"),
            "a covariance matrix is used by --objective mean-variance or min-variance, "
            f"not {options.objective}",
        )
        require(
            not options.own_risk,
            "a covariance DataFrame and covariance_file / a factor model are two risk "
            "models; pass one",
        )
        require(
            options.risk_lookback == ALLOCATE_DEFAULTS.risk_lookback,
            f"risk_lookback={options.risk_lookback} is not used: the covariance DataFrame is "
            "the risk model; drop it",
        )
    return allocate_with(
        options,
        prices=prices,
        candidates=candidates,
        scores=scores,
        sectors=sectors,
        holdings=holdings,
        covariance=user_covariance,
    )


def _require_history(
    candidates: list[Candidate], history: pd.DataFrame, options: AllocateOptions, source: str
) -> None:
    """`DataError` naming the candidates `source` has no closes for when the objective
    estimates its risk (or scenarios) from them, and the fix: prices that cover them, or
    (mean-variance / min-variance) the user's own risk model."""
    absent = [c.symbol for c in candidates if c.symbol not in history.columns]
    if not absent:
        return
    names = ", ".join(absent[:5]) + (f" and {len(absent) - 5} more" if len(absent) > 5 else "")
    own = (
        ", or bring your own risk model (--covariance-file FILE, or --factor-loadings, "
        "--factor-covariance and --specific-variance)"
        if options.objective in ("mean-variance", "min-variance")
        else ""
    )
    raise DataError(
        f"--objective {options.objective} estimates from the closes of every candidate, but "
        f"{source} has none for {names}: pass --prices FILE with their closes (at least "
        f"{options.risk_lookback + 1} sessions){own}"
    )


def allocate_with(
    options: AllocateOptions,
    *,
    prices: PricesLike = None,
    candidates: CandidatesLike | None = None,
    scores: ScoresLike | None = None,
    sectors: SectorsLike | None = None,
    holdings: HoldingsLike | None = None,
    covariance: pd.DataFrame | None = None,
    notes: list[str] | None = None,
) -> AllocationResult:
    """`allocate` for options already validated with `AllocateOptions.validate()`;
    `notes` (when given) receives the lines the CLI prints as `note:` (`solve_model`); the
    result carries them too (`AllocationResult.notes`)."""
    used = options.uses_model(sectors=sectors is not None, holdings=holdings is not None)
    require(
        sectors is None or options.sector_cap is not None,
        "--sectors is read only for --sector-cap: add --sector-cap or drop --sectors",
    )
    model = used or covariance is not None
    options.validate_cash(holdings=holdings is not None)
    if not model:
        options.validate_score_model(SOLVERS, FACTOR_CHOICES)
    require(
        candidates is None
        or ((prices is None or (model and options.needs_history)) and scores is None),
        "--candidates already holds scores and prices; drop --prices/--scores",
    )
    if candidates is not None:
        check_scoring_unused(options)
    if model:
        collected: list[str] = []
        history = price_panel(prices).close
        listed, excluded, title = _candidates(
            candidates, prices, history, scores, options.factor, options.lookback
        )
        if covariance is None and options.needs_history:
            _require_history(listed, history, options, describe_source(prices))
        solved = solve_model(
            listed,
            history,
            options,
            sectors=sectors,
            holdings=holdings,
            covariance=covariance,
            notes=collected,
        )
        if notes is not None:
            notes.extend(collected)
        return AllocationResult(
            solved, options.fractional, excluded, title, composed=True, notes=tuple(collected)
        )
    closes = price_panel(prices).close if candidates is None else None
    listed, excluded, title = _candidates(
        candidates, prices, closes, scores, options.factor, options.lookback
    )
    allocation = score_allocate(
        listed,
        options.capital,
        options.params,
        fractional=options.fractional,
        solver=options.solver or "cbc",
        time_limit=options.time_limit,
    )
    return AllocationResult(allocation, options.fractional, excluded, title, composed=False)


__all__ = [
    "FACTOR_CHOICES",
    "CandidatesLike",
    "CovarianceLike",
    "HoldingsLike",
    "ScoresLike",
    "SectorsLike",
    "allocate",
    "allocate_with",
    "build_objective",
    "holdings_of",
    "sector_map",
    "solve_model",
]
