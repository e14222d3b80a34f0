"""Replacing the recipe's inline config blocks with calls to its config function.

Each module-level ``TARGET = SFTConfig(...)`` the recipe names (by its target or
new target) becomes ``TARGET = create_training_config(variant=..., ...)``. The
call passes the recipe's overrides and every original keyword the function
takes whose value differs from its default, so nothing representable is lost;
every field whose value still changes goes to the behaviour-change table (see
:mod:`codemods.apply.engines.config_mapping`). With ``--keep-behaviour`` every change the
plan does not intend is pinned back instead (:mod:`codemods.apply.engines.config_pins`), and
the block's cell imports ``dataclasses`` when a ``dataclasses.replace(...)`` needs it. The
target is not renamed here: task 4 does that, and ``--only 3`` must leave a consistent file.

Alongside: a ``wandb.init(name="<old run name>")`` in the same file follows the
new run name, and ``from trl import SFTConfig`` imports that no longer have a
use before the name is bound again are removed (cell markers and comments
above them move to the next statement).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import libcst as cst

from codemods.apply.engines.clashes import recipe_function_defined
from codemods.apply.engines.config_discovery import (
    BlockMatch,
    find_config_blocks,
    find_output_root,
    module_function,
)
from codemods.apply.engines.config_function import Unknown, module_constants, string_literal
from codemods.apply.engines.config_imports import remove_unused_config_imports
from codemods.apply.engines.config_insertion import ensure_config_function
from codemods.apply.engines.config_mapping import (
    UnmappableCall,
    argument_indent,
    call_keywords,
    dropped_comments,
    map_call,
)
from codemods.apply.engines.config_pins import (
    Pinned,
    keeps_behaviour,
    pin_changes,
    pinned_call,
    report_pins,
    with_dataclasses_import,
)
from codemods.apply.engines.imports import imported_names
from codemods.apply.engines.lines import first_lines, visit_mentioning
from codemods.apply.session import Context, Refusal
from codemods.core.recipe import Task

WANDB_INIT = "wandb.init"
# The command whose task title names the insertion, for messages in the recipe's own words.
INSERTING_COMMAND = "insert_config_function"


@dataclass(frozen=True)
class PlannedBlock:
    call: cst.Call  # the new call, or dataclasses.replace() around it (--keep-behaviour)
    old_run_name: str | None
    new_run_name: str | None
    needs_dataclasses: bool = False


# ---------------------------------------------------------------------- blocks
def with_new_values(module: cst.Module, calls: Mapping[int, cst.Call]) -> cst.Module:
    """Give the assignment at each top-level index its new call; the target stays as it is."""
    body = list(module.body)
    for index, call in calls.items():
        stmt = body[index]
        assert isinstance(stmt, cst.SimpleStatementLine)
        body[index] = stmt.with_changes(body=[stmt.body[0].with_changes(value=call), *stmt.body[1:]])
    return module.with_changes(body=body)


def plan_block(context: Context, task: Task, path: str, module: cst.Module, block: BlockMatch, root: str) -> PlannedBlock:
    """The new call for one block; its behaviour changes and dropped comments go to the report."""
    function = context.recipe.config_function
    assert function is not None and block.spec is not None
    try:
        keywords = call_keywords(block.call, module, module_constants(module))
    except UnmappableCall as error:
        raise Refusal(task.id, f"the {block.target} block cannot be replaced: {error}", path, block.line) from None
    before = {kw.name: kw.value for kw in keywords}
    mapped = map_call(
        function,
        root,
        block.spec.variant,
        keywords,
        before,
        path=path,
        block=block.target,
        overrides=block.spec.overrides,
    )
    if keeps_behaviour(context):
        pinned = pin_changes(function, root, mapped, keywords, before, block.spec.overrides)
    else:
        pinned = Pinned(mapped.arguments, (), mapped.changes, ())
    report = context.report
    report.behaviour_changes.extend(pinned.changes)
    report.blocks_replaced += 1
    report.info(task.id, f"{block.target}: {function.config_class_name}(...) -> {function.name}(variant="
                f"{block.spec.variant!r})", path, block.line)
    report_pins(context, task.id, path, block.line, block.target, pinned)
    for kw in (*pinned.arguments, *pinned.replaced):
        if isinstance(kw.value, Unknown):
            report.info(task.id, f"{block.target}: kept {kw.name}={kw.source} as written (not a literal, "
                        "so its value is not checked)", path, block.line)
    for kw in mapped.dropped_as_default:
        report.info(task.id, f"{block.target}: dropped {kw.name}={kw.source}; {function.name}() cannot set "
                    "it and SFTConfig's default is the same", path, block.line)
    comments = dropped_comments(block.call, pinned.call_names)
    if comments:
        report.info(task.id, f"{block.target}: comments not carried into the new call: {comments.describe()}",
                    path, block.line)
    old_run_name = before.get("run_name")
    new_run_name = mapped.after.get("run_name")
    return PlannedBlock(
        pinned_call(function.name, pinned, argument_indent(block.call)),
        old_run_name if isinstance(old_run_name, str) else None,
        new_run_name if isinstance(new_run_name, str) else None,
        bool(pinned.replaced),
    )


# ---------------------------------------------------------------------- W&B run names
class UpdateRunNames(cst.CSTTransformer):
    """``wandb.init(name="<old run name>")`` -> the run name the new call produces."""

    def __init__(self, module: cst.Module, run_names: Mapping[str, str]):
        super().__init__()
        self.module = module
        self.run_names = run_names
        # (the call as it was, old run name, new run name)
        self.updated: list[tuple[cst.Call, str, str]] = []

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.Call:
        names = imported_names(self.module, original_node.func)
        # A notebook may rely on ``wandb`` imported elsewhere: fall back to the name as written.
        names = names or {cst.helpers.get_full_name_for_node(original_node.func)}
        if WANDB_INIT not in names:
            return updated_node
        args = []
        for arg in updated_node.args:
            old = arg.value.evaluated_value if isinstance(arg.value, cst.SimpleString) else None
            if arg.keyword is not None and arg.keyword.value == "name" and old in self.run_names:
                new = self.run_names[old]
                arg = arg.with_changes(value=cst.SimpleString(_same_quotes(arg.value, new)))
                self.updated.append((original_node, old, new))
            args.append(arg)
        return updated_node.with_changes(args=args)


def _same_quotes(literal: cst.SimpleString, value: str) -> str:
    return repr(value) if literal.quote == "'" else string_literal(value)


# ---------------------------------------------------------------------- task
def _warn_about_others(context: Context, task: Task, path: str, blocks) -> None:
    function = context.recipe.config_function
    assert function is not None
    targets = ", ".join(sorted({t for b in context.recipe.config_blocks for t in (b.target, b.new_target) if t}))
    for block in blocks.unmatched:
        context.report.warn(
            task.id,
            f"line {block.line}: {block.target} = {function.config_class_name}(...) is not a block the recipe "
            f"names ({targets}); left as it is",
            path,
            block.line,
        )
    for line in blocks.stray_lines:
        context.report.warn(
            task.id,
            f"line {line}: a {function.config_class_name}(...) call that is not a module-level assignment; "
            "left as it is",
            path,
            line,
        )


def replace_config_blocks(context: Context, task: Task) -> None:
    function = context.recipe.config_function
    path = context.main_file
    if function is None or not context.recipe.config_blocks:
        context.not_applicable(task.id, "the recipe names no config blocks")
        return
    module = context.parse_present(path, task.id)
    if module is None:
        return
    blocks = find_config_blocks(module, context.recipe)
    if blocks.matched:
        # The calls would reach whatever the module binds to the name: it must be the recipe's function.
        recipe_function_defined(task.id, path, module, function.name, function.parameters[0].name, blocks.matched[0].line)
    if blocks.matched and module_function(module, function.name) is None:
        # The calls need the function; inserting it here keeps `--only 3` from leaving a NameError.
        if ensure_config_function(context, task):
            # Shown by default: with --only this task, the summary names it alone, yet it did the other's work too.
            inserting = next((t for t in context.recipe.tasks if t.codemod == INSERTING_COMMAND), None)
            what = f"task {inserting.id} ({inserting.title})" if inserting else "as the recipe defines it"
            context.report.notice(task.id, f"{function.name}() was missing, so it was inserted first: {what}", path)
        module = context.parse(path)
        blocks = find_config_blocks(module, context.recipe)
    _warn_about_others(context, task, path, blocks)
    if not blocks.matched and module_function(module, function.name) is None:
        context.not_applicable(task.id, f"{path} has no {function.config_class_name}(...) block the recipe names")
        return

    root = find_output_root(context, task.id)
    planned = {block.index: plan_block(context, task, path, module, block, root) for block in blocks.matched}

    new_module = module
    run_names = {p.old_run_name: p.new_run_name for p in planned.values() if p.old_run_name and p.new_run_name}
    run_names = {old: new for old, new in run_names.items() if old != new}
    if run_names:
        # Before the blocks change, so that the reported lines are the file's own.
        updater = UpdateRunNames(module, run_names)
        new_module = visit_mentioning(module, updater, list(run_names))
        lines = first_lines(module, [call for call, _, _ in updater.updated])
        for call, old, new in updater.updated:
            context.report.info(task.id, f"W&B run name {old!r} -> {new!r} in wandb.init(...)", path, lines[call])
    new_module = with_new_values(new_module, {index: p.call for index, p in planned.items()})

    new_module, removed = remove_unused_config_imports(new_module, function)
    if removed:
        context.report.info(task.id, f"removed {removed} {function.config_class_name} import(s) left unused", path)
    replaced = [p.call for p in planned.values() if p.needs_dataclasses]
    if replaced:
        new_module = with_dataclasses_import(new_module, replaced[0])
    context.write_module(path, new_module)
