"""Validated parameters of the score-weighted allocation model."""

from __future__ import annotations

import math
from dataclasses import dataclass

from tradefolio.errors import InvalidParameter


@dataclass(frozen=True, slots=True)
class AllocatorParams:
    """Per-name cap, floor for a held name, and the cap on the number of names.

    `max_weight` in (0, 1]; `min_weight` in [0, max_weight] (0 means no floor);
    `max_positions` >= 1.
    """

    max_weight: float = 0.25
    min_weight: float = 0.02
    max_positions: int = 10

    def __post_init__(self) -> None:
        if not (math.isfinite(self.max_weight) and 0 < self.max_weight <= 1):
            raise InvalidParameter(f"max_weight must be in (0, 1], got {self.max_weight}")
        if not (math.isfinite(self.min_weight) and 0 <= self.min_weight <= 1):
            raise InvalidParameter(f"min_weight must be in [0, 1], got {self.min_weight}")
        if self.min_weight > self.max_weight:
            raise InvalidParameter(
                f"min_weight ({self.min_weight}) must not exceed max_weight ({self.max_weight})"
            )
        if isinstance(self.max_positions, bool) or not isinstance(self.max_positions, int):
            raise InvalidParameter(f"max_positions must be an integer, got {self.max_positions!r}")
        if self.max_positions < 1:
            raise InvalidParameter(f"max_positions must be >= 1, got {self.max_positions}")


def check_allocation(
    capital: float, time_limit: float, solver: str, solvers: tuple[str, ...]
) -> str:
    """`allocate`'s checks of its own arguments (`InvalidParameter`); the solver's name in
    lower case. Shared by `allocator.allocate` and its numpy-free twin `small_score.py`."""
    if not (math.isfinite(capital) and capital > 0):
        raise InvalidParameter(f"capital must be a finite number > 0, got {capital}")
    if not (math.isfinite(time_limit) and time_limit > 0):
        raise InvalidParameter(f"time_limit must be > 0 seconds, got {time_limit}")
    key = solver.lower()
    if key not in solvers:
        raise InvalidParameter(f"unknown solver {solver!r}: choose one of {', '.join(solvers)}")
    return key


__all__ = ["AllocatorParams", "check_allocation"]
