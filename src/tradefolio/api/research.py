"""`tf.sweep(...)` and `tf.walk_forward(...)`: many backtests over a parameter space.

The space is `BacktestConfig` fields: `grid={"fast": [10, 20, 50], "slow": "100..200:50"}`
(a list, or a string in the CLI's `--grid` syntax: `a,b,c`, `low..high`,
`low..high:step`), `fixed={"sizer": "weight"}` (the CLI's `--set`), `file=` a sweep file,
`samples=` / `seed=` for a seeded random search instead of the full grid (the CLI's
`--random` / `--seed`). Runs happen on `executor=` (`local`: a process pool over
`workers`, every core by default, `1` = in this process; `ray` with the `distributed`
extra), and give the same table whatever runs them.

Unlike the CLI, which always keeps its results in a folder (`runs/sweep-<key>`, so a rerun
resumes), the API keeps them in memory unless `out=` names a folder (then a rerun resumes
from it, as the CLI's does).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from tradefolio.api.checked import checked
from tradefolio.api.prices import (
    BenchmarkLike,
    PricesLike,
    benchmark_series,
    describe_source,
    price_panel,
)
from tradefolio.api.results import SweepResult, WalkForwardResult
from tradefolio.backtest.config import BacktestConfig, check_prices
from tradefolio.data.market import benchmark_for
from tradefolio.errors import InvalidParameter
from tradefolio.portfolio.options import MODEL_FIELDS
from tradefolio.research.executors import DEFAULT_EXECUTOR, Executor, make_executor
from tradefolio.research.report import DEFAULT_METRIC, check_metric
from tradefolio.research.results import ResultsStore
from tradefolio.research.space import Axis, ParamValue, SweepSpec, load_sweep_file, parse_axis
from tradefolio.research.sweep import (
    SweepProgress,
    check_runnable,
    full_fields,
    run_sweep,
    typed_strategy_params,
)
from tradefolio.research.tasks import MarketData
from tradefolio.research.walkforward import (
    DEFAULT_TEST,
    DEFAULT_TRAIN,
    SCHEMES,
    make_folds,
    run_walk_forward,
)

GridLike = Mapping[str, Sequence[ParamValue] | str | ParamValue]


def sweep_spec(
    axes: Sequence[Axis],
    base: Mapping[str, ParamValue],
    file: str | Path | None = None,
    samples: int | None = None,
    seed: int | None = None,
) -> SweepSpec:
    """The space: the sweep file first (if any), then `base` and `axes` on top.

    Raises `InvalidParameter` for a name both fixed and swept, or nothing to sweep.
    """
    spec = load_sweep_file(Path(file)) if file is not None else SweepSpec()
    for axis in axes:
        if axis.name in base:
            raise InvalidParameter(
                f"{axis.name} is both fixed (--set {axis.name}={base[axis.name]}) and swept "
                f"(--grid {axis.name}=...): give it once"
            )
    spec = spec.with_overrides(base=dict(base), axes=axes, samples=samples, seed=seed)
    if not spec.axes:
        raise InvalidParameter("nothing to sweep: give --grid NAME=VALUES or a --file with a grid")
    return typed_strategy_params(spec)


def market_data(spec: SweepSpec, prices: PricesLike, benchmark: BenchmarkLike) -> MarketData:
    """Prices (the sample by default; opens, highs and lows too when the data has them, for
    stops and limits) and the benchmark when a run needs one (beta sizing) or one is given.

    Raises `InvalidParameter` for a close beyond what the ledger prices exactly.
    """
    panel = price_panel(prices)
    check_prices(panel.close, describe_source(prices))
    needs_benchmark = benchmark is not None or any(
        bool(fields.get("beta_sizing")) or fields.get("sizer") == "beta"
        for fields in (full_fields({**spec.base, **point}) for point in spec.points())
    )
    series = benchmark_for(benchmark_series(benchmark), needed=needs_benchmark)
    return MarketData.of(panel.close, panel.open, series, highs=panel.high, lows=panel.low)


def check_sweep(spec: SweepSpec, data: MarketData, prices: PricesLike) -> None:
    """Refuse, before any run, a sweep none of whose runs is valid on these prices, or a
    listed grid value with which no run is valid."""
    check_runnable(spec, len(data.closes), describe_source(prices))


def check_walk_forward(
    spec: SweepSpec, data: MarketData, train: int, test: int, scheme: str
) -> None:
    """Refuse, before any run, bad windows (`--train`, `--test`, `--scheme`) or a space
    none of whose runs (or no run with some listed grid value) is valid on a train window."""
    make_folds(len(data.closes), train, test, scheme)
    check_runnable(
        spec, train, "a --train window", command="walk-forward", longer="a longer --train"
    )
    _refuse_the_model(spec)


def _refuse_the_model(spec: SweepSpec) -> None:
    """Walk-forward trades each test window from a flat start through the strategy's plan,
    which the allocation model has not (it trades the account it runs on): a space with
    a run that uses it is refused before any run, rather than every fold failing after
    its train runs with an out-of-sample result of cash."""
    named = {*spec.base, *spec.parameter_names}
    if not named & {*MODEL_FIELDS, "solver"}:
        return  # no model option anywhere: nothing to build
    for point in spec.points():
        try:
            config = BacktestConfig.create(**{**spec.base, **point})
        except InvalidParameter:
            continue  # its own refusal: check_runnable's
        if config.uses_model:
            given = sorted(named & set(MODEL_FIELDS)) or ["solver"]
            raise InvalidParameter(
                f"walk-forward cannot trade the allocation model in its test windows "
                f"(--portfolio with {', '.join(given)}: it trades the account it runs on); "
                "sweep or backtest it, or walk forward --portfolio without model options"
            )


def _spec(
    grid: GridLike | None,
    fixed: Mapping[str, ParamValue] | None,
    file: str | Path | None,
    samples: int | None,
    seed: int | None,
) -> SweepSpec:
    axes = [parse_axis(str(name), values) for name, values in (grid or {}).items()]
    base = {str(k).replace("-", "_"): v for k, v in (fixed or {}).items()}
    return sweep_spec(axes, base, file, samples, seed)


def _prepare(
    metric: str,
    spec: SweepSpec,
    executor: tuple[str, int | None, str | None, int],
    prices: PricesLike,
    benchmark: BenchmarkLike,
    out: str | Path | None,
) -> tuple[SweepSpec, Executor, MarketData, ResultsStore | None]:
    """Checked metric, the executor, the shared prices and the results folder (if any)."""
    check_metric(metric)
    runner = make_executor(*executor)
    data = market_data(spec, prices, benchmark)
    return spec, runner, data, ResultsStore(Path(out)) if out is not None else None


@checked(data=("prices", "benchmark"))
def sweep(
    grid: GridLike | None = None,
    prices: PricesLike = None,
    *,
    fixed: Mapping[str, ParamValue] | None = None,
    file: str | Path | None = None,
    samples: int | None = None,
    seed: int | None = None,
    benchmark: BenchmarkLike = None,
    executor: str = DEFAULT_EXECUTOR,
    workers: int | None = None,
    address: str | None = None,
    batch: int = 1,
    metric: str = DEFAULT_METRIC,
    out: str | Path | None = None,
    fresh: bool = False,
    retry_failed: bool = False,
    progress: SweepProgress | None = None,
) -> SweepResult:
    """Backtest every point of a parameter grid (or a seeded random sample of it).

    Keywords are `tradefolio sweep`'s flags (`fixed` is `--set`, `samples` is
    `--random`). `result.table` has one row per run (parameters, `status`, metrics),
    `result.leaderboard()` the best by `metric`, `result.best` the winning parameters.
    `progress` (a `SweepProgress`) is told the total and each finished run.

    Raises `InvalidParameter` (before any run, with the CLI's message) for an unknown
    parameter, a bad value syntax, a name both in `fixed` and `grid`, an empty space, a
    close beyond the ledger's range, a space none of whose runs is valid, or a listed grid
    value (`grid={"max_turnover": [-1, 0.2]}`) with which no run is valid; a run invalid
    only in its combination (fast not shorter than slow) is a `failed` row.
    """
    spec, runner, data, store = _prepare(
        metric, _spec(grid, fixed, file, samples, seed), (executor, workers, address, batch),
        prices, benchmark, out,
    )  # fmt: skip
    check_sweep(spec, data, prices)
    raw = run_sweep(
        spec,
        data,
        runner,
        store=store,
        fresh=fresh,
        retry_failed=retry_failed,
        progress=progress,
    )
    return SweepResult(raw=raw, metric=metric)


@checked(data=("prices", "benchmark"))
def walk_forward(
    grid: GridLike | None = None,
    prices: PricesLike = None,
    *,
    fixed: Mapping[str, ParamValue] | None = None,
    file: str | Path | None = None,
    samples: int | None = None,
    seed: int | None = None,
    benchmark: BenchmarkLike = None,
    train: int = DEFAULT_TRAIN,
    test: int = DEFAULT_TEST,
    scheme: str = SCHEMES[0],
    executor: str = DEFAULT_EXECUTOR,
    workers: int | None = None,
    address: str | None = None,
    batch: int = 1,
    metric: str = DEFAULT_METRIC,
    out: str | Path | None = None,
    fresh: bool = False,
    progress: SweepProgress | None = None,
) -> WalkForwardResult:
    """Choose parameters on each train window, trade them on the next test window, stitch.

    Keywords are `tradefolio walk-forward`'s flags; `train` / `test` are window lengths in
    sessions, `scheme` `rolling` or `anchored`. Test windows are never seen before the
    choice. `result.folds` lists each fold's choice and out-of-sample result,
    `result.oos_equity` the stitched curve, `result.in_sample_best` the hindsight choice
    and `result.deflated_sharpe` how much of its edge is selection luck.

    Raises `InvalidParameter` before any run for what `sweep` refuses, for windows that
    do not fit the prices, and for a space none of whose runs is valid on a train window.
    """
    spec, runner, data, store = _prepare(
        metric, _spec(grid, fixed, file, samples, seed), (executor, workers, address, batch),
        prices, benchmark, out,
    )  # fmt: skip
    check_walk_forward(spec, data, train, test, scheme)
    raw = run_walk_forward(
        spec,
        data,
        runner,
        train=train,
        test=test,
        scheme=scheme,
        metric=metric,
        store=store,
        fresh=fresh,
        progress=progress,
    )
    return WalkForwardResult(raw=raw)


__all__ = [
    "GridLike",
    "check_sweep",
    "check_walk_forward",
    "market_data",
    "sweep",
    "sweep_spec",
    "walk_forward",
]
