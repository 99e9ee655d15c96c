"""The names a user picks from on the command line: scoring factors, covariance estimators.

Plain constants in a module without numpy or pandas, so a command can list them in its
help (and check a choice) without importing the code that implements them; `scoring.py`
and `covariance.py` re-export them.
"""

from __future__ import annotations

#: Factors of `scoring.score_universe`.
FACTORS: tuple[str, ...] = ("trailing-return", "momentum", "inverse-volatility")
#: Estimators of `covariance.risk_model`.
ESTIMATORS: tuple[str, ...] = ("sample", "ledoit-wolf")

__all__ = ["ESTIMATORS", "FACTORS"]
