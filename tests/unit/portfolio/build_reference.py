"""`backends._scale` as it was at int13 (128bb7c), verbatim but for the name: the oracle of
`test_build_oracle.py` (session 13's round-2 rewrite must give the same scale, bit for bit)."""

# ruff: noqa
# mypy: ignore-errors
from __future__ import annotations

import math

from tradefolio.portfolio.backends import _OBJECTIVE_SCALE
from tradefolio.portfolio.program import Program


def scale(program: Program) -> float:
    largest = max(
        [abs(c) for c in program.linear.values()] + [abs(c) for c in program.quadratic.values()],
        default=0.0,
    )
    scale = _OBJECTIVE_SCALE / largest if largest > 0 else 1.0
    # Subnormal coefficients would overflow the scale: they are zero for any purpose.
    return scale if math.isfinite(scale) else 1.0
