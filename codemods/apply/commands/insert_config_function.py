"""Inserts the recipe's config function into the main file."""

from __future__ import annotations

from codemods.apply.engines.config_insertion import insert_config_function
from codemods.apply.session import Context
from codemods.core.recipe import Task

DESCRIPTION = "Insert the recipe's config function before the first inline config block it replaces."


def run(context: Context, task: Task) -> None:
    insert_config_function(context, task)
