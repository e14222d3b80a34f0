"""A sign of life while `status` and `apply` plan: a transient progress bar on a terminal, nothing elsewhere.

Planning runs every task over every file before anything is shown, which takes seconds
on a real repository. On a terminal the bar names the task being planned and how many
files have changed so far, and is erased when planning ends, so the output that follows
is all that stays on the screen. In a pipe or a CI log nothing is drawn at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from codemods.apply.migration import PlanningProgress
from codemods.consoles import visible
from codemods.core.recipe import Task


@contextmanager
def planning_progress(console: Console, enabled: bool = True) -> Iterator[PlanningProgress | None]:
    """A callback for the planning pass that draws on ``console`` when it is a terminal; None otherwise."""
    if not enabled or not console.is_terminal:
        yield None
        return
    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[dim]{task.fields[files]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    with bar:
        planning = bar.add_task("planning", total=None, files="")

        def advance(task: Task, done: int, total: int, files: int) -> None:
            title = visible(task.title, one_line=True)
            short = title if len(title) <= 40 else title[:39] + "…"
            bar.update(
                planning, description=f"planning task {visible(task.id, one_line=True)}: {short}",
                completed=done, total=total, files=f"{files} file(s) changed so far",
            )
            bar.refresh()  # drawn now, not at the next tick: a quick task is still seen

        yield advance
