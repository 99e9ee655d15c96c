"""Validation of in-memory frames, gap detection (against a cell-by-cell oracle), benchmark
alignment."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis.extra import numpy as hnp

from tradefolio.data.validation import (
    Gap,
    align_with_benchmark,
    fill_interior_gaps,
    find_gaps,
    validate_prices,
)
from tradefolio.errors import DataError


def frame(values: list[list[float]], start: str = "2020-01-01") -> pd.DataFrame:
    dates = pd.bdate_range(start, periods=len(values), name="date")
    return pd.DataFrame(values, index=dates, columns=[f"S{i}" for i in range(len(values[0]))])


def gaps_oracle(mask: np.ndarray) -> list[tuple[int, int, int]]:
    """Interior NaN runs found cell by cell: (column, first row, last row)."""
    runs = []
    for col in range(mask.shape[1]):
        present = [row for row in range(mask.shape[0]) if not mask[row, col]]
        if not present:
            continue
        row = present[0]
        while row <= present[-1]:
            if mask[row, col]:
                start = row
                while mask[row, col]:
                    row += 1
                runs.append((col, start, row - 1))
            row += 1
    return runs


@settings(max_examples=150, derandomize=True, deadline=None)
@given(mask=hnp.arrays(bool, hnp.array_shapes(min_dims=2, max_dims=2, max_side=15)))
def test_find_gaps_matches_cell_by_cell_oracle(mask: np.ndarray) -> None:
    values = np.where(mask, np.nan, 1.0)
    prices = pd.DataFrame(
        values,
        index=pd.bdate_range("2020-01-01", periods=mask.shape[0]),
        columns=[f"S{i}" for i in range(mask.shape[1])],
    )
    found = [
        (
            prices.columns.get_loc(g.symbol),
            prices.index.get_loc(g.start),
            prices.index.get_loc(g.end),
        )
        for g in find_gaps(prices)
    ]
    assert found == gaps_oracle(mask)
    filled = fill_interior_gaps(prices)
    assert not find_gaps(filled)
    # leading and trailing NaNs survive filling; nothing present changes
    np.testing.assert_array_equal(filled.to_numpy()[~mask], values[~mask])
    interior = sum(end - start + 1 for _, start, end in gaps_oracle(mask))
    assert int(filled.isna().to_numpy().sum()) == int(mask.sum()) - interior


def test_gap_record() -> None:
    prices = frame([[1.0], [np.nan], [np.nan], [2.0]])
    assert find_gaps(prices) == [
        Gap("S0", pd.Timestamp("2020-01-02"), pd.Timestamp("2020-01-03"), 2)
    ]


def test_validate_prices_standardises() -> None:
    raw = frame([[1, 2], [3, 4]]).astype("int64")
    raw.index = raw.index.tz_localize("America/New_York")
    checked = validate_prices(raw, "mine")
    assert checked.index.tz is None and str(checked.index.dtype) == "datetime64[ns]"
    assert (checked.dtypes == "float64").all() and checked.columns.name == "symbol"


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda: frame([[1.0], [0.0]]), r"mine row 2 \(2020-01-02\), column 'S0': price 0"),
        (lambda: frame([[1.0], [np.inf]]), "price inf is not finite"),
        (lambda: frame([[1.0, 2.0]]).set_axis(["A", "A"], axis=1), "duplicate column 'A'"),
        (lambda: frame([[1.0], [2.0]]).iloc[::-1], r"row 2 \(2020-01-01\): dates are not sorted"),
        (lambda: frame([[1.0]]).iloc[:0], "no rows"),
        (lambda: frame([[1.0], [2.0]]).set_axis(["x", "2020-01-02"]), "unparseable date 'x'"),
    ],
)
def test_validate_prices_rejects(build: object, expected: str) -> None:
    with pytest.raises(DataError, match=expected):
        validate_prices(build(), "mine")  # type: ignore[operator]


def test_align_with_benchmark() -> None:
    prices = frame([[1.0], [2.0], [3.0]])
    bench = pd.Series([10.0, np.nan, 12.0, 13.0], index=pd.bdate_range("2020-01-02", periods=4))
    aligned, bench_aligned = align_with_benchmark(prices, bench)
    # 2020-01-03 is NaN in the benchmark: not shared
    assert list(aligned.index) == [pd.Timestamp("2020-01-02")]
    assert bench_aligned.tolist() == [10.0]


def test_no_overlap_with_benchmark() -> None:
    prices = frame([[1.0], [2.0]])
    bench = pd.Series([1.0], index=pd.DatetimeIndex(["2021-06-01"]))
    with pytest.raises(
        DataError,
        match=r"spx.csv: no date in common with p.csv \(2020-01-01 \.\. "
        r"2020-01-02 vs 2021-06-01 \.\. 2021-06-01\)",
    ):
        align_with_benchmark(prices, bench, prices_source="p.csv", benchmark_source="spx.csv")
