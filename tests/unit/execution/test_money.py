"""The one float -> exact rule: `micro_array` (vectorised) is `to_micro` cell for cell."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tradefolio.execution.money import micro_array, to_micro

#: Quotes near a half-micro tie (x.xxxxxx5 and its float neighbours) and ordinary ones.
_ties = st.builds(
    lambda whole, micros, nudge: (
        float(np.nextafter(float(f"{whole}.{micros:06d}5"), np.inf if nudge > 0 else -np.inf))
        if nudge
        else float(f"{whole}.{micros:06d}5")
    ),
    st.integers(0, 10**7),
    st.integers(0, 999_999),
    st.integers(-1, 1),
)
_prices = st.one_of(_ties, st.floats(0.0, 1e9, allow_nan=False), st.just(float("nan")))


@settings(max_examples=300, deadline=None)
@given(st.lists(_prices, min_size=1, max_size=40))
def test_micro_array_is_the_scalar_rule_cell_for_cell(values: list[float]) -> None:
    got = micro_array(np.array(values, dtype=np.float64)).tolist()
    assert got == [0 if v != v else to_micro(v) for v in values]


def test_micro_array_keeps_the_shape_and_rounds_ties_half_even() -> None:
    values = np.array([[0.0000005, 0.0000015], [1.0000025, float("nan")]])
    assert micro_array(values).tolist() == [[0, 2], [1_000_002, 0]]
