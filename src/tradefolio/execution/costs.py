"""The one cost model: commission, slippage, the sell-side cap and the affordable quantity.

Backtest, paper broker and sizers all price a trade with this module (the live trader
through `PaperBroker`'s `CostModel`, the sizers through `CommissionEstimate`). For a fill of
`q` units at reference price `p` (the bar's open, or the trigger / limit price of a resting
order):

    fill price   p_f = p · (1 + s) for a buy,  p · (1 - s) for a sell,  s = slippage_bps / 1e4
    commission   c(q) = 0                                                        if q = 0
                      = max(minimum, fixed + per_share · q + bps / 1e4 · q · p_f)  otherwise
                 capped at the proceeds q · p_f for a sell (a sale never drives cash below 0)

The minimum applies whenever a fill happens, even with no per-share or bps rate (10 shares
at $100 with only a $1 minimum cost $1.00). Rounding: the fill price and the commission are
each rounded half-even to the micro-unit where they are made (`money.round_micro`); every
other step is exact (`Decimal` rates on integer micro-units).

`fixed` is a fee per fill (per traded name in a rebalance): with `bps` it is the cost the
allocation model prices (`model_cost_terms`: `--cost-bps` and `--fixed-cost` of
`allocate`), so what the optimiser expects to pay is what the fill pays.

`largest_affordable` is the one "how many can the cash pay for" search (monotone cost,
exponential then binary search from a guess); `CostModel.affordable_quantity` (ledger,
micro-units) and `sizing.affordable_lots` (sizer: a float estimate, decided exactly in
micro-units at a near tie, `CommissionEstimate.fits`) both use it, so both answer the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from tradefolio.errors import InvalidParameter
from tradefolio.execution.money import MICRO, exact, from_micro, round_micro, to_micro

_BPS = Decimal(10_000)
_MICRO = Decimal(MICRO)

#: An order side as the ledger spells it.
SideName = str  # "buy" | "sell"


def _rate(name: str, value: float | Decimal | int) -> Decimal:
    if isinstance(value, bool):
        raise InvalidParameter(f"{name} must be a number, got {value!r}")
    try:
        rate = exact(value)
    except (InvalidParameter, ArithmeticError, ValueError, TypeError):
        raise InvalidParameter(f"{name} must be a finite number >= 0, got {value}") from None
    if rate < 0:
        raise InvalidParameter(f"{name} must be a finite number >= 0, got {value}")
    return rate


def largest_affordable(fits: Callable[[int], bool], guess: int, upper: int | None = None) -> int:
    """The largest `n >= 0` with `fits(n)`, for `fits` monotone (true up to some n, then false).

    `fits(0)` is taken as true. The search starts from `guess` (a near answer, e.g.
    `cash // price`), widens exponentially in the direction it must move, then halves; it
    never returns more than `upper` when given (without `upper`, `fits` must turn false
    somewhere). O(log |answer - guess|) calls of `fits`.
    """
    if upper is not None:
        if upper <= 0:
            return 0
        guess = min(guess, upper)
    guess = max(guess, 0)
    if guess == 0 or fits(guess):
        low, step = guess, 1  # fits(low)
        while True:
            probe = low + step
            if upper is not None and probe >= upper:
                if fits(upper):
                    return upper
                high = upper
                break
            if not fits(probe):
                high = probe
                break
            low, step = probe, step * 2
    else:
        high, step = guess, 1  # not fits(high)
        while True:
            probe = high - step
            if probe <= 0:
                low = 0
                break
            if fits(probe):
                low = probe
                break
            high, step = probe, step * 2
    while high - low > 1:  # invariant: fits(low), not fits(high)
        middle = (low + high) // 2
        if fits(middle):
            low = middle
        else:
            high = middle
    return low


@dataclass(frozen=True, slots=True)
class CostModel:
    """Commission and slippage parameters (all >= 0; the default costs nothing).

    Rates may be floats (through the float -> exact rule) or `Decimal`s.
    """

    commission_bps: float | Decimal = 0.0
    commission_per_share: float | Decimal = 0.0
    commission_min: float | Decimal = 0.0
    slippage_bps: float | Decimal = 0.0
    commission_fixed: float | Decimal = 0.0
    _bps: Decimal = field(init=False, repr=False, compare=False)
    _per_share_micro: Decimal = field(init=False, repr=False, compare=False)
    _min_micro: Decimal = field(init=False, repr=False, compare=False)
    _fixed_micro: Decimal = field(init=False, repr=False, compare=False)
    _slippage: Decimal = field(init=False, repr=False, compare=False)
    _charges: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        setters = object.__setattr__
        setters(self, "_bps", _rate("commission_bps", self.commission_bps) / _BPS)
        setters(
            self,
            "_per_share_micro",
            _rate("commission_per_share", self.commission_per_share) * _MICRO,
        )
        setters(self, "_min_micro", _rate("commission_min", self.commission_min) * _MICRO)
        setters(self, "_slippage", _rate("slippage_bps", self.slippage_bps) / _BPS)
        setters(self, "_fixed_micro", _rate("commission_fixed", self.commission_fixed) * _MICRO)
        setters(
            self,
            "_charges",
            bool(self._bps or self._per_share_micro or self._min_micro or self._fixed_micro),
        )

    @property
    def free(self) -> bool:
        """True when trading costs nothing (callers may skip the cost arithmetic)."""
        return not (self._charges or self._slippage)

    def model_cost_terms(self) -> tuple[float, float]:
        """(bps, fixed dollars per traded name) the allocation model charges for a trade
        valued at the reference price: the fill's cost exactly when there is no slippage.

        A buy of value v pays v·(1+s)·(1 + b) + fixed, a sell receives v·(1-s)·(1 - b) -
        fixed (s slippage, b commission rate): the model's rate is s + b + s·b, exact for
        buys and at most s·b·2 above a sell's. The commission minimum and a per-share rate
        are not linear in the traded dollars (`InvalidParameter`: use the fixed fee).
        """
        if self._min_micro or self._per_share_micro:
            raise InvalidParameter(
                "the allocation model prices trades as bps of their value plus a fixed cost "
                "per traded name; --commission-min and --commission-per-share are not: use "
                "--cost-bps and --fixed-cost"
            )
        rate = self._bps + self._slippage + self._bps * self._slippage
        return float(rate * _BPS), float(self._fixed_micro / _MICRO)

    # -- micro-units: the ledger's view ---------------------------------------------------

    def fill_price_micro(self, reference_micro: int, side: SideName) -> int:
        """Reference price moved against the trader by the slippage, in micro-units."""
        if not self._slippage:
            return reference_micro
        factor = 1 + self._slippage if side == "buy" else 1 - self._slippage
        return round_micro(reference_micro * factor)

    def _commission_of(self, quantity: int | Decimal, notional_micro: Decimal | int) -> int:
        """The uncapped commission (micro-units) of a fill of `quantity` worth `notional`."""
        if not self._charges or not quantity:
            return 0
        raw = self._fixed_micro + self._per_share_micro * quantity + self._bps * notional_micro
        return round_micro(max(self._min_micro, raw))

    def commission_micro(self, quantity: int | Decimal, price_micro: int, side: SideName) -> int:
        """Commission of a fill of `quantity` at `price_micro`, in micro-units (see module)."""
        if not self._charges or not quantity:
            return 0
        notional = quantity * price_micro
        commission = self._commission_of(quantity, notional)
        if side == "sell":
            cap = notional if isinstance(notional, int) else round_micro(Decimal(notional))
            return min(commission, cap)
        return commission

    def buy_cost_micro(self, quantity: int, price_micro: int) -> int:
        """Cash a buy of `quantity` at fill price `price_micro` takes, commission included."""
        return quantity * price_micro + self.commission_micro(quantity, price_micro, "buy")

    def affordable_quantity(self, wanted: int, price_micro: int, cash_micro: int) -> int:
        """Largest `q <= wanted` with `q · price + commission(q) <= cash` (0 if none)."""
        if wanted <= 0 or price_micro <= 0 or cash_micro <= 0:
            return 0
        # q · price alone must fit, so cash // price bounds the answer from above
        bound = min(wanted, cash_micro // price_micro)
        if bound <= 0:
            return 0
        if self.buy_cost_micro(bound, price_micro) <= cash_micro:
            return bound  # the usual case (what the search would answer first)
        return largest_affordable(
            lambda q: self.buy_cost_micro(q, price_micro) <= cash_micro, bound, bound
        )

    # -- Decimal: the live journal's and paper broker's view -------------------------------

    def fill_price(self, mark: Decimal, side: SideName) -> Decimal:
        """`fill_price_micro` of a `Decimal` mark, as a `Decimal`."""
        return from_micro(self.fill_price_micro(round_micro(mark * _MICRO), side))

    def commission(self, quantity: Decimal, notional: Decimal, side: SideName = "buy") -> Decimal:
        """Commission of a fill of `quantity` units worth `notional` (exact `Decimal`s)."""
        if not self._charges or not quantity:
            return Decimal(0)
        notional_micro = notional * _MICRO
        commission = self._commission_of(quantity, notional_micro)
        if side == "sell":
            commission = min(commission, round_micro(notional_micro))
        return from_micro(commission)

    def expected_cost(self, side: SideName, quantity: int, price: float) -> float:
        """Dollars a fill of `quantity` units at reference `price` pays: its commission at
        the slipped fill price plus the slippage, `quantity · |fill - price|` (the rebalance
        record's expected cost of a listed trade; the realised cost is the same sum at the
        fill bar's price)."""
        if quantity <= 0:
            return 0.0
        reference = to_micro(price)
        fill = self.fill_price_micro(reference, side)
        slipped = quantity * abs(fill - reference)
        return (self.commission_micro(quantity, fill, side) + slipped) / MICRO


NO_COSTS = CostModel()

__all__ = ["NO_COSTS", "CostModel", "largest_affordable"]
