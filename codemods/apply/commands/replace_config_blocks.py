"""Replaces the recipe's inline config blocks with calls to its config function."""

from __future__ import annotations

from codemods.apply.engines.config_blocks import replace_config_blocks
from codemods.apply.engines.paths_follow import follow_paths
from codemods.apply.session import Context
from codemods.core.recipe import Task

DESCRIPTION = (
    "Replace each inline config block the recipe names with a call to the config function, reporting behaviour "
    "changes; literal copies of the directories the blocks now write elsewhere follow them."
)


def run(context: Context, task: Task) -> None:
    replace_config_blocks(context, task)
    follow_paths(context, task)
