"""Rich rendering of migrations, task states and errors. No logic lives here."""

from __future__ import annotations

from collections import Counter

from rich.console import Console, Group
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from codemods.apply.migration import Migration, TaskOutcome, TaskState
from codemods.apply.session import Level, Report
from codemods.behaviour_tables import change_tables, titled
from codemods.consoles import visible
from codemods.core.recipe import Recipe
from codemods.core.workspace import FileChange

_STATE_STYLE = {TaskState.PENDING: "yellow", TaskState.DONE: "green", TaskState.NOT_APPLICABLE: "dim"}
_LEVEL_STYLE = {Level.INFO: "cyan", Level.NOTICE: "cyan", Level.WARNING: "yellow", Level.ERROR: "red"}


def task_table(
    recipe: Recipe, outcomes: list[TaskOutcome], root: str, verbose: bool = False, width: int | None = None
) -> Group:
    """The status table; ``width`` (a terminal's) makes the task titles wrap so that paths never split."""
    table = Table()
    table.add_column("#", justify="right", no_wrap=True)
    # Paths go one per line, and the task titles wrap first: a path is never split on a terminal.
    longest = max((len(path) for outcome in outcomes for path in outcome.paths), default=0)
    borders_and_fixed = 4 + 9 + 13  # "#", "status" and the table's rules and padding
    title_width = max(16, width - longest - borders_and_fixed) if width else None
    table.add_column("task", max_width=title_width, overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("detail", overflow="fold", min_width=longest or None)
    for outcome in outcomes:
        state = outcome.state
        title = Text(visible(outcome.task.title))
        if verbose and outcome.description:
            title.append(f"\n{outcome.description}", style="dim")
        detail = "\n".join(visible(p, one_line=True) for p in outcome.paths) if outcome.paths else visible(outcome.detail)
        table.add_row(Text(visible(outcome.task.id)), title, Text(state.value, style=_STATE_STYLE[state]), Text(detail))
    return titled(f"{recipe.title} — {root}", table)


def print_diff(console: Console, change: FileChange) -> None:
    """Coloured in a terminal; elsewhere the plain unified diff, never cropped, so it can be saved as a patch."""
    diff = visible(change.unified_diff())
    if not console.is_terminal:
        console.print(diff, markup=False, highlight=False, soft_wrap=True, end="")
        return
    body = Syntax(diff, "diff", theme="ansi_dark", word_wrap=True) if diff else Text("(binary or empty)")
    title = Text(f"{change.kind}: {visible(change.path, one_line=True)}")
    console.print(Panel(body, title=title, title_align="left", border_style="blue"))


def behaviour_tables(report: Report) -> list[Group]:
    """One table per config block: field, before, after, impact (and why)."""
    return change_tables(report.behaviour_changes)


def notes_lines(report: Report, verbose: bool = False) -> list[Text]:
    notes = [n for n in report.notes if verbose or n.level is not Level.INFO]
    lines = [Text("Notes", style="bold")] if notes else []
    for note in notes:
        where = f"{note.path}:{note.line}" if note.path and note.line else (note.path or "")
        where = visible(where, one_line=True)
        line = Text.assemble(
            (f"{note.level.value:>7}", _LEVEL_STYLE[note.level]), (f" [task {note.task}] ", "dim"), (where, "cyan")
        )
        line.append(f"  {visible(note.message)}" if where else f" {visible(note.message)}")
        lines.append(line)
    return lines


def summary_table(migration: Migration) -> Group:
    changes = migration.changes
    kinds = Counter(change.kind for change in changes)
    report = migration.report
    table = Table(show_header=False)
    table.add_column("what", no_wrap=True)
    table.add_column("count", justify="right")
    table.add_row("files changed", str(kinds["modified"]))
    table.add_row("files created", str(kinds["created"]))
    table.add_row("files deleted", str(kinds["deleted"]))
    table.add_row("config blocks replaced", str(report.blocks_replaced))
    for kind, count in sorted(report.renames.items()):
        table.add_row(f"renamed: {kind}", str(count))
    for old, new in sorted(report.substring_renames.items()):
        table.add_row(f"identifier {old} -> {new}", "")
    kept = len(report.kept_fields)
    if kept:
        table.add_row("config fields kept as before (--keep-behaviour)", str(kept))
    unintended = len(report.unintended_changes)
    table.add_row("unintended behaviour changes", Text(str(unintended), style="bold red" if unintended else "green"))
    return titled("Summary", table)


def render_migration(console: Console, migration: Migration, show_diff: bool = True, verbose: bool = False) -> None:
    if show_diff:
        for change in migration.changes:
            print_diff(console, change)
    for table in behaviour_tables(migration.report):
        console.print(table)
    for line in notes_lines(migration.report, verbose):
        console.print(line)
    console.print(summary_table(migration))
