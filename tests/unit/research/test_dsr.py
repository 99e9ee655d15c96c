"""Deflated Sharpe ratio against the published example of Bailey & López de Prado (2014)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tradefolio.errors import InvalidParameter
from tradefolio.research.dsr import (
    deflated_sharpe_ratio,
    expected_max_sharpe,
    probabilistic_sharpe_ratio,
)

DAYS = 250  # the paper annualises with 250 sessions


def test_published_numerical_example() -> None:
    # Paper: SR* = 2.5 annualised, N = 100 trials, V[SR_n] = 1/2 annualised, T = 1,250 days,
    # skew -3, kurtosis 10 -> SR0 = 0.1132 (daily), DSR = 0.9004.
    # By hand: sqrt(0.5/250) = 0.044721; Φ⁻¹(0.99) = 2.326348, Φ⁻¹(1 - 1/(100e)) = 2.679546;
    # SR0 = 0.044721 · (0.422784 · 2.326348 + 0.577216 · 2.679546) = 0.113172.
    # z = (0.158114 - 0.113172) · sqrt(1249) / sqrt(1 + 3 · 0.158114 + 9/4 · 0.025) = 1.2834
    sr0 = expected_max_sharpe(100, 0.5 / DAYS)
    assert sr0 == pytest.approx(0.113172, abs=2e-6)
    dsr = probabilistic_sharpe_ratio(2.5 / math.sqrt(DAYS), sr0, 1250, -3.0, 10.0)
    assert dsr == pytest.approx(0.9004, abs=1e-4)


def test_deflated_from_trials_uses_their_sample_variance() -> None:
    trials = [0.01, 0.02, 0.05, 0.03]
    result = deflated_sharpe_ratio(0.05, trials, 1000, 0.0, 3.0)
    assert result.n_trials == 4
    assert result.sharpe_variance == pytest.approx(np.var(trials, ddof=1))
    assert result.expected_max_sharpe == pytest.approx(
        expected_max_sharpe(4, np.var(trials, ddof=1))
    )
    assert 0 < result.dsr < 1


def test_more_trials_deflate_more() -> None:
    values = [expected_max_sharpe(n, 0.001) for n in (2, 10, 100, 1000)]
    assert values == sorted(values)
    assert expected_max_sharpe(1, 0.001) == 0.0


def test_single_trial_is_the_probabilistic_sharpe_against_zero() -> None:
    result = deflated_sharpe_ratio(0.05, [0.05], 500, -0.5, 5.0)
    assert result.dsr == pytest.approx(probabilistic_sharpe_ratio(0.05, 0.0, 500, -0.5, 5.0))


def test_bad_inputs() -> None:
    with pytest.raises(InvalidParameter):
        expected_max_sharpe(0, 1.0)
    with pytest.raises(InvalidParameter):
        probabilistic_sharpe_ratio(0.1, 0.0, 1, 0.0, 3.0)
    with pytest.raises(InvalidParameter):
        deflated_sharpe_ratio(0.1, [], 100, 0.0, 3.0)
