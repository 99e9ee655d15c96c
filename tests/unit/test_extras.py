"""`import_extra`: the one lazy import of an optional dependency, and what a missing one says."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import tradefolio
from tradefolio.errors import MissingExtra, MissingSolverExtra, SolverUnavailable, TradefolioError
from tradefolio.extras import import_extra
from tradefolio.portfolio.mip import load_pywraplp
from tradefolio.reporting.figures import plotly_js

PACKAGE_ROOT = Path(tradefolio.__file__).parent


def test_an_installed_module_is_returned() -> None:
    module = import_extra("json.decoder", "report", "decoding")
    import json.decoder

    assert module is json.decoder


def test_a_missing_plotly_is_a_missing_extra_and_not_a_solver_problem(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "plotly.offline", None)
    with pytest.raises(MissingExtra) as caught:
        plotly_js()
    assert not isinstance(caught.value, SolverUnavailable)
    assert isinstance(caught.value, TradefolioError)
    assert str(caught.value) == (
        "the HTML tearsheet needs the 'plotly' package: pip install 'tradefolio[report]'"
    )
    assert (caught.value.package, caught.value.extra) == ("plotly", "report")


def test_a_missing_solver_is_both_a_missing_extra_and_an_unavailable_solver(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "ortools.linear_solver.pywraplp", None)
    with pytest.raises(SolverUnavailable) as caught:
        load_pywraplp()
    assert isinstance(caught.value, MissingSolverExtra)
    assert isinstance(caught.value, MissingExtra)
    assert "pip install 'tradefolio[portfolio]'" in str(caught.value)


def test_the_message_names_the_distribution_not_the_module(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "sklearn.covariance", None)
    with pytest.raises(MissingExtra, match=r"'scikit-learn' package: pip install 'tradefolio\["):
        import_extra("sklearn.covariance", "portfolio", "Ledoit-Wolf covariance")
    with pytest.raises(MissingExtra, match=r"^--broker x needs the 'alpaca-py' package"):
        import_extra("alpaca.no_such_module", "alpaca", "--broker x")


def _catches_import_error(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.ExceptHandler) and node.type is not None:
            names = {n.id for n in ast.walk(node.type) if isinstance(n, ast.Name)}
            if names & {"ImportError", "ModuleNotFoundError"}:
                return True
    return False


def test_import_extra_is_the_one_lazy_import_of_an_extra() -> None:
    # Optional packages that are not extras keep their own fallback: cvxpy (a better
    # diagonal split when present, `perspective.py`), threadpoolctl (one BLAS thread for the
    # cardinality search when present; scikit-learn brings it), PyYAML (YAML sweep files) and
    # numpy's private LAPACK gufuncs (`node_qp.py`: the public wrappers when another numpy
    # lays them out differently).
    # A user strategy module that does not import is the user's error, not a missing extra.
    allowed = {
        "extras.py",
        "portfolio/perspective.py",
        "portfolio/cardinality_search.py",
        "portfolio/node_qp.py",
        "research/space.py",
        "backtest/user_strategy.py",
    }
    catching = sorted(
        path.relative_to(PACKAGE_ROOT).as_posix()
        for path in PACKAGE_ROOT.rglob("*.py")
        if _catches_import_error(ast.parse(path.read_text()))
    )
    assert set(catching) - allowed == set()
    sources = "".join(p.read_text() for p in PACKAGE_ROOT.rglob("*.py"))
    assert "find_spec(" not in sources
