"""Where the config code lives: the inline config blocks the recipe names, and the output root.

``find_config_blocks`` locates the module-level ``TARGET = SFTConfig(...)``
assignments (the class as the recipe names it, through the module's imports);
``find_output_root`` finds where the user's first literal ``output_dir`` lives,
so that the inserted function's base directories are rooted there.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass

import libcst as cst

from codemods.apply.engines.config_function import (
    OUTPUT_ROOT,
    literal_value,
    module_constants,
    warn_once,
)
from codemods.apply.engines.definitions import module_function
from codemods.apply.engines.imports import import_bindings, imported_names
from codemods.apply.engines.lines import first_lines, statements_mentioning
from codemods.apply.memo import per_tree
from codemods.apply.session import Context
from codemods.core.recipe import ConfigBlock, ConfigFunction, Recipe


# ---------------------------------------------------------------------- finding blocks
def is_config_class(qualified_name: str, function: ConfigFunction) -> bool:
    """``trl.SFTConfig`` and re-export paths such as ``trl.trainer.sft_config.SFTConfig``."""
    if qualified_name == function.config_class:
        return True
    package = function.config_class_module.split(".")[0]
    return qualified_name.startswith(package + ".") and qualified_name.endswith("." + function.config_class_name)


@dataclass(frozen=True)
class BlockMatch:
    """A module-level ``TARGET = SFTConfig(...)`` statement."""

    index: int
    statement: cst.SimpleStatementLine
    target: str
    call: cst.Call
    line: int
    spec: ConfigBlock | None


@dataclass(frozen=True)
class ConfigBlocks:
    matched: tuple[BlockMatch, ...]
    unmatched: tuple[BlockMatch, ...]
    # Lines of other config-class calls (not a module-level assignment, not in the function).
    stray_lines: tuple[int, ...]


class _ConfigCalls(cst.CSTVisitor):
    """Every call that resolves to the config class, with its line and enclosing function."""

    def __init__(self, module: cst.Module, function: ConfigFunction):
        super().__init__()
        self.module = module
        self.function = function
        self.calls: dict[cst.Call, int] = {}
        self.inside_config_function: set[cst.Call] = set()
        self._function_depth = 0

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if node.name.value == self.function.name:
            self._function_depth += 1

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        if original_node.name.value == self.function.name:
            self._function_depth -= 1

    def visit_Call(self, node: cst.Call) -> None:
        if any(is_config_class(name, self.function) for name in imported_names(self.module, node.func)):
            self.calls[node] = 0  # the line is filled in once all calls are known
            if self._function_depth:
                self.inside_config_function.add(node)


def config_class_spellings(module: cst.Module, function: ConfigFunction) -> set[str]:
    """The local names through which this module can reach the config class (``SFTConfig``, an alias, ``trl``)."""
    return {
        local
        for local, sources in import_bindings(module).items()
        if any(is_config_class(source, function) or function.config_class.startswith(source + ".") for source in sources)
    }


def assignment_parts(stmt: cst.BaseStatement) -> tuple[str, cst.BaseExpression] | None:
    """``(target name, value)`` of a one-target module-level assignment statement."""
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
        return None
    small = stmt.body[0]
    if isinstance(small, cst.Assign) and len(small.targets) == 1 and isinstance(small.targets[0].target, cst.Name):
        return small.targets[0].target.value, small.value
    if isinstance(small, cst.AnnAssign) and small.value is not None and isinstance(small.target, cst.Name):
        return small.target.value, small.value
    return None


def block_spec(recipe: Recipe, target: str) -> ConfigBlock | None:
    for spec in recipe.config_blocks:
        if target in {spec.target, spec.new_target}:
            return spec
    return None


@per_tree
def find_config_blocks(module: cst.Module, recipe: Recipe) -> ConfigBlocks:
    """The inline config blocks of a module."""
    function = recipe.config_function
    assert function is not None
    spellings = config_class_spellings(module, function)
    if not spellings:
        return ConfigBlocks((), (), ())
    finder = _ConfigCalls(module, function)
    # Most cells never spell the class: skipping them is most of the speed of this search.
    for _, stmt in statements_mentioning(module, spellings):
        stmt.visit(finder)
    finder.calls = first_lines(module, finder.calls)
    matched, unmatched, at_top = [], [], set()
    for index, stmt in enumerate(module.body):
        parts = assignment_parts(stmt)
        if parts is None or not isinstance(parts[1], cst.Call) or parts[1] not in finder.calls:
            continue
        target, call = parts
        at_top.add(call)
        match = BlockMatch(index, stmt, target, call, finder.calls[call], block_spec(recipe, target))
        (matched if match.spec else unmatched).append(match)
    stray = sorted(
        line
        for call, line in finder.calls.items()
        if call not in at_top and call not in finder.inside_config_function
    )
    return ConfigBlocks(tuple(matched), tuple(unmatched), tuple(stray))




# ---------------------------------------------------------------------- output root
def _keyword_value(call: cst.Call, name: str, module: cst.Module, names: Mapping[str, object]) -> object:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return literal_value(module.code_for_node(arg.value), names)
    return None


def _root_of(path: object) -> str | None:
    if not isinstance(path, str) or not path:
        return None
    root = posixpath.dirname(path.rstrip("/"))
    return root or "."


def _root_from_function(function: ConfigFunction, definition: cst.FunctionDef, module: cst.Module) -> str | None:
    """Read the root back from an already rendered function's locals (``base_output_dir = ".../name"``)."""
    assigned: dict[str, object] = {}
    for stmt in definition.body.body if isinstance(definition.body, cst.IndentedBlock) else ():
        parts = assignment_parts(stmt)
        if parts:
            assigned[parts[0]] = literal_value(module.code_for_node(parts[1]))
    for local in function.locals:
        if not local.value.startswith(OUTPUT_ROOT):
            continue
        suffix = local.value[len(OUTPUT_ROOT):]
        value = assigned.get(local.name)
        if isinstance(value, str) and value.endswith(suffix):
            return value[: len(value) - len(suffix)] or "."
    return None


def _root_from_existing_function(function: ConfigFunction, module: cst.Module) -> str | None:
    """A module already migrated carries the root in its own config function's base directories."""
    existing = module_function(module, function.name)
    return _root_from_function(function, existing, module) if existing is not None else None


def _root_from_main_file(context: Context) -> str | None:
    path, function = context.main_file, context.recipe.config_function
    if function is None or not context.workspace.exists(path):
        return None
    module = context.parse(path)
    root = _root_from_existing_function(function, module)
    if root:
        return root
    constants = module_constants(module)
    for block in find_config_blocks(module, context.recipe).matched:
        root = _root_of(_keyword_value(block.call, "output_dir", module, constants))
        if root:
            return root
    return None


def _root_from_config_module(context: Context) -> str | None:
    spec, function = context.recipe.config_module, context.recipe.config_function
    if spec is None or function is None or not context.workspace.exists(spec.path):
        return None
    module = context.parse(spec.path)
    root = _root_from_existing_function(function, module)
    if root:
        return root
    constants = module_constants(module)
    for deprecated in spec.deprecated:
        definition = module_function(module, deprecated.old)
        if definition is None:
            continue
        for param in definition.params.params:
            if param.name.value == "output_dir" and param.default is not None:
                root = _root_of(literal_value(module.code_for_node(param.default), constants))
                if root:
                    return root
    return None


def find_output_root(context: Context, task_id: str) -> str:
    """Where the plan's base directories go: the user's own output location, never a recipe path."""
    root = _root_from_main_file(context) or _root_from_config_module(context)
    if root:
        return root
    function = context.recipe.config_function
    assert function is not None
    default = function.output_root_default.rstrip("/") or "."
    warn_once(
        context,
        task_id,
        f"no literal output_dir found to place {function.name}()'s output directories; using {default!r}",
    )
    return default


