"""One planning pass over a recipe's tasks: the change set for `apply`, each task's share of it for `status`."""

from __future__ import annotations

import gc
import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from types import ModuleType

from codemods.apply.engines.notebooks import sync_paired_notebooks
from codemods.apply.engines.stack_fit import OPTION as FIT_STACK_OPTION
from codemods.apply.engines.stack_fit import StackProbeError, fit_recipe, fitted_changes, stack_fit
from codemods.apply.locations import in_user_lines
from codemods.apply.session import Context, Refusal
from codemods.apply.tense import as_planned
from codemods.core.links import LINK_OUT, links_out_holding
from codemods.core.recipe import Recipe, RecipeError, Task
from codemods.core.relabel import with_relabelled
from codemods.core.workspace import FileChange, Workspace

COMMANDS_PACKAGE = "codemods.apply.commands"
# Not a recipe task: after the tasks, every paired notebook is rebuilt from its migrated script.
NOTEBOOK_STEP = Task("notebooks", "sync_paired_notebook", "Keep paired notebooks in sync with their scripts")


# Told before each step: the task, how many steps are done, how many there are, how many files changed so far.
PlanningProgress = Callable[[Task, int, int, int], None]


class TaskState(str, Enum):
    PENDING = "pending"
    DONE = "done"
    NOT_APPLICABLE = "not applicable"


@dataclass(frozen=True)
class TaskOutcome:
    """What one task contributed to the planning pass."""

    task: Task
    state: TaskState
    paths: tuple[str, ...] = ()
    detail: str = ""
    # The command's DESCRIPTION: what the task does, in general terms (`status -v`).
    description: str = ""


@dataclass
class Migration:
    context: Context
    tasks: list[Task]
    outcomes: list[TaskOutcome] = field(default_factory=list)

    @property
    def changes(self) -> list[FileChange]:
        return self.context.workspace.changes()

    @property
    def report(self):
        return self.context.report


def load_codemod(name: str) -> ModuleType:
    try:
        module = importlib.import_module(f"{COMMANDS_PACKAGE}.{name}")
    except ModuleNotFoundError as error:
        if error.name != f"{COMMANDS_PACKAGE}.{name}":
            raise
        raise Refusal("recipe", f"the recipe names codemod {name!r}, which does not exist") from None
    if not hasattr(module, "run") or not hasattr(module, "DESCRIPTION"):
        raise Refusal("recipe", f"{COMMANDS_PACKAGE}.{name} has no run() or DESCRIPTION")
    return module


def select_tasks(recipe: Recipe, only: list[str] | None) -> list[Task]:
    if not only:
        return list(recipe.tasks)
    try:
        wanted = {recipe.task(task_id).id for task_id in only}
    except RecipeError as error:
        raise Refusal("--only", str(error)) from None
    return [task for task in recipe.tasks if task.id in wanted]


def uncommitted_changes(root: Path) -> str | None:
    """Why `apply` will not write into ROOT: files git knows with changes not committed (None: go ahead).

    A migration is reviewed and undone through git; mixed with edits of the user's own it could be neither.
    """
    dirty = Workspace(root).is_dirty()
    if not dirty:
        return None
    listed = ", ".join(dirty[:5]) + ("…" if len(dirty) > 5 else "")
    return f"ROOT has uncommitted changes ({listed}); commit or stash them first, or pass --allow-dirty"


def plan_migration(
    root: Path,
    recipe: Recipe,
    only: list[str] | None = None,
    options: dict[str, object] | None = None,
    *,
    keep_going: bool = False,
    progress: PlanningProgress | None = None,
) -> Migration:
    """Compute every change in memory; nothing is written.

    With ``keep_going`` (what `status` uses) a task that refuses is recorded as blocked and its
    edits are dropped, and the pass goes on; otherwise the refusal propagates and nothing is planned.
    """
    with _no_cyclic_collection():
        return _plan(root, recipe, only, dict(options or {}), keep_going, progress)


@contextmanager
def _no_cyclic_collection() -> Iterator[None]:
    """Planning allocates millions of short-lived, acyclic tree nodes, which reference counting frees.

    Left on, the cyclic collector scans every live node again and again while the trees grow
    (measured: a third of a plan of target_repo). It runs again once the plan is made.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _plan(
    root: Path,
    recipe: Recipe,
    only: list[str] | None,
    run_options: dict[str, object],
    keep_going: bool,
    progress: PlanningProgress | None,
) -> Migration:
    recipe = with_relabelled(recipe, root)  # a recipe loaded without ROOT: its relabels are found here
    try:
        recipe = fit_recipe(recipe, run_options)
    except StackProbeError as error:
        raise Refusal(FIT_STACK_OPTION, str(error)) from None
    context = Context(Workspace(root), recipe, options=run_options)
    migration = Migration(context, select_tasks(recipe, only))
    for done, task in enumerate(migration.tasks):
        if progress is not None:
            progress(task, done, len(migration.tasks) + 1, len(context.workspace.touched_since({})))
        command = load_codemod(task.codemod)
        savepoint, first_note = context.workspace.savepoint(), len(context.report.notes)
        try:
            command.run(context, task)
        except Refusal as failed:
            # Lines the task computed in the text earlier tasks left, told as lines of the user's file.
            refusal = in_user_lines(context, savepoint, first_note, failed)
            if not keep_going:
                raise refusal from None
            context.workspace.rollback_to(savepoint)
            blocked = TaskOutcome(task, TaskState.PENDING, detail=f"blocked: {refusal.location}{refusal.message}")
            migration.outcomes.append(replace(blocked, description=command.DESCRIPTION))
            continue
        in_user_lines(context, savepoint, first_note)
        outcome = _outcome(context, task, context.workspace.touched_since(savepoint))
        migration.outcomes.append(replace(outcome, description=command.DESCRIPTION))
    context.report.behaviour_changes[:] = fitted_changes(context.report.behaviour_changes, stack_fit(run_options))
    savepoint = context.workspace.savepoint()
    if progress is not None:
        progress(NOTEBOOK_STEP, len(migration.tasks), len(migration.tasks) + 1, len(context.workspace.touched_since({})))
    sync_paired_notebooks(context, NOTEBOOK_STEP)
    synced = context.workspace.touched_since(savepoint)
    if synced:
        # A row of its own: `status` lists every file apply would change, and a notebook that lags behind
        # its script alone must not make a pending apply read as done.
        migration.outcomes.append(TaskOutcome(NOTEBOOK_STEP, TaskState.PENDING, tuple(synced), ", ".join(synced)))
    _warn_of_links_out(context)
    _ensure_python_still_parses(context)
    if run_options.get("dry_run"):
        as_planned(context.report)  # nothing is written: the notes say what would happen
    return migration


def _warn_of_links_out(context: Context) -> None:
    """A link out of ROOT to code holding old names is left as it is: say so, or that code breaks unseen."""
    needles = tuple(name.encode() for name in context.recipe.old_names)
    for relative, target in sorted(links_out_holding(context.workspace, needles).items()):
        context.report.warn(
            "links",
            f"{LINK_OUT.format(target=target)}: it is not migrated, and check fails until it is. Replace the link "
            "with the file, or migrate that file where it lies",
            relative,
        )


def _outcome(context: Context, task: Task, paths: list[str]) -> TaskOutcome:
    if paths:
        return TaskOutcome(task, TaskState.PENDING, tuple(paths), ", ".join(paths))
    if task.id in context.report.not_applicable:
        reasons = [note.message for note in context.report.notes if note.task == task.id]
        return TaskOutcome(task, TaskState.NOT_APPLICABLE, detail="; ".join(reasons))
    return TaskOutcome(task, TaskState.DONE)


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


def task_states(
    root: Path, recipe: Recipe, options: dict[str, object] | None = None, progress: PlanningProgress | None = None
) -> list[TaskOutcome]:
    """Each task's state from the same single planning pass `apply` makes: its own share of the change set."""
    return plan_migration(root, recipe, keep_going=True, options=options, progress=progress).outcomes
