"""Current holdings in, trades out: the path from what is held to the target portfolio.

A holdings file is a CSV `symbol,shares` (an optional `price` column prices symbols that are
not candidates). Trades are differences of share counts, so

    holdings.shares + trade.shares == target.shares        (exactly, per symbol)

with `trade.shares > 0` a buy and `< 0` a sell.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tradefolio.errors import DataError

Side = Literal["buy", "sell"]


@dataclass(frozen=True, slots=True)
class Holding:
    """`shares` of `symbol` held now, valued at `price`."""

    symbol: str
    shares: float
    price: float

    @property
    def value(self) -> float:
        """Market value of the position."""
        return self.shares * self.price


@dataclass(frozen=True, slots=True)
class Trade:
    """Buy (`shares` > 0) or sell (`shares` < 0) `symbol` at `price`; `dollars` is signed."""

    symbol: str
    shares: float
    price: float

    @property
    def side(self) -> Side:
        """'buy' or 'sell'."""
        return "buy" if self.shares > 0 else "sell"

    @property
    def dollars(self) -> float:
        """Signed trade value (negative for sells)."""
        return self.shares * self.price


def read_holdings(path: str | Path) -> dict[str, float]:
    """Shares per symbol from a CSV `symbol,shares`; `DataError` names the bad row."""
    import numpy as np
    import pandas as pd  # lazy: `allocate --candidates` never needs pandas (nor numpy)

    file = Path(path)
    if not file.is_file():
        raise DataError(f"{file}: no such file")
    try:
        frame = pd.read_csv(file, dtype={"symbol": str})
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{file}: file is empty; expected columns symbol,shares") from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{file}: cannot be parsed as CSV ({exc})") from exc
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    missing = [c for c in ("symbol", "shares") if c not in frame.columns]
    if missing:
        raise DataError(f"{file}: missing column {', '.join(missing)}; expected symbol,shares")
    holdings: dict[str, float] = {}
    for row, (symbol, shares) in enumerate(zip(frame["symbol"], frame["shares"], strict=True)):
        line = row + 2
        name = "" if not isinstance(symbol, str) else symbol.strip()
        if not name:
            raise DataError(f"{file}: empty symbol in row {line}")
        if name in holdings:
            raise DataError(f"{file}: duplicate symbol {name!r}; list each symbol once")
        value = pd.to_numeric(pd.Series([shares]), errors="coerce").iloc[0]
        if not (isinstance(value, (int, float, np.number)) and math.isfinite(float(value))):
            raise DataError(
                f"{file}: row {line} ({name}): shares {shares!r} is not a finite number"
            )
        if float(value) < 0:
            raise DataError(
                f"{file}: row {line} ({name}): shares must be >= 0 (long-only), got {value}"
            )
        holdings[name] = float(value)
    return holdings


def read_holding_prices(path: str | Path) -> dict[str, float]:
    """The optional `price` column of a holdings file (empty when absent)."""
    import pandas as pd  # lazy: `allocate --candidates` never needs pandas

    frame = pd.read_csv(Path(path), dtype={"symbol": str})
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    if "price" not in frame.columns:
        return {}
    prices: dict[str, float] = {}
    for symbol, price in zip(frame["symbol"], frame["price"], strict=True):
        value = float(pd.to_numeric(pd.Series([price]), errors="coerce").iloc[0])
        if math.isfinite(value) and value > 0:
            prices[str(symbol).strip()] = value
    return prices


def trades_between(
    held: Mapping[str, float], target: Mapping[str, float], prices: Mapping[str, float]
) -> tuple[Trade, ...]:
    """Trades taking `held` shares to `target` shares (sells first, then buys, by symbol)."""
    trades = []
    for symbol in sorted(set(held) | set(target)):
        delta = target.get(symbol, 0.0) - held.get(symbol, 0.0)
        if delta != 0.0:
            trades.append(Trade(symbol=symbol, shares=delta, price=prices[symbol]))
    trades.sort(key=lambda t: (t.shares > 0, t.symbol))
    return tuple(trades)


__all__ = ["Holding", "Side", "Trade", "read_holding_prices", "read_holdings", "trades_between"]
