"""`plain_table.py` against rich itself: the same characters, or a refusal (None).

Oracle: rich's own `Console` writing to a `StringIO` (not a terminal), for random titles,
cells and widths; the plain renderer must either produce exactly rich's bytes or say
None, and it must not say None for the ordinary case (ASCII cells that fit).
"""

from __future__ import annotations

import io
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.table import Table

from tradefolio.cli import allocation_table
from tradefolio.cli.plain_table import plain_line, plain_table, plain_width
from tradefolio.portfolio.types import Allocation, AllocationResult

ORDINARY = string.ascii_letters + string.digits + " .,%-_/()<=;"
TRICKY = ORDINARY + "[]:\\ÄÖ株\t😀é"
COLUMNS = [("symbol", False), ("weight", True), ("dollars", True), ("shares", True)]


def _rich_table(title: str, rows: list[list[str]], width: int) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, soft_wrap=True, width=width)
    table = Table(title=title, title_justify="left")
    for name, right in COLUMNS:
        table.add_column(name, justify="right" if right else "left")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    return buffer.getvalue()


def _rich_line(text: str, width: int, soft_wrap: bool) -> str:
    buffer = io.StringIO()
    Console(file=buffer, soft_wrap=soft_wrap, width=width).print(text, style="dim")
    return buffer.getvalue()


cells = st.text(alphabet=ORDINARY, min_size=0, max_size=14)
tricky_cells = st.text(alphabet=TRICKY, min_size=0, max_size=14)


@settings(max_examples=400, deadline=None)
@given(
    title=st.text(alphabet=ORDINARY, min_size=1, max_size=90),
    rows=st.lists(st.lists(cells, min_size=4, max_size=4), max_size=5),
    width=st.integers(min_value=20, max_value=130),
)
def test_ordinary_tables_are_rich_byte_for_byte(
    title: str, rows: list[list[str]], width: int
) -> None:
    plain = plain_table(title, COLUMNS, rows, width)
    widths = [max([len(name), *(len(r[k]) for r in rows)]) for k, (name, _) in enumerate(COLUMNS)]
    texts = [title, *(cell for row in rows for cell in row)]
    trimmed = all(text == text.strip() for text in texts)
    if sum(widths) + 3 * len(widths) + 1 <= width and title.count(":") <= 1 and trimmed:
        assert plain is not None  # the ordinary case takes the plain path
    if plain is not None:
        assert plain + "\n" == _rich_table(title, rows, width)


@settings(max_examples=400, deadline=None)
@given(
    title=st.text(alphabet=TRICKY, min_size=1, max_size=40),
    rows=st.lists(st.lists(tricky_cells, min_size=4, max_size=4), max_size=4),
    width=st.integers(min_value=10, max_value=100),
)
def test_tricky_tables_are_rich_or_refused(title: str, rows: list[list[str]], width: int) -> None:
    plain = plain_table(title, COLUMNS, rows, width)
    if plain is not None:
        assert plain + "\n" == _rich_table(title, rows, width)


@settings(max_examples=400, deadline=None)
@given(
    text=st.text(alphabet=TRICKY, min_size=0, max_size=120),
    width=st.integers(min_value=10, max_value=130),
    soft_wrap=st.booleans(),
)
def test_lines_are_rich_or_refused(text: str, width: int, soft_wrap: bool) -> None:
    plain = plain_line(text, width, soft_wrap=soft_wrap)
    if plain is not None:
        assert plain + "\n" == _rich_line(text, width, soft_wrap)


def test_ordinary_lines_take_the_plain_path() -> None:
    summary = "4 positions, invested 99,997.00 of 100,000.00, cash 3.00; objective 1.625"
    assert plain_line(summary, 40, soft_wrap=True) == summary
    assert plain_line("dropped (score <= 0): BBB, CCC", 80, soft_wrap=False) is not None
    assert plain_line("x" * 81, 80, soft_wrap=False) is None  # rich would wrap it


class _Stream(io.StringIO):
    def __init__(self, tty: bool, encoding: str = "utf-8") -> None:
        super().__init__()
        self._tty, self._encoding = tty, encoding

    def isatty(self) -> bool:
        return self._tty

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._encoding


@pytest.mark.parametrize("tty", [False, True])
@pytest.mark.parametrize(
    "environ",
    [
        {},
        {"COLUMNS": "37"},
        {"COLUMNS": "abc"},
        {"FORCE_COLOR": "1"},
        {"FORCE_COLOR": ""},
        {"TTY_COMPATIBLE": "0"},
        {"TTY_COMPATIBLE": "1"},
        {"NO_COLOR": "1", "TERM": "dumb"},
    ],
)
def test_plain_width_is_richs_width_whenever_rich_writes_plain_text(
    tty: bool, environ: dict[str, str]
) -> None:
    stream = _Stream(tty)
    console = Console(file=stream, _environ=environ)
    width = plain_width(stream, environ)
    if console.is_terminal or console.color_system is not None:
        assert width is None
    else:
        assert width == console.width


def test_a_non_utf8_stream_is_left_to_rich() -> None:
    assert plain_width(_Stream(False, encoding="ascii"), {}) is None


def _result(symbols: list[str], dropped: tuple[str, ...]) -> AllocationResult:
    allocations = tuple(
        Allocation(symbol, 0.25, 25_000.0 * (i + 1), 100.0 + i, 12.5)
        for i, symbol in enumerate(symbols)
    )
    return AllocationResult(
        allocations=allocations,
        status="feasible",
        objective=1.23456789,
        capital=100_000.0,
        cash=1.5,
        solver="cbc",
        best_bound=1.3,
        dropped=dropped,
    )


@pytest.mark.parametrize("model", [False, True])
@pytest.mark.parametrize(
    ("symbols", "dropped", "excluded"),
    [
        (["AAA", "BBB"], (), {}),
        (["AAA"], ("X", "Y"), {"Z": "no prices"}),
        ([], ("A" * 90,), {}),
        (["[b]AAA"], ("Q:R:",), {"Z": "a: b"}),
    ],
)
def test_render_allocation_table_matches_its_rich_rendering(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    symbols: list[str],
    dropped: tuple[str, ...],
    excluded: dict[str, str],
    model: bool,
) -> None:
    result = _result(symbols, dropped)
    allocation_table.render_allocation_table(
        result, False, "allocation of x.csv", excluded, model=model
    )
    plain = capsys.readouterr()
    monkeypatch.setattr(allocation_table, "plain_width", lambda _stream: None)
    allocation_table.render_allocation_table(
        result, False, "allocation of x.csv", excluded, model=model
    )
    rich = capsys.readouterr()
    assert (plain.out, plain.err) == (rich.out, rich.err)
    assert "NOT proven optimal" in plain.out
