"""What a price file holds: its bar fields, symbols, each one's first and last date, and its
interior gaps.

The fields a file lacks are stated, never guessed (`missing_fields`, `fields_statement`):
close-only data has no open, high or low, and the only place tradefolio lets closes stand
in for them is `PricePanel.field` (open = high = low = close).

`summarize` works on data read with gaps kept (`read_panel(path, on_gap="keep")`), so it can
report what validation would reject. `info_to_json` is the stable contract printed by
`tradefolio data info --format json`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from tradefolio.data.panel import PricePanel
from tradefolio.data.readers import BAR_COLUMNS
from tradefolio.data.validation import Gap, find_gaps


@dataclass(frozen=True, slots=True)
class SymbolInfo:
    """One symbol: first/last date with a price, prices present, interior missing sessions."""

    symbol: str
    first_date: pd.Timestamp
    last_date: pd.Timestamp
    prices: int
    missing: int
    gaps: tuple[Gap, ...]


@dataclass(frozen=True, slots=True)
class DataInfo:
    """A whole file: its sessions, the bar fields it has, and every symbol."""

    source: str
    sessions: int
    first_date: pd.Timestamp
    last_date: pd.Timestamp
    fields: tuple[str, ...]
    symbols: tuple[SymbolInfo, ...]

    @property
    def missing_fields(self) -> tuple[str, ...]:
        """The bar fields the file does not have (in open, high, low, close, volume order)."""
        return tuple(f for f in BAR_COLUMNS if f not in self.fields)

    @property
    def gap_count(self) -> int:
        """Interior gaps (runs of missing sessions) over all symbols."""
        return sum(len(s.gaps) for s in self.symbols)


def summarize(data: PricePanel | pd.DataFrame, source: str) -> DataInfo:
    """The summary of `data` (closes decide dates and gaps). Vectorised per column."""
    panel = data if isinstance(data, PricePanel) else PricePanel.from_closes(data)
    close = panel.close
    valid = close.notna().to_numpy()
    counts = valid.sum(axis=0)
    first_rows = valid.argmax(axis=0)
    last_rows = len(close) - 1 - valid[::-1].argmax(axis=0)
    by_symbol: dict[str, list[Gap]] = {}
    for gap in find_gaps(close):
        by_symbol.setdefault(gap.symbol, []).append(gap)
    symbols = tuple(
        SymbolInfo(
            symbol=str(symbol),
            first_date=close.index[int(first_rows[i])],
            last_date=close.index[int(last_rows[i])],
            prices=int(counts[i]),
            missing=sum(g.sessions for g in by_symbol.get(str(symbol), [])),
            gaps=tuple(by_symbol.get(str(symbol), [])),
        )
        for i, symbol in enumerate(close.columns)
        if counts[i] > 0
    )
    fields = tuple(
        name for name in BAR_COLUMNS if name == "close" or getattr(panel, name) is not None
    )
    return DataInfo(
        source=source,
        sessions=len(close),
        first_date=close.index[0],
        last_date=close.index[-1],
        fields=fields,
        symbols=symbols,
    )


def fields_statement(info: DataInfo) -> str:
    """One sentence saying which bar fields the file has and which it lacks."""
    missing = info.missing_fields
    if not missing:
        return f"fields: {', '.join(info.fields)} (whole bars)"
    listed = ", ".join(missing[:-1]) + (" and " if len(missing) > 1 else "") + missing[-1]
    have = "close only" if info.fields == ("close",) else ", ".join(info.fields)
    note = ""
    if any(f in missing for f in ("open", "high", "low")):
        note = (
            "; stops, limits and fills at the open see open = high = low = close where a "
            "field is missing"
        )
    return f"fields: {have}; missing: {listed}{note}"


def _day(stamp: pd.Timestamp) -> str:
    return stamp.date().isoformat()


def info_to_json(info: DataInfo) -> dict[str, Any]:
    """The stable JSON contract of `tradefolio data info` (documented in the README)."""
    return {
        "source": info.source,
        "sessions": info.sessions,
        "first_date": _day(info.first_date),
        "last_date": _day(info.last_date),
        "fields": list(info.fields),
        "missing_fields": list(info.missing_fields),
        "gaps": info.gap_count,
        "symbols": [
            {
                "symbol": s.symbol,
                "first_date": _day(s.first_date),
                "last_date": _day(s.last_date),
                "prices": s.prices,
                "missing": s.missing,
                "gaps": [
                    {"start": _day(g.start), "end": _day(g.end), "sessions": g.sessions}
                    for g in s.gaps
                ],
            }
            for s in info.symbols
        ],
    }


__all__ = ["DataInfo", "SymbolInfo", "fields_statement", "info_to_json", "summarize"]
