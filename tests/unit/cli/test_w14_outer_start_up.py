"""`start_up.long_lived_imports`: the collector paused while a command's modules are
imported, what exists frozen after (once per process), the collector's state as it was;
and `root.load_commands` leaves it running."""

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


def test_a_second_block_freezes_nothing_more() -> None:
    with long_lived_imports():
        pass
    frozen = gc.get_freeze_count()
    with long_lived_imports():
        made = [[] for _ in range(1000)]
    assert gc.get_freeze_count() == frozen
    assert gc.isenabled() and len(made) == 1000


def test_without_freeze_the_collector_is_only_paused() -> None:
    with long_lived_imports(freeze=False):
        assert not gc.isenabled()
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_the_collector_runs_again_when_the_block_raises() -> None:
    with pytest.raises(ImportError), long_lived_imports():
        raise ImportError("no such module")
    assert gc.isenabled()


def test_nothing_changes_when_the_collector_was_paused_already() -> None:
    gc.disable()
    with long_lived_imports():
        assert not gc.isenabled()
    assert not gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_loading_a_command_leaves_the_collector_running_its_imports_frozen() -> None:
    commands = root.load_commands("report")
    assert "report" in commands
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0
