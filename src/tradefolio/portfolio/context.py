"""The universe a model is built for, and the core variables every piece shares.

Units: every weight is a fraction of the account value V = cash + value of all holdings
(held candidates and held names outside the universe). Per candidate i:

    w_i in [0, u_i]   target weight (u_i = 1 until a constraint tightens it)
    x_i in {0, 1}     held in the target;  w_i <= u_i x_i   (zero unless selected)

and, created only when a constraint asks for them,

    b_i, s_i >= 0     bought / sold weight:      w_i - b_i + s_i = w0_i
    β_i, σ_i in {0,1} a buy / a sell happens:    b_i <= (u_i - w0_i) β_i,  s_i <= w0_i σ_i,
                                                  β_i + σ_i <= 1
    n_i integer >= 0  lots held (whole shares):   w_i = n_i lot_i p_i / V

Held names that are not candidates are sold entirely (they have no score or risk
estimate); their weight is a constant "forced" turnover and cost.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from tradefolio.errors import DataError, InvalidParameter
from tradefolio.portfolio.holdings import Holding
from tradefolio.portfolio.program import INF, Program, Row
from tradefolio.portfolio.types import Candidate, validate_candidates


@dataclass(frozen=True, slots=True)
class Universe:
    """Candidates aligned as arrays, with current holdings and cash, in dollars."""

    symbols: tuple[str, ...]
    prices: NDArray[np.float64]
    expected: NDArray[np.float64]
    held_shares: NDArray[np.float64]
    cash: float
    outside: tuple[Holding, ...] = ()
    dropped: tuple[str, ...] = ()
    #: `value` once read (NaN until then): a build reads it ~20 times per rebalance.
    _value: float = field(default=math.nan, init=False, compare=False, repr=False)

    @property
    def size(self) -> int:
        """Number of candidates in the model."""
        return len(self.symbols)

    @property
    def value(self) -> float:
        """Account value V: cash plus every holding at its price (computed once: a
        universe's arrays are not changed after it is made)."""
        value = self._value
        if value == value:  # not NaN: read before
            return value
        held = float(self.held_shares @ self.prices) if self.size else 0.0
        value = self.cash + held + sum(h.value for h in self.outside)
        object.__setattr__(self, "_value", value)
        return value

    @property
    def initial_weights(self) -> NDArray[np.float64]:
        """w0_i: current weight of each candidate."""
        weights: NDArray[np.float64] = self.held_shares * self.prices / self.value
        return weights

    @property
    def forced_sell_weight(self) -> float:
        """Weight of holdings outside the universe, which are sold."""
        return sum(h.value for h in self.outside) / self.value


def make_universe(
    candidates: Iterable[Candidate],
    cash: float,
    holdings: Mapping[str, float] | None = None,
    holding_prices: Mapping[str, float] | None = None,
    keep_non_positive: bool = True,
) -> Universe:
    """Align candidates and holdings; drop non-positive scores (unless held) when asked."""
    if not (np.isfinite(cash) and cash >= 0):
        raise InvalidParameter(f"capital (cash) must be a finite number >= 0, got {cash}")
    checked = validate_candidates(candidates)
    held = dict(holdings or {})
    kept: list[Candidate] = []
    dropped_symbols: list[str] = []
    for c in checked:
        if keep_non_positive or c.score > 0 or held.get(c.symbol, 0) > 0:
            kept.append(c)
        else:
            dropped_symbols.append(c.symbol)
    dropped = tuple(dropped_symbols)
    names = {c.symbol for c in kept} if held else set()
    outside = []
    known_prices = {c.symbol: c.price for c in checked} if held else {}
    known_prices.update(holding_prices or {})
    for symbol, shares in sorted(held.items()):
        if symbol in names or shares == 0:
            continue
        if symbol not in known_prices:
            raise DataError(
                f"held symbol {symbol} is not a candidate and has no price; add a price column "
                "to the holdings file or include it in the candidates"
            )
        outside.append(Holding(symbol, shares, known_prices[symbol]))
    universe = Universe(
        symbols=tuple(c.symbol for c in kept),
        prices=np.array([c.price for c in kept], dtype=np.float64),
        expected=np.array([c.score for c in kept], dtype=np.float64),
        held_shares=np.array([held.get(c.symbol, 0.0) for c in kept], dtype=np.float64)
        if held
        else np.zeros(len(kept)),
        cash=float(cash),
        outside=tuple(outside),
        dropped=dropped,
    )
    if universe.value <= 0:
        raise InvalidParameter("capital plus holdings must be worth more than 0")
    return universe


class ModelContext:
    """A `Program` under construction for one universe, with the shared core variables.

    `elastic=True` builds the copy used to explain infeasibility: bounds that come from
    policies (caps) stay rows so they can be relaxed, instead of tightening variables.
    """

    def __init__(self, universe: Universe, elastic: bool = False) -> None:
        self.universe = universe
        self.elastic = elastic
        self.program = Program()
        program = self.program
        symbols = universe.symbols
        self.weights = program.add_variables([f"w[{s}]" for s in symbols], 0.0, 1.0)
        self._weight_index = np.array(self.weights, dtype=np.int64)
        self.selected = program.add_variables([f"x[{s}]" for s in symbols], 0.0, 1.0, True)
        self._links: list[Row] = program.add_rows(
            [{w: 1.0, x: -1.0} for w, x in zip(self.weights, self.selected, strict=True)], hi=0.0
        )
        self.buys: list[int] | None = None
        self.sells: list[int] | None = None
        self.buy_flags: list[int] | None = None
        self.sell_flags: list[int] | None = None
        self.lots: list[int] | None = None
        # Candidate i -> (binary "keep the odd lot", its shares) for a held position that is
        # not a whole number of lots (whole shares).
        self.odd_lots: dict[int, tuple[int, float]] = {}
        self.cost_terms: dict[int, float] = {}
        self.cost_constant = 0.0
        self.cost_in_objective = 0.0
        self.tie_break_investment = False
        self.tie_break_scale = 0.0
        # Facts the constraints declare, read by the cross-constraint pre-checks.
        self.max_positions: int | None = None
        self.min_invested = 0.0
        self.max_invested = 1.0
        self.sector_caps: dict[str, tuple[list[int], float]] = {}
        self.max_turnover: float | None = None
        self.cost_budget: float | None = None

    def fork(self) -> ModelContext:
        """An independent copy of the program built so far, to be built on separately (a
        whole-share model and its fractional twin share every piece before the lots).

        Variables, bounds, the row list and the objective are copied; the rows themselves
        are shared (no piece changes a row once it is added), except the links
        w_i <= u_i x_i, which `cap_weight` rewrites and which are copied."""
        program = self.program
        links = {
            id(row): Row(dict(row.coefficients), row.lo, row.hi, row.group, row.unit)
            for row in self._links
        }
        copy = object.__new__(ModelContext)
        copy.__dict__.update(self.__dict__)
        copy.program = Program(
            names=list(program.names),
            lower=list(program.lower),
            upper=list(program.upper),
            integer=list(program.integer),
            rows=[links.get(id(row), row) for row in program.rows],
            linear=dict(program.linear),
            quadratic=dict(program.quadratic),
            constant=program.constant,
            maximize=program.maximize,
        )
        copy._links = [links[id(row)] for row in self._links]
        copy.odd_lots = dict(self.odd_lots)
        copy.cost_terms = dict(self.cost_terms)
        copy.sector_caps = dict(self.sector_caps)
        copy.lots = None if self.lots is None else list(self.lots)
        return copy

    @property
    def size(self) -> int:
        """Number of candidates."""
        return self.universe.size

    def weight_upper(self, i: int) -> float:
        """Current upper bound u_i of w_i."""
        return self.program.upper[self.weights[i]]

    def cap_weight(self, i: int, cap: float) -> None:
        """Tighten u_i (and the big-M of w_i <= u_i x_i); a no-op in the elastic copy."""
        if self.elastic:
            return
        upper = max(0.0, min(self.weight_upper(i), cap))
        self.program.upper[self.weights[i]] = upper
        self._links[i].coefficients[self.selected[i]] = -upper

    def cap_weights(self, names: Iterable[int], cap: float) -> None:
        """`cap_weight(i, cap)` for each i of `names`, in that order (one call, not one
        per name: a policy caps every name at every rebalance)."""
        if self.elastic:
            return
        upper = self.program.upper
        weights, selected, links = self.weights, self.selected, self._links
        for i in names:
            w = weights[i]
            bound = max(0.0, min(upper[w], cap))
            upper[w] = bound
            links[i].coefficients[selected[i]] = -bound

    def trade_variables(self) -> tuple[list[int], list[int]]:
        """b_i, s_i with w_i - b_i + s_i = w0_i (created on first use).

        Added name by name in the order b_0, s_0, b_1, s_1, ... (one block: at 500 names
        a variable and a row at a time was ~5 ms of every build)."""
        if self.buys is None or self.sells is None:
            program = self.program
            w0 = self.universe.initial_weights.tolist()
            upper = program.upper
            names: list[str] = []
            lower: list[float] = []
            uppers: list[float] = []
            for i, symbol in enumerate(self.universe.symbols):
                names += (f"buy[{symbol}]", f"sell[{symbol}]")
                lower += (0.0, 0.0)
                uppers += (max(upper[self.weights[i]] - w0[i], 0.0), w0[i])
            columns = program.add_columns(names, lower, uppers)
            self.buys, self.sells = columns[0::2], columns[1::2]
            program.rows.extend(
                Row({w: 1.0, buy: -1.0, sell: 1.0}, held, held, None)
                for w, buy, sell, held in zip(self.weights, self.buys, self.sells, w0, strict=True)
            )
        return self.buys, self.sells

    def trade_flags(self) -> tuple[list[int], list[int]]:
        """β_i, σ_i: whether i is bought / sold (created on first use, in the order
        β_0, σ_0, β_1, σ_1, ...; each name's three rows together)."""
        if self.buy_flags is None or self.sell_flags is None:
            buys, sells = self.trade_variables()
            program = self.program
            names: list[str] = []
            for symbol in self.universe.symbols:
                names += (f"buying[{symbol}]", f"selling[{symbol}]")
            zeros = [0.0] * len(names)
            flags = program.add_columns(names, zeros, [1.0] * len(names), integer=True)
            self.buy_flags, self.sell_flags = flags[0::2], flags[1::2]
            upper = program.upper
            rows: list[Row] = []
            for buy, sell, bought, sold in zip(
                buys, sells, self.buy_flags, self.sell_flags, strict=True
            ):
                rows += (
                    Row({buy: 1.0, bought: -upper[buy]}, -INF, 0.0, None),
                    Row({sell: 1.0, sold: -upper[sell]}, -INF, 0.0, None),
                    Row({bought: 1.0, sold: 1.0}, -INF, 1.0, None),
                )
            program.rows.extend(rows)
        return self.buy_flags, self.sell_flags

    def weight_terms(self, coefficients: Sequence[float] | NDArray[np.float64]) -> dict[int, float]:
        """{w_i: c_i} for the non-zero c_i, in the order of i."""
        # One numpy pass instead of a Python loop over the names: a risk model adds one
        # such row per factor (252 rows of 500 names at every rebalance of a 500-name run).
        values = np.asarray(coefficients, dtype=np.float64)
        present = np.flatnonzero(values)
        return dict(
            zip(self._weight_index[present].tolist(), values[present].tolist(), strict=True)
        )


__all__ = ["ModelContext", "Universe", "make_universe"]
