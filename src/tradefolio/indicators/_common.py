"""Shared argument checks of the indicator functions (private)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tradefolio.errors import InvalidParameter

PandasData = pd.Series | pd.DataFrame


def check_window(window: object, name: str = "window") -> int:
    """`window` as an int >= 1, or `InvalidParameter` naming it."""
    if isinstance(window, bool) or not isinstance(window, int | np.integer) or window < 1:
        raise InvalidParameter(f"{name} must be an integer >= 1, got {window!r}")
    return int(window)


def check_pandas(data: object, name: str) -> None:
    """`data` must be a pandas Series or DataFrame."""
    if not isinstance(data, pd.Series | pd.DataFrame):
        raise InvalidParameter(
            f"{name} must be a pandas Series or DataFrame, got {type(data).__name__}"
        )


__all__ = ["PandasData", "check_pandas", "check_window"]
