"""Rich rendering of migrations, task states and errors. No logic lives here."""

from __future__ import annotations

from collections import Counter

from rich.console import Console, Group
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from codemods.context import Impact, Level, Report
from codemods.migration import Migration, TaskState
from codemods.recipe import Recipe, Task
from codemods.workspace import FileChange

_STATE_STYLE = {TaskState.PENDING: "yellow", TaskState.DONE: "green", TaskState.NOT_APPLICABLE: "dim"}
_LEVEL_STYLE = {Level.INFO: "cyan", Level.WARNING: "yellow", Level.ERROR: "red"}
_IMPACT_STYLE = {Impact.INTENDED: "green", Impact.UNINTENDED: "bold red", Impact.UNVERIFIABLE: "magenta"}


def task_table(recipe: Recipe, states: list[tuple[Task, TaskState, str]], root: str) -> Table:
    table = Table(title=f"{recipe.title} — {root}", title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("task")
    table.add_column("status")
    table.add_column("detail", overflow="fold")
    for task, state, detail in states:
        table.add_row(task.id, task.title, Text(state.value, style=_STATE_STYLE[state]), detail)
    return table


def diff_panel(change: FileChange) -> Panel:
    diff = change.unified_diff()
    body = Syntax(diff, "diff", theme="ansi_dark", word_wrap=False) if diff else Text("(binary or empty)")
    return Panel(body, title=f"{change.kind}: {change.path}", title_align="left", border_style="blue")


def behaviour_table(report: Report) -> Table | None:
    if not report.behaviour_changes:
        return None
    table = Table(title="Behaviour changes", title_justify="left")
    for column in ("file", "block", "field", "before", "after", "impact"):
        table.add_column(column, overflow="fold")
    for change in report.behaviour_changes:
        impact = Text(change.impact.value, style=_IMPACT_STYLE[change.impact])
        if change.reason:
            impact.append(f"\n{change.reason}", style="dim")
        table.add_row(change.path, change.block, change.field, change.before, change.after, impact)
    return table


def notes_table(report: Report, verbose: bool = False) -> Table | None:
    notes = [n for n in report.notes if verbose or n.level is not Level.INFO or "deleted" in n.message]
    if not notes:
        return None
    table = Table(title="Notes", title_justify="left", show_header=True)
    table.add_column("task", justify="right")
    table.add_column("level")
    table.add_column("where", overflow="fold")
    table.add_column("message", overflow="fold")
    for note in notes:
        where = f"{note.path}:{note.line}" if note.path and note.line else (note.path or "")
        table.add_row(note.task, Text(note.level.value, style=_LEVEL_STYLE[note.level]), where, note.message)
    return table


def summary_table(migration: Migration) -> Table:
    changes = migration.changes
    kinds = Counter(change.kind for change in changes)
    report = migration.report
    table = Table(title="Summary", title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("files changed", str(kinds["modified"]))
    table.add_row("files created", str(kinds["created"]))
    table.add_row("files deleted", str(kinds["deleted"]))
    table.add_row("config blocks replaced", str(report.blocks_replaced))
    for kind, count in sorted(report.renames.items()):
        table.add_row(f"renamed: {kind}", str(count))
    for old, new in sorted(report.substring_renames.items()):
        table.add_row(f"identifier {old} -> {new}", "")
    unintended = len(report.unintended_changes)
    table.add_row("unintended behaviour changes", Text(str(unintended), style="bold red" if unintended else "green"))
    return table


def render_migration(console: Console, migration: Migration, show_diff: bool = True, verbose: bool = False) -> None:
    if show_diff:
        for change in migration.changes:
            console.print(diff_panel(change))
    parts = [behaviour_table(migration.report), notes_table(migration.report, verbose), summary_table(migration)]
    console.print(Group(*[p for p in parts if p is not None]))
