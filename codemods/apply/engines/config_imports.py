"""``from trl import SFTConfig`` imports a migration leaves without a use, and their removal.

An import is unused when nothing reads the name before the module binds it again; a
function body reads it when it is called, so it keeps the binding in effect there. A
removed import's cell marker and comments move to the next statement.
"""

from __future__ import annotations

import ast

import libcst as cst

from codemods.apply.engines.config_discovery import is_config_class
from codemods.apply.engines.definitions import bound_names
from codemods.apply.memo import module_code
from codemods.core import cells
from codemods.core.recipe import ConfigFunction


def _ast_statement_groups(module: cst.Module, tree: ast.Module) -> list[tuple[int, list[ast.stmt]]]:
    """Each LibCST top-level statement's index with the ``ast`` statements it holds (``a = 1; b = 2`` holds two)."""
    groups, position = [], 0
    for index, stmt in enumerate(module.body):
        count = len(stmt.body) if isinstance(stmt, cst.SimpleStatementLine) else 1
        groups.append((index, tree.body[position : position + count]))
        position += count
    return groups


def _name_positions(module: cst.Module, names: set[str]):
    """Where each watched name is read, and where module-level statements bind it (source positions).

    Python's own ``ast`` gives load/store contexts and positions in one C-speed pass;
    LibCST's position and expression-context providers cost ten times more here.
    """
    try:
        tree = ast.parse(module_code(module))
    except SyntaxError:
        return None
    reads: dict[str, list[tuple[int, int]]] = {name: [] for name in names}
    deferred: dict[str, list[tuple[int, int]]] = {name: [] for name in names}
    in_functions: set[int] = set()
    for function in ast.walk(tree):  # breadth first: an outer function comes before the ones inside it
        if isinstance(function, _FUNCTIONS) and id(function) not in in_functions:
            in_functions.update(id(inner) for inner in ast.walk(function) if inner is not function)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in names and isinstance(node.ctx, ast.Load):
            (deferred if id(node) in in_functions else reads)[node.id].append((node.lineno, node.col_offset))
    # name -> [(position, statement index)]; an assignment binds after its value is read.
    bindings: dict[str, list[tuple[tuple[int, int], int]]] = {name: [] for name in names}
    for index, statements in _ast_statement_groups(module, tree):
        stmt = module.body[index]
        if not statements:
            continue
        assigns = isinstance(stmt, cst.SimpleStatementLine) and not _is_import(stmt)
        first, last = statements[0], statements[-1]
        position = (last.end_lineno, last.end_col_offset) if assigns else (first.lineno, first.col_offset)
        for name in bound_names(stmt) & names:
            bindings[name].append((position, index))
    return reads, deferred, bindings


_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def _binding_in_effect(bindings: list[tuple[tuple[int, int], int]], read: tuple[int, int]) -> int | None:
    """The statement index of the binding a deferred read at ``read`` is taken to use."""
    before = [stmt_index for pos, stmt_index in bindings if pos < read]
    if before:
        return before[-1]
    return next((stmt_index for pos, stmt_index in bindings if pos > read), None)


def _is_import(stmt: cst.SimpleStatementLine) -> bool:
    return any(isinstance(small, (cst.Import, cst.ImportFrom)) for small in stmt.body)


def _config_class_aliases(stmt: cst.BaseStatement, function: ConfigFunction) -> list[cst.ImportAlias]:
    """The ``SFTConfig`` (or ``SFTConfig as X``) aliases of a ``from trl import ...`` statement."""
    found = []
    if isinstance(stmt, cst.SimpleStatementLine):
        for small in stmt.body:
            if isinstance(small, cst.ImportFrom) and not small.relative and small.module is not None:
                if isinstance(small.names, cst.ImportStar):
                    continue
                source = cst.helpers.get_full_name_for_node(small.module) or ""
                for alias in small.names:
                    imported = cst.helpers.get_full_name_for_node(alias.name) or ""
                    if is_config_class(f"{source}.{imported}", function):
                        found.append(alias)
    return found


def unused_config_imports(module: cst.Module, function: ConfigFunction) -> dict[int, set[str]]:
    """Statement index -> bound names of config-class imports nothing reads before the next binding."""
    candidates: dict[int, list[cst.ImportAlias]] = {}
    for index, stmt in enumerate(module.body):
        aliases = _config_class_aliases(stmt, function)
        if aliases:
            candidates[index] = aliases
    if not candidates:
        return {}
    watched = {a.evaluated_alias or a.evaluated_name for aliases in candidates.values() for a in aliases}
    positions = _name_positions(module, watched)
    if positions is None:
        return {}
    reads, deferred, all_bindings = positions
    unused: dict[int, set[str]] = {}
    for index, aliases in candidates.items():
        for alias in aliases:
            name = alias.evaluated_alias or alias.evaluated_name
            bindings = sorted(all_bindings[name])
            start = next(pos for pos, stmt_index in bindings if stmt_index == index)
            end = next((pos for pos, stmt_index in bindings if pos > start and stmt_index != index), None)
            read = any(start < pos and (end is None or pos < end) for pos in reads[name])
            # A function body reads the name when it is called, not where it stands: it keeps the
            # binding before it, or the first one after it when none comes before.
            read = read or any(_binding_in_effect(bindings, pos) == index for pos in deferred[name])
            if not read:
                unused.setdefault(index, set()).add(name)
    return unused


def _without_aliases(stmt: cst.SimpleStatementLine, function: ConfigFunction, names: set[str]) -> cst.SimpleStatementLine | None:
    """The import statement minus the unused config-class aliases; None when nothing is left."""
    new_body = []
    for small in stmt.body:
        if isinstance(small, cst.ImportFrom) and not isinstance(small.names, cst.ImportStar):
            drop = {id(a) for a in _config_class_aliases(stmt, function) if (a.evaluated_alias or a.evaluated_name) in names}
            kept = [a for a in small.names if id(a) not in drop]
            if not kept:
                continue
            if len(kept) != len(small.names):
                kept[-1] = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
                small = small.with_changes(names=kept)
        new_body.append(small)
    if not new_body:
        return None
    new_body[-1] = new_body[-1].with_changes(semicolon=cst.MaybeSentinel.DEFAULT)
    return stmt.with_changes(body=new_body)


def _ends_with_cell_marker(stmt: cst.BaseStatement) -> bool:
    return bool(stmt.leading_lines) and cells.is_cell_marker(stmt.leading_lines[-1])


def _without_leading_blanks(stmt: cst.BaseStatement) -> list[cst.EmptyLine]:
    lines = list(stmt.leading_lines)
    while lines and lines[0].comment is None:
        lines.pop(0)
    return lines


def remove_unused_config_imports(module: cst.Module, function: ConfigFunction) -> tuple[cst.Module, int]:
    unused = unused_config_imports(module, function)
    if not unused:
        return module, 0
    body = list(module.body)
    removed_statements: set[int] = set()
    for index, names in unused.items():
        stmt = body[index]
        assert isinstance(stmt, cst.SimpleStatementLine)
        slimmer = _without_aliases(stmt, function, names)
        if slimmer is None:
            removed_statements.add(index)
        else:
            body[index] = slimmer
    for index in removed_statements:
        following = index + 1
        if following < len(body) and following not in removed_statements and _ends_with_cell_marker(body[index]):
            # The marker moves down to the next statement: drop the blank line that followed the import.
            body[following] = cells.with_leading_lines(body[following], _without_leading_blanks(body[following]))
    new_body, footer = cells.remove_statements(body, removed_statements, module.footer)
    count = sum(len(names) for names in unused.values())
    return module.with_changes(body=new_body, footer=footer), count
