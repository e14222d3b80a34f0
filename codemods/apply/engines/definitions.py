"""What a module defines at top level, and adding statements to its end.

One answer to "does this module define X" for every engine: the functions,
classes, assignments and imports bound at module level.
"""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from codemods.apply.memo import module_code
from codemods.core import cells
from codemods.core.sections import banner_title


def module_function(module: cst.Module, name: str) -> cst.FunctionDef | None:
    for stmt in module.body:
        if isinstance(stmt, cst.FunctionDef) and stmt.name.value == name:
            return stmt
    return None


def parser_config(module: cst.Module) -> cst.PartialParserConfig:
    """How to parse code that goes into ``module``: its newline, and its indent where LibCST accepts it.

    LibCST refuses an indent other than spaces and tabs as a default (a form feed can lead
    an indented block), while the module itself parses; code inserted there gets 4 spaces.
    """
    try:
        return module.config_for_parsing
    except ValueError:
        return cst.PartialParserConfig(default_newline=module.default_newline)


def statements(source: str) -> list[cst.BaseStatement]:
    return list(cst.parse_module(source).body)


def bound_names(stmt: cst.BaseStatement) -> set[str]:
    """The names a top-level statement binds: a definition, imports (not ``*``), plain or annotated assignments."""
    if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
        return {stmt.name.value}
    names: set[str] = set()
    if not isinstance(stmt, cst.SimpleStatementLine):
        return names
    for small in stmt.body:
        if isinstance(small, (cst.Import, cst.ImportFrom)) and not isinstance(small.names, cst.ImportStar):
            for alias in small.names:
                names.add(alias.evaluated_alias or (cst.helpers.get_full_name_for_node(alias.name) or "").split(".")[0])
        elif isinstance(small, cst.Assign):
            names.update(t.target.value for t in small.targets if isinstance(t.target, cst.Name))
        elif isinstance(small, (cst.AnnAssign, cst.AugAssign)) and isinstance(small.target, cst.Name):
            names.add(small.target.value)
    return names


def top_level_definitions(module: cst.Module) -> set[str]:
    """Names of the module's top-level classes and functions."""
    return {stmt.name.value for stmt in module.body if isinstance(stmt, (cst.FunctionDef, cst.ClassDef))}


def append_under_banner(module: cst.Module, statements: Sequence[cst.BaseStatement], banner: str) -> cst.Module:
    """Append statements at the end of the module, under the banner unless the module already has it."""
    if not statements:
        return module
    title = banner_title(banner) if banner else None
    has_banner = bool(title) and title in module_code(module)
    footer_comments = cells.strip_blank_edges(module.footer)
    lead: list[cst.EmptyLine] = cells.blank_lines(2) if module.body else []
    if footer_comments:
        lead += [*footer_comments, *cells.blank_lines(2)]
    if banner and not has_banner:
        lead += [*cells.comment_lines(banner), *cells.blank_lines(1)]
    first, *rest = statements
    laid_out = [cells.with_leading_lines(first, lead)]
    laid_out += [cells.with_leading_lines(stmt, cells.blank_lines(2)) for stmt in rest]
    return module.with_changes(body=[*module.body, *laid_out], footer=())


def defined_names(module: cst.Module) -> set[str]:
    """Names a module binds at top level (classes, functions, simple assignments, imports)."""
    names: set[str] = set()
    for stmt in module.body:
        if isinstance(stmt, (cst.ClassDef, cst.FunctionDef)):
            names.add(stmt.name.value)
        elif isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.Assign):
                    names.update(t.target.value for t in small.targets if isinstance(t.target, cst.Name))
                elif isinstance(small, (cst.Import, cst.ImportFrom)) and not isinstance(
                    small.names, cst.ImportStar
                ):
                    names.update((a.evaluated_alias or a.evaluated_name).split(".")[0] for a in small.names)
    return names
