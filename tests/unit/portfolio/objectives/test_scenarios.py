"""Return scenarios aligned to the universe's symbols, and what is refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradefolio.errors import DataError
from tradefolio.portfolio.objectives.scenarios import aligned_scenarios


def test_columns_follow_the_universe_order_and_extra_ones_are_ignored() -> None:
    frame = pd.DataFrame({"B": [0.1, 0.2], "X": [9.0, 9.0], "A": [0.3, 0.4]})
    np.testing.assert_array_equal(aligned_scenarios(frame, ("A", "B")), [[0.3, 0.1], [0.4, 0.2]])


def test_missing_symbols_empty_tables_and_nan_are_named() -> None:
    frame = pd.DataFrame({"A": [0.1]})
    with pytest.raises(DataError, match="no return scenarios for B"):
        aligned_scenarios(frame, ("A", "B"))
    with pytest.raises(DataError, match="the scenario table has no rows"):
        aligned_scenarios(frame.iloc[:0], ("A",))
    with pytest.raises(DataError, match="NaN or infinite"):
        aligned_scenarios(pd.DataFrame({"A": [0.1, np.inf]}), ("A",))
