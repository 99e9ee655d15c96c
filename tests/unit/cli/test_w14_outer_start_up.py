"""`start_up.long_lived_imports`: the collector paused while a command's modules are
imported and what exists frozen after (its default); `root.load_commands` leaves it
running. The implementation's own cases (once per process, after a raise, left off when it
was off, without freeze) are `tests/unit/test_w15_outer_collector.py`'s."""

from __future__ import annotations

import gc

import pytest

from tradefolio.cli import root
from tradefolio.cli.start_up import long_lived_imports

pytestmark = pytest.mark.usefixtures("collector_restored")


def test_the_collector_is_paused_inside_and_running_after() -> None:
    with long_lived_imports():
        assert not gc.isenabled()
        made = [[] for _ in range(10)]
    assert gc.isenabled()
    # what existed at the end of the block is frozen: the lists made inside it too
    assert gc.get_freeze_count() > len(made)


def test_loading_a_command_leaves_the_collector_running_its_imports_frozen() -> None:
    commands = root.load_commands("report")
    assert "report" in commands
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0
