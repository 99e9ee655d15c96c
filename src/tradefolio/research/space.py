"""The parameter space of a sweep: a grid or a seeded random sample over `BacktestConfig` fields.

Syntax (the CLI's `--grid NAME=SPEC` and the values of a sweep file's `grid:` table):

- `10,20,50`        a list of values (ints, floats, `true`/`false`, or words such as `weight`)
- `3..10`           the integers 3, 4, ..., 10 (both ends included)
- `0.05..0.20:0.05` from 0.05 to 0.20 in steps of 0.05 (exact decimal steps: 0.05, 0.1, ...)

A grid run is one point of the Cartesian product, in the order the axes were given, the
last axis varying fastest. A random search (`samples`, `seed`) draws each axis
independently with a seeded `numpy.random.Generator`: a list uniformly among its values, an
integer range uniformly on its integers, a float range uniformly on `[low, high]` (on its
steps when a step is given); duplicates are dropped, so fewer runs may come back when the
space is small.

A sweep file (YAML or TOML) holds the same things::

    base:                 # fixed fields of every run
      sizer: weight
      weight: 0.10
    grid:                 # swept fields: a list, or a string in the syntax above
      fast: [10, 20, 50]
      slow: "100..200:50"
    random:               # optional: sample instead of the full grid
      samples: 20
      seed: 7
"""

from __future__ import annotations

import hashlib
import importlib
import itertools
import json
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np

from tradefolio.backtest.config import BacktestConfig
from tradefolio.errors import InvalidParameter

ParamValue = int | float | bool | str

_INTEGER = re.compile(r"^[+-]?\d+$")
_RANGE = re.compile(r"^\s*([^.:][^:]*?)\s*\.\.\s*([^:]+?)\s*(?::\s*(.+?)\s*)?$")
#: Most grid points a single sweep may expand to (a typo guard, not a resource limit).
MAX_GRID_RUNS = 1_000_000


def is_strategy_param(name: str) -> bool:
    """`param.NAME`: a parameter of the user's own strategy class (`--param NAME=...`)."""
    return name.startswith("param.") and len(name) > len("param.")


def config_fields() -> tuple[str, ...]:
    """Names a sweep may set: the fields of `BacktestConfig`."""
    return tuple(BacktestConfig.model_fields)


def parse_scalar(token: str) -> ParamValue:
    """`"20"` -> 20, `"0.1"` -> 0.1, `"true"` -> True, anything else stays a string."""
    text = token.strip()
    if _INTEGER.match(text):
        return int(text)
    lowered = text.lower()
    if lowered in {"true", "false"}:
        return lowered == "true"
    try:
        number = float(text)
    except ValueError:
        return text
    return number


def _decimal(text: str, name: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise InvalidParameter(f"--grid {name}: {text.strip()!r} is not a number") from None
    if not value.is_finite():
        raise InvalidParameter(f"--grid {name}: {text.strip()!r} is not a finite number")
    return value


@dataclass(frozen=True, slots=True)
class Axis:
    """One swept field: explicit `values`, or a range `low..high[:step]`."""

    name: str
    values: tuple[ParamValue, ...] = ()
    low: Decimal | None = None
    high: Decimal | None = None
    step: Decimal | None = None

    @property
    def is_range(self) -> bool:
        """Whether this axis is a range rather than a list."""
        return self.low is not None

    @property
    def integer(self) -> bool:
        """Whether a range axis holds integers only."""
        return (
            self.low is not None
            and self.high is not None
            and self.low == self.low.to_integral_value()
            and self.high == self.high.to_integral_value()
            and (self.step is None or self.step == self.step.to_integral_value())
        )

    def grid_values(self) -> tuple[ParamValue, ...]:
        """Every value of this axis (a float range needs a step)."""
        if not self.is_range:
            return self.values
        assert self.low is not None and self.high is not None
        if self.step is None and not self.integer:
            raise InvalidParameter(
                f"--grid {self.name}={self.low}..{self.high} is a float range: give a step "
                f"({self.low}..{self.high}:STEP) or use --random"
            )
        step = self.step if self.step is not None else Decimal(1)
        count = int((self.high - self.low) / step) + 1
        if count > MAX_GRID_RUNS:
            raise InvalidParameter(f"--grid {self.name} has {count:,d} values; narrow it")
        points = [self.low + step * i for i in range(count)]
        if self.integer:
            return tuple(int(p) for p in points)
        return tuple(float(p) for p in points)

    def sample(self, rng: np.random.Generator) -> ParamValue:
        """One value drawn uniformly (see the module docstring)."""
        if not self.is_range or self.step is not None:
            values = self.grid_values()
            return values[int(rng.integers(len(values)))]
        assert self.low is not None and self.high is not None
        if self.integer:
            return int(rng.integers(int(self.low), int(self.high), endpoint=True))
        return float(rng.uniform(float(self.low), float(self.high)))


def _uniform_types(name: str, values: Sequence[ParamValue]) -> tuple[ParamValue, ...]:
    """Ints and floats mixed on one axis become floats (one column type in the table)."""
    kinds = {type(v) for v in values}
    if kinds == {int, float}:
        return tuple(float(v) for v in values)
    if len(kinds) > 1:
        raise InvalidParameter(
            f"--grid {name} mixes {', '.join(sorted(k.__name__ for k in kinds))} values"
        )
    return tuple(values)


def parse_axis(name: str, spec: str | Sequence[Any] | ParamValue) -> Axis:
    """An axis from a CLI/file spec: a list, `a,b,c`, `low..high` or `low..high:step`."""
    name = name.strip().replace("-", "_")
    if name not in config_fields() and not is_strategy_param(name):
        raise InvalidParameter(
            f"--grid {name}: not a backtest parameter; one of {', '.join(config_fields())}"
        )
    # a strategy parameter's values stay as given: they are typed by the class's declared
    # parameters once the strategy is known (`research.sweep.typed_strategy_params`)
    scalar = (lambda text: text.strip()) if is_strategy_param(name) else parse_scalar
    if isinstance(spec, list | tuple):
        values = [scalar(v) if isinstance(v, str) else v for v in spec]
    elif isinstance(spec, str):
        match = _RANGE.match(spec)
        if match and "," not in spec:
            low, high = _decimal(match.group(1), name), _decimal(match.group(2), name)
            step = _decimal(match.group(3), name) if match.group(3) else None
            if high < low:
                raise InvalidParameter(f"--grid {name}={spec}: the range ends before it starts")
            if step is not None and step <= 0:
                raise InvalidParameter(f"--grid {name}={spec}: the step must be > 0")
            return Axis(name, low=low, high=high, step=step)
        values = [scalar(v) for v in spec.split(",") if v.strip()]
    else:
        values = [spec]
    if not values:
        raise InvalidParameter(f"--grid {name} has no values")
    for value in values:
        if not isinstance(value, int | float | bool | str):
            raise InvalidParameter(f"--grid {name}: unsupported value {value!r}")
    unique = list(dict.fromkeys(values))
    if is_strategy_param(name):
        return Axis(name, values=tuple(unique))
    return Axis(name, values=_uniform_types(name, unique))


def parse_grid_option(option: str) -> Axis:
    """`NAME=SPEC` as given to `--grid`."""
    name, sep, spec = option.partition("=")
    if not sep or not name.strip() or not spec.strip():
        raise InvalidParameter(f"--grid expects NAME=VALUES (e.g. fast=10,20,50), got {option!r}")
    return parse_axis(name, spec)


@dataclass(frozen=True, slots=True)
class SweepSpec:
    """Fixed fields (`base`), swept axes, and an optional random sample size and seed."""

    base: Mapping[str, ParamValue] = field(default_factory=dict)
    axes: tuple[Axis, ...] = ()
    samples: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        for name in self.base:
            if name not in config_fields() and not is_strategy_param(name):
                raise InvalidParameter(
                    f"base: {name!r} is not a backtest parameter; one of "
                    f"{', '.join(config_fields())}"
                )
        names = [axis.name for axis in self.axes]
        if len(set(names)) != len(names):
            raise InvalidParameter(f"a parameter is swept twice: {', '.join(names)}")
        if self.samples is not None and self.samples < 1:
            raise InvalidParameter(f"--random must be >= 1, got {self.samples}")

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """Names of the swept fields, in the order given."""
        return tuple(axis.name for axis in self.axes)

    def points(self) -> list[dict[str, ParamValue]]:
        """The swept values of every run, in run order (see the module docstring)."""
        if not self.axes:
            return [{}]
        if self.samples is None:
            values = [axis.grid_values() for axis in self.axes]
            total = int(np.prod([len(v) for v in values], dtype=np.float64))
            if total > MAX_GRID_RUNS:
                raise InvalidParameter(f"the grid has {total:,d} runs; narrow it or use --random N")
            return [
                dict(zip(self.parameter_names, combo, strict=True))
                for combo in itertools.product(*values)
            ]
        rng = np.random.default_rng(self.seed)
        seen: dict[str, dict[str, ParamValue]] = {}
        for _ in range(self.samples * 50):
            point = {axis.name: axis.sample(rng) for axis in self.axes}
            seen.setdefault(json.dumps(point, sort_keys=True), point)
            if len(seen) == self.samples:
                break
        return list(seen.values())

    def with_overrides(
        self,
        base: Mapping[str, ParamValue] | None = None,
        axes: Iterable[Axis] = (),
        samples: int | None = None,
        seed: int | None = None,
    ) -> SweepSpec:
        """This spec with CLI options layered on top (an axis replaces one of the same name)."""
        merged = {axis.name: axis for axis in self.axes}
        for axis in axes:
            merged[axis.name] = axis
        return SweepSpec(
            base={**self.base, **(base or {})},
            axes=tuple(merged.values()),
            samples=samples if samples is not None else self.samples,
            seed=seed if seed is not None else self.seed,
        )

    def describe(self) -> dict[str, Any]:
        """A JSON-able description (stored beside the results)."""
        return {
            "base": dict(self.base),
            "axes": {
                axis.name: (
                    f"{axis.low}..{axis.high}" + (f":{axis.step}" if axis.step else "")
                    if axis.is_range
                    else list(axis.values)
                )
                for axis in self.axes
            },
            "samples": self.samples,
            "seed": self.seed,
        }


def _load_mapping(path: Path) -> Mapping[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise InvalidParameter(f"--file {path}: cannot read it ({exc.strerror})") from None
    if path.suffix.lower() == ".toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InvalidParameter(f"--file {path}: invalid TOML ({exc})") from None
    if path.suffix.lower() not in {".yaml", ".yml"}:
        raise InvalidParameter(f"--file {path}: expected a .yaml, .yml or .toml sweep file")
    try:
        yaml = importlib.import_module("yaml")  # PyYAML: only YAML sweep files need it
    except ImportError:
        raise InvalidParameter(
            f"--file {path}: reading YAML needs PyYAML (pip install PyYAML); "
            "or write the sweep file as .toml"
        ) from None

    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        first = " ".join(str(exc).split())
        raise InvalidParameter(f"--file {path}: invalid YAML ({first})") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, Mapping):
        raise InvalidParameter(f"--file {path}: expected a mapping with base/grid/random")
    return loaded


def load_sweep_file(path: Path) -> SweepSpec:
    """A `SweepSpec` from a YAML or TOML file (see the module docstring)."""
    raw = _load_mapping(path)
    unknown = set(raw) - {"base", "grid", "random"}
    if unknown:
        raise InvalidParameter(
            f"--file {path}: unknown section(s) {', '.join(sorted(unknown))}; "
            "expected base, grid, random"
        )
    base = raw.get("base") or {}
    grid = raw.get("grid") or {}
    random = raw.get("random") or {}
    if not all(isinstance(s, Mapping) for s in (base, grid, random)):
        raise InvalidParameter(f"--file {path}: base, grid and random must be mappings")
    samples = random.get("samples")
    seed = random.get("seed", 0)
    if (samples is not None and not isinstance(samples, int)) or not isinstance(seed, int):
        raise InvalidParameter(f"--file {path}: random.samples and random.seed must be integers")
    return SweepSpec(
        base={str(k).replace("-", "_"): v for k, v in base.items()},
        axes=tuple(parse_axis(str(name), spec) for name, spec in grid.items()),
        samples=samples,
        seed=seed,
    )


def run_id(fields: Mapping[str, Any], window: tuple[int, int, int | None] | None = None) -> str:
    """A stable identifier of one run: a hash of its full configuration (and window)."""
    payload = json.dumps({"config": dict(fields), "window": window}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


__all__ = [
    "Axis",
    "ParamValue",
    "SweepSpec",
    "config_fields",
    "load_sweep_file",
    "parse_axis",
    "parse_grid_option",
    "parse_scalar",
    "run_id",
]
