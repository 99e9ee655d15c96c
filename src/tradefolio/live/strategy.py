"""What the live trader asks a strategy: "given the closes so far, what do you intend?".

A structural protocol (any object with `intents(history)` fits), so the CLI can hand the
trader the backtest's strategy objects without `live` importing `backtest` (siblings in
ARCHITECTURE.md). `SmaCross` and `BuyAndHold` here follow the backtest's published
semantics and are what `tradefolio live` runs until the strategy protocol moves below both
engines (execution/).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from tradefolio.errors import InvalidParameter
from tradefolio.execution.sizing import PositionSizer

_SCAN_MARGIN = 64


class Action(StrEnum):
    """Enter (only when flat), exit (sell everything) or trade to the sizer's target."""

    ENTER = "enter"
    EXIT = "exit"
    TARGET = "target"


@dataclass(frozen=True, slots=True)
class Intent:
    """One thing the strategy wants done on the next bar."""

    symbol: str
    action: Action
    #: The sizer for this intent when it is not the trader's own (a rebalance's target
    #: weights, a beta sizer built for the decision bar).
    sizer: PositionSizer | None = None


@runtime_checkable
class Strategy(Protocol):
    """A signal source: intents decided from closes up to and including the last row."""

    def intents(self, history: pd.DataFrame) -> list[Intent]:
        """Intents for the bar after `history`'s last row, in the file's column order."""
        ...


def _sma(values: np.ndarray, end: int, window: int) -> float:
    """SMA ending at index `end` (inclusive), exactly rounded: fsum / n (as backtrader)."""
    return math.fsum(values[end - window + 1 : end + 1]) / window


def _sign(value: float) -> int:
    return (value > 0) - (value < 0)


@dataclass(frozen=True, slots=True)
class SmaCross:
    """Long-only SMA crossover, backtrader's CrossOver semantics.

    c(t) = sign(SMA_fast(t) − SMA_slow(t)) from s0 = slow − 1; z carries the last non-zero
    c. Up-cross at t (enter) when z(t−1) < 0 and c(t) > 0; down-cross (exit) when
    z(t−1) > 0 and c(t) < 0. Stateless: z(t−1) is found by scanning back, so a restarted
    trader needs no warm-up.
    """

    fast: int
    slow: int

    def __post_init__(self) -> None:
        if not 1 <= self.fast < self.slow:
            raise InvalidParameter(f"need 1 <= --fast < --slow, got {self.fast} and {self.slow}")

    def intents(self, history: pd.DataFrame) -> list[Intent]:
        exits: list[Intent] = []
        entries: list[Intent] = []
        # Only a tail is needed (the SMAs plus a margin to find the last non-zero c); the
        # full column is read only when that margin holds nothing but exact ties.
        tail = history.iloc[-(self.slow + _SCAN_MARGIN) :]
        counts = history.count()
        tail_values = tail.to_numpy(dtype="float64")
        for position, symbol in enumerate(history.columns):
            column = tail_values[:, position]
            values = column[~np.isnan(column)]
            signal = self._signal(values, int(counts[symbol]))
            if signal is None:
                full = history[symbol].to_numpy(dtype="float64")
                signal = self._signal(full[~np.isnan(full)], int(counts[symbol])) or 0
            if signal > 0:
                entries.append(Intent(str(symbol), Action.ENTER))
            elif signal < 0:
                exits.append(Intent(str(symbol), Action.EXIT))
        return exits + entries

    def _c(self, values: np.ndarray, t: int) -> int:
        return _sign(_sma(values, t, self.fast) - _sma(values, t, self.slow))

    def _signal(self, values: np.ndarray, n_total: int) -> int | None:
        """+1 up-cross, -1 down-cross, 0 nothing, None: `values` (the last closes of a
        series of `n_total`) is too short to find z(t−1)."""
        offset = n_total - len(values)  # index in the full series of values[0]
        s0 = self.slow - 1
        t = n_total - 1
        if t <= s0:
            return 0
        local_t = t - offset
        current = self._c(values, local_t)
        if current == 0:
            return 0
        previous = 0
        for back in range(local_t - 1, max(s0 - offset, self.slow - 1) - 1, -1):
            previous = self._c(values, back)
            if previous != 0:
                break
        if previous == 0 and offset > 0:
            return None
        if previous < 0 < current:
            return 1
        if previous > 0 > current:
            return -1
        return 0


@dataclass(frozen=True, slots=True)
class BuyAndHold:
    """Enter every symbol once (entries repeat harmlessly: an enter while holding is a no-op)."""

    def intents(self, history: pd.DataFrame) -> list[Intent]:
        if history.empty:
            return []
        last = history.iloc[-1]
        return [Intent(str(s), Action.ENTER) for s in history.columns if pd.notna(last[s])]


__all__ = ["Action", "BuyAndHold", "Intent", "SmaCross", "Strategy"]
