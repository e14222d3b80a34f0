"""Runs a recipe's codemods over a workspace and tells which tasks are still pending."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from types import ModuleType

from codemods.apply.session import Context, Refusal
from codemods.core.recipe import Recipe, RecipeError, Task
from codemods.core.workspace import FileChange, Workspace


class TaskState(str, Enum):
    PENDING = "pending"
    DONE = "done"
    NOT_APPLICABLE = "not applicable"


@dataclass
class Migration:
    context: Context
    tasks: list[Task]

    @property
    def changes(self) -> list[FileChange]:
        return self.context.workspace.changes()

    @property
    def report(self):
        return self.context.report


def load_codemod(name: str) -> ModuleType:
    try:
        module = importlib.import_module(f"codemods.apply.commands.{name}")
    except ModuleNotFoundError as error:
        if error.name != f"codemods.apply.commands.{name}":
            raise
        raise Refusal("recipe", f"the recipe names codemod {name!r}, which does not exist") from None
    if not hasattr(module, "run") or not hasattr(module, "DESCRIPTION"):
        raise Refusal("recipe", f"codemods.apply.commands.{name} has no run() or DESCRIPTION")
    return module


def select_tasks(recipe: Recipe, only: list[str] | None) -> list[Task]:
    if not only:
        return list(recipe.tasks)
    try:
        wanted = {recipe.task(task_id).id for task_id in only}
    except RecipeError as error:
        raise Refusal("--only", str(error)) from None
    return [task for task in recipe.tasks if task.id in wanted]


def plan_migration(
    root: Path, recipe: Recipe, only: list[str] | None = None, options: dict[str, object] | None = None
) -> Migration:
    """Compute every change in memory; nothing is written."""
    context = Context(Workspace(root), recipe, options=dict(options or {}))
    tasks = select_tasks(recipe, only)
    for task in tasks:
        load_codemod(task.codemod).run(context, task)
    notebooks = load_codemod("sync_paired_notebook")
    notebooks.run(context, Task("notebook", "sync_paired_notebook", "Keep the paired notebook in sync"))
    _ensure_python_still_parses(context)
    return Migration(context, tasks)


def _ensure_python_still_parses(context: Context) -> None:
    """A guard against codemod bugs: no Python file may be written that the interpreter rejects."""
    for change in context.workspace.changes():
        if change.after is None or not change.path.endswith(".py"):
            continue
        try:
            compile(change.after, change.path, "exec", dont_inherit=True)
        except SyntaxError as error:
            raise Refusal(
                "verify", f"the migrated file would not parse ({error.msg})", change.path, error.lineno
            ) from None


def task_states(root: Path, recipe: Recipe) -> list[tuple[Task, TaskState, str]]:
    """Each task's state, detected from the code: would running it alone change anything?"""
    states = []
    for task in recipe.tasks:
        context = Context(Workspace(root), recipe)
        try:
            load_codemod(task.codemod).run(context, task)
        except Refusal as refusal:
            states.append((task, TaskState.PENDING, f"blocked: {refusal.message}"))
            continue
        changes = context.workspace.changes()
        if changes:
            detail = ", ".join(sorted({c.path for c in changes}))
            states.append((task, TaskState.PENDING, detail))
        elif task.id in context.report.not_applicable:
            reasons = [n.message for n in context.report.notes if n.task == task.id]
            states.append((task, TaskState.NOT_APPLICABLE, "; ".join(reasons)))
        else:
            states.append((task, TaskState.DONE, ""))
    return states
