"""Deletes the script the recipe names as superseded."""

from __future__ import annotations

from codemods.apply.engines.superseded import delete_superseded_script
from codemods.apply.session import Context
from codemods.core.recipe import Task

DESCRIPTION = "Delete the recipe's superseded script once the function that replaces it is confirmed and nothing imports it."


def run(context: Context, task: Task) -> None:
    delete_superseded_script(context, task)
