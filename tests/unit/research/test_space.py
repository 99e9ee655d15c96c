"""Sweep spaces: grid syntax, random sampling, sweep files, run ids."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradefolio.errors import InvalidParameter
from tradefolio.research.space import (
    SweepSpec,
    load_sweep_file,
    parse_grid_option,
    parse_scalar,
    run_id,
)


def test_scalars_keep_their_type() -> None:
    assert parse_scalar("20") == 20 and isinstance(parse_scalar("20"), int)
    assert parse_scalar("0.1") == 0.1
    assert parse_scalar("true") is True
    assert parse_scalar("weight") == "weight"


def test_lists_ranges_and_steps() -> None:
    assert parse_grid_option("fast=10,20,50").grid_values() == (10, 20, 50)
    assert parse_grid_option("max_positions=3..6").grid_values() == (3, 4, 5, 6)
    assert parse_grid_option("weight=0.05..0.2:0.05").grid_values() == (0.05, 0.1, 0.15, 0.2)
    assert parse_grid_option("max-positions=2..6:2").grid_values() == (2, 4, 6)
    assert parse_grid_option("weight=0.1,1").grid_values() == (0.1, 1.0)


@pytest.mark.parametrize(
    ("option", "fragment"),
    [
        ("fast", "NAME=VALUES"),
        ("speed=1,2", "not a backtest parameter"),
        ("fast=10..5", "ends before it starts"),
        ("weight=0.1..0.2", "float range"),
        ("fast=1..5:0", "step must be > 0"),
        ("fast=1,weight", "mixes"),
    ],
)
def test_bad_grid_options_name_the_problem(option: str, fragment: str) -> None:
    with pytest.raises(InvalidParameter, match=fragment):
        parse_grid_option(option).grid_values()


def test_grid_order_last_axis_fastest() -> None:
    spec = SweepSpec(axes=(parse_grid_option("fast=1,2"), parse_grid_option("slow=5,6")))
    assert spec.points() == [
        {"fast": 1, "slow": 5},
        {"fast": 1, "slow": 6},
        {"fast": 2, "slow": 5},
        {"fast": 2, "slow": 6},
    ]


@given(st.integers(0, 2**32 - 1), st.integers(1, 30))
def test_random_search_is_seeded_within_bounds_and_unique(seed: int, samples: int) -> None:
    axes = (parse_grid_option("fast=5..40"), parse_grid_option("weight=0.05..0.25"))
    spec = SweepSpec(axes=axes, samples=samples, seed=seed)
    points = spec.points()
    assert points == spec.points()
    assert len(points) == samples
    assert len({(p["fast"], p["weight"]) for p in points}) == samples
    for point in points:
        assert isinstance(point["fast"], int) and 5 <= point["fast"] <= 40
        assert isinstance(point["weight"], float) and 0.05 <= point["weight"] <= 0.25


def test_random_search_of_a_small_space_stops_at_its_size() -> None:
    spec = SweepSpec(axes=(parse_grid_option("fast=1,2"),), samples=10, seed=1)
    assert sorted(p["fast"] for p in spec.points()) == [1, 2]


def test_yaml_and_toml_sweep_files_agree(tmp_path: Path) -> None:
    pytest.importorskip("yaml")
    yaml_file = tmp_path / "sweep.yaml"
    yaml_file.write_text(
        "base:\n  sizer: weight\ngrid:\n  fast: [10, 20]\n  slow: '100..200:100'\n"
        "random:\n  samples: 3\n  seed: 4\n"
    )
    toml_file = tmp_path / "sweep.toml"
    toml_file.write_text(
        'base = {sizer = "weight"}\n[grid]\nfast = [10, 20]\nslow = "100..200:100"\n'
        "[random]\nsamples = 3\nseed = 4\n"
    )
    from_yaml, from_toml = load_sweep_file(yaml_file), load_sweep_file(toml_file)
    assert from_yaml == from_toml
    assert from_yaml.base == {"sizer": "weight"}
    assert len(from_yaml.points()) == 3


@pytest.mark.parametrize(
    ("name", "text", "fragment"),
    [
        ("bad.yaml", "grid: [1, 2", "invalid YAML"),
        ("bad.toml", "grid = ", "invalid TOML"),
        ("bad.json", "{}", "expected a .yaml"),
        ("extra.yaml", "grids: {}", "unknown section"),
        ("base.yaml", "base: {speed: 1}", "not a backtest parameter"),
    ],
)
def test_bad_sweep_files(tmp_path: Path, name: str, text: str, fragment: str) -> None:
    if name.endswith(".yaml"):
        pytest.importorskip("yaml")
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InvalidParameter, match=fragment):
        load_sweep_file(path)


def test_overrides_replace_axes_and_base() -> None:
    spec = SweepSpec(base={"sizer": "risk"}, axes=(parse_grid_option("fast=1,2"),))
    merged = spec.with_overrides(base={"sizer": "weight"}, axes=[parse_grid_option("fast=3")])
    assert merged.base == {"sizer": "weight"}
    assert merged.points() == [{"fast": 3}]


def test_run_ids_depend_on_config_and_window_only() -> None:
    assert run_id({"fast": 1, "slow": 2}) == run_id({"slow": 2, "fast": 1})
    assert run_id({"fast": 1}) != run_id({"fast": 2})
    assert run_id({"fast": 1}, (0, 10, None)) != run_id({"fast": 1}, (0, 11, None))


def test_yaml_without_pyyaml_names_the_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "yaml", None)
    path = tmp_path / "sweep.yaml"
    path.write_text("grid: {fast: [1, 2]}")
    with pytest.raises(InvalidParameter, match="pip install PyYAML"):
        load_sweep_file(path)
