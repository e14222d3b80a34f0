"""Rich rendering of migrations and task states, for people. No logic lives here.

Diffs are plain unified diff text, never inside a panel: on a terminal each line is
coloured, and a copied ``.py`` diff is still a patch ``git apply`` takes. A notebook is
shown cell by cell (see :mod:`codemods.apply.notebook_diff`).
"""

from __future__ import annotations

import shlex
from collections import Counter
from pathlib import Path

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from codemods.apply.migration import Migration, TaskOutcome, TaskState
from codemods.apply.notebook_diff import cell_diffs, is_notebook, read_cells
from codemods.apply.session import Level, Report
from codemods.behaviour_tables import change_tables, titled
from codemods.consoles import visible
from codemods.core.recipe import Recipe
from codemods.core.workspace import FileChange

_STATE_STYLE = {TaskState.PENDING: "yellow", TaskState.DONE: "green", TaskState.NOT_APPLICABLE: "dim"}
_LEVEL_STYLE = {Level.INFO: "cyan", Level.NOTICE: "cyan", Level.WARNING: "yellow", Level.ERROR: "red"}
# Longest prefix first: "+++" is a file header, "+" an added line.
_DIFF_STYLE = (("+++", "bold"), ("---", "bold"), ("@@", "cyan"), ("+", "green"), ("-", "red"), ("\\", "dim"))
_CELL_HEADER_STYLE = "bold magenta"
ACTIONS = {"modified": "modify", "created": "create", "deleted": "delete"}
_TITLE_MIN = 13  # "Delete", "Rename", "Update" and a path still read on a line


def task_table(
    recipe: Recipe, outcomes: list[TaskOutcome], root: str, verbose: bool = False, width: int | None = None
) -> Group:
    """The status table; ``width`` (a terminal's) makes the task titles wrap so that paths never split."""
    table = Table()
    table.add_column("#", justify="right", no_wrap=True)
    # Paths go one per line, and the task titles wrap first: a path is never split on a terminal.
    longest = max((len(path) for outcome in outcomes for path in outcome.paths), default=0)
    # A step of the migration that is no task of the recipe (the paired notebooks) has no number.
    numbered = {task.id for task in recipe.tasks}
    ids = max((len(outcome.task.id) for outcome in outcomes if outcome.task.id in numbered), default=1)
    states = max((len(outcome.state.value) for outcome in outcomes), default=4)
    borders_and_fixed = ids + states + 13  # "#", "status", and five rules and eight padding spaces
    title_width = max(_TITLE_MIN, width - longest - borders_and_fixed) if width else None
    # Too narrow for the longest path beside a readable title: paths fold too, rather than be cropped.
    whole_paths = not width or longest + borders_and_fixed + _TITLE_MIN <= width
    table.add_column("task", max_width=title_width, overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("detail", overflow="fold", min_width=(longest or None) if whole_paths else None)
    for outcome in outcomes:
        state = outcome.state
        title = Text(visible(outcome.task.title))
        if verbose and outcome.description:
            title.append(f"\n{outcome.description}", style="dim")
        detail = "\n".join(visible(p, one_line=True) for p in outcome.paths) if outcome.paths else visible(outcome.detail)
        number = outcome.task.id if outcome.task.id in numbered else ""
        table.add_row(Text(visible(number)), title, Text(state.value, style=_STATE_STYLE[state]), Text(detail))
    return titled(f"{recipe.title} — {root}", table)


def notebook_diff_text(change: FileChange) -> str | None:
    """The per-cell view of a notebook change; None when a side is no notebook (its raw diff is shown then)."""
    path = visible(change.path, one_line=True)
    if change.after is None:
        cells = read_cells(change.before)
        return f"{path}: notebook deleted ({len(cells)} cells)\n" if cells is not None else None
    cells = cell_diffs(change)
    if cells is None:
        return None
    if not cells:
        return f"{path}: notebook metadata changed (no cell source or output differs)\n"
    action = "created" if change.before is None else f"{len(cells)} cell(s) changed"
    shown = [f"notebook {path}: {action}\n"]
    for cell in cells:
        shown.append(f"{visible(cell.header, one_line=True)}\n{visible(cell.hunks)}")
    return "".join(shown)


def diff_text(change: FileChange) -> str:
    """What a person reads for one file: a plain unified diff, or a notebook's cells."""
    if is_notebook(change):
        cells = notebook_diff_text(change)
        if cells is not None:
            return cells
    return visible(change.unified_diff())


def _coloured(text: str, notebook: bool) -> Text:
    coloured = Text()
    for line in text.splitlines(keepends=True):
        style = next((style for prefix, style in _DIFF_STYLE if line.startswith(prefix)), "")
        if notebook and not style and not line.startswith(" "):
            style = _CELL_HEADER_STYLE  # in a notebook's view, a line that is no hunk line is a header
        coloured.append(line, style)
    return coloured


def print_diff(console: Console, change: FileChange) -> None:
    """Whole lines, never wrapped or boxed: coloured on a terminal, plain text elsewhere."""
    text = diff_text(change)
    if not text:
        text = f"{visible(change.path, one_line=True)}: {change.kind} (binary or empty)\n"
    if console.is_terminal:
        console.print(_coloured(text, is_notebook(change)), soft_wrap=True, end="")
    else:
        # Written as is: rich drops the \r of CRLF lines, and `git apply` needs the patch byte for byte.
        console.file.write(text)
        console.file.flush()


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
    # On a narrow terminal the labels wrap; the counts never lose a digit.
    table.add_column("what")
    table.add_column("count", justify="right", no_wrap=True, min_width=3)
    table.add_row("files changed", str(kinds["modified"]))
    table.add_row("files created", str(kinds["created"]))
    table.add_row("files deleted", str(kinds["deleted"]))
    table.add_row("config blocks replaced", str(report.blocks_replaced))
    for kind, count in sorted(report.renames.items()):
        table.add_row(f"renamed: {kind}", str(count))
    spliced = sorted(report.substring_renames.items())
    if spliced:
        table.add_row("identifiers holding an old name, renamed (listed below)", str(len(spliced)))
    kept = len(report.kept_fields)
    if kept:
        table.add_row("config fields kept as before (--keep-behaviour)", str(kept))
    unintended = len(report.unintended_changes)
    table.add_row("unintended behaviour changes", Text(str(unintended), style="bold red" if unintended else "green"))
    summary = titled("Summary", table)
    if spliced:
        # Below the table, where a long list wraps between names: inside, it squeezed the counts out of sight.
        listed = ", ".join(f"{old} -> {new}" for old, new in spliced)
        summary.renderables.append(Text(visible(f"identifiers renamed: {listed}")))
    return summary


def render_migration(console: Console, migration: Migration, show_diff: bool = True, verbose: bool = False) -> None:
    """What a dry run shows: every diff (unless turned off), the behaviour tables, the notes and the summary."""
    if show_diff:
        for change in migration.changes:
            print_diff(console, change)
    for table in behaviour_tables(migration.report):
        console.print(table)
    for line in notes_lines(migration.report, verbose):
        console.print(line)
    console.print(summary_table(migration))


def carried_out(migration: Migration) -> list[str]:
    """The ids of the tasks whose changes were planned (and, after a real apply, written)."""
    return [outcome.task.id for outcome in migration.outcomes if outcome.state is TaskState.PENDING and outcome.paths]


def render_applied(
    console: Console, migration: Migration, root: Path, journal: str, show_diff: bool = False, verbose: bool = False
) -> None:
    """What a real apply shows: diffs only when asked, the behaviour tables, notes, and a short summary."""
    changes = migration.changes
    if show_diff:
        for change in changes:
            print_diff(console, change)
    for table in behaviour_tables(migration.report):
        console.print(table)
    for line in notes_lines(migration.report, verbose):
        console.print(line)
    kinds = Counter(change.kind for change in changes)
    counted = ", ".join(f"{kinds[kind]} {kind}" for kind in ("modified", "created", "deleted") if kinds[kind])
    tasks = carried_out(migration)
    summary = Text.assemble(("Applied:", "green"), f" {len(changes)} file(s) written ({counted}); ")
    summary.append(f"{len(tasks)} task(s) carried out: {', '.join(visible(task) for task in tasks) or 'none'}")
    unintended = len(migration.report.unintended_changes)
    if unintended:
        summary.append(f"; {unintended} unintended behaviour change(s): see the behaviour tables", style="yellow")
    console.print(summary, soft_wrap=True)
    for change in changes:
        console.print(Text(f"  {change.kind:<8}  {visible(change.path, one_line=True)}"), soft_wrap=True)
    console.print(Text(f"journal: {visible(journal, one_line=True)}", style="dim"), soft_wrap=True)
    # Quoted for a shell, so that the line can be pasted as it is (a ROOT with spaces, quotes or `$`).
    console.print(Text(f"Undo with: refactor undo {visible(shlex.quote(str(root)), one_line=True)}"), soft_wrap=True)
