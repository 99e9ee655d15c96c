"""`import tradefolio as tf`: a light import, one list of public names, each one usable."""

from __future__ import annotations

import subprocess
import sys
import types

import tradefolio as tf
from tradefolio import api, errors

HEAVY = (
    "pandas", "numpy", "ortools", "highspy", "plotly", "sklearn", "pyarrow", "scipy", "pydantic",
    "matplotlib",
)  # fmt: skip


def test_importing_tradefolio_and_the_options_loads_nothing_heavy() -> None:
    code = (
        "import sys, tradefolio, tradefolio.api, tradefolio.api.options; "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == ""


def test_all_lists_every_export_and_every_error() -> None:
    assert set(tf.__all__) == {*api.EXPORTS, *errors.__all__, "__version__"}
    assert set(api.__all__) == set(api.EXPORTS)
    assert sorted(tf.__all__) == tf.__all__


def test_every_public_name_resolves_to_what_its_module_defines() -> None:
    for name, module in api.EXPORTS.items():
        value = getattr(tf, name)
        assert value is getattr(sys.modules[module], name), name
        assert not isinstance(value, types.ModuleType), name


def test_the_backtest_function_wins_over_the_backtest_package() -> None:
    import tradefolio.backtest.engine  # noqa: F401  (the subpackage is loaded)

    assert callable(tf.backtest) and tf.backtest.__module__ == "tradefolio.api.backtesting"
    from tradefolio import backtest

    assert backtest is tf.backtest
    assert sys.modules["tradefolio.backtest"].__name__ == "tradefolio.backtest"


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        tf.allocat  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "allocat" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("tf.allocat resolved")
