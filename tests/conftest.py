"""Suite-wide test isolation and the hypothesis profiles."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

# CI runs a fixed, reproducible set of examples (`.ci/run` exports HYPOTHESIS_PROFILE=ci);
# local runs explore new random examples every time.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(autouse=True)
def _runs_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run folders written by CLI tests land in the test's tmp dir, never in the checkout."""
    monkeypatch.setenv("TRADEFOLIO_RUNS_DIR", str(tmp_path / "runs"))


@pytest.fixture
def collector_restored() -> Iterator[None]:
    """The test starts with the cyclic collector running and nothing frozen, and leaves the
    process's collector as it found it (for tests of `tradefolio.collector`'s pause)."""
    running = gc.isenabled()
    gc.unfreeze()
    gc.enable()
    yield
    gc.unfreeze()
    if running:
        gc.enable()
    else:  # pragma: no cover - pytest runs with the collector on
        gc.disable()
