"""A solver-neutral mathematical program: the one model every objective and constraint writes to.

Objectives and constraints (see `objectives/` and `constraints/`) never talk to a solver:
they add variables, linear rows and objective terms here, and a backend (`backends.py`)
translates the finished program for pywraplp (linear) or MathOpt (quadratic). Keeping the
program neutral is what lets the same pieces be combined freely, lets `infeasibility.py`
build an elastic copy (a slack per constraint group) without knowing what the rows mean, and
lets the result be checked row by row independently of the solver.

    maximise   c^T v + sum_(i,j) q_ij v_i v_j + c_0      (or minimise, see `maximize`)
    subject to lo_r <= a_r^T v <= hi_r                     for every row r
               lb_k <= v_k <= ub_k,  v_k integer for k in I

Rows carry a `group` (for example "sector cap Energy"): `None` marks a definition (an
identity such as w - buy + sell = w0) that the elastic re-solve must never relax.
"""

from __future__ import annotations

import itertools
import math
import operator
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

INF = math.inf

#: A program's coefficients as `Program.coefficient_arrays` gives them: flat columns and
#: values, rows in order and each in its dict's order, and each row's length.
CoefficientArrays = tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]]
#: Every row's (lo, hi), rows in order, as `Program.row_bounds` gives them.
RowBounds = tuple[NDArray[np.float64], NDArray[np.float64]]


class FrozenCoefficients(dict[int, float]):
    """A row's coefficients that cannot change: a `dict` for every reader (the same C
    reads, `dict(...)` copies), but any write raises `TypeError`. A row built from arrays
    (`Program.add_array_row`) keeps them beside this dict, and a program may share such a
    row with another (a reduced program's copy of the factor rows): neither is safe if the
    dict could change under its arrays."""

    __slots__ = ()

    def _frozen(self, *args: object, **kwargs: object) -> None:
        raise TypeError("a row built from arrays is read-only: build a new row instead")

    __setitem__ = __delitem__ = __ior__ = _frozen  # type: ignore[assignment]
    clear = pop = popitem = setdefault = update = _frozen  # type: ignore[assignment]

    def __reduce__(self) -> tuple[type[FrozenCoefficients], tuple[dict[int, float]]]:
        return (FrozenCoefficients, (dict(self),))


@dataclass(slots=True)
class Row:
    """lo <= sum(coefficients[k] * v_k) <= hi, belonging to a constraint `group`.

    `arrays` are the coefficients as (columns, values) in the dict's order, present only
    for a row built from arrays, whose coefficients are then `FrozenCoefficients`."""

    coefficients: dict[int, float]
    lo: float
    hi: float
    group: str | None
    unit: str = "weight"
    arrays: tuple[NDArray[np.int64], NDArray[np.float64]] | None = field(
        default=None, compare=False, repr=False
    )


def array_row(
    columns: list[int],
    values: NDArray[np.float64],
    lo: float = -math.inf,
    hi: float = math.inf,
    group: str | None = None,
    *,
    column_array: NDArray[np.int64] | None = None,
    value_list: list[float] | None = None,
) -> Row:
    """The row lo <= sum_k values[k] v_columns[k] <= hi from arrays (columns distinct, no
    zero value): read-only coefficients with the arrays kept for `row_activities`.
    `column_array` and `value_list` are `columns` and `values` in the other form, when the
    caller has them already (a block of rows converted at once)."""
    data = np.asarray(values, dtype=np.float64)
    listed = data.tolist() if value_list is None else value_list
    coefficients = FrozenCoefficients(zip(columns, listed, strict=True))
    if len(coefficients) != len(columns) or not data.all():
        raise ValueError("an array row needs distinct columns and no zero coefficient")
    index = np.array(columns, dtype=np.int64) if column_array is None else column_array
    return Row(coefficients, lo, hi, group, arrays=(index, data))


@dataclass(slots=True)
class Program:
    """Variables, rows and a (possibly quadratic) objective, built incrementally."""

    names: list[str] = field(default_factory=list)
    lower: list[float] = field(default_factory=list)
    upper: list[float] = field(default_factory=list)
    integer: list[bool] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    linear: dict[int, float] = field(default_factory=dict)
    quadratic: dict[tuple[int, int], float] = field(default_factory=dict)
    constant: float = 0.0
    maximize: bool = True
    #: `coefficient_arrays` (and `row_bounds`, if given) as its builder computed them
    #: (`keep_coefficient_arrays`), with the row list and its length they are of; never
    #: copied by `dataclasses.replace`.
    _kept_arrays: tuple[list[Row], int, CoefficientArrays, RowBounds | None] | None = field(
        default=None, init=False, compare=False, repr=False
    )

    def add_variable(self, name: str, lower: float, upper: float, integer: bool = False) -> int:
        """Index of a new variable with bounds [lower, upper]."""
        self.names.append(name)
        self.lower.append(lower)
        self.upper.append(upper)
        self.integer.append(integer)
        return len(self.names) - 1

    def add_variables(
        self, names: list[str], lower: float, upper: float, integer: bool = False
    ) -> list[int]:
        """Indices of new variables, one per name, all with bounds [lower, upper]."""
        start = len(self.names)
        count = len(names)
        self.names.extend(names)
        self.lower.extend([lower] * count)
        self.upper.extend([upper] * count)
        self.integer.extend([integer] * count)
        return list(range(start, start + count))

    def add_columns(
        self, names: list[str], lower: list[float], upper: list[float], integer: bool = False
    ) -> list[int]:
        """Indices of new variables, one per name, with bounds [lower[k], upper[k]]."""
        start = len(self.names)
        count = len(names)
        if len(lower) != count or len(upper) != count:
            raise ValueError("one lower and one upper bound per name")
        self.names.extend(names)
        self.lower.extend(lower)
        self.upper.extend(upper)
        self.integer.extend([integer] * count)
        return list(range(start, start + count))

    def add_rows(
        self,
        coefficients: list[dict[int, float]],
        lo: float = -INF,
        hi: float = INF,
        group: str | None = None,
        unit: str = "weight",
    ) -> list[Row]:
        """Add one row lo <= a^T v <= hi per coefficient dict (taken over, not copied)."""
        rows = [Row(c, lo, hi, group, unit) for c in coefficients]
        self.rows.extend(rows)
        return rows

    def add_binary(self, name: str) -> int:
        """Index of a new 0/1 variable."""
        return self.add_variable(name, 0.0, 1.0, integer=True)

    def add_row(
        self,
        coefficients: dict[int, float],
        lo: float = -INF,
        hi: float = INF,
        group: str | None = None,
        unit: str = "weight",
    ) -> Row:
        """Add lo <= a^T v <= hi; `group=None` for definitions that are never relaxed."""
        row = Row(dict(coefficients), lo, hi, group, unit)
        self.rows.append(row)
        return row

    def add_objective(self, coefficients: dict[int, float], scale: float = 1.0) -> None:
        """Add scale * a^T v to the objective."""
        linear = self.linear
        total = linear.get
        for index, value in coefficients.items():
            linear[index] = total(index, 0.0) + scale * value

    def add_square_terms(self, index: int, value: float) -> None:
        """Add value * v_index^2 to the objective."""
        key = (index, index)
        self.quadratic[key] = self.quadratic.get(key, 0.0) + value

    @property
    def is_quadratic(self) -> bool:
        """Whether the objective has a quadratic part."""
        return any(v != 0.0 for v in self.quadratic.values())

    @property
    def size(self) -> int:
        """Number of variables."""
        return len(self.names)

    def objective_value(self, values: NDArray[np.float64]) -> float:
        """The objective at `values`, evaluated in Python (independent of solver scaling):
        over the values as Python floats, the same products and sums in the same order as
        over numpy's float64 scalars."""
        point = np.asarray(values, dtype=np.float64).tolist()
        # sums of lists, not of generators: the same products in the same order (`sum`
        # adds them one by one either way), without a generator frame resumed per term
        total = self.constant + sum([c * point[k] for k, c in self.linear.items()])
        total += sum([c * point[i] * point[j] for (i, j), c in self.quadratic.items()])
        return float(total)

    def row_activities(
        self, values: NDArray[np.float64], arrays: CoefficientArrays | None = None
    ) -> NDArray[np.float64]:
        """a_r^T v for every row r, vectorised (one pass over the coefficients; a row built
        from arrays gives them as they are: the same sums in the same order). `arrays` are
        `coefficient_arrays()` when the caller has them (the rows unchanged since)."""
        if not self.rows:
            return np.zeros(0)
        every_column, every_value, lengths = self.coefficient_arrays() if arrays is None else arrays
        numbers = np.repeat(np.arange(len(self.rows)), lengths)
        activity = np.bincount(
            numbers, weights=every_value * values[every_column], minlength=len(self.rows)
        )
        return activity.astype(np.float64)

    def row_bounds(self) -> RowBounds:
        """Every row's lo and hi, rows in order (read-only arrays kept by
        `keep_coefficient_arrays` while the row list is the same list of the same length)."""
        rows = self.rows
        kept = self._kept_arrays
        if kept is not None and kept[3] is not None and kept[0] is rows and kept[1] == len(rows):
            return kept[3]
        return bounds_of(rows)

    def coefficient_arrays(self) -> CoefficientArrays:
        """Every row's coefficients, rows in order and each in its dict's order, as flat
        (columns, values) and each row's length; a row built from arrays gives its arrays
        as they are (the same numbers without a pass over its dict: 252 factor rows of 501
        entries at every rebalance of a 500-name run). Arrays kept by
        `keep_coefficient_arrays` are returned while the row list is the same list of the
        same length."""
        rows = self.rows
        kept = self._kept_arrays
        if kept is not None and kept[0] is rows and kept[1] == len(rows):
            return kept[2]
        return arrays_of(rows)

    def keep_coefficient_arrays(
        self, arrays: CoefficientArrays, bounds: RowBounds | None = None
    ) -> None:
        """Keep `arrays` as this program's `coefficient_arrays` and `bounds` (if given) as
        its `row_bounds` (they must be what it computes: rows in order, each in its dict's
        order). For a builder that has them already and whose rows are final: no row may
        change in place afterwards (coefficients or bounds); a new row list, or rows added
        to this one, discard them. The bounds are made read-only."""
        if bounds is not None:
            for side in bounds:
                side.flags.writeable = False
        self._kept_arrays = (self.rows, len(self.rows), arrays, bounds)

    def violations(
        self,
        values: NDArray[np.float64],
        tolerance: float = 1e-6,
        arrays: CoefficientArrays | None = None,
    ) -> list[str]:
        """Every bound, integrality or row broken by more than `tolerance` at `values`
        (`arrays`: `coefficient_arrays()`, when the caller has them)."""
        broken: list[str] = []
        values = np.asarray(values, dtype=np.float64)
        lower = np.array(self.lower, dtype=np.float64)
        upper = np.array(self.upper, dtype=np.float64)
        integer = np.array(self.integer, dtype=bool)
        outside = (values < lower - tolerance) | (values > upper + tolerance)
        fractional = integer & (np.abs(values - np.round(values)) > tolerance)
        for k in np.flatnonzero(outside | fractional):
            value = float(values[k])
            if outside[k]:
                broken.append(
                    f"{self.names[k]}={value:.9g} outside [{self.lower[k]}, {self.upper[k]}]"
                )
            if fractional[k]:
                broken.append(f"{self.names[k]}={value:.9g} is not integral")
        activity = self.row_activities(values, arrays)
        lo, hi = self.row_bounds()
        for r in np.flatnonzero((activity < lo - tolerance) | (activity > hi + tolerance)):
            row = self.rows[r]
            label = row.group or "definition"
            broken.append(f"{label}: {activity[r]:.9g} outside [{row.lo}, {row.hi}]")
        return broken


_COEFFICIENTS = operator.attrgetter("coefficients")
_LO = operator.attrgetter("lo")
_HI = operator.attrgetter("hi")


def arrays_of(rows: list[Row]) -> CoefficientArrays:
    """`Program.coefficient_arrays` of a program with `rows` (computed, nothing kept)."""
    # map over C-level getters, not generator expressions: no Python frame per row
    lengths = np.fromiter(map(len, map(_COEFFICIENTS, rows)), np.int64, len(rows))
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0), lengths
    columns: list[NDArray[np.int64]] = []
    data: list[NDArray[np.float64]] = []
    start = 0
    for r, row in enumerate(rows):
        if row.arrays is None:
            continue
        if start < r:
            _dict_arrays(rows[start:r], columns, data)
        columns.append(row.arrays[0])
        data.append(row.arrays[1])
        start = r + 1
    if start < len(rows):
        _dict_arrays(rows[start:], columns, data)
    every_column = np.concatenate(columns) if len(columns) > 1 else columns[0]
    every_value = np.concatenate(data) if len(data) > 1 else data[0]
    return every_column, every_value, lengths


def extended_arrays(rows: list[Row], head: CoefficientArrays, count: int) -> CoefficientArrays:
    """`arrays_of(rows)` when `head` is `arrays_of(rows[:count])`: only the rows after
    the first `count` are read (a whole-share program and its fractional twin share the
    rows before the lots: `PortfolioModel._build`). The same numbers, as new arrays."""
    tail = arrays_of(rows[count:])
    return (
        np.concatenate((head[0], tail[0])),
        np.concatenate((head[1], tail[1])),
        np.concatenate((head[2], tail[2])),
    )


def bounds_of(rows: list[Row]) -> RowBounds:
    """`Program.row_bounds` of a program with `rows` (computed, nothing kept)."""
    lo = np.fromiter(map(_LO, rows), np.float64, len(rows))
    hi = np.fromiter(map(_HI, rows), np.float64, len(rows))
    return lo, hi


def _dict_arrays(
    rows: list[Row], columns: list[NDArray[np.int64]], data: list[NDArray[np.float64]]
) -> None:
    """Append the columns and values of `rows` (dicts, in order) as two arrays."""
    dicts = list(map(_COEFFICIENTS, rows))
    total = sum(map(len, dicts))
    chain = itertools.chain.from_iterable
    columns.append(np.fromiter(chain(map(dict.keys, dicts)), np.int64, total))
    data.append(np.fromiter(chain(map(dict.values, dicts)), np.float64, total))


__all__ = [
    "INF",
    "CoefficientArrays",
    "FrozenCoefficients",
    "Program",
    "Row",
    "RowBounds",
    "array_row",
    "arrays_of",
    "bounds_of",
    "extended_arrays",
]
