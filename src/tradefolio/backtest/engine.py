"""The event-driven backtest engine: intents decided at a close fill at the next bar.

Timeline of one bar `t` (t >= 1) that has something to do:

1. Orders decided at the close of `t - 1` are priced at bar t's reference price: its open
   when opens are given, else its close (close-only data).
2. Sizing equity `E = cash + Σ q_j · ref_j(t)` is computed once, *before* the bar's trades,
   and fixed for the bar.
3. `Exit`s sell the whole position (column order).
4. `Rebalance(weights)`: the rebalance sizer (default `PortfolioWeightSizer(weights)`)
   gives every held or targeted symbol its target; sells first (column order), then buys
   (column order) with the cash the sells freed.
5. `Enter`s (column order) ask the injected sizer `size(SizingRequest(symbol, ref, E, cash,
   position=0))` for a target; a buy is cut to the largest quantity the free cash pays for
   (costs included) and skipped at 0, with no retry later (when the cash cannot pay for a
   single unit the sizer is not even asked). An `Enter` while holding or an `Exit` while
   flat does nothing.

Prices enter the ledger in integer micro-units (1e-6), rounded half-even: exact for quotes
with up to six decimals; the sizer sees the same rounded price the fill uses.

An order for a symbol with no price on the fill bar is dropped (counted in
`BacktestResult.dropped_orders`). Intents decided at the last bar are never filled. Open
positions are valued at the last close.

Speed: the strategy's intents come as precomputed arrays (`SignalPlan`); the loop visits
only bars with intents and, within a bar, only the symbols with intents or positions. The
ledger is exact (integer micro-units); the equity curve is rebuilt afterwards, vectorised.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import numpy as np
import numpy.typing as npt
import pandas as pd

from tradefolio.backtest.costs import NO_COSTS, CostModel
from tradefolio.backtest.ledger import MICRO, Fill, Ledger, Side, from_micro, to_micro
from tradefolio.backtest.metrics import Metrics, compute_metrics
from tradefolio.errors import DataError, InvalidParameter
from tradefolio.execution.money import micro_array
from tradefolio.execution.planner import BarState, plan_bar
from tradefolio.execution.sizing import PositionSizer, Quantity, SizingRequest
from tradefolio.execution.sizing_policy import FixedSizing, RebalanceSizerFactory, SizingPolicy
from tradefolio.execution.strategy import Enter, Exit, Intent, Rebalance, SignalPlan, Strategy
from tradefolio.execution.strategy import rebalance_sizer as default_rebalance_sizer

FloatArray = npt.NDArray[np.float64]

#: Below this bound on Σ q · mark (micro-units) the int64 dot product cannot overflow.
_INT64_SAFE = 2**62


@dataclass(frozen=True, slots=True)
class BacktestResult:
    """Everything a run produced: fills, the equity curve and the exact final state.

    `equity`, `cash` and `invested` are float64 analytics indexed by date (cash + invested
    = equity, marked at each close); `final_*_micro` are the ledger's exact numbers.
    """

    dates: pd.DatetimeIndex
    symbols: tuple[str, ...]
    fills: tuple[Fill, ...]
    equity: pd.Series
    cash: pd.Series
    invested: pd.Series
    traded_notional: pd.Series
    initial_cash_micro: int
    final_cash_micro: int
    final_equity_micro: int
    final_positions: Mapping[str, int]
    dropped_orders: int

    @property
    def final_equity(self) -> Decimal:
        """Cash plus open positions at the last close (exact)."""
        return from_micro(self.final_equity_micro)

    @property
    def final_cash(self) -> Decimal:
        """Cash at the end (exact)."""
        return from_micro(self.final_cash_micro)

    @property
    def initial_cash(self) -> Decimal:
        """Starting cash (exact)."""
        return from_micro(self.initial_cash_micro)

    def metrics(self) -> Metrics:
        """Performance metrics of the run (see `backtest.metrics`)."""
        return compute_metrics(self.equity, self.invested, self.traded_notional, self.fills)


def _forward_filled(values: FloatArray) -> FloatArray:
    """Last non-missing value at or before each row (NaN before the first)."""
    present = ~np.isnan(values)
    if present.all():
        return values
    last = np.where(present, np.arange(values.shape[0])[:, None], 0)
    np.maximum.accumulate(last, axis=0, out=last)
    filled = values[last, np.arange(values.shape[1])[None, :]]
    return np.where(np.cumsum(present, axis=0) > 0, filled, np.nan)


def _micro_prices(values: FloatArray) -> npt.NDArray[np.int64]:
    """Prices in integer micro-units (0 where missing): the one float -> exact rule."""
    return micro_array(values)


def _validate_panel(closes: pd.DataFrame, opens: pd.DataFrame | None) -> None:
    if closes.shape[0] < 2 or closes.shape[1] < 1:
        raise DataError(
            f"prices need at least 2 sessions and 1 symbol, got {closes.shape[0]} x "
            f"{closes.shape[1]}"
        )
    if not isinstance(closes.index, pd.DatetimeIndex) or not closes.index.is_monotonic_increasing:
        raise DataError("prices need a sorted DatetimeIndex of sessions")
    if not closes.columns.is_unique:
        raise DataError("prices have duplicate symbol columns")
    if opens is not None and (
        not opens.index.equals(closes.index) or not opens.columns.equals(closes.columns)
    ):
        raise DataError("opens must have the same dates and symbols as closes")
    for name, panel in (("closes", closes), ("opens", opens)):
        if panel is None:
            continue
        values = panel.to_numpy(dtype=np.float64, na_value=np.nan)
        if np.any(values[~np.isnan(values)] <= 0) or np.isinf(values).any():
            raise DataError(f"{name} must be finite and > 0 (NaN for a missing price)")


def _group_by_row(mask: npt.NDArray[np.bool_], last_row: int) -> dict[int, list[int]]:
    """Row -> column indices (ascending) of True cells, rows < last_row only."""
    rows, cols = np.nonzero(mask[:last_row])
    grouped: dict[int, list[int]] = {}
    for row, col in zip(rows.tolist(), cols.tolist(), strict=True):
        grouped.setdefault(row, []).append(col)
    return grouped


class _PriceRow(Mapping[str, int]):
    """One bar's reference prices by symbol; a symbol without a price this bar is absent."""

    __slots__ = ("_column_of", "_marks", "_ok")

    def __init__(
        self,
        column_of: Mapping[str, int],
        marks: npt.NDArray[np.int64],
        ok: npt.NDArray[np.bool_],
    ) -> None:
        self._column_of = column_of
        self._marks = marks
        self._ok = ok

    def __getitem__(self, symbol: str) -> int:
        column = self._column_of[symbol]
        if not self._ok[column]:
            raise KeyError(symbol)
        return int(self._marks[column])

    def get(self, symbol: str, default: int | None = None) -> int | None:  # type: ignore[override]
        """The price of `symbol`, or `default` when it has none this bar."""
        column = self._column_of.get(symbol)
        if column is None or not self._ok[column]:
            return default
        return int(self._marks[column])

    def __iter__(self) -> Iterator[str]:
        return (s for s, j in self._column_of.items() if self._ok[j])

    def __len__(self) -> int:
        return int(np.count_nonzero(self._ok))


class _Holdings(Mapping[str, int]):
    """The ledger's positions (by column) seen by symbol, live."""

    __slots__ = ("_column_of", "_positions", "_symbols")

    def __init__(
        self, positions: dict[int, int], symbols: list[str], column_of: Mapping[str, int]
    ) -> None:
        self._positions = positions
        self._symbols = symbols
        self._column_of = column_of

    def __getitem__(self, symbol: str) -> int:
        return self._positions[self._column_of[symbol]]

    def get(self, symbol: str, default: int = 0) -> int:  # type: ignore[override]
        """Units held of `symbol` (`default` when flat)."""
        column = self._column_of.get(symbol)
        return default if column is None else self._positions.get(column, default)

    def __iter__(self) -> Iterator[str]:
        return (self._symbols[j] for j in sorted(self._positions))

    def __len__(self) -> int:
        return len(self._positions)


class _LazySizer:
    """The decision bar's sizer, built only if the bar has an entry to size."""

    __slots__ = ("_bar", "_policy", "_sizer")

    def __init__(self, policy: SizingPolicy, bar: int) -> None:
        self._policy = policy
        self._bar = bar
        self._sizer: PositionSizer | None = None

    def size(self, request: SizingRequest) -> Quantity:
        """The policy's sizer at the decision bar, asked once built."""
        if self._sizer is None:
            self._sizer = self._policy.sizer_at(self._bar)
        return self._sizer.size(request)


class _Run:
    """State of one run (kept out of the public API; built and consumed by `run_backtest`)."""

    def __init__(
        self,
        closes: pd.DataFrame,
        plan: SignalPlan,
        sizing: SizingPolicy,
        cash_micro: int,
        costs: CostModel,
        opens: pd.DataFrame | None,
        rebalance_sizer: RebalanceSizerFactory,
    ) -> None:
        self.closes = closes
        self.plan = plan
        self.sizing = sizing
        self.costs = costs
        self.rebalance_sizer = rebalance_sizer
        self.symbols = [str(c) for c in closes.columns]
        self.column_of = {s: j for j, s in enumerate(self.symbols)}
        self.days: list[date] = list(pd.DatetimeIndex(closes.index).date)
        reference = (opens if opens is not None else closes).to_numpy(
            dtype=np.float64, na_value=np.nan
        )
        self.tradable = ~np.isnan(reference)
        self.reference_micro = _micro_prices(_forward_filled(reference))
        self.ledger = Ledger(cash_micro)
        self.initial_cash_micro = cash_micro
        self.dropped = 0
        # Mirror of the ledger's positions as a vector, so the bar's equity is one dot product
        self.held = np.zeros(len(self.symbols), dtype=np.int64)
        self.units = 0  # Σ held, for the overflow bound Σ q · mark <= units · max(mark)
        self.max_mark = self.reference_micro.max(axis=1).tolist()

    def _fill(self, bar: int, column: int, side: Side, quantity: int, price_micro: int) -> None:
        """Apply a fill at `price_micro` (already slipped) to the ledger."""
        commission = self.costs.commission_micro(quantity, price_micro, side)
        fill = Fill(
            bar, self.days[bar], self.symbols[column], side, quantity, price_micro, commission
        )
        if side == "buy":
            self.ledger.buy(fill, column)
            self.held[column] += quantity
            self.units += quantity
        else:
            self.ledger.sell(fill, column)
            self.held[column] -= quantity
            self.units -= quantity

    def _equity_micro(self, bar: int, marks: npt.NDArray[np.int64]) -> int:
        """cash + Σ q · mark, exact: an int64 dot product when it cannot overflow."""
        if self.units * self.max_mark[bar] < _INT64_SAFE:
            return self.ledger.cash_micro + int(self.held @ marks)
        return self.ledger.equity_micro({j: int(marks[j]) for j in self.ledger.positions})

    def _intents(
        self,
        decided: int,
        exits: dict[int, list[int]],
        rebalances: dict[int, Mapping[str, float]],
        entries: dict[int, list[int]],
    ) -> list[Intent]:
        symbols = self.symbols
        intents: list[Intent] = [Exit(symbols[j]) for j in exits.get(decided, ())]
        if decided in rebalances:
            intents.append(Rebalance(rebalances[decided]))
        intents.extend(Enter(symbols[j]) for j in entries.get(decided, ()))
        return intents

    def execute(self) -> None:
        bars = self.closes.shape[0]
        exits = _group_by_row(self.plan.exits, bars - 1)
        entries = _group_by_row(self.plan.entries, bars - 1)
        rebalances = {b: w for b, w in self.plan.rebalances.items() if 0 <= b < bars - 1}
        holdings = _Holdings(self.ledger.positions, self.symbols, self.column_of)
        for decided in sorted(exits.keys() | entries.keys() | rebalances.keys()):
            bar = decided + 1
            marks = self.reference_micro[bar]
            state = BarState(
                prices=_PriceRow(self.column_of, marks, self.tradable[bar]),
                holdings=holdings,
                cash_micro=self.ledger.cash_micro,
                equity_micro=self._equity_micro(bar, marks),
                universe=self.symbols,
            )
            plan = plan_bar(
                self._intents(decided, exits, rebalances, entries),
                state,
                _LazySizer(self.sizing, decided),
                self.costs,
                self.rebalance_sizer,
            )
            self.dropped += plan.unpriced
            for order in plan.orders:
                column = self.column_of[order.symbol]
                self._fill(bar, column, order.side, order.quantity, order.price_micro)

    def result(self) -> BacktestResult:
        closes = self.closes
        bars, count = closes.shape
        fills = self.ledger.fills
        close_values = _forward_filled(closes.to_numpy(dtype=np.float64, na_value=np.nan))
        last_close_micro = _micro_prices(close_values[-1]).tolist()
        initial = self.initial_cash_micro
        position_change = np.zeros((bars, count))
        cash_change = np.zeros(bars, dtype=np.int64)
        notional = np.zeros(bars)
        if fills:
            fill_bars = np.fromiter((f.bar for f in fills), dtype=np.int64, count=len(fills))
            columns = np.fromiter(
                (self.column_of[f.symbol] for f in fills), dtype=np.int64, count=len(fills)
            )
            signed = np.fromiter(
                (f.quantity if f.side == "buy" else -f.quantity for f in fills),
                dtype=np.float64,
                count=len(fills),
            )
            np.add.at(position_change, (fill_bars, columns), signed)
            np.add.at(
                cash_change,
                fill_bars,
                np.fromiter((f.cash_change_micro for f in fills), dtype=np.int64, count=len(fills)),
            )
            np.add.at(
                notional,
                fill_bars,
                np.fromiter(
                    (f.quantity * f.price_micro / MICRO for f in fills),
                    dtype=np.float64,
                    count=len(fills),
                ),
            )
        held = np.cumsum(position_change, axis=0)
        invested = np.einsum("ij,ij->i", held, np.nan_to_num(close_values, nan=0.0))
        cash = (initial + np.cumsum(cash_change)) / MICRO
        index = pd.DatetimeIndex(closes.index)
        final_positions = {self.symbols[j]: q for j, q in sorted(self.ledger.positions.items())}
        final_equity = self.ledger.cash_micro + sum(
            q * last_close_micro[j] for j, q in self.ledger.positions.items()
        )
        return BacktestResult(
            dates=index,
            symbols=tuple(self.symbols),
            fills=tuple(fills),
            equity=pd.Series(cash + invested, index=index, name="equity"),
            cash=pd.Series(cash, index=index, name="cash"),
            invested=pd.Series(invested, index=index, name="invested"),
            traded_notional=pd.Series(notional, index=index, name="traded_notional"),
            initial_cash_micro=initial,
            final_cash_micro=self.ledger.cash_micro,
            final_equity_micro=final_equity,
            final_positions=final_positions,
            dropped_orders=self.dropped,
        )


def run_backtest(
    closes: pd.DataFrame,
    strategy: Strategy,
    sizing: SizingPolicy | PositionSizer,
    *,
    cash: float | int | Decimal = 1_000_000,
    costs: CostModel = NO_COSTS,
    opens: pd.DataFrame | None = None,
    rebalance_sizer: RebalanceSizerFactory = default_rebalance_sizer,
) -> BacktestResult:
    """Run `strategy` over `closes` (dates x symbols) with `sizing`, starting from `cash`.

    `sizing` is a `PositionSizer` (used at every bar) or a `SizingPolicy` (a sizer per
    decision bar). `opens`, when given, are the fill prices (same shape as `closes`).
    Raises `DataError` for an unusable price panel, `InvalidParameter` for bad arguments.
    """
    _validate_panel(closes, opens)
    cash_micro = to_micro(cash)
    if cash_micro <= 0:
        raise InvalidParameter(f"cash must be > 0, got {cash}")
    policy: SizingPolicy = (
        sizing
        if isinstance(sizing, SizingPolicy) and not isinstance(sizing, PositionSizer)
        else FixedSizing(sizing)
    )
    plan = strategy.plan(closes)
    if plan.entries.shape != closes.shape or plan.exits.shape != closes.shape:
        raise InvalidParameter(
            f"strategy {strategy.name} planned {plan.entries.shape}, prices are {closes.shape}"
        )
    run = _Run(closes, plan, policy, cash_micro, costs, opens, rebalance_sizer)
    run.execute()
    return run.result()


__all__ = ["BacktestResult", "run_backtest"]
