"""Rebalance schedules: which bars are decision bars, decided from dates up to t only.

`monthly` = the first session of each calendar month, `weekly` = the first session of each
ISO week, an integer `N` = every N sessions from the first bar. Both engines read it (the
backtest's strategies, the live trader's allocation policy), so a schedule is the same
bars in a backtest and in a replayed live session.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from tradefolio.errors import InvalidParameter

REBALANCE_RULES = ("monthly", "weekly")


def parse_rebalance(rule: str | int) -> str | int:
    """`monthly`, `weekly` or a positive number of sessions; `InvalidParameter` otherwise."""
    if isinstance(rule, int) and not isinstance(rule, bool):
        sessions = rule
    elif isinstance(rule, str) and rule.strip().lower() in REBALANCE_RULES:
        return rule.strip().lower()
    elif isinstance(rule, str) and rule.strip().isdigit():
        sessions = int(rule.strip())
    else:
        raise InvalidParameter(
            f"rebalance must be monthly, weekly or a number of sessions >= 1, got {rule!r}"
        )
    if sessions < 1:
        raise InvalidParameter(f"rebalance every N sessions needs N >= 1, got {sessions}")
    return sessions


def rebalance_bars(index: pd.DatetimeIndex, rule: str | int) -> npt.NDArray[np.bool_]:
    """Boolean mask of rebalance bars (causal: bar t depends only on dates <= t)."""
    parsed = parse_rebalance(rule)
    bars = len(index)
    mask = np.zeros(bars, dtype=np.bool_)
    if bars == 0:
        return mask
    if isinstance(parsed, int):
        mask[::parsed] = True
        return mask
    if parsed == "monthly":
        period = (index.year * 12 + index.month).to_numpy()
    else:
        iso = index.isocalendar()
        period = (iso["year"].to_numpy(dtype=np.int64) * 100) + iso["week"].to_numpy(dtype=np.int64)
    mask[0] = True
    mask[1:] = period[1:] != period[:-1]
    return mask


__all__ = ["REBALANCE_RULES", "parse_rebalance", "rebalance_bars"]
