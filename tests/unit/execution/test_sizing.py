"""Sizers: brute-force oracles for the cash cap, formulas on examples, hypothesis invariants."""

from __future__ import annotations

import logging
import math
from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tradefolio.errors import InvalidParameter
from tradefolio.execution.costs import CostModel
from tradefolio.execution.money import MICRO, to_micro
from tradefolio.execution.sizing import (
    BetaSizer,
    CommissionEstimate,
    PortfolioWeightSizer,
    PositionSizer,
    Quantity,
    RiskBasedSizer,
    SizingRequest,
    affordable_lots,
    cash_capped,
)
from tradefolio.portfolio.types import Allocation, AllocationResult


def exact_cost(units: int, price: float, commission: CommissionEstimate | None = None) -> Decimal:
    """What the ledger pays for a buy of `units` at `price`: the price and the commission
    at the micro-unit (the one float -> exact rule), in exact `Decimal`s."""
    estimate = commission or CommissionEstimate()
    price_micro = to_micro(price)
    fee = CostModel(
        commission_bps=estimate.bps,
        commission_per_share=estimate.per_share,
        commission_min=estimate.minimum,
    ).commission_micro(units, price_micro, "buy")
    return (Decimal(units) * price_micro + fee) / MICRO


def brute_affordable(
    price: float, cash: float, lot: float = 1, commission: CommissionEstimate | None = None
) -> int:
    """Oracle: count up lots one by one while the cash, exactly, still pays for the next."""
    limit = Decimal(to_micro(cash)) / MICRO
    lots = 0
    while exact_cost(int((lots + 1) * lot), price, commission) <= limit:
        lots += 1
    return lots


def request(
    price: float = 50.0,
    equity: float = 100_000.0,
    cash: float = 100_000.0,
    position: float = 0.0,
    symbol: str = "AAA",
    stop_price: float | None = None,
) -> SizingRequest:
    return SizingRequest(symbol, price, equity, cash, position, stop_price)


# ------------------------------------------------------------------------ cash arithmetic


@settings(max_examples=200, deadline=None)
@given(
    price=st.floats(0.01, 1000.0),
    cash=st.floats(-100.0, 5000.0),
    bps=st.sampled_from([0.0, 1.0, 10.0]),
    per_share=st.sampled_from([0.0, 0.005]),
    minimum=st.sampled_from([0.0, 1.0]),
)
def test_affordable_lots_is_the_largest_that_fits(
    price: float, cash: float, bps: float, per_share: float, minimum: float
) -> None:
    commission = CommissionEstimate(bps, per_share, minimum)
    assume(cash / price < 20_000)
    assert affordable_lots(price, cash, 1, commission) == brute_affordable(
        price, cash, 1, commission
    )


def test_affordable_allows_equality_and_is_exact_at_float_edges() -> None:
    """An exact tie `price · n == cash` is affordable, whatever the float product says
    (the ledger pays `n · price` exactly; review, session 11: `fl(price · n)` one ulp above
    the cash refused the last share, 222 of 23.17 on 5,166.91 = 223 · 23.17)."""
    assert affordable_lots(10.0, 100.0) == 10
    assert affordable_lots(10.0, math.nextafter(100.0, 0.0)) == 10  # the same micro-units
    assert affordable_lots(10.0, 99.999999) == 9
    # fl(0.1 · 3) = 0.30000000000000004 > 0.3, and 0.3 / 0.1 floors to 2: exactly 3 fit
    assert 0.1 * 3 > 0.3 and int(0.3 / 0.1) == 2
    assert affordable_lots(0.1, 0.3) == brute_affordable(0.1, 0.3) == 3
    # 0.7 / 0.1 = 6.999999999999999 and fl(0.1 · 7) = 0.7000000000000001 > 0.7: exactly 7
    assert affordable_lots(0.1, 0.7) == brute_affordable(0.1, 0.7) == 7
    assert affordable_lots(0.2, 0.6) == brute_affordable(0.2, 0.6) == 3
    assert 23.17 * 223 > 5166.91 and Decimal("23.17") * 223 == Decimal("5166.91")
    assert affordable_lots(23.17, 5166.91) == 223
    assert affordable_lots(23.17, 5166.909999) == 222
    # with a commission the tie is the cost's: 7 · 0.1 + 1 minimum is exactly 1.7
    fee = CommissionEstimate(minimum=1.0)
    assert fee.cost(7, 0.1) > 1.7
    assert affordable_lots(0.1, 1.7, commission=fee) == brute_affordable(0.1, 1.7, 1, fee) == 7
    assert affordable_lots(0.1, 1.699999, commission=fee) == 6


def test_the_weight_sizer_buys_what_the_cash_pays_for_exactly() -> None:
    """The engine's example (seed 813 of the reference-loop test): 50% of 10,443.79 wants
    225 shares of 23.17, the cash 5,166.91 pays for exactly 223."""
    sizer = PortfolioWeightSizer.fixed(0.5)
    req = request(price=23.17, equity=10_443.79, cash=5_166.91)
    assert sizer.size(req) == 223
    assert cash_capped(225, req) == 223
    risk = RiskBasedSizer(risk_per_trade=0.5, stop_loss_pct=0.01, max_position_pct=1.0)
    assert risk.size(req) == 223


def test_affordable_with_lots_and_commission() -> None:
    commission = CommissionEstimate(bps=10.0, per_share=0.01, minimum=5.0)
    assert affordable_lots(20.0, 1000.0, 10, commission) == brute_affordable(
        20.0, 1000.0, 10.0, commission
    )
    assert affordable_lots(20.0, 4.0) == 0
    assert affordable_lots(20.0, 24.0, commission=commission) == 0  # 20 + 5 minimum > 24


def test_affordable_rejects_nonsense() -> None:
    with pytest.raises(InvalidParameter, match="finite"):
        affordable_lots(10.0, math.inf)
    with pytest.raises(InvalidParameter, match="price"):
        affordable_lots(0.0, 100.0)


def test_cash_cap_keeps_sales_and_caps_buys() -> None:
    held = request(price=10.0, cash=55.0, position=100.0)
    assert cash_capped(40, held) == 40
    assert cash_capped(200, held) == 105
    assert cash_capped(104, held) == 104


# ------------------------------------------------------------------- PortfolioWeightSizer


def stand_in_weight_target(weight: float, req: SizingRequest) -> int:
    """The backtest engine's rule: floor(w · E / p), or position + max n with p · n <= cash
    (exactly, as the ledger pays)."""
    target = math.floor(weight * req.equity / req.price)
    held = int(req.position)
    if target > held and exact_cost(target - held, req.price) > Decimal(to_micro(req.cash)) / MICRO:
        return held + brute_affordable(req.price, req.cash)
    return target


@settings(max_examples=200, deadline=None)
@given(
    weight=st.floats(0.0, 1.0),
    price=st.floats(0.5, 500.0),
    equity=st.floats(0.0, 200_000.0),
    cash_share=st.floats(0.0, 1.0),
    position=st.integers(0, 300),
)
def test_weight_sizer_is_the_engine_rule(
    weight: float, price: float, equity: float, cash_share: float, position: int
) -> None:
    req = request(price=price, equity=equity, cash=equity * cash_share, position=float(position))
    sizer = PortfolioWeightSizer({"AAA": weight})
    assert sizer.size(req) == stand_in_weight_target(weight, req)
    assert isinstance(sizer.size(req), int)


def test_weight_sizer_examples() -> None:
    sizer = PortfolioWeightSizer({"AAA": 0.25, "BBB": 0.5})
    assert sizer.size(request(price=30.0)) == 833  # floor(25_000 / 30)
    assert sizer.size(request(symbol="ZZZ")) == 0  # no target weight: sell to 0
    assert sizer.size(request(symbol="ZZZ", position=10.0)) == 0
    assert sizer.size(request(symbol="BBB", cash=1000.0, position=5.0)) == 25  # 5 + 1000 // 50
    buffered = PortfolioWeightSizer({"AAA": 0.25}, cash_buffer=0.1)
    assert buffered.size(request(price=30.0)) == 750  # floor(22_500 / 30)
    in_lots = PortfolioWeightSizer({"AAA": 0.25}, lot_size=100)
    assert in_lots.size(request(price=30.0)) == 800


def test_fixed_fraction_and_fractional_lots() -> None:
    sizer = PortfolioWeightSizer.fixed(0.1, lot_size=Decimal("0.001"))
    size = sizer.size(request(price=300.0, equity=10_000.0))
    assert size == Decimal("3.333")
    assert isinstance(size, Decimal)
    capped = sizer.size(request(price=300.0, equity=10_000.0, cash=100.0, position=1.5))
    assert capped == Decimal("1.5") + Decimal("0.333")


def test_from_allocation_uses_the_weights() -> None:
    result = AllocationResult(
        allocations=(
            Allocation("AAA", 0.6, 60_000.0, 1200.0, 50.0),
            Allocation("BBB", 0.4, 40_000.0, 400.0, 100.0),
        ),
        status="optimal",
        objective=1.0,
        capital=100_000.0,
        cash=0.0,
        solver="exact",
        best_bound=1.0,
    )
    sizer = PortfolioWeightSizer.from_allocation(result)
    assert sizer.size(request(symbol="AAA")) == 1200
    assert sizer.size(request(symbol="BBB", price=100.0)) == 400
    assert sizer.size(request(symbol="CCC")) == 0


@settings(max_examples=200, deadline=None)
@given(
    weight=st.floats(0.0, 1.0),
    price=st.floats(0.5, 500.0),
    equity=st.floats(1.0, 1e7),
    lot=st.sampled_from([1, 10, 100]),
)
def test_weight_sizer_dollars_within_one_lot(
    weight: float, price: float, equity: float, lot: int
) -> None:
    sizer = PortfolioWeightSizer({"AAA": weight}, lot_size=lot)
    units = sizer.size(request(price=price, equity=equity, cash=equity))
    assert isinstance(units, int)
    goal = weight * equity
    dollars = units * price
    assert dollars <= goal * (1 + 1e-12)
    assert goal - dollars <= lot * price * (1 + 1e-12)
    assert units % lot == 0


def test_weight_sizer_validation() -> None:
    with pytest.raises(InvalidParameter, match="weight of AAA"):
        PortfolioWeightSizer({"AAA": 1.5})
    with pytest.raises(InvalidParameter, match="cash_buffer"):
        PortfolioWeightSizer(cash_buffer=1.0)
    with pytest.raises(InvalidParameter, match="lot_size"):
        PortfolioWeightSizer(lot_size=0)
    with pytest.raises(InvalidParameter, match="lot_size"):
        PortfolioWeightSizer(lot_size=0.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match="price of AAA"):
        PortfolioWeightSizer.fixed(0.1).size(request(price=0.0))
    with pytest.raises(InvalidParameter, match="long-only"):
        PortfolioWeightSizer.fixed(0.1).size(request(position=-1.0))


def test_weights_are_copied() -> None:
    weights = {"AAA": 0.5}
    sizer = PortfolioWeightSizer(weights)
    weights["AAA"] = 0.0
    assert sizer.weight_of("AAA") == 0.5
    with pytest.raises(TypeError):
        sizer.weights["AAA"] = 0.1  # type: ignore[index]


# -------------------------------------------------------------------------- RiskBasedSizer


def test_risk_sizer_formula_and_caps() -> None:
    sizer = RiskBasedSizer(risk_per_trade=0.01, stop_loss_pct=0.05, max_position_pct=1.0)
    # 100_000 · 0.01 / (50 · 0.05) = 400 shares: 20_000 dollars, 1_000 lost at the stop
    assert sizer.size(request()) == 400
    assert sizer.size(request(stop_price=48.0)) == 500  # 1_000 / 2 per share
    assert sizer.size(request(stop_price=50.0, position=7.0)) == 7  # no risk budget: hold
    assert sizer.size(request(cash=5_000.0)) == 100  # cash cap
    assert sizer.size(request(cash=5_000.0, position=50.0)) == 150
    assert sizer.size(request(equity=-5.0)) == 0
    capped = RiskBasedSizer(risk_per_trade=0.01, stop_loss_pct=0.01, max_position_pct=0.25)
    assert capped.size(request()) == 500  # risk says 2_000, 25% of equity is 500


def test_risk_sizer_commission_leaves_room_for_fees() -> None:
    commission = CommissionEstimate(bps=10.0, per_share=0.0, minimum=1.0)
    sizer = RiskBasedSizer(max_position_pct=1.0, commission=commission)
    units = sizer.size(request(cash=5_000.0))
    assert units == brute_affordable(50.0, 5_000.0, 1.0, commission) == 99
    assert commission.cost(units, 50.0) <= 5_000.0 < commission.cost(units + 1, 50.0)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"risk_per_trade": 0.0}, "risk_per_trade must be in \\(0, 1\\)"),
        ({"risk_per_trade": 1.0}, "risk_per_trade"),
        ({"stop_loss_pct": 1.5}, "stop_loss_pct must be in \\(0, 1\\)"),
        ({"stop_loss_pct": math.nan}, "stop_loss_pct must be finite"),
        ({"max_position_pct": 0.0}, "max_position_pct must be in \\(0, 1\\]"),
        ({"commission": None}, ""),
    ],
)
def test_risk_sizer_validation(options: dict[str, object], message: str) -> None:
    if "commission" in options:
        with pytest.raises(InvalidParameter, match="commission bps must be >= 0"):
            CommissionEstimate(bps=-1.0)
        return
    with pytest.raises(InvalidParameter, match=message):
        RiskBasedSizer(**options)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------- BetaSizer


class FixedBase:
    """A base sizer that always answers `units` (ignores cash: BetaSizer must re-cap)."""

    def __init__(self, units: Quantity) -> None:
        self.units = units

    def size(self, request: SizingRequest) -> Quantity:
        return self.units


def test_beta_sizer_divides_by_clamped_beta() -> None:
    betas = {"HI": 2.0, "HUGE": 10.0, "LO": 0.1, "NEG": -1.0}
    sizer = BetaSizer(FixedBase(300), betas)
    assert sizer.size(request(symbol="HI")) == 150
    assert sizer.size(request(symbol="HUGE")) == 100  # capped at 3
    assert sizer.size(request(symbol="LO")) == 600  # floored at 0.5
    assert sizer.size(request(symbol="NEG")) == 600
    assert sizer.size(request(symbol="LO", cash=10_000.0)) == 200  # never past the cash
    assert BetaSizer(FixedBase(300), betas, target_beta=1.5).size(request(symbol="HI")) == 225


def test_beta_sizer_default_base_is_risk_based() -> None:
    sizer = BetaSizer(betas={"AAA": 2.0})
    assert isinstance(sizer.base, RiskBasedSizer)
    assert sizer.size(request()) == RiskBasedSizer().size(request()) // 2


def test_missing_beta_uses_fallback_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    sizer = BetaSizer(FixedBase(100), {"NAN": math.nan})
    with caplog.at_level(logging.WARNING, logger="tradefolio.execution.sizing"):
        assert sizer.size(request(symbol="NAN")) == 100
        assert sizer.size(request(symbol="NAN")) == 100
        assert sizer.size(request(symbol="GONE")) == 100
        later = sizer.with_betas({"NAN": math.nan, "OK": 1.0})
        assert later.size(request(symbol="NAN")) == 100
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert "NAN" in messages[0] and "nan" in messages[0]
    assert "GONE" in messages[1] and "missing" in messages[1]
    fresh = BetaSizer(FixedBase(100), {})
    with caplog.at_level(logging.WARNING, logger="tradefolio.execution.sizing"):
        fresh.size(request(symbol="NAN"))
    assert len(caplog.records) == 3  # another sizer logs on its own: no global state


def test_with_betas_is_a_new_sizer() -> None:
    sizer = BetaSizer(FixedBase(100), {"AAA": 2.0})
    later = sizer.with_betas({"AAA": 1.0})
    assert sizer.size(request()) == 50
    assert later.size(request()) == 100
    assert later.base is sizer.base


def test_beta_sizer_validation() -> None:
    with pytest.raises(InvalidParameter, match="beta_floor"):
        BetaSizer(beta_floor=0.0)
    with pytest.raises(InvalidParameter, match="beta_floor <= beta_cap"):
        BetaSizer(beta_floor=2.0, beta_cap=1.0)
    with pytest.raises(InvalidParameter, match="base sizer returned -1"):
        BetaSizer(FixedBase(-1)).size(request())


def test_sizers_satisfy_the_protocol() -> None:
    for sizer in (RiskBasedSizer(), PortfolioWeightSizer.fixed(0.1), BetaSizer()):
        assert isinstance(sizer, PositionSizer)


# ----------------------------------------------------------------------------- invariants

prices = st.floats(0.5, 2000.0)
equities = st.floats(0.0, 5e6)
fractions = st.floats(0.0, 1.0)
betas = st.one_of(st.floats(-2.0, 6.0), st.just(math.nan))
commissions = st.builds(
    CommissionEstimate,
    bps=st.sampled_from([0.0, 5.0]),
    per_share=st.sampled_from([0.0, 0.01]),
    minimum=st.sampled_from([0.0, 1.0]),
)


@st.composite
def sizers(draw: st.DrawFn) -> PositionSizer:
    commission = draw(commissions)
    risk = RiskBasedSizer(
        risk_per_trade=draw(st.floats(0.001, 0.2)),
        stop_loss_pct=draw(st.floats(0.01, 0.5)),
        max_position_pct=draw(st.floats(0.01, 1.0)),
        lot_size=draw(st.sampled_from([1, 10])),
        commission=commission,
    )
    weight = PortfolioWeightSizer(
        {"AAA": draw(fractions)},
        cash_buffer=draw(st.floats(0.0, 0.5)),
        lot_size=draw(st.sampled_from([1, 10])),
        commission=commission,
    )
    base = draw(st.sampled_from([risk, weight]))
    kind = draw(st.sampled_from(["base", "beta"]))
    if kind == "beta":
        return BetaSizer(base, {"AAA": draw(betas)}, commission=commission)
    return base


@settings(max_examples=250, deadline=None)
@given(
    sizer=sizers(),
    price=prices,
    equity=equities,
    cash_share=fractions,
    position=st.integers(0, 5000),
)
def test_never_negative_and_never_spends_more_than_the_cash(
    sizer: PositionSizer, price: float, equity: float, cash_share: float, position: int
) -> None:
    req = request(price=price, equity=equity, cash=equity * cash_share, position=float(position))
    units = sizer.size(req)
    assert units >= 0
    assert isinstance(units, int)
    commission = getattr(sizer, "commission", CommissionEstimate())
    if units > position:
        assert commission.cost(units - position, price) <= req.cash


@settings(max_examples=250, deadline=None)
@given(
    sizer=sizers(),
    price=prices,
    equity=equities,
    more=st.floats(0.0, 5e6),
    cash=st.floats(0.0, 5e6),
    position=st.integers(0, 500),
)
def test_monotone_in_equity(
    sizer: PositionSizer, price: float, equity: float, more: float, cash: float, position: int
) -> None:
    low = sizer.size(request(price=price, equity=equity, cash=cash, position=float(position)))
    high = sizer.size(
        request(price=price, equity=equity + more, cash=cash, position=float(position))
    )
    assert high >= low


@settings(max_examples=250, deadline=None)
@given(
    sizer=sizers(),
    beta=st.floats(1.0, 10.0),
    price=prices,
    equity=equities,
    cash_share=fractions,
)
def test_beta_of_at_least_one_never_grows_the_base(
    sizer: PositionSizer, beta: float, price: float, equity: float, cash_share: float
) -> None:
    base = sizer.base if isinstance(sizer, BetaSizer) else sizer
    beta_sizer = BetaSizer(base, {"AAA": beta})
    req = request(price=price, equity=equity, cash=equity * cash_share)
    assert beta_sizer.size(req) <= base.size(req)


@pytest.mark.parametrize("lot_size", [10, Decimal("0.5")])
def test_a_position_off_the_lot_grid_never_makes_a_larger_target_end_lower(
    lot_size: int | Decimal,
) -> None:
    # 769 held in lots of 10 (or 0.5 off its grid by 0.25): the cash buys one more share
    # (or 0.25), not a whole lot; topping up to the next lot must stay within reach of a
    # larger target too, or the cap would size more equity below less.
    held = 769 if isinstance(lot_size, int) else 769.25
    req = request(price=10.0, cash=15.0 if isinstance(lot_size, int) else 2.6, position=held)
    boundary = 770 if isinstance(lot_size, int) else Decimal("769.5")
    assert cash_capped(boundary, req, lot_size) == boundary
    bigger = boundary + 5 * lot_size
    assert cash_capped(bigger, req, lot_size) == boundary
    weight = PortfolioWeightSizer({"AAA": 0.5}, lot_size=lot_size)
    sizes = [
        weight.size(request(price=10.0, equity=e, cash=req.cash, position=held))
        for e in range(15_000, 16_200, 10)
    ]
    assert sizes == sorted(sizes)


@settings(max_examples=300, deadline=None)
@given(
    lot_size=st.sampled_from([1, 2, 10, 100]),
    held_lots=st.integers(0, 50),
    more=st.integers(1, 5_000),
    price=st.floats(0.01, 500.0),
    cash=st.floats(0.0, 50_000.0),
    bps=st.sampled_from([0.0, 10.0]),
    minimum=st.sampled_from([0.0, 1.0]),
)
def test_on_the_lot_grid_the_cap_is_the_boundary_search_s_answer_too(
    lot_size: int,
    held_lots: int,
    more: int,
    price: float,
    cash: float,
    bps: float,
    minimum: float,
) -> None:
    # cash_capped skips the lot-boundary search for a position on an int lot grid (its
    # answer is the larger of the two): the search must have had nothing to add.
    from tradefolio.execution.sizing import _affordable_lot_boundary

    held = held_lots * lot_size
    target = held + more
    estimate = CommissionEstimate(bps=bps, minimum=minimum)
    req = request(price=price, cash=cash, position=float(held))
    capped = cash_capped(target, req, lot_size, estimate)
    assert _affordable_lot_boundary(target, held, req, lot_size, estimate) <= capped
    if not estimate.fits(float(more), price, cash):  # else the whole target fits
        target = min(target, held + brute_affordable(price, cash, lot_size, estimate) * lot_size)
    assert capped == target
