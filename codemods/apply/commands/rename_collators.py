"""Applies the recipe's renames to every Python file, every unpaired notebook and, by policy, prose documents."""

from __future__ import annotations

from codemods.apply.engines.documents import note_relabels, rename_in_documents
from codemods.apply.engines.notebook_renames import rename_in_notebooks
from codemods.apply.engines.rename import rename_in_file
from codemods.apply.session import Context
from codemods.core.recipe import Task

DESCRIPTION = "Rename the recipe's old names wherever they are bound, imported or (by policy) mentioned."


def run(context: Context, task: Task) -> None:
    for path in context.workspace.files():
        rename_in_file(context, path, task.id)
    note_relabels(context, task)
    rename_in_documents(context, task)
    # Paired notebooks follow their scripts after the tasks; the others are renamed cell by cell here.
    rename_in_notebooks(context, task)
