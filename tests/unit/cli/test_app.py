"""The root command: lazy registration, nothing heavy imported before it is needed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
import typer

from support.cli import run_cli
from tradefolio.cli.app import COMMANDS, build_app, load_commands

HEAVY = ("pandas", "numpy", "ortools", "plotly", "matplotlib", "pyarrow", "scipy", "pydantic")


def _modules_after(tmp_path: Path, *args: str) -> set[str]:
    """Top-level packages imported by `tradefolio ARGS` in a fresh interpreter."""
    script = (
        "import json, sys\n"
        "from tradefolio.cli.app import main\n"
        "try:\n"
        f"    main({list(args)!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        f"open({str(tmp_path / 'modules.json')!r}, 'w').write("
        "json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
    return set(json.loads((tmp_path / "modules.json").read_text()))


def test_root_help_imports_nothing_heavy(tmp_path: Path) -> None:
    loaded = _modules_after(tmp_path, "--help")
    assert not loaded & set(HEAVY), loaded & set(HEAVY)
    assert "tradefolio" in loaded


def test_allocate_candidates_imports_no_pandas(tmp_path: Path) -> None:
    pytest.importorskip("ortools")
    candidates = tmp_path / "c.csv"
    candidates.write_text("symbol,score,price\nAAA,3,10\nBBB,2,20\nCCC,1,7\nDDD,0.5,5\n")
    loaded = _modules_after(tmp_path, "allocate", "--candidates", str(candidates))
    assert "ortools" in loaded  # the solve really ran
    assert not loaded & {"pandas", "plotly", "matplotlib", "pyarrow", "scipy", "pydantic"}


def test_root_help_lists_every_command_with_its_own_first_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = run_cli(capsys, "--help")
    assert result.code == 0
    for spec in COMMANDS:
        command = load_commands(spec.module)[spec.name]
        first_line = (command.help or "").strip().splitlines()[0]
        assert spec.short_help == first_line, spec.name
        assert spec.name in result.stdout


def test_every_module_registers_exactly_the_listed_commands() -> None:
    by_module: dict[str, set[str]] = {}
    for spec in COMMANDS:
        by_module.setdefault(spec.module, set()).add(spec.name)
    for module, names in by_module.items():
        assert set(load_commands(module)) == names, module


def test_commands_resolve_lazily_and_unknown_ones_are_usage_errors(
    capsys: pytest.CaptureFixture[str],
) -> None:
    group = typer.main.get_command(build_app())
    assert isinstance(group, click.Group)
    context = click.Context(group)
    assert group.list_commands(context) == [spec.name for spec in COMMANDS]
    assert group.get_command(context, "report") is not None
    assert group.get_command(context, "no-such-command") is None
    result = run_cli(capsys, "no-such-command")
    assert result.code == 2
    assert result.stderr.startswith("error: No such command")


@pytest.mark.parametrize("args", [(), ("data",)])
def test_a_group_without_a_command_shows_its_help_and_exits_2(
    capsys: pytest.CaptureFixture[str], args: tuple[str, ...]
) -> None:
    result = run_cli(capsys, *args)
    assert result.code == 2
    shown = result.stdout + result.stderr
    assert "Usage: tradefolio" in shown
    assert "Commands" in shown
    assert "error:" not in shown  # help laid out as help, not folded into one error line
    assert len(shown.strip().splitlines()) > 5
