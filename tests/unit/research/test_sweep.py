"""Sweeps on the serial and local executors: same table, failures kept, durable resume."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradefolio.backtest.config import BacktestConfig
from tradefolio.backtest.runner import run_config
from tradefolio.errors import InvalidParameter, MissingExtra, TradefolioError
from tradefolio.research.executors import (
    LocalExecutor,
    SerialExecutor,
    attach_market_data,
    make_executor,
    share_market_data,
)
from tradefolio.research.results import MANIFEST_FILE, ResultsStore
from tradefolio.research.space import ParamValue, SweepSpec
from tradefolio.research.sweep import run_sweep
from tradefolio.research.tasks import RunOutcome
from unit.research.research_helpers import small_data, small_spec


def _deterministic(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns="seconds")


def test_sweep_rows_match_single_backtests() -> None:
    data = small_data()
    result = run_sweep(small_spec(), data, SerialExecutor())
    table = result.table
    assert list(table["run"]) == list(range(6))
    assert list(table[["fast", "slow"]].itertuples(index=False, name=None)) == [
        (5, 10), (5, 30), (10, 10), (10, 30), (30, 10), (30, 30)
    ]  # fmt: skip
    assert list(table["status"]) == ["ok", "ok", "failed", "ok", "failed", "failed"]
    assert table.loc[2, "error"].startswith("InvalidParameter: --fast (10) must be shorter")
    for row in table[table["status"] == "ok"].itertuples():
        config = BacktestConfig.create(sizer="weight", weight=0.2, fast=row.fast, slow=row.slow)
        single = run_config(config, data.closes)
        metrics = single.metrics()
        assert row.final_equity == float(single.final_equity)
        assert row.n_fills == len(single.fills)
        assert row.sharpe == metrics.sharpe and row.trades == metrics.trades
    assert result.failed == 3


def test_local_pool_matches_serial_bit_for_bit() -> None:
    data = small_data()
    serial = run_sweep(small_spec(), data, SerialExecutor()).table
    pooled = run_sweep(small_spec(), data, LocalExecutor(max_workers=2)).table
    pd.testing.assert_frame_equal(_deterministic(serial), _deterministic(pooled), check_exact=True)


def test_spawned_workers_map_the_shared_prices() -> None:
    data = small_data(sessions=200, symbols=2)
    spec = small_spec().with_overrides(axes=[])
    serial = run_sweep(spec, data, SerialExecutor()).table
    spawned = run_sweep(spec, data, LocalExecutor(max_workers=1, start_method="spawn")).table
    pd.testing.assert_frame_equal(_deterministic(serial), _deterministic(spawned), check_exact=True)


def test_shared_memory_round_trip_is_exact_and_read_only() -> None:
    data = small_data(sessions=50, symbols=3)
    block, handle = share_market_data(data)
    try:
        mapped_block, mapped = attach_market_data(handle)
        pd.testing.assert_frame_equal(mapped.closes, data.closes, check_exact=True)
        assert mapped.fingerprint() == data.fingerprint()
        with pytest.raises(ValueError):
            mapped.closes.to_numpy()[0, 0] = 1.0
        del mapped
        mapped_block.close()
    finally:
        block.close()
        block.unlink()


class _StopAfter:
    """A progress that interrupts the sweep after `limit` runs, like a Ctrl-C."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.seen = 0

    def start(self, total: int, already_done: int) -> None:
        self.total, self.already_done = total, already_done

    def advance(self, outcome: RunOutcome) -> None:
        self.seen += 1
        if self.seen == self.limit:
            raise KeyboardInterrupt


def test_interrupted_sweep_resumes_and_skips_finished_runs(tmp_path: Path) -> None:
    data = small_data()
    folder = tmp_path / "sweep"
    with pytest.raises(KeyboardInterrupt):
        run_sweep(
            small_spec(), data, SerialExecutor(), store=ResultsStore(folder), progress=_StopAfter(4)
        )
    assert (folder / MANIFEST_FILE).exists()
    resumed_progress = _StopAfter(limit=10**6)
    resumed = run_sweep(
        small_spec(), data, SerialExecutor(), store=ResultsStore(folder), progress=resumed_progress
    )
    assert (resumed.reused, resumed.executed) == (4, 2)
    assert resumed_progress.already_done == 4
    fresh = run_sweep(small_spec(), data, SerialExecutor())
    pd.testing.assert_frame_equal(
        _deterministic(resumed.table), _deterministic(fresh.table), check_exact=True
    )
    on_disk = pd.read_parquet(folder / "results.parquet")
    pd.testing.assert_frame_equal(on_disk, resumed.table, check_exact=True)
    again = run_sweep(small_spec(), data, SerialExecutor(), store=ResultsStore(folder))
    assert (again.reused, again.executed) == (6, 0)


def test_failed_runs_are_kept_unless_retried(tmp_path: Path) -> None:
    data = small_data()
    folder = tmp_path / "sweep"
    run_sweep(small_spec(), data, SerialExecutor(), store=ResultsStore(folder))
    retried = run_sweep(
        small_spec(), data, SerialExecutor(), store=ResultsStore(folder), retry_failed=True
    )
    assert (retried.reused, retried.executed) == (3, 3)


def test_results_of_other_prices_are_never_reused(tmp_path: Path) -> None:
    folder = tmp_path / "sweep"
    run_sweep(small_spec(), small_data(), SerialExecutor(), store=ResultsStore(folder))
    other = small_data(sessions=300)
    with pytest.raises(InvalidParameter, match="other price data"):
        run_sweep(small_spec(), other, SerialExecutor(), store=ResultsStore(folder))
    redone = run_sweep(
        small_spec(), other, SerialExecutor(), store=ResultsStore(folder), fresh=True
    )
    assert (redone.reused, redone.executed) == (0, 6)


def test_executor_choice() -> None:
    assert make_executor("local", workers=1).name == "serial"
    assert make_executor("local", workers=2).workers == 2
    with pytest.raises(InvalidParameter, match="--executor"):
        make_executor("dask")
    with pytest.raises(InvalidParameter, match="--address"):
        make_executor("local", address="ray://head:10001")
    with pytest.raises(InvalidParameter, match="--workers"):
        LocalExecutor(max_workers=0)


def test_moments_match_scipy() -> None:
    stats = pytest.importorskip("scipy.stats")
    from tradefolio.research.tasks import return_moments

    returns = np.array([0.01, -0.02, 0.03, 0.0, -0.01, 0.05])
    equity = 100 * np.concatenate(([1.0], np.cumprod(1 + returns)))
    skew, kurtosis, count = return_moments(equity)
    realised = equity[1:] / equity[:-1] - 1
    assert count == 6
    assert skew == pytest.approx(stats.skew(realised), rel=1e-9)
    assert kurtosis == pytest.approx(stats.kurtosis(realised, fisher=False), rel=1e-9)
    assert return_moments(np.array([1.0, 1.0, 1.0])) == (0.0, 3.0, 2)


def _die(data: object, task: object) -> RunOutcome:
    os._exit(3)


def test_a_dead_worker_stops_the_sweep_with_a_resumable_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tradefolio.research.executors as executors

    monkeypatch.setattr(executors, "evaluate", _die)  # inherited by the forked workers
    with pytest.raises(TradefolioError, match="run the same command again to resume"):
        run_sweep(
            small_spec(),
            small_data(),
            LocalExecutor(max_workers=1, start_method="fork"),
            store=ResultsStore(tmp_path / "sweep"),
        )


def test_parquet_results_without_pyarrow_name_the_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(MissingExtra, match="pyarrow"):
        ResultsStore(tmp_path / "sweep").prepare({"data": "x"})


def test_a_random_draw_never_refuses_a_listed_value_its_draw_paired_badly() -> None:
    """`--random 2` over fast=5,50 and slow=20,100 can draw (50, 100) and (50, 20): slow=20
    fails in every run drawn, yet it is valid with fast=5, which was not drawn. The sweep
    runs (its failing row says why); it is not refused as if 20 were a bad value (found
    by review, session 9)."""
    from tradefolio.research.space import Axis, SweepSpec
    from tradefolio.research.sweep import check_runnable

    spec = SweepSpec(
        base={"strategy": "sma-cross"},
        axes=(Axis("fast", (5, 50)), Axis("slow", (20, 100))),
        samples=2,
        seed=0,
    )
    drawn = list(spec.points())
    assert any(p["slow"] == 20 for p in drawn)
    assert all(p["fast"] == 50 for p in drawn)  # the premise: slow=20 only with fast=50
    check_runnable(spec, 10_000, "the sample")
    with pytest.raises(InvalidParameter, match="slow=20"):
        check_runnable(
            SweepSpec(base=spec.base, axes=(Axis("fast", (50,)), Axis("slow", (20, 100)))),
            10_000,
            "the sample",
        )


def _check_every_run(spec: SweepSpec, sessions: int, source: str) -> None:
    """The up-front grid check as it was (session 9): a config per grid point, kept as the
    oracle of `check_runnable` (same refusal, same message, on every grid)."""
    from tradefolio.research.sweep import _describe

    first = None
    listed = {axis.name for axis in spec.axes if not axis.is_range}
    valid: set[tuple[str, str]] = set()
    failing: dict[tuple[str, str], tuple[int, Mapping[str, ParamValue], str]] = {}
    count, some_valid = 0, False
    for index, point in enumerate(spec.points()):
        count += 1
        keys = [(name, repr(value)) for name, value in point.items() if name in listed]
        try:
            config = BacktestConfig.create(**{**spec.base, **point})
            config.check_sessions(sessions, source)
        except InvalidParameter as exc:
            first = first or (index, point, str(exc))
            for key in keys:
                failing.setdefault(key, (index, point, str(exc)))
            continue
        valid.update(keys)
        some_valid = True
    if count == 0:
        raise InvalidParameter("nothing to sweep: the grid has no points")
    if not some_valid and first is not None:
        index, run, problem = first
        every = "the only run" if count == 1 else f"all {count:,d} runs"
        raise InvalidParameter(
            f"{every} of the sweep would fail; run {index} ({_describe(run)}): {problem}"
        )
    for key, (index, run, problem) in failing.items():
        if key not in valid:
            name, value = key[0], run[key[0]]
            raise InvalidParameter(
                f"--grid {name}={value}: every run of the sweep with it would fail; run "
                f"{index} ({_describe(run)}): {problem}; fix {value} or drop it from the grid"
            )


def _refusal(check: Callable[[], None]) -> str | None:
    try:
        check()
    except InvalidParameter as exc:
        return str(exc)
    return None


_AXES: dict[str, list[ParamValue]] = {
    # field errors (0, "a", -1), pairs that fail only together (fast >= slow), windows
    # longer than the data (400), and a value valid only with a strategy (lookback=3)
    "fast": [5, 20, 50, 0, "a"],
    "slow": [20, 50, 100, 400, -1],
    "strategy": ["sma-cross", "momentum", "nope"],
    "lookback": [3, 60, 300],
    "max_positions": [3, 0],
    "commission_bps": [0.0, 5.0],
}


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_the_grid_check_refuses_what_checking_every_run_refuses(data: st.DataObject) -> None:
    """`check_runnable` without a config per grid point refuses exactly the grids, with
    the same one-line message, that building every run's config refuses (the oracle)."""
    from tradefolio.research.space import Axis
    from tradefolio.research.sweep import check_runnable

    names = data.draw(st.lists(st.sampled_from(sorted(_AXES)), min_size=1, max_size=4, unique=True))
    axes = tuple(
        Axis(
            name,
            tuple(
                data.draw(
                    st.lists(st.sampled_from(_AXES[name]), min_size=1, max_size=4, unique=True)
                )
            ),
        )
        for name in names
    )
    fixed = {"strategy": "momentum"} if "strategy" not in names and data.draw(st.booleans()) else {}
    spec = SweepSpec(base=fixed, axes=axes)
    sessions = data.draw(st.sampled_from([80, 10_000]))
    expected = _refusal(lambda: _check_every_run(spec, sessions, "the sample"))
    assert _refusal(lambda: check_runnable(spec, sessions, "the sample")) == expected


def test_a_large_grid_is_checked_without_a_config_per_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 20 x 20 x 20 grid (8,000 runs, a triangle of fast >= slow among them) is checked
    with a config per value and at most one run per pair of values, not one per run
    (~15 s at 1M points before; found by review, session 9)."""
    from tradefolio.research import sweep
    from tradefolio.research.space import Axis

    built: list[object] = []
    create = BacktestConfig.create

    def counted(**fields: object) -> BacktestConfig:
        built.append(fields)
        return create(**fields)

    monkeypatch.setattr(sweep.BacktestConfig, "create", counted)
    spec = SweepSpec(
        axes=(
            Axis("fast", tuple(range(5, 105, 5))),
            Axis("slow", tuple(range(10, 210, 10))),
            Axis("commission_bps", tuple(float(b) for b in range(20))),
        )
    )
    sweep.check_runnable(spec, 10_000, "the sample")
    assert 0 < len(built) <= 400  # 158 seen
    bad = replace(spec, axes=(*spec.axes[:2], Axis("commission_bps", (0.0, -1.0))))
    with pytest.raises(InvalidParameter, match=r"--grid commission_bps=-1.0: every run"):
        sweep.check_runnable(bad, 10_000, "the sample")
    assert len(built) <= 800


@pytest.mark.parametrize("lookbacks", [(100, 60), (100,)])
def test_a_value_valid_only_with_two_other_values_moved_is_found_or_refused(
    lookbacks: tuple[int, ...],
) -> None:
    """fast=90 on 80 sessions is valid only with momentum (sma-cross needs slow > fast)
    and lookback 60 (100 is longer than the data): two axes away from the first valid
    run (sma-cross, 100, 50, 30), beyond the one-axis moves; without lookback 60 it is
    refused, with the oracle's message."""
    from tradefolio.research.space import Axis
    from tradefolio.research.sweep import check_runnable

    spec = SweepSpec(
        axes=(
            Axis("strategy", ("sma-cross", "momentum")),
            Axis("lookback", lookbacks),
            Axis("slow", (50,)),
            Axis("fast", (30, 90)),
        )
    )
    expected = _refusal(lambda: _check_every_run(spec, 80, "the sample"))
    assert (expected is None) == (60 in lookbacks)
    assert _refusal(lambda: check_runnable(spec, 80, "the sample")) == expected
