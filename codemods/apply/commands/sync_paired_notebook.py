"""Keeps paired notebooks in step with their scripts."""

from __future__ import annotations

from codemods.apply.engines.notebooks import sync_paired_notebooks
from codemods.apply.session import Context
from codemods.core.recipe import Task

DESCRIPTION = "Re-sync each paired jupytext notebook from its migrated script, keeping outputs."


def run(context: Context, task: Task) -> None:
    sync_paired_notebooks(context, task)
