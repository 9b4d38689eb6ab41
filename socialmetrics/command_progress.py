"""Progress of a management command's long work, the same way in every command.

- On a terminal (verbosity 1 or more): a rich progress bar, gone when the work is done, so what is
  left on the screen is the command's summary.
- Not on a terminal (cron, a pipe): nothing at verbosity 1; at verbosity 2 or more a plain line at
  the start, at most every PLAIN_EVERY seconds, and at the end.
- Verbosity 0: nothing at all (errors still go to stderr, written by the command).

`collect_metrics` draws its own bar (failures and rate per second); the other commands use this.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.core.management.base import BaseCommand

#: Seconds between two plain progress lines.
PLAIN_EVERY = 5.0

#: update(done, total=None, description=None): how far the work has got.
Update = Callable[..., None]


def _nothing(done: int, total: int | None = None, description: str | None = None) -> None:
    pass


@contextmanager
def command_progress(
    command: BaseCommand,
    *,
    verbosity: int,
    description: str,
    total: int | None = None,
    unit: str = "",
    plain: bool = True,
) -> Iterator[Update]:
    """Yields `update(done, total=None, description=None)`; `total` None draws a bar that only
    says the work goes on (its size is not known yet). `plain=False`: no plain lines (the command
    writes its own at verbosity 2)."""
    if verbosity >= 1 and command.stdout.isatty():
        with _bar(command, description=description, total=total, unit=unit) as update:
            yield update
    elif verbosity >= 2 and plain:
        yield _plain_lines(command, description=description, total=total, unit=unit)
    else:
        yield _nothing


@contextmanager
def _bar(command: BaseCommand, *, description: str, total: int | None, unit: str) -> Iterator[Update]:
    from rich.console import Console  # rich only where it draws (a quiet cron run never loads it)
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=Console(file=command.stdout._out), transient=True) as bar:
        task = bar.add_task(description, total=total)

        def update(done: int, total: int | None = None, description: str | None = None) -> None:
            changes = {"completed": done}
            if total is not None:
                changes["total"] = total
            if description is not None:
                changes["description"] = description
            bar.update(task, **changes, refresh=True)

        update(0)
        yield update


def _plain_lines(command: BaseCommand, *, description: str, total: int | None, unit: str) -> Update:
    state = {"last": 0.0, "description": description, "total": total, "ended": False}
    suffix = f" {unit}" if unit else ""

    def update(done: int, total: int | None = None, description: str | None = None) -> None:
        if total is not None:
            state["total"] = total
        if description is not None and description != state["description"]:
            state["description"], state["last"], state["ended"] = description, 0.0, False
        total = state["total"]
        now = time.monotonic()
        finished = total is not None and done >= total
        if state["ended"] or (not finished and now - state["last"] < PLAIN_EVERY):
            return
        state["last"], state["ended"] = now, finished
        if total is None and not done:
            command.stdout.write(f"{state['description']}...")  # the size is not known yet
            return
        of = f" of {total:,}" if total is not None else ""
        command.stdout.write(f"{state['description']}: {done:,}{of}{suffix}")

    update(0)
    return update
