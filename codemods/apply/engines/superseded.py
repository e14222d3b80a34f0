"""Deleting the script the recipe names as superseded, once that is safe.

The main file's ``analyze_token_distribution()`` does the same job. The script is
deleted only after checking that the main file really defines that function and
that no Python file imports the script; otherwise the task refuses with the
reason. In a git repository the deletion is staged, like ``git rm``. The script
was an untracked local file in the user's checkout, so an already-missing script
is a no-op with a message when an earlier apply deleted it or git's history has it,
and the task is not applicable when the repository never had it.
"""

from __future__ import annotations

from codemods.apply.engines.definitions import module_function, top_level_definitions
from codemods.apply.engines.imports import imported_modules
from codemods.apply.session import Context, Refusal
from codemods.core.history import ever_present
from codemods.core.recipe import Task


def importers(context: Context, module_name: str, script: str) -> list[str]:
    """The Python files with an import of ``module_name`` (or of something inside it), in any scope."""
    found = []
    for path in context.workspace.files():
        if path == script or module_name not in context.workspace.read_text(path):
            continue
        if any(name.split(".")[0] == module_name for name in imported_modules(context.parse(path))):
            found.append(path)
    return found


def delete_superseded_script(context: Context, task: Task) -> None:
    spec = context.recipe.superseded_script
    if spec is None:
        context.not_applicable(task.id, "the recipe names no script to delete")
        return
    if context.workspace.single_file is not None:
        context.not_applicable(task.id, f"ROOT is the single file {context.workspace.single_file}")
        return
    if not context.workspace.exists(spec.path):
        if ever_present(context.workspace, spec.path):
            context.report.info(task.id, f"{spec.path} is already gone; nothing to delete")
        else:
            context.not_applicable(task.id, f"{spec.path} is not in ROOT, and no commit or earlier apply had it")
        return
    if not context.workspace.exists(context.main_file):
        raise Refusal(task.id, f"cannot confirm {spec.superseded_by}() replaces it: {context.main_file} is missing", spec.path)
    if module_function(context.parse(context.main_file), spec.superseded_by) is None:
        raise Refusal(
            task.id,
            f"{context.main_file} does not define {spec.superseded_by}() at module level, "
            f"so deleting {spec.path} would lose its functionality",
            spec.path,
        )
    users = importers(context, spec.module, spec.path)
    if users:
        raise Refusal(task.id, f"still imported by {', '.join(users)}; remove those imports first", spec.path)
    defined = sorted(top_level_definitions(context.parse(spec.path)))
    context.workspace.delete(spec.path)
    tracked = context.workspace.tracked(spec.path)
    if context.options.get("dry_run"):  # the note says what would happen, not what did
        staged = " (the deletion would be staged in git)" if tracked else ""
        done = f"would delete {spec.path}: it is superseded by"
    else:
        staged = " (the deletion is staged in git)" if tracked else ""
        done = f"deleted {spec.path}: superseded by"
    # What goes with it, named: code the user added there is not superseded by anything.
    lost = f"; it defined {', '.join(f'{name}()' for name in defined)}" if defined else ""
    backup = "" if tracked else "; git has no copy of it (untracked): `refactor undo` brings it back"
    context.report.notice(task.id, f"{done} {spec.superseded_by}() in {context.main_file}{staged}{lost}{backup}")
