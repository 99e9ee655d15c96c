"""Which `PositionSizer` answers at a given decision bar.

An engine (the backtest's, or the live trader through `tradefolio.live.strategy`'s
adapters) asks `SizingPolicy.sizer_at(bar)` for the sizer of the orders decided at the
close of `bar` and never looks at what it gets. Most runs use one sizer throughout
(`FixedSizing`); `--beta-sizing` needs a sizer whose betas are the rolling betas on a
trailing window *ending at the decision bar* (`DatedSizing`), so it changes over time
without the engine knowing. `RebalanceSizerFactory` builds the sizer of a `Rebalance`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from tradefolio.execution.sizing import PositionSizer

#: Builds the sizer that trades a `Rebalance` intent to its target weights.
RebalanceSizerFactory = Callable[[Mapping[str, float]], PositionSizer]


@runtime_checkable
class SizingPolicy(Protocol):
    """The sizer to use for orders decided at the close of bar `bar`."""

    def sizer_at(self, bar: int) -> PositionSizer:
        """A `PositionSizer` (may differ from bar to bar, never looks past `bar`)."""
        ...


@dataclass(frozen=True, slots=True)
class FixedSizing:
    """The same sizer at every bar."""

    sizer: PositionSizer

    def sizer_at(self, bar: int) -> PositionSizer:
        """`self.sizer`, whatever the bar."""
        return self.sizer


@dataclass(frozen=True, slots=True)
class DatedSizing:
    """A sizer built per decision bar by `build(bar)` (e.g. a `BetaSizer` with that day's betas).

    Builds are cached per bar: a bar with several entries builds one sizer.
    """

    build: Callable[[int], PositionSizer]
    _cache: dict[int, PositionSizer]

    @classmethod
    def of(cls, build: Callable[[int], PositionSizer]) -> DatedSizing:
        """A policy calling `build(bar)` once per decision bar."""
        return cls(build=build, _cache={})

    def sizer_at(self, bar: int) -> PositionSizer:
        """The sizer for `bar` (built on first use)."""
        sizer = self._cache.get(bar)
        if sizer is None:
            sizer = self.build(bar)
            self._cache.clear()  # decisions move forward in time: keep only the latest
            self._cache[bar] = sizer
        return sizer


__all__ = ["DatedSizing", "FixedSizing", "RebalanceSizerFactory", "SizingPolicy"]
