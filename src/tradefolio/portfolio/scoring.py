"""Scores from prices: the factors that rank a universe before allocation.

All factors look back from the last row of the price history (the decision date `t`), use
closes only, and need a complete window: a symbol with any missing close inside its window
is excluded with a reason instead of being scored 0.

- `trailing-return`: r = P_t / P_{t-L} - 1
- `momentum` (12-1 style): r = P_{t-S} / P_{t-L} - 1, skipping the latest S sessions
  (default S = 21, about a month) where short-term reversal lives
- `inverse-volatility`: 1 / (std(daily simple returns over L sessions, ddof=1) * sqrt(252))
- `user`: scores supplied in a file (`symbol,score`), see `scores_from_table`
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tradefolio.data.sessions import TRADING_DAYS_PER_YEAR
from tradefolio.errors import DataError, InvalidParameter
from tradefolio.portfolio.choices import FACTORS
from tradefolio.portfolio.history import PriceHistory
from tradefolio.portfolio.types import Candidate

Factor = Literal["trailing-return", "momentum", "inverse-volatility"]

DEFAULT_LOOKBACK: dict[str, int] = {
    "trailing-return": 252,
    "momentum": 252,
    "inverse-volatility": 63,
}
DEFAULT_SKIP = 21


@dataclass(frozen=True, slots=True)
class Scores:
    """Finite scores per symbol, last closes, and the symbols left out with the reason."""

    values: pd.Series
    prices: pd.Series
    excluded: Mapping[str, str] = field(default_factory=dict)

    def candidates(self) -> list[Candidate]:
        """One `Candidate` per scored symbol, priced at its last close."""
        return [
            Candidate(symbol=str(symbol), score=float(score), price=float(self.prices[str(symbol)]))
            for symbol, score in self.values.items()
        ]


def check_score_window(
    factor: str, lookback: int | None, sessions: int, skip: int = DEFAULT_SKIP
) -> int:
    """`_window_rows`: the closes a factor's score reads, `InvalidParameter` / `DataError`
    (allocate's words) unless `sessions` rows of history hold them."""
    return _window_rows(factor, lookback, skip, sessions)


def _window_rows(factor: str, lookback: int | None, skip: int, sessions: int) -> int:
    """Closes a factor reads (lookback + 1), after checking the arguments and that
    `sessions` rows of history hold them."""
    if factor not in FACTORS:
        raise InvalidParameter(f"unknown factor {factor!r}: choose one of {', '.join(FACTORS)}")
    window = DEFAULT_LOOKBACK[factor] if lookback is None else lookback
    if window < 2:
        raise InvalidParameter(f"lookback must be >= 2 sessions, got {window}")
    if factor == "momentum" and not 0 <= skip < window:
        raise InvalidParameter(f"momentum skip must be in [0, lookback={window}), got {skip}")
    if sessions == 0:
        raise DataError("price history is empty: nothing to score")
    needed = window + 1
    if sessions < needed:
        raise DataError(
            f"lookback {window} needs {needed} sessions but the price history has "
            f"{sessions}; use a shorter --lookback"
        )
    return needed


def _window_scores(
    symbols: Sequence[str], window_closes: NDArray[np.float64], factor: str, skip: int
) -> tuple[dict[str, float], dict[str, str]]:
    """Scores of the columns of `window_closes` (the last lookback + 1 closes, NaN where
    missing) and the symbols left out with the reason; `DataError` if none is scored."""
    needed = len(window_closes)
    excluded: dict[str, str] = {}
    scores: dict[str, float] = {}
    present = ~np.isnan(window_closes)
    complete = np.asarray(present.all(axis=0), dtype=bool)
    ratios = _ratio_values(factor, window_closes, complete, skip)
    for j, symbol in enumerate(symbols):
        if not complete[j]:
            have = int(present[:, j].sum())
            excluded[symbol] = f"needs {needed} consecutive closes, has {have} in the window"
            continue
        value = _factor_value(factor, window_closes[:, j], skip) if ratios is None else ratios[j]
        if not math.isfinite(value):
            excluded[symbol] = f"{factor} is not finite (flat or degenerate prices)"
            continue
        scores[symbol] = value
    if not scores:
        first = next(iter(excluded.items()))
        raise DataError(f"no symbol could be scored with {factor}: {first[0]} {first[1]}")
    return scores, excluded


def score_universe(
    prices: pd.DataFrame,
    factor: str = "momentum",
    lookback: int | None = None,
    skip: int = DEFAULT_SKIP,
) -> Scores:
    """Score every column of `prices` (closes, oldest first) at its last row."""
    needed = _window_rows(factor, lookback, skip, 0 if prices.empty else len(prices))
    tail = prices.iloc[-needed:]
    # One array for the window (a pandas column per symbol cost ~50 µs each: 25 ms a
    # rebalance at 500 names).
    window_closes = tail.to_numpy(dtype=np.float64, na_value=np.nan)
    symbols = [str(symbol) for symbol in prices.columns]
    scores, excluded = _window_scores(symbols, window_closes, factor, skip)
    values = pd.Series(scores, dtype="float64", name=factor)
    last = prices.iloc[-1]
    return Scores(values=values, prices=last[values.index].astype("float64"), excluded=excluded)


def score_history(
    history: PriceHistory,
    factor: str = "momentum",
    lookback: int | None = None,
    skip: int = DEFAULT_SKIP,
) -> list[Candidate]:
    """`score_universe(...).candidates()` of the same closes, read from the array (what a
    rebalance at every decision bar calls: no pandas)."""
    needed = _window_rows(factor, lookback, skip, history.sessions)
    window_closes = history.closes[-needed:]
    scores, _ = _window_scores(history.symbols, window_closes, factor, skip)
    last: list[float] = window_closes[-1].tolist()
    columns = history.columns
    return [
        Candidate(symbol=symbol, score=score, price=last[columns[symbol]])
        for symbol, score in scores.items()
    ]


def _ratio_values(
    factor: str, window_closes: NDArray[np.float64], complete: NDArray[np.bool_], skip: int
) -> list[float] | None:
    """`_factor_value` of every complete column at once for the two ratio factors (NaN
    for the others; `None` for inverse-volatility, scored column by column): the same
    division and subtraction per element, so the same bits as column by column, without
    a numpy call per symbol."""
    if factor == "trailing-return":
        row = -1
    elif factor == "momentum":
        row = -1 - skip
    else:
        return None
    if complete.all():
        values = window_closes[row] / window_closes[0] - 1.0
    else:  # only the complete columns are divided (the others are never scored)
        values = np.full(window_closes.shape[1], np.nan)
        kept = np.flatnonzero(complete)
        values[kept] = window_closes[row, kept] / window_closes[0, kept] - 1.0
    ratios: list[float] = values.tolist()
    return ratios


def _factor_value(factor: str, closes: np.ndarray, skip: int) -> float:
    if factor == "trailing-return":
        return float(closes[-1] / closes[0] - 1.0)
    if factor == "momentum":
        return float(closes[-1 - skip] / closes[0] - 1.0)
    returns = closes[1:] / closes[:-1] - 1.0
    volatility = float(np.std(returns, ddof=1)) * math.sqrt(TRADING_DAYS_PER_YEAR)
    return 1.0 / volatility if volatility > 0 else math.inf


__all__ = [
    "DEFAULT_LOOKBACK",
    "DEFAULT_SKIP",
    "FACTORS",
    "Factor",
    "Scores",
    "check_score_window",
    "score_history",
    "score_universe",
]
