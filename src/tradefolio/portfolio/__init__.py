"""Portfolio construction: scores -> MIP-optimal weights -> dollars and shares."""

from tradefolio.portfolio.allocator import SOLVERS, allocate
from tradefolio.portfolio.params import AllocatorParams
from tradefolio.portfolio.scoring import FACTORS, Scores, score_universe
from tradefolio.portfolio.types import Allocation, AllocationResult, Candidate

__all__ = [
    "FACTORS",
    "SOLVERS",
    "Allocation",
    "AllocationResult",
    "AllocatorParams",
    "Candidate",
    "Scores",
    "allocate",
    "score_universe",
]
