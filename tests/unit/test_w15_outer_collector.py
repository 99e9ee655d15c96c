"""`tradefolio.collector`: one implementation of the paused collector, used by the CLI's
start-up and by the model's solve, importable without numpy."""

from __future__ import annotations

import gc
import subprocess
import sys

import pytest

from tradefolio.cli import start_up
from tradefolio.collector import collector_paused
from tradefolio.portfolio import model

pytestmark = pytest.mark.usefixtures("collector_restored")


def test_both_users_share_the_one_implementation() -> None:
    assert model.collector_paused is collector_paused
    assert start_up.collector_paused is collector_paused


def test_paused_without_freeze_by_default() -> None:
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_freeze_once_and_restored_after_a_raise() -> None:
    with pytest.raises(ValueError), collector_paused(freeze=True):
        raise ValueError("inside")
    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    assert frozen > 0
    with collector_paused(freeze=True):
        made = [[] for _ in range(100)]
    assert gc.get_freeze_count() == frozen and len(made) == 100


def test_left_off_when_it_was_off() -> None:
    gc.disable()
    with collector_paused(freeze=True):
        assert not gc.isenabled()
    assert not gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_start_up_imports_no_numpy() -> None:
    code = (
        "import sys, tradefolio.cli.start_up, tradefolio.collector;"
        "print('numpy' in sys.modules, 'pandas' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False", "False"]
