"""Portfolio construction: scores -> MIP-optimal weights -> dollars and shares.

The names below are loaded on first use (PEP 562): importing one small module of the
package (say `portfolio.types`) must not import pandas through `scoring`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tradefolio.portfolio.allocator import SOLVERS, allocate
    from tradefolio.portfolio.constraints import NameBounds
    from tradefolio.portfolio.params import AllocatorParams
    from tradefolio.portfolio.risk_inputs import (
        read_bounds,
        read_covariance,
        read_expected_returns,
        read_factor_model,
    )
    from tradefolio.portfolio.scoring import FACTORS, Scores, score_universe
    from tradefolio.portfolio.types import Allocation, AllocationResult, Candidate

_HOMES = {
    "SOLVERS": "allocator",
    "allocate": "allocator",
    "AllocatorParams": "params",
    "FACTORS": "scoring",
    "Scores": "scoring",
    "score_universe": "scoring",
    "Allocation": "types",
    "AllocationResult": "types",
    "Candidate": "types",
    "NameBounds": "constraints",
    "read_bounds": "risk_inputs",
    "read_covariance": "risk_inputs",
    "read_expected_returns": "risk_inputs",
    "read_factor_model": "risk_inputs",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'tradefolio.portfolio' has no attribute {name!r}")
    return getattr(importlib.import_module(f"tradefolio.portfolio.{home}"), name)


__all__ = [
    "FACTORS",
    "SOLVERS",
    "Allocation",
    "AllocationResult",
    "AllocatorParams",
    "Candidate",
    "NameBounds",
    "Scores",
    "allocate",
    "read_bounds",
    "read_covariance",
    "read_expected_returns",
    "read_factor_model",
    "score_universe",
]
