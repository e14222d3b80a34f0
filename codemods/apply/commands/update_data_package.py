"""Renames, moves the legacy class and updates exports in the recipe's data package."""

from __future__ import annotations

from codemods.apply.engines.data_package import update_data_package
from codemods.apply.session import Context
from codemods.core.recipe import Task

DESCRIPTION = "Apply the renames and the legacy move to the data package and export the new names."


def run(context: Context, task: Task) -> None:
    update_data_package(context, task)
