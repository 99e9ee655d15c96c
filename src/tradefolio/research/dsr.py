"""The deflated Sharpe ratio (Bailey & López de Prado, 2014): how much of the best is luck.

Picking the best of N backtests inflates its Sharpe ratio even when no variant has skill.
The deflated Sharpe ratio is the probability that the selected strategy's true Sharpe ratio
exceeds the best one would expect from N skill-less trials, allowing for the length of the
track record and the non-normality of its returns. All Sharpe ratios here are *per period*
(not annualised: divide an annualised one by sqrt(252) for daily data).

Expected maximum Sharpe ratio of N independent trials with Sharpe variance V[SR_n]
(γ = 0.5772... the Euler-Mascheroni constant, Φ⁻¹ the standard normal quantile)::

    SR₀ = sqrt(V[SR_n]) · ((1 − γ) · Φ⁻¹(1 − 1/N) + γ · Φ⁻¹(1 − 1/(N·e)))

Probabilistic Sharpe ratio of an observed SR* over T returns with skewness γ₃ and
(non-excess) kurtosis γ₄, against a benchmark SR₀::

    PSR(SR₀) = Φ( (SR* − SR₀) · sqrt(T − 1) / sqrt(1 − γ₃ · SR* + (γ₄ − 1)/4 · SR*²) )

and DSR = PSR(SR₀). With one trial there is no selection: SR₀ = 0 and DSR = PSR(0).

The paper's numerical example: an annualised SR* = 2.5 picked from N = 100 trials whose
annualised Sharpe ratios have variance 1/2, T = 1,250 daily returns, γ₃ = −3, γ₄ = 10 gives
SR₀ ≈ 0.1132 per day and DSR ≈ 0.9004 (pinned in the tests).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

from tradefolio.errors import InvalidParameter

EULER_MASCHERONI = 0.5772156649015329
_NORMAL = NormalDist()


def expected_max_sharpe(n_trials: int, sharpe_variance: float) -> float:
    """SR₀: the expected best per-period Sharpe of `n_trials` skill-less trials (see above)."""
    if n_trials < 1:
        raise InvalidParameter(f"the number of trials must be >= 1, got {n_trials}")
    if not (math.isfinite(sharpe_variance) and sharpe_variance >= 0):
        raise InvalidParameter(f"the Sharpe variance must be >= 0, got {sharpe_variance}")
    if n_trials == 1:
        return 0.0
    gamma = EULER_MASCHERONI
    quantiles = (1 - gamma) * _NORMAL.inv_cdf(1 - 1 / n_trials) + gamma * _NORMAL.inv_cdf(
        1 - 1 / (n_trials * math.e)
    )
    return math.sqrt(sharpe_variance) * quantiles


def probabilistic_sharpe_ratio(
    sharpe: float, benchmark: float, observations: int, skew: float, kurtosis: float
) -> float:
    """PSR: the probability that the true per-period Sharpe exceeds `benchmark` (see above)."""
    if observations < 2:
        raise InvalidParameter(f"the PSR needs at least 2 returns, got {observations}")
    variance = 1 - skew * sharpe + (kurtosis - 1) / 4 * sharpe**2
    if not variance > 0:
        raise InvalidParameter(
            f"skew {skew:g} and kurtosis {kurtosis:g} give a non-positive Sharpe variance"
        )
    z = (sharpe - benchmark) * math.sqrt(observations - 1) / math.sqrt(variance)
    return _NORMAL.cdf(z)


@dataclass(frozen=True, slots=True)
class DeflatedSharpe:
    """The deflated Sharpe ratio and the numbers it came from (per-period Sharpe ratios)."""

    dsr: float
    sharpe: float
    expected_max_sharpe: float
    n_trials: int
    sharpe_variance: float
    observations: int
    skew: float
    kurtosis: float


def deflated_sharpe_ratio(
    sharpe: float,
    trial_sharpes: Sequence[float],
    observations: int,
    skew: float,
    kurtosis: float,
) -> DeflatedSharpe:
    """DSR of a strategy with per-period `sharpe`, picked among `trial_sharpes` (all trials).

    V[SR_n] is the sample variance (ddof = 1) of `trial_sharpes`, N their count.
    """
    trials = [float(s) for s in trial_sharpes if math.isfinite(s)]
    if not trials:
        raise InvalidParameter("the deflated Sharpe ratio needs at least one trial")
    n = len(trials)
    mean = math.fsum(trials) / n
    variance = math.fsum((s - mean) ** 2 for s in trials) / (n - 1) if n > 1 else 0.0
    benchmark = expected_max_sharpe(n, variance)
    return DeflatedSharpe(
        dsr=probabilistic_sharpe_ratio(sharpe, benchmark, observations, skew, kurtosis),
        sharpe=sharpe,
        expected_max_sharpe=benchmark,
        n_trials=n,
        sharpe_variance=variance,
        observations=observations,
        skew=skew,
        kurtosis=kurtosis,
    )


__all__ = [
    "EULER_MASCHERONI",
    "DeflatedSharpe",
    "deflated_sharpe_ratio",
    "expected_max_sharpe",
    "probabilistic_sharpe_ratio",
]
