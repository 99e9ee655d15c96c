"""A wrong argument type to the public functions is a tradefolio error naming the keyword."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tradefolio as tf
from tradefolio.api.checked import checked
from tradefolio.errors import DataError, InvalidParameter


@pytest.mark.parametrize(
    ("keywords", "error", "fragment"),
    [
        ({"capital": "abc"}, InvalidParameter, "capital= must be a number, got str 'abc'"),
        ({"time_limit": "fast"}, InvalidParameter, "time_limit= must be a number, got str"),
        ({"max_weight": None}, InvalidParameter, "max_weight= must be a number, got None"),
        ({"max_positions": 2.5}, InvalidParameter, "max_positions= must be a whole number"),
        ({"fractional": "yes"}, InvalidParameter, "fractional= must be True or False"),
        ({"holdings": [("AAPL", 3)]}, DataError, "holdings= must be a str, a Path, a Series"),
        ({"candidates": 5}, DataError, "candidates= must be a str, a Path, a DataFrame"),
        ({"sectors": 5}, DataError, "sectors= must be a str, a Path, a Series, a mapping"),
        ({"capitol": 5}, InvalidParameter, "no keyword capitol= (did you mean capital=?)"),
    ],
)
def test_allocate_refuses_a_wrong_type_by_name(
    keywords: dict[str, Any], error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error) as caught:
        tf.allocate(**keywords)
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)


def test_numpy_numbers_and_ints_for_floats_pass_the_check() -> None:
    seen: list[tuple[float, int]] = []

    @checked()
    def function(capital: float = 1.0, count: int | None = None) -> None:
        seen.append((capital, count or 0))

    function(np.float64(2.0), np.int64(3))
    function(5, None)
    assert seen == [(2.0, 3), (5, 0)]
    with pytest.raises(InvalidParameter, match="count= must be a whole number or None"):
        function(1.0, True)


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: tf.sweep([1]), "grid= must be a mapping or None, got list [1]"),
        (lambda: tf.sweep({"fast": [5]}, workers="x"), "workers= must be a whole number"),
        (lambda: tf.walk_forward({"fast": [5]}, train="long"), "train= must be a whole number"),
    ],
)
def test_research_functions_refuse_a_wrong_type_by_name(call: Any, fragment: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        call()
    assert fragment in str(caught.value)


def _candidates() -> Any:
    import pandas as pd

    return pd.DataFrame(
        {"symbol": ["A", "B", "C"], "score": [0.3, 0.2, 0.1], "price": [10.0, 20.0, 5.0]}
    )


def test_decimal_money_is_taken_as_the_number_it_is() -> None:
    """A quant keeping money exact passes `Decimal`s where a float is declared: the
    allocation is the one of the same floats (found by review, session 9)."""
    from decimal import Decimal

    exact = tf.allocate(
        candidates=_candidates(), capital=Decimal("10000.00"), max_weight=Decimal("0.5")
    )
    floats = tf.allocate(candidates=_candidates(), capital=10_000.0, max_weight=0.5)
    assert exact.capital == floats.capital == 10_000.0
    assert exact.allocations.equals(floats.allocations)
    assert list(exact.allocations.index) == ["A", "B"]  # a real allocation: half each


@pytest.mark.parametrize(
    ("keywords", "fragment"),
    [
        ({"capital": "NaN"}, "capital= must be a finite number, got Decimal Decimal('NaN')"),
        ({"capital": "sNaN"}, "capital= must be a finite number"),
        ({"capital": "-Infinity"}, "capital= must be a finite number"),
        ({"max_weight": "1e400"}, "max_weight= must be a finite number"),  # beyond a float
        ({"max_positions": "3"}, "max_positions= must be a whole number"),  # an int's keyword
    ],
)
def test_a_decimal_without_a_finite_float_is_refused_by_name(
    keywords: dict[str, str], fragment: str
) -> None:
    from decimal import Decimal

    with pytest.raises(InvalidParameter) as caught:
        tf.allocate(candidates=_candidates(), **{k: Decimal(v) for k, v in keywords.items()})
    assert fragment in str(caught.value)


@pytest.mark.parametrize("capital", [True, "10000", float("nan"), float("inf")])
def test_bools_text_and_non_finite_floats_are_still_refused(capital: object) -> None:
    with pytest.raises(InvalidParameter, match="capital"):
        tf.allocate(candidates=_candidates(), capital=capital)  # type: ignore[arg-type]
