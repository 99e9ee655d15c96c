"""Run the `tradefolio` CLI in-process and capture exit code, stdout and stderr."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tradefolio.cli.app import main


@dataclass(frozen=True)
class CliResult:
    code: int
    stdout: str
    stderr: str


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> CliResult:
    """Call `main(args)`, which always exits, and return what it printed."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    captured = capsys.readouterr()
    code = exit_info.value.code
    return CliResult(code if isinstance(code, int) else 1, captured.out, captured.err)


def assert_one_line_error(result: CliResult, fragment: str) -> None:
    """Bad input: exit 2, a single `error:` line naming the problem, no traceback."""
    assert result.code == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in result.stderr


def run_module_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`python -m tradefolio ARGS` in a child process run in `cwd`, run folders under
    `cwd / "runs"` (a live session's journal and signals stay out of the test process)."""
    return subprocess.run(
        [sys.executable, "-m", "tradefolio", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "TRADEFOLIO_RUNS_DIR": str(cwd / "runs")},
        timeout=600,
    )
