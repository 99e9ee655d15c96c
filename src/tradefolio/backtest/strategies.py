"""The bundled strategies, each a small class behind the `Strategy` protocol.

- `SmaCross(fast, slow)`: enter on an up-cross of SMA_fast over SMA_slow, exit on a
  down-cross (backtrader's `CrossOver` rule, bit-exact; see `signals.py`). Long-only.
- `MomentumRotation(lookback, skip, max_positions, rebalance)`: on each rebalance bar hold
  the `max_positions` names with the highest positive momentum
  `P_{t-skip} / P_{t-lookback} - 1`, each at weight `1 / max_positions`.
- `SmaCrossEvents(fast, slow)`: the same rule as an event-driven strategy (`on_bar`), the
  reference for "one strategy written both ways gives identical fills".
- `BuyAndHold()`: enter every symbol at its first close (column order); never exit.
- `PortfolioRebalance(factor, lookback, params, rebalance, solver)`: on each rebalance bar,
  score the universe (`score_universe`), solve the allocator (`allocate`) and hold its
  weights (the `live --portfolio` path, in the backtest).

Rebalance bars (`rebalance_bars`) are decided from dates up to t only: `monthly` = the first
session of each calendar month, `weekly` = the first session of each ISO week, an integer
`N` = every N sessions from the first bar; a strategy skips rebalance bars before it has
enough history.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from tradefolio.backtest.signals import TIE_MARGIN, crossovers
from tradefolio.errors import InvalidParameter
from tradefolio.execution.events import BarContext
from tradefolio.execution.schedule import REBALANCE_RULES, parse_rebalance, rebalance_bars
from tradefolio.execution.strategy import SignalPlan
from tradefolio.portfolio.allocator import SOLVERS, allocate
from tradefolio.portfolio.params import AllocatorParams
from tradefolio.portfolio.scoring import DEFAULT_LOOKBACK, DEFAULT_SKIP, FACTORS, score_universe


def _closes_array(closes: pd.DataFrame) -> npt.NDArray[np.float64]:
    return closes.to_numpy(dtype=np.float64, na_value=np.nan)


@dataclass(frozen=True, slots=True)
class SmaCross:
    """Long while SMA_fast is above SMA_slow: enter on the up-cross, exit on the down-cross."""

    fast: int = 20
    slow: int = 50

    def __post_init__(self) -> None:
        for label, value in (("fast", self.fast), ("slow", self.slow)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidParameter(f"--{label} must be an integer >= 1, got {value!r}")
        if self.fast >= self.slow:
            raise InvalidParameter(
                f"--fast ({self.fast}) must be shorter than --slow ({self.slow})"
            )

    @property
    def name(self) -> str:
        """`sma-cross`."""
        return "sma-cross"

    @property
    def warmup(self) -> int:
        """Sessions before the first possible signal: the slow window."""
        return self.slow

    def plan(self, closes: pd.DataFrame) -> SignalPlan:
        """Entries on up-crosses, exits on down-crosses."""
        signals = crossovers(_closes_array(closes), self.fast, self.slow)
        return SignalPlan(entries=signals.up, exits=signals.down)


class SmaCrossEvents:
    """`SmaCross` written as an event-driven strategy: the same signals bar by bar.

    At each close it takes the last `slow` closes from the context, computes both means
    (numpy; the cells within `signals.TIE_MARGIN` of a tie are recomputed with `math.fsum`,
    as `signals.cross_sign` does) and keeps the last non-zero sign per symbol as its own
    state, so its `Enter`/`Exit` intents, and hence its fills, are the vectorised form's.
    """

    def __init__(self, fast: int = 20, slow: int = 50) -> None:
        SmaCross(fast, slow)  # the same validation
        self.fast = fast
        self.slow = slow
        self._last_sign: npt.NDArray[np.float64] | None = None

    @property
    def name(self) -> str:
        """`sma-cross-events`."""
        return "sma-cross-events"

    @property
    def warmup(self) -> int:
        """The slow window."""
        return self.slow

    def on_bar(self, context: BarContext) -> None:
        """Enter on an up-cross, exit on a down-cross (column order)."""
        window = context.history(self.slow)
        if self._last_sign is None or context.bar < self.slow:
            self._last_sign = np.zeros(len(context.symbols))  # a new run starts
        if window.shape[0] < self.slow:
            return
        fast_mean = window[-self.fast :].mean(axis=0)
        slow_mean = window.mean(axis=0)
        with np.errstate(invalid="ignore"):
            difference = fast_mean - slow_mean
            margin = TIE_MARGIN * np.maximum(np.abs(fast_mean), np.abs(slow_mean))
            sign = np.sign(difference)
            for column in np.flatnonzero(np.abs(difference) <= margin):
                values = window[:, column].tolist()
                exact = math.fsum(values[-self.fast :]) / self.fast - math.fsum(values) / self.slow
                sign[column] = 0.0 if exact == 0.0 else math.copysign(1.0, exact)
            previous = self._last_sign
            up = np.flatnonzero((previous < 0) & (sign > 0))
            down = np.flatnonzero((previous > 0) & (sign < 0))
            changed = ~np.isnan(sign) & (sign != 0.0)
        self._last_sign = np.where(changed, sign, previous)
        for column in down:
            context.exit(context.symbols[column])
        for column in up:
            context.enter(context.symbols[column])


@dataclass(frozen=True, slots=True)
class BuyAndHold:
    """Enter every symbol at its first available close; never exit."""

    @property
    def name(self) -> str:
        """`buy-and-hold`."""
        return "buy-and-hold"

    @property
    def warmup(self) -> int:
        """One session: it enters at the first close."""
        return 1

    def plan(self, closes: pd.DataFrame) -> SignalPlan:
        """An `Enter` on each symbol's first non-missing close."""
        present = ~np.isnan(_closes_array(closes))
        first = present & (np.cumsum(present, axis=0) == 1)
        return SignalPlan(entries=first, exits=np.zeros_like(first))


@dataclass(frozen=True, slots=True)
class MomentumRotation:
    """Hold the top `max_positions` names by momentum, equal-weighted, re-picked each period."""

    lookback: int = DEFAULT_LOOKBACK["momentum"]
    skip: int = DEFAULT_SKIP
    max_positions: int = 5
    rebalance: str | int = "monthly"

    def __post_init__(self) -> None:
        if self.lookback < 2:
            raise InvalidParameter(f"--lookback must be >= 2 sessions, got {self.lookback}")
        if not 0 <= self.skip < self.lookback:
            raise InvalidParameter(f"skip must be in [0, {self.lookback}), got {self.skip}")
        if self.max_positions < 1:
            raise InvalidParameter(f"--max-positions must be >= 1, got {self.max_positions}")
        parse_rebalance(self.rebalance)

    @property
    def name(self) -> str:
        """`momentum`."""
        return "momentum"

    @property
    def warmup(self) -> int:
        """Sessions of a momentum score: lookback + 1 closes."""
        return self.lookback + 1

    def plan(self, closes: pd.DataFrame) -> SignalPlan:
        """Equal target weights on the best positive momentum names at each rebalance bar."""
        values = _closes_array(closes)
        bars, count = values.shape
        symbols = [str(c) for c in closes.columns]
        plan = SignalPlan.empty(bars, count)
        momentum = np.full(values.shape, np.nan)
        if bars > self.lookback:
            with np.errstate(invalid="ignore", divide="ignore"):
                momentum[self.lookback :] = (
                    values[self.lookback - self.skip : bars - self.skip]
                    / values[: bars - self.lookback]
                    - 1.0
                )
        weight = 1.0 / self.max_positions
        rebalances: dict[int, dict[str, float]] = {}
        for bar in np.flatnonzero(rebalance_bars(pd.DatetimeIndex(closes.index), self.rebalance)):
            if bar < self.lookback:
                continue
            row = momentum[bar]
            ranked = [j for j in np.argsort(-row, kind="stable") if row[j] > 0]
            rebalances[int(bar)] = {symbols[j]: weight for j in ranked[: self.max_positions]}
        return SignalPlan(entries=plan.entries, exits=plan.exits, rebalances=rebalances)


@dataclass(frozen=True, slots=True)
class PortfolioRebalance:
    """Score -> allocate -> target weights, every rebalance period (`--portfolio`)."""

    factor: str = "momentum"
    lookback: int | None = None
    params: AllocatorParams = field(default_factory=AllocatorParams)
    rebalance: str | int = "monthly"
    solver: str = "cbc"

    def __post_init__(self) -> None:
        if self.factor not in FACTORS:
            raise InvalidParameter(
                f"--factor must be one of {', '.join(FACTORS)}, got {self.factor!r}"
            )
        if self.lookback is not None and self.lookback < 2:
            raise InvalidParameter(f"--lookback must be >= 2 sessions, got {self.lookback}")
        if (
            self.factor == "momentum"
            and self.lookback is not None
            and self.lookback <= DEFAULT_SKIP
        ):
            raise InvalidParameter(
                f"--lookback must be > {DEFAULT_SKIP} sessions for momentum (it skips the "
                f"latest {DEFAULT_SKIP}), got {self.lookback}"
            )
        if self.solver.lower() not in SOLVERS:
            raise InvalidParameter(
                f"--solver must be one of {', '.join(SOLVERS)}, got {self.solver!r}"
            )
        parse_rebalance(self.rebalance)

    @property
    def name(self) -> str:
        """`portfolio`."""
        return "portfolio"

    @property
    def warmup(self) -> int:
        """Sessions of a score (`window`)."""
        return self.window

    @property
    def window(self) -> int:
        """Sessions of history a score needs (lookback + 1 closes)."""
        return (DEFAULT_LOOKBACK[self.factor] if self.lookback is None else self.lookback) + 1

    def weights_at(self, history: pd.DataFrame) -> dict[str, float]:
        """Allocator weights from scores at the last row of `history` ({} if none scored)."""
        scores = score_universe(history, self.factor, self.lookback)
        candidates = scores.candidates()
        if not any(c.score > 0 for c in candidates):
            return {}
        result = allocate(candidates, 1.0, self.params, solver=self.solver)
        return {a.symbol: a.weight for a in result.allocations if a.weight > 0}

    def plan(self, closes: pd.DataFrame) -> SignalPlan:
        """Target weights at each rebalance bar with a full scoring window."""
        bars, count = closes.shape
        plan = SignalPlan.empty(bars, count)
        rebalances: dict[int, dict[str, float]] = {}
        for bar in np.flatnonzero(rebalance_bars(pd.DatetimeIndex(closes.index), self.rebalance)):
            if bar + 1 < self.window:
                continue
            rebalances[int(bar)] = self.weights_at(closes.iloc[: bar + 1])
        return SignalPlan(entries=plan.entries, exits=plan.exits, rebalances=rebalances)


__all__ = [
    "REBALANCE_RULES",
    "BuyAndHold",
    "MomentumRotation",
    "PortfolioRebalance",
    "SmaCross",
    "SmaCrossEvents",
    "parse_rebalance",
    "rebalance_bars",
]
