"""Consolidates the recipe's config module around the config function, then migrates its callers."""

from __future__ import annotations

from codemods.apply.engines.clashes import recipe_function_defined
from codemods.apply.engines.config_callers import migrate_callers, migrate_package_init
from codemods.apply.engines.config_discovery import find_output_root
from codemods.apply.engines.config_module import (
    collect_old_factories,
    migrate_config_module,
    refuse_defined_twice,
)
from codemods.apply.engines.notebook_config_calls import migrate_notebook_callers
from codemods.apply.session import Context
from codemods.core.recipe import Task

DESCRIPTION = (
    "Replace the config module's old factories with the config function plus deprecated aliases, and migrate callers."
)


def run(context: Context, task: Task) -> None:
    recipe = context.recipe
    spec, function = recipe.config_module, recipe.config_function
    if spec is None or function is None:
        context.not_applicable(task.id, "the recipe names no config module")
        return
    if not context.workspace.exists(spec.path):
        context.not_applicable(task.id, f"{spec.path} does not exist")
        return
    module = context.parse(spec.path)
    # Refuses when the module binds the function's name to something else: it would be defined twice.
    recipe_function_defined(task.id, spec.path, module, function.name, function.parameters[0].name)
    root = find_output_root(context, task.id)
    refuse_defined_twice(task.id, spec.path, module, spec)
    # Read what the old factories build before their definitions are replaced.
    old = collect_old_factories(module, recipe, root)
    context.write_module(spec.path, migrate_config_module(context, task, spec.path, module, root, old))
    if spec.package_init and context.workspace.exists(spec.package_init):
        migrate_package_init(context, task, spec.package_init, old, root)
    migrate_callers(context, task, old, root, skip={spec.path, spec.package_init})
    migrate_notebook_callers(context, task, old, root)

