"""Risk estimates from a price history: returns, sample and Ledoit–Wolf covariance.

Returns are simple daily returns r_t = P_t / P_(t-1) - 1 over the last `lookback` sessions
(pandas `pct_change`; a symbol with a missing close inside the window is an error naming
it). Covariances are annualised with `periods_per_year` (252) so that they match annual
expected returns such as the momentum and trailing-return scores.

- sample:       S = X_c^T X_c / (T - 1)                      (X_c: demeaned returns, T rows)
- ledoit-wolf:  Σ = (1 - δ) S_ML + δ (tr(S_ML) / N) I,  S_ML = X_c^T X_c / T,
                with the shrinkage δ of Ledoit & Wolf (2004), computed as scikit-learn does.

Both are also returned in *factor form* Σ = B^T B + diag(d) (B has T rows), which is what
the mean-variance model uses: w^T Σ w = |B w|^2 + Σ d_i w_i^2 keeps the quadratic part
diagonal and the model sparse when N > T.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
from numpy.typing import NDArray

from tradefolio.data.sessions import TRADING_DAYS_PER_YEAR
from tradefolio.errors import DataError, InvalidParameter
from tradefolio.portfolio.choices import ESTIMATORS

if TYPE_CHECKING:  # annotations only: allocating needs no pandas
    import pandas as pd

Estimator = Literal["sample", "ledoit-wolf"]


@dataclass(frozen=True, slots=True)
class RiskModel:
    """Σ = loadings^T loadings + diag(specific), annualised, for `symbols` in order."""

    symbols: tuple[str, ...]
    loadings: NDArray[np.float64]
    specific: NDArray[np.float64]

    def covariance(self) -> NDArray[np.float64]:
        """The dense N x N covariance matrix."""
        dense: NDArray[np.float64] = self.loadings.T @ self.loadings + np.diag(self.specific)
        return dense

    def variance(self, weights: NDArray[np.float64]) -> float:
        """w^T Σ w."""
        exposure = self.loadings @ weights
        return float(exposure @ exposure + self.specific @ (weights * weights))

    def subset(self, symbols: list[str] | tuple[str, ...]) -> RiskModel:
        """The same model restricted (and reordered) to `symbols`; DataError if one is missing."""
        position = {s: i for i, s in enumerate(self.symbols)}
        missing = [s for s in symbols if s not in position]
        if missing:
            raise DataError(f"no return history for {', '.join(missing)}: cannot estimate risk")
        index = [position[s] for s in symbols]
        return RiskModel(tuple(symbols), self.loadings[:, index], self.specific[index])


def check_risk_window(lookback: int, sessions: int) -> None:
    """`InvalidParameter` / `DataError` unless `sessions` rows hold a `lookback` window."""
    if lookback < 2:
        raise InvalidParameter(f"risk lookback must be >= 2 sessions, got {lookback}")
    if sessions < lookback + 1:
        raise DataError(
            f"risk lookback {lookback} needs {lookback + 1} sessions but the price history has "
            f"{sessions}; use a shorter --risk-lookback"
        )


def window_returns(
    closes: NDArray[np.float64], symbols: Sequence[str], lookback: int
) -> NDArray[np.float64]:
    """Simple returns of a (lookback + 1) x N window of closes (columns = `symbols`);
    `DataError` naming the symbols with a missing close inside the window."""
    missing = np.asarray(np.isnan(closes).any(axis=0), dtype=bool)  # one pass
    gaps = [str(s) for s, gap in zip(symbols, missing.tolist(), strict=True) if gap]
    if gaps:
        raise DataError(
            f"missing closes inside the {lookback}-session risk window for {', '.join(gaps[:5])}"
            f"{f' and {len(gaps) - 5} more' if len(gaps) > 5 else ''}: give prices with every "
            "close of the window for them, drop them, or use a shorter --risk-lookback"
        )
    # P_t / P_(t-1) - 1, as pandas' pct_change computes it (the same two float operations)
    returns: NDArray[np.float64] = closes[1:] / closes[:-1] - 1.0
    return returns


def period_returns(
    prices: pd.DataFrame, lookback: int, symbols: list[str] | None = None
) -> pd.DataFrame:
    """Simple returns of the last `lookback` sessions (needs lookback + 1 closes)."""
    check_risk_window(lookback, len(prices))
    frame = prices if symbols is None else prices.reindex(columns=list(symbols))
    window = frame.iloc[-(lookback + 1) :]
    closes = window.to_numpy(dtype=np.float64, na_value=np.nan)
    returns = window_returns(closes, [str(s) for s in window.columns], lookback)
    return type(window)(returns, index=window.index[1:], columns=window.columns)


def _ledoit_wolf_shrinkage(centered: NDArray[np.float64]) -> float:
    """Ledoit & Wolf's (2004) shrinkage δ of demeaned returns X (T x N), as scikit-learn's
    `ledoit_wolf_shrinkage(X, assume_centered=True)` computes it (the tests compare):

        S = X^T X / T,  μ = tr(S) / N,  d² = |S - μ I|_F² / N,
        b² = (Σ_t (Σ_i x_ti²)² / T - |S|_F²) / (N T),   δ = min(b², d²) / d²

    In numpy: importing scikit-learn cost a policy backtest 1-4 s of its run, and the
    Frobenius norm is taken on the smaller Gram matrix (|X^T X|_F = |X X^T|_F)."""
    periods, names = centered.shape
    if names == 1:
        return 0.0
    squared = centered * centered
    trace = squared.sum(axis=0) / periods  # diagonal of S
    mu = float(trace.sum()) / names
    gram = centered.T @ centered if names <= periods else centered @ centered.T
    delta_sum = float((gram * gram).sum()) / periods**2  # |S|_F^2
    beta_sum = float((squared.sum(axis=1) ** 2).sum())
    beta = (beta_sum / periods - delta_sum) / (names * periods)
    delta = (delta_sum - 2.0 * mu * float(trace.sum()) + names * mu * mu) / names
    beta = min(beta, delta)
    return 0.0 if beta == 0 else beta / delta


def risk_model(
    returns: pd.DataFrame,
    estimator: str = "ledoit-wolf",
    periods_per_year: int = TRADING_DAYS_PER_YEAR,
) -> RiskModel:
    """Annualised covariance of `returns` (rows = periods) in factor form."""
    symbols = tuple(str(c) for c in returns.columns)
    return risk_model_of(returns.to_numpy(dtype=np.float64), symbols, estimator, periods_per_year)


def risk_model_of(
    returns: NDArray[np.float64],
    symbols: tuple[str, ...],
    estimator: str = "ledoit-wolf",
    periods_per_year: int = TRADING_DAYS_PER_YEAR,
) -> RiskModel:
    """`risk_model` of a T x N array of returns whose columns are `symbols`."""
    if estimator not in ESTIMATORS:
        raise InvalidParameter(
            f"unknown covariance estimator {estimator!r}: choose one of {', '.join(ESTIMATORS)}"
        )
    # Column-major, as a DataFrame's values come: the column means and the Gram matrix
    # then reduce in the same order (the same bits) from either caller.
    values = np.asfortranarray(returns, dtype=np.float64)
    periods, n = values.shape
    if periods < 2:
        raise DataError(f"need at least 2 return periods to estimate a covariance, got {periods}")
    if not np.isfinite(values).all():
        raise DataError("returns contain NaN or infinite values")
    centered = values - values.mean(axis=0)
    if estimator == "sample":
        loadings = centered * np.sqrt(periods_per_year / (periods - 1))
        return RiskModel(symbols, loadings, np.zeros(n))
    # scikit-learn does not clip δ: with two periods it can be -1e-17.
    shrinkage = min(max(_ledoit_wolf_shrinkage(centered), 0.0), 1.0)
    target = float((centered * centered).sum() / periods / n)  # tr(S_ML) / N
    loadings = centered * np.sqrt((1.0 - shrinkage) * periods_per_year / periods)
    return RiskModel(symbols, loadings, np.full(n, shrinkage * target * periods_per_year))


def risk_model_from_covariance(covariance: pd.DataFrame, tolerance: float = 1e-12) -> RiskModel:
    """Factor form of a user-supplied covariance via its eigendecomposition (PSD required)."""
    matrix = covariance.to_numpy(dtype=np.float64)
    if matrix.shape[0] != matrix.shape[1] or not np.allclose(matrix, matrix.T, atol=1e-12):
        raise DataError("covariance matrix must be square and symmetric")
    eigenvalues, vectors = np.linalg.eigh(matrix)
    scale = max(float(np.abs(eigenvalues).max(initial=0.0)), 1.0)
    if eigenvalues.min(initial=0.0) < -1e-9 * scale:
        raise DataError("covariance matrix is not positive semidefinite")
    keep = eigenvalues > tolerance * scale
    loadings = np.sqrt(eigenvalues[keep])[:, None] * vectors[:, keep].T
    return RiskModel(tuple(str(c) for c in covariance.columns), loadings, np.zeros(len(matrix)))


__all__ = [
    "ESTIMATORS",
    "TRADING_DAYS_PER_YEAR",
    "Estimator",
    "RiskModel",
    "check_risk_window",
    "period_returns",
    "risk_model",
    "risk_model_from_covariance",
    "risk_model_of",
    "window_returns",
]
