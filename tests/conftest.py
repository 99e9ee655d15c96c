"""Suite-wide test isolation."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _runs_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run folders written by CLI tests land in the test's tmp dir, never in the checkout."""
    monkeypatch.setenv("TRADEFOLIO_RUNS_DIR", str(tmp_path / "runs"))
