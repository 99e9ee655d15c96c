"""Constraints of the composable allocation model, one concept per module."""

from tradefolio.portfolio.constraints.base import Conflict, Constraint
from tradefolio.portfolio.constraints.budget import Budget
from tradefolio.portfolio.constraints.cardinality import Cardinality
from tradefolio.portfolio.constraints.costs import TransactionCosts
from tradefolio.portfolio.constraints.min_trade import MinimumTrade
from tradefolio.portfolio.constraints.name_bounds import NameBounds
from tradefolio.portfolio.constraints.positions import PositionLimits
from tradefolio.portfolio.constraints.sectors import SectorCaps
from tradefolio.portfolio.constraints.turnover import Turnover
from tradefolio.portfolio.constraints.whole_shares import WholeShares

__all__ = [
    "Budget",
    "Cardinality",
    "Conflict",
    "Constraint",
    "MinimumTrade",
    "NameBounds",
    "PositionLimits",
    "SectorCaps",
    "TransactionCosts",
    "Turnover",
    "WholeShares",
]
