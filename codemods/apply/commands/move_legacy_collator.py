"""Moves the recipe's legacy class to the legacy tail of the main file."""

from __future__ import annotations

from codemods.apply.engines.legacy import move_legacy
from codemods.apply.session import Context
from codemods.core.recipe import Task

DESCRIPTION = "Move the recipe's legacy class to a documented legacy section at the end of the main file, renamed."


def run(context: Context, task: Task) -> None:
    move_legacy(context, task)
