"""Position sizing: the one question execution asks, "how many units?".

The backtest engine and the live trader both call `PositionSizer.size(request)` with what
they know at decision time and never branch on which sizer they hold. A size is the number
of units the position should *hold* (a target, not an order), never negative: `int` whole
shares, or a `Decimal` multiple of a fractional `lot_size`.

Three sizers:

- `RiskBasedSizer` (the default): lose `risk_per_trade` of equity if the stop is hit,

      target = floor(equity · risk_per_trade / (price · stop_loss_pct))
               (or equity · risk_per_trade / (price - stop_price) with an explicit stop)

  capped by `max_position_pct` of equity and by the free cash after commission.
- `PortfolioWeightSizer`: `target = floor(weight · equity · (1 - cash_buffer) / price)` in
  lots, from target weights (the allocator's output) or one fraction for every name.
- `BetaSizer`: another sizer's target divided by `clamp(beta, beta_floor, beta_cap)`.

Cash cap (all three): buying `target - position` units must fit the free cash. When it
does not, the target becomes `position + n` with `n` the largest whole number of lots whose
cost `price · n + commission(n)` is `<= cash` (equality allowed), decided exactly: in the
ledger's integer micro-units (`execution.money.to_micro` of the price and the cash), as the
planner and the ledger pay for the buy (`CostModel.affordable_quantity`). With the default
zero commission this is "the largest n with price · n <= cash". Not `fl(price · n)`: at an
exact tie the float product can be one ulp above the cash (223 · 23.17 = 5,166.91, but
5,166.910000000001 in floats), which refused a share the cash pays for; backtrader decides
such a tie by its float cash's drift (it buys the 212th share of 26.35 on 5,586.20, refuses
the 223rd of 23.17 on 5,166.91), so the exact ledger is the rule there. A position off the
lot grid may instead be topped up to the largest whole multiple of lots that fits
(whichever is larger), so the cap stays monotone in the target. Selling needs no cash, so
a target below the position is never cash-capped.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from decimal import ROUND_FLOOR, Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from tradefolio.errors import InvalidParameter
from tradefolio.execution.costs import CostModel, largest_affordable
from tradefolio.execution.money import MICRO, to_micro

if TYPE_CHECKING:
    from tradefolio.portfolio.types import AllocationResult

#: A quantity of units: whole shares as `int`, fractional quantities as `Decimal`.
Quantity = int | Decimal

#: The fallback beta of `BetaSizer` for a symbol with no usable beta: size as the market.
FALLBACK_BETA = 1.0

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SizingRequest:
    """What the caller knows when it asks for a size.

    `equity` is cash plus all positions marked at the current price; `cash` is what is free
    to spend now; `position` is the units already held in `symbol`; `stop_price`, when
    given, replaces the sizer's default stop distance.
    """

    symbol: str
    price: float
    equity: float
    cash: float
    position: float = 0.0
    stop_price: float | None = None


@runtime_checkable
class PositionSizer(Protocol):
    """A policy answering "how many units of `symbol` should the position hold?"."""

    def size(self, request: SizingRequest) -> Quantity:
        """A non-negative number of units (int, or Decimal for fractional accounts)."""
        ...


# --------------------------------------------------------------------------- validation


def _finite(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise InvalidParameter(f"{name} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidParameter(f"{name} must be finite, got {value!r}")
    return number


def _open_unit(name: str, value: object) -> None:
    number = _finite(name, value)
    if not 0.0 < number < 1.0:
        raise InvalidParameter(f"{name} must be in (0, 1), got {value!r}")


def _half_open_unit(name: str, value: object) -> None:
    number = _finite(name, value)
    if not 0.0 < number <= 1.0:
        raise InvalidParameter(f"{name} must be in (0, 1], got {value!r}")


def _fraction(name: str, value: object) -> None:
    number = _finite(name, value)
    if not 0.0 <= number < 1.0:
        raise InvalidParameter(f"{name} must be in [0, 1), got {value!r}")


def _lot(value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise InvalidParameter(
            f"lot_size must be an int (whole shares) or a Decimal (fractional), got {value!r}"
        )
    if not (value > 0 and (not isinstance(value, Decimal) or value.is_finite())):
        raise InvalidParameter(f"lot_size must be > 0, got {value!r}")


def _check_request(request: SizingRequest) -> None:
    price = _finite(f"price of {request.symbol}", request.price)
    if price <= 0.0:
        raise InvalidParameter(f"price of {request.symbol} must be > 0, got {request.price!r}")
    _finite(f"equity when sizing {request.symbol}", request.equity)
    _finite(f"cash when sizing {request.symbol}", request.cash)
    position = _finite(f"position in {request.symbol}", request.position)
    if position < 0.0:
        raise InvalidParameter(
            f"position in {request.symbol} is {request.position!r}; sizers are long-only"
        )


# ----------------------------------------------------------------------- costs and lots


@dataclass(frozen=True, slots=True)
class CommissionEstimate:
    """Commission a buy of `q` units at `price` is expected to cost (a sizing estimate).

        commission(q) = 0                                               if q = 0
                      = max(minimum, per_share · q + bps / 1e4 · q · price)   otherwise

    computed by the one cost model (`tradefolio.execution.costs.CostModel`, rounding
    included), so a sizer's cash cap and the fill agree; zero by default.
    """

    bps: float = 0.0
    per_share: float = 0.0
    minimum: float = 0.0
    _model: CostModel = field(init=False, repr=False, compare=False)
    _free: bool = field(init=False, repr=False, compare=False)  # no commission: fl(p · u)

    def __post_init__(self) -> None:
        for name in ("bps", "per_share", "minimum"):
            if _finite(f"commission {name}", getattr(self, name)) < 0.0:
                raise InvalidParameter(
                    f"commission {name} must be >= 0, got {getattr(self, name)!r}"
                )
        model = CostModel(
            commission_bps=self.bps,
            commission_per_share=self.per_share,
            commission_min=self.minimum,
        )
        object.__setattr__(self, "_model", model)
        object.__setattr__(self, "_free", model.free)

    def cost(self, units: float, price: float) -> float:
        """Cash a buy of `units` at `price` needs, as a float estimate:
        `fl(price · units) + commission(units)` (whether the cash pays for it: `fits`)."""
        if units <= 0:
            return 0.0
        notional = price * units
        if self._free:
            return notional
        quantity: int | Decimal = int(units) if float(units).is_integer() else Decimal(repr(units))
        fee = self._model.commission_micro(quantity, to_micro(price), "buy")
        return notional + fee / MICRO

    def fits(self, units: float, price: float, cash: float) -> bool:
        """Whether `cash` pays for a buy of `units` at `price`, commission included, exactly:
        `units · p + commission(units) <= c` with `p` and `c` the price and the cash in
        integer micro-units (`to_micro`, the ledger's rule; equality allowed).

        The float `cost` decides when it is clearly on one side: it is within
        `0.5e-6 · units` (the price's rounding to the micro) and a few ulps of the exact
        cost, and the cash within 0.5e-6 of its micro-units, so outside that margin both
        agree. Only a near tie is priced exactly, where `fl(price · units)` may be an ulp
        above the cash that pays for it."""
        if units <= 0:
            return True
        estimate = self.cost(units, price)
        margin = 1e-6 * (abs(units) + 1.0) + 1e-9 * max(abs(estimate), abs(cash), 1.0)
        if estimate < cash - margin:
            return True
        if estimate > cash + margin:
            return False
        price_micro = to_micro(price)
        if float(units).is_integer():
            quantity: int | Decimal = int(units)
            notional: int | Decimal = int(units) * price_micro
        else:
            quantity = Decimal(repr(float(units)))
            notional = quantity * price_micro
        fee = 0 if self._free else self._model.commission_micro(quantity, price_micro, "buy")
        return notional + fee <= to_micro(cash)


def _held_lots(position: float, lot_size: Quantity) -> Quantity:
    """The position as a quantity of the sizer's type (floored to whole shares if int lots)."""
    if isinstance(lot_size, Decimal):
        return Decimal(repr(float(position)))
    return math.floor(position)


def _lots_to_units(lots: int, lot_size: Quantity) -> Quantity:
    return lots * lot_size


def _floor_lots(amount: float, lot_size: Quantity) -> int:
    """`floor(amount / lot)` as an int; amount is in units (non-finite or negative -> 0)."""
    if not math.isfinite(amount) or amount <= 0.0:
        return 0
    if isinstance(lot_size, Decimal):
        return int((Decimal(repr(amount)) / lot_size).to_integral_value(ROUND_FLOOR))
    return math.floor(amount / lot_size) if lot_size != 1 else math.floor(amount)


def affordable_lots(
    price: float,
    cash: float,
    lot_size: Quantity = 1,
    commission: CommissionEstimate | None = None,
) -> int:
    """The largest number of lots `n >= 0` whose cost the cash pays for (`fits`).

    `fits` is `CommissionEstimate.fits`, exact in micro-units (plain `price · units <= cash`
    without commission); it is monotone in `n`, so the answer comes from a guess
    `floor(cash / (price · lot))` checked and corrected by the one search,
    `costs.largest_affordable` (exact, whatever the float rounding of the guess).
    """
    if not (math.isfinite(price) and price > 0.0 and math.isfinite(cash)):
        raise InvalidParameter(f"need a finite price > 0 and finite cash, got {price!r}, {cash!r}")
    estimate = commission if commission is not None else CommissionEstimate()
    unit = float(lot_size)

    def fits(lots: int) -> bool:
        return estimate.fits(lots * unit, price, cash)

    if not fits(1):
        return 0
    return largest_affordable(fits, max(1, _floor_lots(cash / price, lot_size)))


def cash_capped(
    target: Quantity,
    request: SizingRequest,
    lot_size: Quantity = 1,
    commission: CommissionEstimate | None = None,
) -> Quantity:
    """`target`, or `position + n` lots when buying up to `target` costs more than the cash.

    `n` is `affordable_lots(price, cash, ...)`; never below the position, never above the
    target; a target below the position (a sale) is returned unchanged.
    """
    held = _held_lots(request.position, lot_size)
    if target <= held:
        return target
    estimate = commission if commission is not None else CommissionEstimate()
    if estimate.fits(float(target - held), request.price, request.cash):
        return target
    lots = affordable_lots(request.price, request.cash, lot_size, estimate)
    capped = min(target, held + _lots_to_units(lots, lot_size))
    if isinstance(lot_size, int) and held % lot_size == 0:
        # On the lot grid the boundary search walks the same grid `held + n` lots and can
        # only find `capped` or less: skip it (the usual case, e.g. every backtest entry).
        return capped
    return max(capped, _affordable_lot_boundary(target, held, request, lot_size, estimate))


def _affordable_lot_boundary(
    target: Quantity,
    held: Quantity,
    request: SizingRequest,
    lot_size: Quantity,
    estimate: CommissionEstimate,
) -> Quantity:
    """The largest whole multiple of `lot_size` in `(held, target]` whose purchase fits the cash.

    A held position that is not a whole number of lots (a fill cut by the cash, shares moved
    in by hand) would otherwise only grow in steps of `held + n` lots, so a larger target
    could end below a smaller one that a one-share top-up reaches: taking the better of the
    two keeps the cap monotone in the target. `held` itself when no such multiple fits.
    """
    unit = float(lot_size)
    first = math.ceil(float(held) / unit - 1e-12)
    boundary = _lots_to_units(first, lot_size)
    if boundary <= held:
        boundary = boundary + lot_size
        first += 1
    if boundary > target:
        return held

    def fits(extra: int) -> bool:
        quantity = float(boundary - held) + extra * unit
        return estimate.fits(quantity, request.price, request.cash)

    if not fits(0):
        return held
    top = _floor_lots(float(target), lot_size) - first
    extra = largest_affordable(
        fits, max(0, _floor_lots(request.cash / request.price, lot_size) - 1), top
    )
    return min(target, boundary + _lots_to_units(extra, lot_size))


# ------------------------------------------------------------------------------- sizers


@dataclass(frozen=True, slots=True)
class PortfolioWeightSizer:
    """Hold `weight` of equity in each symbol.

        target = lot · floor(weight · equity · (1 - cash_buffer) / (price · lot))

    `weight` is `weights[symbol]`, or `default_weight` for a symbol not in the mapping (0 by
    default: a symbol with no target weight sizes to 0, i.e. is sold). Then the cash cap of
    the module docstring. `cash_buffer` keeps that fraction of equity uninvested. With
    `lot_size=1` and no buffer the target is exactly `floor(weight · equity / price)`.
    """

    weights: Mapping[str, float] = field(default_factory=dict)
    default_weight: float = 0.0
    cash_buffer: float = 0.0
    lot_size: Quantity = 1
    commission: CommissionEstimate = field(default_factory=CommissionEstimate)

    def __post_init__(self) -> None:
        frozen = {str(symbol): float(weight) for symbol, weight in dict(self.weights).items()}
        for symbol, weight in frozen.items():
            if not (math.isfinite(weight) and 0.0 <= weight <= 1.0):
                raise InvalidParameter(f"weight of {symbol} must be in [0, 1], got {weight!r}")
        object.__setattr__(self, "weights", MappingProxyType(frozen))
        weight = _finite("default_weight", self.default_weight)
        if not 0.0 <= weight <= 1.0:
            raise InvalidParameter(f"default_weight must be in [0, 1], got {weight!r}")
        _fraction("cash_buffer", self.cash_buffer)
        _lot(self.lot_size)

    @classmethod
    def fixed(
        cls,
        fraction: float,
        *,
        cash_buffer: float = 0.0,
        lot_size: Quantity = 1,
        commission: CommissionEstimate | None = None,
    ) -> PortfolioWeightSizer:
        """The same `fraction` of equity in every symbol."""
        return cls(
            weights={},
            default_weight=fraction,
            cash_buffer=cash_buffer,
            lot_size=lot_size,
            commission=commission if commission is not None else CommissionEstimate(),
        )

    @classmethod
    def from_allocation(
        cls,
        result: AllocationResult,
        *,
        cash_buffer: float = 0.0,
        lot_size: Quantity = 1,
        commission: CommissionEstimate | None = None,
    ) -> PortfolioWeightSizer:
        """Target the allocator's weights (`result.weights`); unselected symbols size to 0."""
        return cls(
            weights=result.weights,
            cash_buffer=cash_buffer,
            lot_size=lot_size,
            commission=commission if commission is not None else CommissionEstimate(),
        )

    def weight_of(self, symbol: str) -> float:
        """The target weight of `symbol` (`default_weight` when it has none)."""
        return self.weights.get(symbol, self.default_weight)

    def size(self, request: SizingRequest) -> Quantity:
        """Units to hold (see the class docstring)."""
        _check_request(request)
        dollars = self.weight_of(request.symbol) * request.equity
        if self.cash_buffer:
            dollars *= 1.0 - self.cash_buffer
        if isinstance(self.lot_size, Decimal):
            lots = _floor_lots(dollars / request.price, self.lot_size)
        else:
            lots = _floor_lots(dollars / (request.price * self.lot_size), 1)
        target = _lots_to_units(lots, self.lot_size)
        return cash_capped(target, request, self.lot_size, self.commission)


@dataclass(frozen=True, slots=True)
class RiskBasedSizer:
    """Risk a fixed fraction of equity between the price and the stop.

        stop distance d = price · stop_loss_pct        (or price - stop_price when given)
        target = min( floor(equity · risk_per_trade / d),
                      floor(equity · max_position_pct / price) )      (in lots)

    then the cash cap (free cash after the commission estimate). A stop at or above the
    price leaves no risk budget: the position is held as it is (no buying, no selling).
    Non-positive equity sizes to 0.
    """

    risk_per_trade: float = 0.01
    stop_loss_pct: float = 0.05
    max_position_pct: float = 0.25
    lot_size: Quantity = 1
    commission: CommissionEstimate = field(default_factory=CommissionEstimate)

    def __post_init__(self) -> None:
        _open_unit("risk_per_trade", self.risk_per_trade)
        _open_unit("stop_loss_pct", self.stop_loss_pct)
        _half_open_unit("max_position_pct", self.max_position_pct)
        _lot(self.lot_size)

    def size(self, request: SizingRequest) -> Quantity:
        """Units to hold (see the class docstring)."""
        _check_request(request)
        if request.stop_price is not None:
            stop = _finite(f"stop price of {request.symbol}", request.stop_price)
            distance = request.price - stop
            if distance <= 0.0:
                return _held_lots(request.position, self.lot_size)
        else:
            distance = request.price * self.stop_loss_pct
        if request.equity <= 0.0:
            return _lots_to_units(0, self.lot_size)
        risk_units = request.equity * self.risk_per_trade / distance
        cap_units = request.equity * self.max_position_pct / request.price
        lots = min(_floor_lots(risk_units, self.lot_size), _floor_lots(cap_units, self.lot_size))
        target = _lots_to_units(lots, self.lot_size)
        return cash_capped(target, request, self.lot_size, self.commission)


@dataclass(frozen=True, slots=True)
class BetaSizer:
    """Scale another sizer's target down for high-beta names (up for low-beta ones).

        b = clamp(beta[symbol], beta_floor, beta_cap)
        target = lot · floor(base_target · target_beta / (b · lot))

    then the cash cap (a low beta can raise the base target; the result never needs more
    cash than is free). A symbol with no beta, or a NaN/inf one, uses `fallback_beta`
    (`FALLBACK_BETA = 1.0`: size it like the market) and is logged once per symbol at
    WARNING; the once-set is shared by the copies `with_betas` makes, not global.

    Betas are meant to come from `tradefolio.indicators.calculate_beta` /
    `rolling_beta` against a benchmark; `with_betas` gives the sizer of a new decision date.
    """

    base: PositionSizer = field(default_factory=RiskBasedSizer)
    betas: Mapping[str, float] = field(default_factory=dict)
    beta_floor: float = 0.5
    beta_cap: float = 3.0
    target_beta: float = 1.0
    fallback_beta: float = FALLBACK_BETA
    lot_size: Quantity = 1
    commission: CommissionEstimate = field(default_factory=CommissionEstimate)
    logger: logging.Logger = field(default=_LOGGER, repr=False, compare=False)
    _warned: set[str] = field(default_factory=set, repr=False, compare=False)

    def __post_init__(self) -> None:
        floor = _finite("beta_floor", self.beta_floor)
        cap = _finite("beta_cap", self.beta_cap)
        if not 0.0 < floor <= cap:
            raise InvalidParameter(
                f"need 0 < beta_floor <= beta_cap, got beta_floor={floor!r}, beta_cap={cap!r}"
            )
        if _finite("target_beta", self.target_beta) <= 0.0:
            raise InvalidParameter(f"target_beta must be > 0, got {self.target_beta!r}")
        if _finite("fallback_beta", self.fallback_beta) <= 0.0:
            raise InvalidParameter(f"fallback_beta must be > 0, got {self.fallback_beta!r}")
        _lot(self.lot_size)
        frozen = {str(symbol): float(beta) for symbol, beta in dict(self.betas).items()}
        object.__setattr__(self, "betas", MappingProxyType(frozen))

    def with_betas(self, betas: Mapping[str, float]) -> BetaSizer:
        """The same sizer with new betas (e.g. the rolling betas of the next decision date)."""
        return replace(self, betas=betas)

    def effective_beta(self, symbol: str) -> float:
        """`clamp(beta, beta_floor, beta_cap)`, with the fallback for a missing/NaN beta."""
        beta = self.betas.get(symbol, math.nan)
        if not math.isfinite(beta):
            if symbol not in self._warned:
                self._warned.add(symbol)
                self.logger.warning(
                    "no usable beta for %s (%s); sizing it with the fallback beta %s",
                    symbol,
                    "missing" if symbol not in self.betas else repr(beta),
                    self.fallback_beta,
                )
            beta = self.fallback_beta
        return min(max(beta, self.beta_floor), self.beta_cap)

    def size(self, request: SizingRequest) -> Quantity:
        """Units to hold (see the class docstring)."""
        base = self.base.size(request)
        if base < 0:
            raise InvalidParameter(f"base sizer returned {base} units of {request.symbol}")
        scaled = float(base) * self.target_beta / self.effective_beta(request.symbol)
        target = _lots_to_units(_floor_lots(scaled, self.lot_size), self.lot_size)
        return cash_capped(target, request, self.lot_size, self.commission)


#: Builds a sizer from target weights (e.g. `PortfolioWeightSizer` for a rebalance).
WeightSizerFactory = Callable[[Mapping[str, float]], PositionSizer]


__all__ = [
    "FALLBACK_BETA",
    "BetaSizer",
    "CommissionEstimate",
    "PortfolioWeightSizer",
    "PositionSizer",
    "Quantity",
    "RiskBasedSizer",
    "SizingRequest",
    "WeightSizerFactory",
    "affordable_lots",
    "cash_capped",
]
