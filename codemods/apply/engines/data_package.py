"""The recipe's data package: renames and the legacy move in its collators module, and its exports.

The collators module gets the same renames as task 4 (``rename_in_file``) and
the same legacy move as task 5 (``move_legacy_class``; a plain module has no
cell markers). The package ``__init__`` then exports the new class names and,
under the recipe's deprecation banner at its end, keeps the old names importable
through a module ``__getattr__`` that maps each one to its new class with a
DeprecationWarning. An ``__init__`` that already has content is merged into:
missing imports, ``__all__`` entries and aliases are added, nothing is removed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath

import libcst as cst
from libcst.helpers import get_full_name_for_node

from codemods.apply.engines.definitions import defined_names, top_level_definitions
from codemods.apply.engines.legacy import move_legacy_class
from codemods.apply.engines.rename import rename_in_file
from codemods.apply.session import Context, Refusal
from codemods.core.cells import comment_lines
from codemods.core.recipe import Task

ALIASES_NAME = "_DEPRECATED_ALIASES"

_GETATTR_SOURCE = '''
def __getattr__(name):
    """Resolve a deprecated collator name to its new class, with a DeprecationWarning."""
    if name in {aliases}:
        new_name = {aliases}[name]
        # `from package import name` looks it up twice (importlib probes first): warn at the import only.
        if sys._getframe(1).f_globals.get("__name__") != "importlib._bootstrap":
            warnings.warn(
                f"{{__name__}}.{{name}} is deprecated; use {{new_name}} instead",
                DeprecationWarning,
                stacklevel=2,
            )
        return globals()[new_name]
    raise AttributeError(f"module {{__name__!r}} has no attribute {{name!r}}")
'''


# ---------------------------------------------------------------------- source builders
def import_statement(module: str, names: Sequence[str]) -> cst.SimpleStatementLine:
    one_line = f"from {module} import {', '.join(names)}"
    if len(one_line) <= 99:
        return cst.parse_statement(one_line + "\n")
    listed = "".join(f"    {name},\n" for name in names)
    return cst.parse_statement(f"from {module} import (\n{listed})\n")


def dunder_all_statement(names: Sequence[str]) -> cst.SimpleStatementLine:
    one_line = "__all__ = [" + ", ".join(f'"{name}"' for name in names) + "]"
    if len(one_line) <= 99:
        return cst.parse_statement(one_line + "\n")
    listed = "".join(f'    "{name}",\n' for name in names)
    return cst.parse_statement(f"__all__ = [\n{listed}]\n")


def aliases_statement(aliases: dict[str, str]) -> cst.SimpleStatementLine:
    entries = "".join(f'    "{old}": "{new}",\n' for old, new in aliases.items())
    return cst.parse_statement(f"{ALIASES_NAME} = {{\n{entries}}}\n")


def getattr_function() -> cst.FunctionDef:
    return cst.parse_statement(_GETATTR_SOURCE.format(aliases=ALIASES_NAME).lstrip("\n"))


def deprecation_section(banner: str, aliases: dict[str, str]) -> list[cst.BaseStatement]:
    """The aliases table under the banner, then ``__getattr__``, two blank lines before each."""
    head = (
        [cst.EmptyLine(), cst.EmptyLine(), *comment_lines(banner), cst.EmptyLine()]
        if banner
        else _two_blank()
    )
    table = aliases_statement(aliases).with_changes(leading_lines=head)
    return [table, getattr_function().with_changes(leading_lines=_two_blank())]


def _two_blank() -> list[cst.EmptyLine]:
    return [cst.EmptyLine(), cst.EmptyLine()]


# ---------------------------------------------------------------------- merging into existing code
def _appended(elements: Sequence, new_elements: Sequence) -> list:
    """Elements (import aliases, list or dict items) with new ones at the end, in the existing comma style."""
    elements = list(elements)
    for new in new_elements:
        if not elements:
            elements.append(new)
            continue
        last = elements[-1]
        separator = (
            elements[-2].comma if len(elements) > 1 else cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
        )
        if isinstance(separator, cst.MaybeSentinel):
            separator = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
        # The old last item's comma (trailing comma, newline before the bracket) moves to the new last item.
        elements[-1] = last.with_changes(comma=separator)
        elements.append(new.with_changes(comma=last.comma))
    return elements


def _string_value(node: cst.BaseExpression) -> str | None:
    return node.evaluated_value if isinstance(node, cst.SimpleString) else None


class AddImportedNames(cst.CSTTransformer):
    """Adds the names no ``from <collators> import ...`` statement binds yet to the first such statement."""

    def __init__(self, modules: set[str], names: Sequence[str], module: cst.Module):
        super().__init__()
        # ``modules``: the relative and the absolute spelling.
        statements = [node for node in _module_imports_from(module) if _import_source(node) in modules]
        # Bound by any of them: a second statement must not import a name again (a redefinition).
        present = {alias.evaluated_alias or alias.evaluated_name for node in statements for alias in node.names}
        self.names = [name for name in names if name not in present]
        self.first = statements[0] if statements else None
        self.found = self.first is not None

    def leave_ImportFrom(self, original_node: cst.ImportFrom, updated_node: cst.ImportFrom) -> cst.ImportFrom:
        if original_node is not self.first or not self.names:
            return updated_node
        missing = [cst.ImportAlias(cst.Name(name)) for name in self.names]
        return updated_node.with_changes(names=_appended(updated_node.names, missing))


def _module_imports_from(module: cst.Module) -> list[cst.ImportFrom]:
    """The ``from ... import`` statements that name their names (no star), outside functions and classes."""
    found: list[cst.ImportFrom] = []

    class Imports(cst.CSTVisitor):
        def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
            if not isinstance(node.names, cst.ImportStar):
                found.append(node)

        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            return False

        def visit_ClassDef(self, node: cst.ClassDef) -> bool:
            return False

    module.visit(Imports())
    return found


class AddAllEntries(cst.CSTTransformer):
    """Adds missing names to a module-level ``__all__`` list or tuple."""

    def __init__(self, names: Sequence[str]):
        super().__init__()
        self.names = list(names)
        self.found = False

    def leave_Assign(self, original_node: cst.Assign, updated_node: cst.Assign) -> cst.Assign:
        if not _assigns(original_node, "__all__") or not isinstance(
            updated_node.value, (cst.List, cst.Tuple)
        ):
            return updated_node
        self.found = True
        present = {_string_value(element.value) for element in updated_node.value.elements}
        missing = [cst.Element(cst.SimpleString(f'"{name}"')) for name in self.names if name not in present]
        if not missing:
            return updated_node
        value = updated_node.value.with_changes(elements=_appended(updated_node.value.elements, missing))
        return updated_node.with_changes(value=value)


class AddAliasEntries(cst.CSTTransformer):
    """Adds missing old -> new entries to the aliases table a previous run wrote."""

    def __init__(self, aliases: dict[str, str]):
        super().__init__()
        self.aliases = aliases
        self.found = False

    def leave_Assign(self, original_node: cst.Assign, updated_node: cst.Assign) -> cst.Assign:
        if not _assigns(original_node, ALIASES_NAME) or not isinstance(updated_node.value, cst.Dict):
            return updated_node
        self.found = True
        present = {
            _string_value(element.key)
            for element in updated_node.value.elements
            if isinstance(element, cst.DictElement)
        }
        missing = [
            cst.DictElement(cst.SimpleString(f'"{old}"'), cst.SimpleString(f'"{new}"'))
            for old, new in self.aliases.items()
            if old not in present
        ]
        if not missing:
            return updated_node
        value = updated_node.value.with_changes(elements=_appended(updated_node.value.elements, missing))
        return updated_node.with_changes(value=value)


def _assigns(node: cst.Assign, name: str) -> bool:
    return any(isinstance(target.target, cst.Name) and target.target.value == name for target in node.targets)


def _import_source(node: cst.ImportFrom) -> str:
    dots = "." * len(node.relative)
    return dots + (get_full_name_for_node(node.module) if node.module else "")


def _is_import(stmt: cst.BaseStatement) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and any(
        isinstance(small, (cst.Import, cst.ImportFrom)) for small in stmt.body
    )


def _is_future_import(stmt: cst.BaseStatement) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and any(
        isinstance(small, cst.ImportFrom) and _import_source(small) == "__future__" for small in stmt.body
    )


def _is_docstring(stmt: cst.BaseStatement) -> bool:
    return (
        isinstance(stmt, cst.SimpleStatementLine)
        and isinstance(stmt.body[0], cst.Expr)
        and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    )


def _imported_modules(body: Sequence[cst.BaseStatement]) -> set[str]:
    """Top-level ``import x`` names."""
    names = set()
    for stmt in body:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.Import):
                    names.update(alias.evaluated_name for alias in small.names if alias.asname is None)
    return names


def _insert_after_imports(body: list[cst.BaseStatement], stmt: cst.BaseStatement) -> list[cst.BaseStatement]:
    """Put ``stmt`` after the last top-level import (else after the docstring), one blank line above it."""
    imports = [index for index, existing in enumerate(body) if _is_import(existing)]
    if imports:
        position = imports[-1] + 1
    else:
        position = 1 if body and _is_docstring(body[0]) else 0
    stmt = stmt.with_changes(leading_lines=[cst.EmptyLine()] if position else [])
    return [*body[:position], stmt, *body[position:]]


def _insert_standard_imports(
    body: list[cst.BaseStatement], modules: Sequence[str]
) -> list[cst.BaseStatement]:
    """``import x`` lines first in the import block (standard library before local imports)."""
    if not modules:
        return body
    statements = [cst.parse_statement(f"import {module}\n") for module in modules]
    candidates = [
        index for index, stmt in enumerate(body) if _is_import(stmt) and not _is_future_import(stmt)
    ]
    if not candidates:
        for statement in reversed(statements):
            body = _insert_after_imports(body, statement)
        return body
    position = candidates[0]
    first = body[position]
    statements[0] = statements[0].with_changes(leading_lines=first.leading_lines)
    first = first.with_changes(leading_lines=[cst.EmptyLine()])
    return [*body[:position], *statements, first, *body[position + 1 :]]


# ---------------------------------------------------------------------- the package init
def collators_import_sources(init_path: str, collators_path: str) -> tuple[str, str]:
    """How the init imports the collators module: (the spelling to write, the absolute dotted name).

    ``.collators`` when both files share the package directory, else the absolute name.
    """
    init, collators = PurePosixPath(init_path), PurePosixPath(collators_path)
    absolute = ".".join(collators.with_suffix("").parts)
    return ("." + collators.stem if init.parent == collators.parent else absolute), absolute




def package_init_module(
    existing: cst.Module,
    sources: tuple[str, str],
    exports: Sequence[str],
    aliases: dict[str, str],
    banner: str,
) -> tuple[cst.Module, list[str]]:
    """The init with the exports and the deprecated aliases merged in; also what was skipped and why."""
    skipped: list[str] = []
    import_adder = AddImportedNames(set(sources), exports, existing)
    all_adder = AddAllEntries(exports)
    alias_adder = AddAliasEntries(aliases)
    module = existing.visit(import_adder).visit(all_adder).visit(alias_adder)
    body = list(module.body)
    if not import_adder.found:
        body = _insert_after_imports(body, import_statement(sources[0], exports))
    if not all_adder.found:
        body = _insert_after_imports(body, dunder_all_statement(exports))
    if aliases and not alias_adder.found:
        if "__getattr__" in top_level_definitions(module):
            skipped.append("the package already defines its own __getattr__; deprecated aliases not added")
        else:
            present = _imported_modules(body)
            body = _insert_standard_imports(
                body, [name for name in ("sys", "warnings") if name not in present]
            )
            body.extend(deprecation_section(banner, aliases))
    if body and not existing.body:
        body[0] = body[0].with_changes(leading_lines=[])
        module = module.with_changes(has_trailing_newline=True)
    return module.with_changes(body=body), skipped


def update_package_init(context: Context, task_id: str) -> bool:
    package = context.recipe.data_package
    init_path, collators_path = package.package_init, package.collators
    if not context.workspace.exists(collators_path):
        return False
    available = defined_names(context.parse(collators_path))
    exports = [name for name in package.exports if name in available]
    for name in package.exports:
        if name not in available:
            context.report.warn(task_id, f"{collators_path} defines no {name}; not exported", init_path)
    if not exports:
        return False
    aliases = {r.old: r.new for r in context.recipe.all_renames if r.new in exports}
    if context.workspace.exists(init_path):
        rename_in_file(context, init_path, task_id)
        existing = context.parse(init_path)
    else:
        existing = cst.parse_module("")
    sources = collators_import_sources(init_path, collators_path)
    new_module, skipped = package_init_module(
        existing, sources, exports, aliases, context.recipe.deprecation_banner
    )
    for reason in skipped:
        context.report.warn(task_id, reason, init_path)
    _must_parse(new_module, init_path, task_id)
    if not context.workspace.exists(init_path):
        context.workspace.write_text(init_path, new_module.code)
        changed = True
    else:
        changed = context.write_module(init_path, new_module)
    if changed:
        context.report.info(
            task_id,
            f"exports {', '.join(exports)}; old names kept as deprecated aliases ({', '.join(aliases)})",
            init_path,
        )
    return changed


def _must_parse(module: cst.Module, path: str, task_id: str) -> None:
    try:
        cst.parse_module(module.code)
    except cst.ParserSyntaxError as error:  # pragma: no cover - a bug in this codemod, never the user's code
        raise Refusal(task_id, f"the generated package init does not parse: {error.message}", path) from None


def update_data_package(context: Context, task: Task) -> None:
    package = context.recipe.data_package
    if package is None:
        context.not_applicable(task.id, "the recipe has no [data_package]")
        return
    if not context.workspace.exists(package.collators):
        context.not_applicable(task.id, f"{package.collators} does not exist")
        return
    rename_in_file(context, package.collators, task.id)
    if context.recipe.legacy is not None:
        move_legacy_class(context, package.collators, task.id)
    if package.package_init:
        update_package_init(context, task.id)
