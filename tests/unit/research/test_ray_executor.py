"""The Ray executor agrees with the local ones bit for bit (skipped without the extra)."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pandas as pd
import pytest

from tradefolio.errors import MissingExtra
from tradefolio.research.executors import LocalExecutor, SerialExecutor
from tradefolio.research.ray_executor import RayExecutor, import_ray
from tradefolio.research.sweep import run_sweep
from tradefolio.research.walkforward import run_walk_forward
from unit.research.research_helpers import small_data, small_spec


def test_missing_ray_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(MissingExtra, match=r"pip install 'tradefolio\[distributed\]'"):
        import_ray()


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def test_ray_sweep_equals_local_and_serial(ray_cluster: None) -> None:
    data = small_data()
    on_ray = run_sweep(small_spec(), data, RayExecutor(max_workers=2))
    local = run_sweep(small_spec(), data, LocalExecutor(max_workers=2))
    serial = run_sweep(small_spec(), data, SerialExecutor())
    assert on_ray.executor == "ray"
    for other in (local, serial):
        pd.testing.assert_frame_equal(
            on_ray.table.drop(columns="seconds"),
            other.table.drop(columns="seconds"),
            check_exact=True,
        )
    assert list(on_ray.table["run"]) == list(range(len(on_ray.table)))


def test_ray_walk_forward_equals_serial(ray_cluster: None) -> None:
    data = small_data(sessions=400, symbols=3)
    spec = small_spec()
    on_ray = run_walk_forward(spec, data, RayExecutor(max_workers=2), train=200, test=100)
    serial = run_walk_forward(spec, data, SerialExecutor(), train=200, test=100)
    assert [f.chosen for f in on_ray.folds] == [f.chosen for f in serial.folds]
    pd.testing.assert_series_equal(on_ray.oos_equity, serial.oos_equity, check_exact=True)


def test_batched_calls_give_the_same_table(ray_cluster: None) -> None:
    data = small_data(sessions=200, symbols=3)
    batched = run_sweep(small_spec(), data, RayExecutor(max_workers=2, batch_size=4))
    serial = run_sweep(small_spec(), data, SerialExecutor())
    pd.testing.assert_frame_equal(
        batched.table.drop(columns="seconds"),
        serial.table.drop(columns="seconds"),
        check_exact=True,
    )
