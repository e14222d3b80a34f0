"""Golden-test support in the spirit of LibCST's CodemodTest: files in, files out."""

from __future__ import annotations

import textwrap
from pathlib import Path

from codemods.apply.migration import load_codemod
from codemods.apply.session import Context, Report
from codemods.core.recipe import Recipe, load_recipe
from codemods.core.workspace import Workspace


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def write_tree(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def run_codemod(
    tmp_path: Path,
    codemod: str,
    files: dict[str, str],
    recipe: Recipe | None = None,
    root: str | None = None,
) -> tuple[dict[str, str | None], Report]:
    """Run one codemod on a small tree; return {path: new text or None if deleted} for changed files."""
    write_tree(tmp_path, files)
    recipe = recipe or load_recipe()
    target = tmp_path / root if root else tmp_path
    context = Context(Workspace(target), recipe)
    task = next(t for t in recipe.tasks if t.codemod == codemod) if any(
        t.codemod == codemod for t in recipe.tasks
    ) else None
    module = load_codemod(codemod)
    from codemods.core.recipe import Task

    module.run(context, task or Task(codemod, codemod, codemod))
    changed = {c.path: (c.after.decode("utf-8") if c.after is not None else None) for c in context.workspace.changes()}
    return changed, context.report


def assert_codemod(tmp_path: Path, codemod: str, before: dict[str, str], after: dict[str, str | None], **kwargs) -> Report:
    """Exactly the files in ``after`` change, to exactly that text (None: deleted)."""
    changed, report = run_codemod(tmp_path, codemod, before, **kwargs)
    assert changed == after
    return report
