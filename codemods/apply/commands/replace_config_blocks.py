"""Replaces the recipe's inline config blocks with calls to its config function."""

from __future__ import annotations

from codemods.apply.engines.config_blocks import replace_config_blocks
from codemods.apply.session import Context
from codemods.core.recipe import Task

DESCRIPTION = "Replace each inline config block the recipe names with a call to the config function, reporting behaviour changes."


def run(context: Context, task: Task) -> None:
    replace_config_blocks(context, task)
