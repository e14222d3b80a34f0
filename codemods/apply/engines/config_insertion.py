"""Inserting the recipe's config function into the main file, before the first block it replaces.

The function is rendered from the recipe byte for byte as the plan shows it and
inserted at module level before the first inline ``SFTConfig(...)`` block the
recipe names. In a jupytext percent script it gets a code cell of its own,
placed before the cell holding that block, so every cell stays valid; the cell
imports ``SFTConfig`` unless the module already binds that name to TRL's class
before that point. A module-level ``def`` of the same name taking the recipe's
variant parameter means the task is done; any other binding of the name is refused.
"""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from codemods.apply.engines.clashes import recipe_function_defined
from codemods.apply.engines.config_discovery import (
    find_config_blocks,
    find_output_root,
    is_config_class,
)
from codemods.apply.engines.config_function import config_function_statement, report_stack_notes
from codemods.apply.engines.stack_fit import stack_fit
from codemods.apply.session import Context
from codemods.core import cells
from codemods.core.recipe import ConfigFunction, Task

CODE_CELL_MARKER = "# %%"


def binds_config_class(stmt: cst.BaseStatement, function: ConfigFunction, name: str) -> bool:
    """Whether a top-level statement is ``from trl import SFTConfig`` (binding ``name``)."""
    if not isinstance(stmt, cst.SimpleStatementLine):
        return False
    for small in stmt.body:
        if not isinstance(small, cst.ImportFrom) or small.relative or small.module is None:
            continue
        if isinstance(small.names, cst.ImportStar):
            continue
        source = cst.helpers.get_full_name_for_node(small.module) or ""
        for alias in small.names:
            imported = cst.helpers.get_full_name_for_node(alias.name) or ""
            bound = alias.evaluated_alias or imported
            if bound == name and is_config_class(f"{source}.{imported}", function):
                return True
    return False


def config_import(function: ConfigFunction) -> cst.SimpleStatementLine:
    statement = cst.parse_statement(
        f"from {function.config_class_module} import {function.config_class_name}\n"
    )
    assert isinstance(statement, cst.SimpleStatementLine)
    return statement


def _chain(statements: Sequence[cst.BaseStatement]) -> list[cst.BaseStatement]:
    """Lay out the new statements: two blank lines before the ``def`` after an import."""
    laid_out = [statements[0]]
    laid_out.extend(cells.with_leading_lines(stmt, cells.blank_lines(2)) for stmt in statements[1:])
    return laid_out


def cell_start_with_marker(module: cst.Module, index: int) -> int | None:
    """Index of the first statement of the cell holding ``body[index]``, if that cell has its own marker."""
    start, _ = cells.cell_bounds(module.body, index)
    return start if cells.last_marker_index(module.body[start].leading_lines) is not None else None


def insert_as_cell(module: cst.Module, start: int, statements: Sequence[cst.BaseStatement]) -> cst.Module:
    """A new ``# %%`` code cell before the cell whose first statement is ``module.body[start]``."""
    body = list(module.body)
    first = body[start]
    earlier, own = cells.split_before_marker(first.leading_lines)
    if (start > 0 or earlier) and (not earlier or earlier[-1].comment is not None):
        earlier = [*earlier, cst.EmptyLine()]  # jupytext separates cells by a blank line
    marker = cst.EmptyLine(comment=cst.Comment(CODE_CELL_MARKER))
    new_cell = _chain(statements)
    new_cell[0] = cells.with_leading_lines(new_cell[0], [*earlier, marker])
    # Two blank lines after a def before the next marker, as jupytext writes them.
    body[start] = cells.with_leading_lines(first, [*cells.blank_lines(2), *own])
    return module.with_changes(body=[*body[:start], *new_cell, *body[start:]])


def insert_before(module: cst.Module, index: int, statements: Sequence[cst.BaseStatement]) -> cst.Module:
    """Insert before a statement, leaving the statement's own comments attached to it."""
    body = list(module.body)
    target = body[index]
    lines = list(target.leading_lines)
    blanks = 0
    while blanks < len(lines) and lines[blanks].comment is None:
        blanks += 1
    new_statements = _chain(statements)
    # Keep the blank lines that separated the statement from the previous one (a def wants two).
    wanted = 2 if isinstance(new_statements[0], cst.FunctionDef) else 1
    new_statements[0] = cells.with_leading_lines(new_statements[0], cells.blank_lines(max(blanks, wanted)) if index else [])
    body[index] = cells.with_leading_lines(target, [*cells.blank_lines(2), *lines[blanks:]])
    return module.with_changes(body=[*body[:index], *new_statements, *body[index:]])


def with_config_function(context: Context, task: Task, path: str) -> cst.Module | None:
    """The main file with the function inserted, or None when it is defined already or nothing calls for it."""
    function = context.recipe.config_function
    assert function is not None
    module = context.parse(path)
    blocks = find_config_blocks(module, context.recipe)
    line = blocks.matched[0].line if blocks.matched else None
    if recipe_function_defined(task.id, path, module, function.name, function.parameters[0].name, line):
        return None
    if not blocks.matched:
        return None
    block = blocks.matched[0]
    # In a jupytext script the function gets its own cell before the block's cell; a cell
    # without a marker of its own (the first one) gets it at its top instead.
    cell_start = cell_start_with_marker(module, block.index) if cells.is_jupytext(module) else None
    position = block.index if cell_start is None else cell_start
    statements: list[cst.BaseStatement] = []
    name = function.config_class_name
    if not any(binds_config_class(stmt, function, name) for stmt in module.body[:position]):
        statements.append(config_import(function))
    root = find_output_root(context, task.id)
    statements.append(config_function_statement(function, root, module, stack_fit(context.options)))
    if cell_start is None:
        new_module = insert_before(module, position, statements)
    else:
        new_module = insert_as_cell(module, position, statements)
    context.report.info(
        task.id, f"inserted {function.name}() before the {block.target} block (line {block.line})", path, block.line
    )
    report_stack_notes(context, task.id, path)
    return new_module


def ensure_config_function(context: Context, task: Task) -> bool:
    """Insert the function into the main file if it is missing; True when the file changed."""
    path = context.main_file
    new_module = with_config_function(context, task, path)
    return new_module is not None and context.write_module(path, new_module)


def insert_config_function(context: Context, task: Task) -> None:
    function = context.recipe.config_function
    path = context.main_file
    if function is None:
        context.not_applicable(task.id, "the recipe defines no config function")
        return
    module = context.parse_present(path, task.id)
    if module is None:
        return
    blocks = find_config_blocks(module, context.recipe).matched
    line = blocks[0].line if blocks else None
    if recipe_function_defined(task.id, path, module, function.name, function.parameters[0].name, line):
        return
    if not blocks:
        targets = ", ".join(b.target for b in context.recipe.config_blocks)
        context.not_applicable(task.id, f"{path} has no {function.config_class_name}(...) block assigned to {targets}")
        return
    ensure_config_function(context, task)
