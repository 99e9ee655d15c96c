"""Objectives of the composable allocation model, one per module."""

from tradefolio.portfolio.objectives.base import Objective
from tradefolio.portfolio.objectives.cvar import CVaR
from tradefolio.portfolio.objectives.kelly import Kelly
from tradefolio.portfolio.objectives.mad import MeanAbsoluteDeviation
from tradefolio.portfolio.objectives.mean_variance import MeanVariance
from tradefolio.portfolio.objectives.min_variance import MinVariance
from tradefolio.portfolio.objectives.score import ScoreObjective

__all__ = [
    "CVaR",
    "Kelly",
    "MeanAbsoluteDeviation",
    "MeanVariance",
    "MinVariance",
    "Objective",
    "ScoreObjective",
]
