"""Relative strength index (Wilder)."""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import pandas as pd

from tradefolio.indicators._common import check_pandas, check_window

PandasT = TypeVar("PandasT", pd.Series, pd.DataFrame)


def rsi(prices: PandasT, window: int = 14) -> PandasT:
    """Wilder's relative strength index, per column, in [0, 100].

    With price changes `Δ_t = p_t - p_{t-1}`, gains `G_t = max(Δ_t, 0)` and losses
    `L_t = max(-Δ_t, 0)`, Wilder's averages are seeded by the plain mean of the first n
    changes and then smoothed with `α = 1/n`:

        AG_n = (G_1 + ... + G_n) / n,   AG_t = (AG_{t-1} · (n - 1) + G_t) / n   (AL alike)
        RSI_t = 100 - 100 / (1 + AG_t / AL_t)     (100 if AL_t = 0 < AG_t, 50 if both are 0)

    A change touching a missing price is skipped: the averages carry over, the output at
    that bar is NaN. Defined from the n-th available change on.
    """
    check_pandas(prices, "prices")
    window = check_window(window)
    frame = prices.to_frame() if isinstance(prices, pd.Series) else prices
    values = frame.to_numpy(dtype=np.float64, na_value=np.nan)
    changes = np.full_like(values, np.nan)
    changes[1:] = values[1:] - values[:-1]
    gains = np.where(changes > 0, changes, 0.0)
    losses = np.where(changes < 0, -changes, 0.0)
    present = ~np.isnan(changes)

    columns = values.shape[1]
    seen = np.zeros(columns, dtype=np.int64)
    gain_avg = np.zeros(columns)
    loss_avg = np.zeros(columns)
    out = np.full_like(values, np.nan)
    for row in range(values.shape[0]):
        here = present[row]
        if not here.any():
            continue
        seen = seen + here
        seeding = here & (seen <= window)
        smoothing = here & (seen > window)
        gain_avg = np.where(seeding, gain_avg + gains[row], gain_avg)
        loss_avg = np.where(seeding, loss_avg + losses[row], loss_avg)
        finished = here & (seen == window)
        gain_avg = np.where(finished, gain_avg / window, gain_avg)
        loss_avg = np.where(finished, loss_avg / window, loss_avg)
        gain_avg = np.where(smoothing, (gain_avg * (window - 1) + gains[row]) / window, gain_avg)
        loss_avg = np.where(smoothing, (loss_avg * (window - 1) + losses[row]) / window, loss_avg)
        defined = here & (seen >= window)
        with np.errstate(divide="ignore", invalid="ignore"):
            strength = 100.0 - 100.0 / (1.0 + gain_avg / loss_avg)
        strength = np.where(loss_avg == 0.0, np.where(gain_avg > 0.0, 100.0, 50.0), strength)
        out[row] = np.where(defined, strength, np.nan)
    result = pd.DataFrame(out, index=frame.index, columns=frame.columns)
    if isinstance(prices, pd.Series):
        return pd.Series(result.iloc[:, 0].to_numpy(), index=result.index, name=prices.name)
    return result


__all__ = ["rsi"]
