"""`apply --format json` and `status --format json`: the documents ``codemods/schemas`` describes.

The keys and their order are stable; ``codemods/schemas/apply.schema.json`` and
``status.schema.json`` (JSON Schema, draft 2020-12) are the reference, and the tests
validate every document against them. Text from the user's files is kept as data,
JSON-escaped; a control character a terminal would obey is written as ``\\uXXXX``.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from enum import Enum
from pathlib import Path
from typing import Any

from codemods.apply.migration import Migration, TaskOutcome
from codemods.apply.notebook_diff import cell_diffs, is_notebook
from codemods.apply.render import ACTIONS, carried_out
from codemods.apply.session import Note
from codemods.core.config_values import BehaviourChange
from codemods.core.recipe import Recipe
from codemods.core.workspace import FileChange

FORMAT_VERSION = 1
# What json.dumps leaves raw but a terminal may obey: DEL, C1 controls, bidi overrides.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# Notes about a notebook name the cell (counted from 0) at the start of their message.
_CELL_PREFIX = re.compile(r"cell (\d+)(?: line (\d+))?\b")


class ApplyOutcome(str, Enum):
    WRITTEN = "written"
    DRY_RUN = "dry run"
    NOTHING_TO_DO = "nothing to do"
    REFUSED = "refused"  # --strict found unintended behaviour changes: nothing was written


def to_json(document: object) -> str:
    text = json.dumps(document, indent=2, ensure_ascii=False)
    return _JSON_UNSAFE.sub(lambda match: f"\\u{ord(match.group()):04x}", text) + "\n"


def task_entry(outcome: TaskOutcome) -> dict[str, Any]:
    return {
        "id": outcome.task.id,
        "title": outcome.task.title,
        "codemod": outcome.task.codemod,
        "state": outcome.state.value,
        "files": list(outcome.paths),
        "detail": outcome.detail,
        "description": outcome.description,
    }


def change_entry(change: FileChange) -> dict[str, Any]:
    """One file: its action and the exact unified diff (for a notebook, its cells' source diffs too)."""
    entry: dict[str, Any] = {"path": change.path, "action": ACTIONS[change.kind], "diff": change.unified_diff()}
    if is_notebook(change):
        cells = cell_diffs(change)
        entry["cells"] = [cell.to_dict() for cell in cells] if cells is not None else None
    return entry


def behaviour_entry(change: BehaviourChange) -> dict[str, Any]:
    return {
        "path": change.path,
        "block": change.block,
        "field": change.field,
        "before": change.before,
        "after": change.after,
        "impact": change.impact.value,
        "reason": change.reason,
    }


def note_entry(note: Note) -> dict[str, Any]:
    cell, line = None, note.line
    found = _CELL_PREFIX.match(note.message) if note.path and note.path.endswith(".ipynb") else None
    if found:
        cell = int(found.group(1))
        line = int(found.group(2)) if found.group(2) else line
    return {"level": note.level.value, "task": note.task, "path": note.path, "line": line, "cell": cell,
            "message": note.message}


def apply_document(
    migration: Migration, root: Path, outcome: ApplyOutcome, journal: str | None = None
) -> dict[str, Any]:
    """The plan, the changes, the behaviour tables, the notes and what became of them."""
    changes = migration.changes
    report = migration.report
    kinds = Counter(change.kind for change in changes)
    return {
        "version": FORMAT_VERSION,
        "root": str(root),
        "recipe": migration.context.recipe.title,
        "outcome": outcome.value,
        "journal": journal,
        "tasks": [task_entry(task) for task in migration.outcomes],
        "changes": [change_entry(change) for change in changes],
        "behaviour_changes": [behaviour_entry(change) for change in report.behaviour_changes],
        "notes": [note_entry(note) for note in report.notes],
        "summary": {
            "files_modified": kinds["modified"],
            "files_created": kinds["created"],
            "files_deleted": kinds["deleted"],
            "tasks_carried_out": carried_out(migration),
            "config_blocks_replaced": report.blocks_replaced,
            "renames": dict(sorted(report.renames.items())),
            "identifier_renames": dict(sorted(report.substring_renames.items())),
            "fields_kept": len(report.kept_fields),
            "unintended_behaviour_changes": len(report.unintended_changes),
        },
    }


def status_document(recipe: Recipe, outcomes: list[TaskOutcome], root: Path) -> dict[str, Any]:
    """Each task's state and detail, from the planning pass `apply` makes."""
    return {
        "version": FORMAT_VERSION,
        "root": str(root),
        "recipe": recipe.title,
        "tasks": [task_entry(outcome) for outcome in outcomes],
    }
