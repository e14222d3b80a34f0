"""What `apply` and `status` print, in the format asked for: text for people, JSON for programs."""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console
from rich.text import Text

from codemods.apply.migration import Migration, TaskOutcome
from codemods.apply.render import render_applied, render_migration, task_table
from codemods.apply.render_json import ApplyOutcome, apply_document, status_document, to_json
from codemods.core.recipe import Recipe

JSON = "json"


def show_apply(
    console: Console,
    migration: Migration,
    root: Path,
    outcome: ApplyOutcome,
    *,
    output_format: str = "text",
    show_diff: bool = True,
    verbose: bool = False,
    journal: str | None = None,
) -> None:
    """The migration and its outcome: a dry run's diffs and tables, or a real apply's short summary."""
    if output_format == JSON:
        sys.stdout.write(to_json(apply_document(migration, root, outcome, journal)))
        return
    if outcome is ApplyOutcome.WRITTEN:
        render_applied(console, migration, root, journal or "", show_diff, verbose)
        return
    render_migration(console, migration, show_diff, verbose)
    if outcome is ApplyOutcome.NOTHING_TO_DO:
        console.print(Text.assemble(("Nothing to do:", "green"), " every selected task is already done."))
    elif outcome is ApplyOutcome.DRY_RUN:
        console.print(Text.assemble(
            ("Dry run:", "cyan"), f" {len(migration.changes)} file(s) would change; nothing was written."
        ))
    elif outcome is ApplyOutcome.REFUSED:
        unintended = len(migration.report.unintended_changes)
        console.print(Text.assemble(
            ("Refused (--strict):", "red"), f" {unintended} unintended behaviour change(s); nothing was written."
        ))


def show_status(
    console: Console,
    recipe: Recipe,
    outcomes: list[TaskOutcome],
    root: Path,
    *,
    output_format: str = "text",
    verbose: bool = False,
) -> None:
    if output_format == JSON:
        sys.stdout.write(to_json(status_document(recipe, outcomes, root)))
        return
    console.print(task_table(recipe, outcomes, str(root), verbose, console.width if console.is_terminal else None))
