"""Leaderboards and heatmaps: direction of each metric, deterministic ties, missing cells."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from tradefolio.errors import InvalidParameter
from tradefolio.research.report import default_heatmap_axes, heatmap, leaderboard


def _table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "run": [0, 1, 2, 3, 4],
            "status": ["ok", "ok", "ok", "failed", "ok"],
            "fast": [5, 5, 10, 10, 20],
            "slow": [50, 100, 50, 100, 50],
            "sharpe": [0.5, 0.9, 0.9, math.nan, 0.1],
            "volatility": [0.2, 0.3, 0.1, math.nan, 0.4],
        }
    )


def test_higher_is_better_with_ties_to_the_earlier_run() -> None:
    assert list(leaderboard(_table(), "sharpe", 3)["run"]) == [1, 2, 0]


def test_volatility_ranks_lowest_first_and_failures_are_left_out() -> None:
    assert list(leaderboard(_table(), "volatility", 10)["run"]) == [2, 0, 1, 4]


def test_heatmap_keeps_the_best_per_cell_and_marks_empty_cells() -> None:
    grid = heatmap(_table(), "sharpe", "fast", "slow")
    assert list(grid.index) == [5, 10, 20] and list(grid.columns) == [50, 100]
    assert grid.loc[5, 100] == 0.9 and grid.loc[10, 50] == 0.9
    assert math.isnan(grid.loc[10, 100]) and math.isnan(grid.loc[20, 100])


def test_heatmap_axes() -> None:
    assert default_heatmap_axes(_table(), ("fast", "slow")) == ("fast", "slow")
    assert default_heatmap_axes(_table(), ("fast",)) is None
    with pytest.raises(InvalidParameter, match="not a swept parameter"):
        heatmap(_table(), "sharpe", "fast", "weight")
    with pytest.raises(InvalidParameter, match="--metric"):
        leaderboard(_table(), "alpha")
