"""docs/cli.md's `--help` blocks are what the commands print (`scripts/cli_help.py`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "cli.md"


def _check(doc: Path) -> subprocess.CompletedProcess[str]:
    """`scripts/cli_help.py --check --doc DOC` with this checkout's sources."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "cli_help.py"), "--check", "--doc", str(doc)],
        capture_output=True,
        text=True,
        env=environment,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_every_help_block_of_the_cli_reference_is_the_real_help() -> None:
    done = _check(DOC)
    assert done.returncode == 0, done.stderr


def test_a_stale_block_is_named(tmp_path: Path) -> None:
    doc = DOC.read_text(encoding="utf-8")
    marker = "Show this message and exit."
    report = doc.index("<code>tradefolio report --help</code>")
    edited = doc[:report] + doc[report:].replace(marker, "Show this message and leave.", 1)
    stale = tmp_path / "cli.md"
    stale.write_text(edited, encoding="utf-8")
    done = _check(stale)
    assert done.returncode == 1
    assert done.stderr.strip().endswith(
        "is stale for tradefolio report --help; run python scripts/cli_help.py"
    )
