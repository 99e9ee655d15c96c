"""The bar planner: exits first, entries sized on free cash and cut to it, open orders count."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tradefolio.execution.costs import CostModel
from tradefolio.execution.planner import BarState, plan_bar
from tradefolio.execution.sizing import PortfolioWeightSizer, SizingRequest
from tradefolio.execution.strategy import Enter, Exit, Rebalance, rebalance_sizer

M = 1_000_000


class _Wants:
    def __init__(self, units: int) -> None:
        self.units = units
        self.requests: list[SizingRequest] = []

    def size(self, request: SizingRequest) -> int:
        self.requests.append(request)
        return self.units


def _state(**kw: object) -> BarState:
    base: dict[str, object] = {
        "prices": {"A": 10 * M, "B": 20 * M, "C": 50 * M},
        "holdings": {"A": 100},
        "cash_micro": 1_000 * M,
        "equity_micro": 2_000 * M,
        "universe": ("A", "B", "C"),
    }
    base.update(kw)
    return BarState(**base)  # type: ignore[arg-type]


def test_exit_runs_first_and_frees_cash_for_the_entries() -> None:
    sizer = _Wants(100)
    plan = plan_bar([Enter("B"), Exit("A")], _state(), sizer, CostModel(), rebalance_sizer)
    assert [(o.symbol, o.side, o.quantity) for o in plan.orders] == [
        ("A", "sell", 100),
        ("B", "buy", 100),
    ]
    assert sizer.requests[0].cash == 2_000.0  # the sale's proceeds are free for the entry
    assert plan.cash_micro == 0


def test_entries_are_cut_to_the_cash_with_commission_and_slippage() -> None:
    costs = CostModel(commission_min=5.0, slippage_bps=100)
    plan = plan_bar([Enter("B"), Enter("C")], _state(), _Wants(1_000), costs, rebalance_sizer)
    # B fills at 20.20: (1000 - 5) / 20.20 = 49.25 -> 49 units; nothing left for C
    assert [(o.symbol, o.quantity, o.price_micro) for o in plan.orders] == [("B", 49, 20_200_000)]
    assert plan.cash_micro == 1_000 * M - 49 * 20_200_000 - 5 * M


def test_a_working_order_counts_as_exposure() -> None:
    state = _state(working={"B": 10, "A": -40})
    plan = plan_bar([Enter("B"), Exit("A")], state, _Wants(5), CostModel(), rebalance_sizer)
    # B has an open buy: no second entry; A has an open sell of 40: only 60 more are sold
    assert [(o.symbol, o.side, o.quantity) for o in plan.orders] == [("A", "sell", 60)]


def test_no_price_counts_the_intent_as_unpriced() -> None:
    state = _state(prices={"B": 20 * M})
    plan = plan_bar([Exit("A"), Enter("C")], state, _Wants(1), CostModel(), rebalance_sizer)
    assert plan.orders == () and plan.unpriced == 2


def test_rebalance_sells_first_then_buys_in_universe_order() -> None:
    plan = plan_bar(
        [Rebalance({"C": 0.25, "B": 0.25})], _state(), _Wants(0), CostModel(), rebalance_sizer
    )
    assert [(o.symbol, o.side, o.quantity) for o in plan.orders] == [
        ("A", "sell", 100),
        ("B", "buy", 25),
        ("C", "buy", 10),
    ]


@given(
    cash=st.integers(0, 10**10),
    prices=st.lists(st.integers(1, 10**9), min_size=1, max_size=6),
    weight=st.floats(0.01, 1.0),
    minimum=st.sampled_from([0.0, 1.0, 7.5]),
    slip=st.sampled_from([0.0, 5.0]),
)
def test_a_plan_never_spends_more_than_the_free_cash(
    cash: int, prices: list[int], weight: float, minimum: float, slip: float
) -> None:
    universe = tuple(f"S{i}" for i in range(len(prices)))
    state = BarState(
        prices=dict(zip(universe, prices, strict=True)),
        holdings={},
        cash_micro=cash,
        equity_micro=cash,
        universe=universe,
    )
    costs = CostModel(commission_min=minimum, slippage_bps=slip)
    sizer = PortfolioWeightSizer.fixed(weight)
    plan = plan_bar([Enter(s) for s in universe], state, sizer, costs, rebalance_sizer)
    spent = sum(costs.buy_cost_micro(o.quantity, o.price_micro) for o in plan.orders)
    assert spent <= cash and plan.cash_micro == cash - spent
