"""Consolidates the recipe's config module around the config function."""

from __future__ import annotations

from codemods.apply.engines.config_module import consolidate_config_module
from codemods.apply.session import Context
from codemods.core.recipe import Task

DESCRIPTION = "Replace the config module's old factories with the config function plus deprecated aliases, and migrate callers."


def run(context: Context, task: Task) -> None:
    consolidate_config_module(context, task)
