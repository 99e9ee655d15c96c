"""Optional dependencies: the one way tradefolio imports a package an extra provides.

OR-Tools, highspy, scikit-learn, yfinance, pyarrow, plotly, matplotlib, ray and alpaca-py
are extras (`pip install 'tradefolio[portfolio]'`, `[data]`, `[report]`, `[distributed]`,
`[alpaca]`); they are imported inside the function that needs them, never at module import,
so `import tradefolio` and the CLI's start stay light. `import_extra` is that import: the
module, or a `MissingExtra` naming the `pip install` that provides it (a
`MissingSolverExtra`, also a `SolverUnavailable`, for a solver's package).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from tradefolio.errors import MissingExtra, MissingSolverExtra

#: Top-level module -> the distribution that installs it, where the names differ.
DISTRIBUTIONS = {"sklearn": "scikit-learn", "alpaca": "alpaca-py", "yaml": "PyYAML"}
#: Top-level modules that are solvers: missing, they are also a `SolverUnavailable`.
SOLVER_MODULES = frozenset({"ortools", "highspy"})


def import_extra(module: str, extra: str, purpose: str = "this feature") -> ModuleType:
    """`module` imported (e.g. "plotly.offline"), or `MissingExtra` saying that `purpose`
    needs its package and `pip install 'tradefolio[extra]'` provides it.

    Any `ImportError` counts, a dependency of the package included: installing the extra
    again is the fix for both.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        root = module.split(".")[0]
        package = DISTRIBUTIONS.get(root, root)
        error = MissingSolverExtra if root in SOLVER_MODULES else MissingExtra
        raise error(package, extra, purpose) from exc


__all__ = ["DISTRIBUTIONS", "SOLVER_MODULES", "import_extra"]
