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


def held_shares(where: str, shares: object) -> float:
    """`shares` (a file's cell, or a value of `tf.allocate(holdings=...)`) as a share count;
    `DataError` naming `where` (the symbol, with the file and row) and the bad value. A
    number >= 0, finite: a string is read as Python's `float` reads it (but for digit
    separators such as `1_000`, as the candidate files), a bool is no share count."""
    value: float | None = None
    if isinstance(shares, str):
        text = shares.strip()
        if text and "_" not in text:
            try:
                value = float(text)
            except ValueError:
                value = None
    elif not isinstance(shares, bool):
        try:
            value = float(shares)  # type: ignore[arg-type]  # numbers, numpy scalars
        except (TypeError, ValueError):
            value = None
    if value is None:
        raise DataError(f"{where}: shares {shares!r} is not a number")
    if not math.isfinite(value):
        raise DataError(f"{where}: shares {shares!r} is not a finite number")
    if value < 0:
        raise DataError(f"{where}: shares must be >= 0 (long-only), got {value:g}")
    return value


#: A price cell's text that means "no price given" (pandas' usual missing markers).
_BLANK_TEXT = frozenset({"", "nan", "na", "n/a", "null", "none", "<na>"})


def held_price(where: str, price: object) -> float | None:
    """A holding's optional `price`: None when blank (NaN, None, an empty cell: the
    symbol is priced elsewhere), else a finite number > 0 or `DataError` naming it."""
    if price is None or (isinstance(price, str) and price.strip().lower() in _BLANK_TEXT):
        return None
    if type(price).__module__.startswith("pandas"):
        import pandas as pd  # only for a pandas scalar, so pandas is already loaded

        # pd.NA, pd.NaT: a missing cell of a nullable column
        if pd.isna(price) is True:  # type: ignore[call-overload]
            return None
    value: float | None = None
    if isinstance(price, str):
        try:
            value = None if "_" in price else float(price)
        except ValueError:
            value = None
    elif not isinstance(price, bool):
        try:
            value = float(price)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            value = None
    if value is not None and math.isnan(value) and not isinstance(price, str):
        return None  # a missing cell (pandas reads it as NaN)
    if value is None or not (math.isfinite(value) and value > 0):
        raise DataError(f"{where}: price {price!r} is not a finite number > 0")
    return value


def read_holdings(path: str | Path) -> dict[str, float]:
    """Shares per symbol from a CSV `symbol,shares`; `DataError` names the bad row."""
    import pandas as pd  # lazy: `allocate --candidates` never needs pandas (nor numpy)

    file = Path(path)
    if not file.is_file():
        raise DataError(f"{file}: no such file")
    try:
        frame = pd.read_csv(file, dtype={"symbol": str, "shares": str}, keep_default_na=False)
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
        holdings[name] = held_shares(f"{file}: row {line} ({name})", shares)
    return holdings


def read_holding_prices(path: str | Path) -> dict[str, float]:
    """The optional `price` column of a holdings file (empty when absent; a blank cell
    gives no price, anything else must be a price: `held_price`)."""
    import pandas as pd  # lazy: `allocate --candidates` never needs pandas

    file = Path(path)
    frame = pd.read_csv(file, dtype=str, keep_default_na=False)
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    if "price" not in frame.columns:
        return {}
    prices: dict[str, float] = {}
    for row, (symbol, price) in enumerate(zip(frame["symbol"], frame["price"], strict=True)):
        name = str(symbol).strip()
        value = held_price(f"{file}: row {row + 2} ({name})", price)
        if value is not None:
            prices[name] = value
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


__all__ = [
    "Holding",
    "Side",
    "Trade",
    "held_price",
    "held_shares",
    "read_holding_prices",
    "read_holdings",
    "trades_between",
]
