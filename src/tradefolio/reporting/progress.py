"""Progress bars for long work (backtests, sweeps, downloads): on a terminal only.

`progress_bar(...)` yields an `advance(steps=1)` callable; `track(...)` wraps an iterable;
`runs_progress(...)` counts a sweep's runs and their failures.
Both draw a rich bar on stderr when it is a terminal, and do nothing at all when output is
piped or redirected, or with `quiet=True` (the CLI's `--quiet`), so logs and JSON stay clean.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")
Advance = Callable[[int], None]


class HasStatus(Protocol):
    """A finished run as a progress bar sees it: `ok` or `failed`."""

    @property
    def status(self) -> str:
        """The run's status."""
        ...


def _ignore(steps: int = 1) -> None:
    """The `advance` of a silent bar."""


def progress_enabled(console: Console, *, quiet: bool = False) -> bool:
    """Whether a bar would be drawn: not quiet, and the console is an interactive terminal."""
    return not quiet and console.is_terminal and not console.is_dumb_terminal


@contextmanager
def progress_bar(
    description: str,
    total: int | None,
    *,
    quiet: bool = False,
    console: Console | None = None,
) -> Iterator[Advance]:
    """A bar of `total` steps (spinner if None); yields `advance(steps=1)`."""
    console = console or Console(stderr=True)
    if not progress_enabled(console, quiet=quiet):
        yield _ignore
        return
    columns = (
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(description, total=total)

        def advance(steps: int = 1) -> None:
            progress.advance(task, steps)

        yield advance


def track(
    items: Iterable[T],
    description: str,
    *,
    total: int | None = None,
    quiet: bool = False,
    console: Console | None = None,
) -> Iterator[T]:
    """Yield `items`, advancing a bar by one per item (total from `len` when it has one)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with progress_bar(description, total, quiet=quiet, console=console) as advance:
        for item in items:
            yield item
            advance(1)


class RunsProgress:
    """A rich progress bar on stderr (a terminal only); counts failures as it goes."""

    def __init__(self, console: Console, label: str) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]} failed"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self._label = label
        self._task: Any = None
        self._failed = 0

    def __enter__(self) -> RunsProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def start(self, total: int, already_done: int) -> None:
        self._task = self._progress.add_task(
            self._label, total=total, completed=already_done, failed=0
        )

    def advance(self, outcome: HasStatus) -> None:
        if outcome.status == "failed":
            self._failed += 1
        self._progress.update(self._task, advance=1, failed=self._failed)


class _QuietRuns:
    def __enter__(self) -> _QuietRuns:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def start(self, total: int, already_done: int) -> None:
        return None

    def advance(self, outcome: HasStatus) -> None:
        return None


def runs_progress(console: Console, label: str) -> RunsProgress | _QuietRuns:
    """A sweep's progress (`research.sweep.SweepProgress`): a bar on a terminal, else none."""
    return RunsProgress(console, label) if console.is_terminal else _QuietRuns()


__all__ = [
    "Advance",
    "HasStatus",
    "RunsProgress",
    "progress_bar",
    "progress_enabled",
    "runs_progress",
    "track",
]
