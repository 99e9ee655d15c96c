"""`frame_csv` against its oracle, pandas' own `to_csv` (run folders' date format and line end)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradefolio.reporting.csv_text import frame_csv, write_frame_csv


def _pandas(frame: pd.DataFrame, index: bool) -> str:
    text: str = frame.to_csv(index=index, date_format="%Y-%m-%d", lineterminator="\n")
    return text


_floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e7, max_value=1e7).map(lambda x: round(x, 6)),
    st.sampled_from([0.0, -0.0, 1e16, 1e-4, 9.999999999999999e-05, 5e-324, 0.1 + 0.2]),
)
_text = st.one_of(
    st.none(),
    st.text(alphabet=st.sampled_from(list('ab ,"\n\r\t;é-_.0')), max_size=6),
)
_days = st.one_of(
    st.none(),
    st.integers(min_value=-200_000, max_value=2_900_000).map(
        lambda day: np.datetime64(day, "D").astype("datetime64[ns]")
    ),
)


@st.composite
def _frames(draw: st.DrawFn) -> tuple[pd.DataFrame, bool]:
    rows = draw(st.integers(min_value=0, max_value=12))
    kinds = draw(
        st.lists(
            st.sampled_from(["float", "int", "bool", "date", "str", "object"]),
            min_size=1,
            max_size=5,
        )
    )
    data: dict[str, object] = {}
    for position, kind in enumerate(kinds):
        name = draw(st.sampled_from(["x", "a,b", 'q"', "date", "é"])) + str(position)
        if kind == "float":
            data[name] = np.array(draw(st.lists(_floats, min_size=rows, max_size=rows)))
        elif kind == "int":
            values = st.integers(min_value=-(2**63), max_value=2**63 - 1)
            data[name] = np.array(draw(st.lists(values, min_size=rows, max_size=rows)), "int64")
        elif kind == "bool":
            data[name] = np.array(draw(st.lists(st.booleans(), min_size=rows, max_size=rows)))
        elif kind == "date":
            days = draw(st.lists(_days, min_size=rows, max_size=rows))
            data[name] = pd.Series(
                [np.datetime64("NaT", "ns") if d is None else d for d in days],
                dtype="datetime64[ns]",
            )
        elif kind == "str":
            data[name] = pd.Series(draw(st.lists(_text, min_size=rows, max_size=rows)), dtype="str")
        else:
            data[name] = pd.Series(
                draw(st.lists(_text, min_size=rows, max_size=rows)), dtype=object
            )
    frame = pd.DataFrame(data)
    index = draw(st.booleans())
    if index and rows and draw(st.booleans()):
        start = draw(st.integers(min_value=0, max_value=20_000))
        frame.index = pd.DatetimeIndex(
            np.arange(start, start + rows).astype("datetime64[D]").astype("datetime64[ns]"),
            name=draw(st.sampled_from([None, "date", "a,b"])),
        )
    return frame, index


@settings(max_examples=300, deadline=None)
@given(_frames())
def test_frame_csv_is_pandas_to_csv_byte_for_byte(case: tuple[pd.DataFrame, bool]) -> None:
    frame, index = case
    assert frame_csv(frame, index=index) == _pandas(frame, index)


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({"x": np.array([1.5, np.nan], dtype=np.float32)}),  # float32: pandas
        pd.DataFrame({"when": pd.date_range("2024-01-01", periods=2, tz="UTC")}),  # tz
        pd.DataFrame({"d": pd.Series([np.datetime64("0900-01-01")], dtype="datetime64[s]")}),
        pd.DataFrame({1: [1.0, 2.0], "y": [3.0, 4.0]}),  # a label that is not text
        pd.DataFrame({"mixed": pd.Series(["a", 1.5, None], dtype=object)}),
        pd.DataFrame({"only": pd.Series(["", "b"], dtype="str")}),  # one column: csv quotes ""
    ],
)
def test_other_columns_are_pandas_own_output(frame: pd.DataFrame) -> None:
    for index in (False, True):
        assert frame_csv(frame, index=index) == _pandas(frame, index)


def test_written_file_keeps_line_ends_and_utf8(tmp_path: Path) -> None:
    frame = pd.DataFrame({"name": pd.Series(["é", "a\r\nb"], dtype="str"), "v": [0.1, -0.0]})
    path = tmp_path / "x.csv"
    write_frame_csv(frame, path, index=False)
    frame.to_csv(tmp_path / "y.csv", index=False, date_format="%Y-%m-%d", lineterminator="\n")
    assert path.read_bytes() == (tmp_path / "y.csv").read_bytes()
