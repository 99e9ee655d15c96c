"""A buy the cash cuts below the model's minimum trade is not made (both engines' sizer)."""

from __future__ import annotations

from tradefolio.execution.costs import CostModel
from tradefolio.execution.money import to_micro
from tradefolio.execution.planner import BarState, plan_bar
from tradefolio.execution.strategy import MinimumBuy, Rebalance, rebalance_sizer


def _plan(cash: float, minimum: MinimumBuy | None) -> dict[str, int]:
    state = BarState(
        prices={"AAA": to_micro(100), "BBB": to_micro(50)},
        holdings={"AAA": 10},
        cash_micro=to_micro(cash),
        equity_micro=to_micro(cash + 1000),
        universe=["AAA", "BBB"],
    )
    intent = Rebalance({"BBB": 0.5}, {"BBB": 40}, minimum)  # sell AAA, buy 40 BBB
    costs = CostModel(commission_bps=10, commission_fixed=1)
    plan = plan_bar([intent], state, rebalance_sizer({}), costs, rebalance_sizer)
    return {o.symbol: o.quantity if o.side == "buy" else -o.quantity for o in plan.orders}


def test_a_cut_buy_below_the_minimum_is_not_made() -> None:
    rule = MinimumBuy(500.0, 10 / 1e4, 1.0)
    # 1000 from the sale + 200 cash pays for 23 BBB ($1,150 >= $500): cut, made
    assert _plan(200.0, rule) == {"AAA": -10, "BBB": 23}
    # without the rule the planner cuts the same way
    assert _plan(200.0, None) == {"AAA": -10, "BBB": 23}
    # a $1,500 minimum: the 23 BBB the cash pays for ($1,150) are too small, not made
    larger = MinimumBuy(1_500.0, 10 / 1e4, 1.0)
    assert _plan(200.0, larger) == {"AAA": -10}
    assert _plan(200.0, None)["BBB"] == 23


def test_minimum_buy_units() -> None:
    rule = MinimumBuy(500.0, 0.001, 1.0)
    assert rule.units(40, 50.0, 10_000.0) == 40
    assert rule.units(40, 50.0, 1_200.0) == 23  # floor((1200 - 1) / 50.05)
    assert rule.units(40, 50.0, 400.0) == 0  # 7 units = $350 < $500


def _lot_plan(cash: float, minimum: MinimumBuy | None, slippage_bps: float = 0.0) -> int:
    """The BBB buy of a 200-share target with `cash` free (0: none)."""
    state = BarState(
        prices={"BBB": to_micro(10)},
        holdings={},
        cash_micro=to_micro(cash),
        equity_micro=to_micro(cash),
        universe=["BBB"],
    )
    intent = Rebalance({"BBB": 1.0}, {"BBB": 200}, minimum)
    costs = CostModel(commission_bps=5, commission_fixed=1, slippage_bps=slippage_bps)
    plan = plan_bar([intent], state, rebalance_sizer({}), costs, rebalance_sizer)
    return sum(o.quantity for o in plan.orders if o.side == "buy")


def test_a_cut_buy_is_floored_to_whole_lots() -> None:
    lots = MinimumBuy(0.0, 5 / 1e4, 1.0, lot=10)
    assert _lot_plan(10_000.0, lots) == 200  # affordable: the target itself
    # $1,397 pays for 139 units (the cash alone cuts to an odd lot): 130, whole lots
    assert _lot_plan(1_397.0, None) == 139
    assert _lot_plan(1_397.0, lots) == 130
    # the planner's own cut at the slipped fill price is floored too (the sizer's estimate,
    # without slippage, says 139 units fit; at the fill price 138 do)
    assert _lot_plan(1_397.0, MinimumBuy(0.0, 0.0, 1.0, lot=1), slippage_bps=100) == 138
    assert _lot_plan(1_397.0, MinimumBuy(0.0, 0.0, 1.0, lot=10), slippage_bps=100) == 130
    # still skipped below the minimum trade: 130 units are $1,300 < $1,350
    assert _lot_plan(1_397.0, MinimumBuy(1_350.0, 5 / 1e4, 1.0, lot=10)) == 0
    # fewer than one lot paid for: nothing
    assert _lot_plan(95.0, lots) == 0


def test_minimum_buy_cut() -> None:
    rule = MinimumBuy(500.0, lot=25)
    assert rule.cut(100, 100, 10.0) == 100
    assert rule.cut(100, 99, 10.0) == 75
    assert rule.cut(100, 60, 10.0) == 50
    assert rule.cut(100, 49, 10.0) == 0  # 25 units: $250 < $500
