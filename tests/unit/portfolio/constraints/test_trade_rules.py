"""The constraints on trades check themselves on listed trades; whole shares' odd lots."""

from __future__ import annotations

import numpy as np
import pytest

from tradefolio.portfolio.constraints import (
    Budget,
    MinimumTrade,
    PositionLimits,
    TransactionCosts,
    Turnover,
    WholeShares,
)
from tradefolio.portfolio.constraints.whole_shares import odd_lot
from tradefolio.portfolio.context import make_universe
from tradefolio.portfolio.holdings import Trade
from tradefolio.portfolio.listed import ListedTrades
from tradefolio.portfolio.types import Candidate

# V = 1,000: 10 A held at $50 and $500 cash; B at $20
UNIVERSE = make_universe([Candidate("A", 0.1, 50.0), Candidate("B", 0.2, 20.0)], 500.0, {"A": 10})


def listed(target_a: float, target_b: float, costs: float = 0.0) -> ListedTrades:
    trades = []
    if target_a != 10:
        trades.append(Trade("A", target_a - 10, 50.0))
    if target_b:
        trades.append(Trade("B", target_b, 20.0))
    targets = {s: t for s, t in (("A", target_a), ("B", target_b)) if t > 0}
    return ListedTrades(UNIVERSE, np.array([target_a, target_b]), tuple(trades), costs, targets)


def test_the_listed_quantities() -> None:
    trades = listed(8, 10)  # sell 2 A ($100), buy 10 B ($200)
    assert trades.value == 1000.0
    assert trades.turnover == pytest.approx(0.3)
    assert trades.invested == pytest.approx(0.6)
    assert trades.cash == pytest.approx(400.0)
    assert not trades.is_full_sale(trades.trades[0])
    assert listed(0, 0).is_full_sale(listed(0, 0).trades[0])


def test_turnover_on_listed_trades() -> None:
    assert Turnover(0.3).listed_violations(listed(8, 10)) == []
    (line,) = Turnover(0.29).listed_violations(listed(8, 10))
    assert line == "turnover 0.3 is above --max-turnover 0.29"
    assert Turnover(0.2).acts_on_trades()


def test_cost_budget_on_listed_trades_with_one_cost_formula() -> None:
    costs = TransactionCosts(bps=10.0, fixed=1.0, budget=2.3)
    trades = listed(8, 10)
    assert costs.cost_of(trades.trades) == pytest.approx(0.1 + 1 + 0.2 + 1)
    assert costs.listed_violations(trades) == []
    (line,) = TransactionCosts(bps=10.0, fixed=1.0, budget=2.2).listed_violations(trades)
    assert "cost 2.30, more than --cost-budget 2.20" in line
    assert TransactionCosts(bps=10.0).listed_violations(trades) == []  # no budget
    assert TransactionCosts(bps=10.0).acts_on_trades()


def test_minimum_trade_on_listed_trades_allows_a_full_sale() -> None:
    rule = MinimumTrade(150.0)
    (line,) = rule.listed_violations(listed(8, 10))  # the $100 sell is too small
    assert line.startswith("the sell of 2 A is worth 100.00")
    assert rule.listed_violations(listed(0, 10)) == []  # selling all $500 of A is fine
    assert MinimumTrade(600.0).listed_violations(listed(0, 0)) == []  # a full sale always is


def test_budget_on_listed_shares() -> None:
    assert Budget(0.6, 1.0).listed_violations(listed(8, 10)) == []
    (line,) = Budget(0.61, 1.0).listed_violations(listed(8, 10))
    assert line == "0.6 of the account is invested, below 0.61"
    (line,) = Budget(0.0, 0.5).listed_violations(listed(8, 10))
    assert line == "0.6 of the account is invested, above 0.5"
    assert Budget(0.1).acts_on_trades() and not Budget(0.0).acts_on_trades()


def test_limits_that_do_not_read_trades_say_so() -> None:
    assert not PositionLimits(0.5).acts_on_trades()
    assert not WholeShares().acts_on_trades()
    assert PositionLimits(0.5).listed_violations(listed(8, 10)) == []


@pytest.mark.parametrize(
    ("held", "lot", "odd"),
    [(10.5, 1, 0.5), (10.0, 1, 0.0), (250.0, 100, 50.0), (0.0, 1, 0.0), (3.0000000001, 1, 0.0)],
)
def test_odd_lot(held: float, lot: int, odd: float) -> None:
    assert odd_lot(held, lot) == pytest.approx(odd)
