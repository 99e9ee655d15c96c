"""Where a run folder cannot be written, the user gets one line, not a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.cli import assert_one_line_error, run_cli


def test_unwritable_out_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = run_cli(
        capsys, "backtest", "--strategy", "buy-and-hold", "--no-png", "--out", str(blocker / "runs")
    )
    assert_one_line_error(result, "cannot create a run folder under")
    assert "--no-record" in result.stderr
