"""What a module's imports bind, and adding imports to a module.

The engines ask one question of call sites: "which imported name does this
expression spell?" (is ``SFTConfig(...)`` ``trl.SFTConfig``, is ``wandb.init``
W&B's). LibCST's ``QualifiedNameProvider`` answers it through a full scope
analysis, which costs about a second on a 3,000-line notebook-script and was
the largest part of a migration. Imports are statements, so walking statements
alone finds every binding an import makes; a notebook-script imports in any
cell and functions import locally, so every import in the module counts, in any
scope. A local that shadows an imported name is not told apart, which is the
price of skipping scope analysis: the engines only act on calls whose keywords
they then check.

Adding imports goes through ``add_imports`` only, which places them as LibCST's
``AddImportsVisitor`` does, so that every engine places them the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

import libcst as cst

from codemods.apply.engines.definitions import parser_config
from codemods.apply.memo import per_tree


def dotted(node: cst.BaseExpression) -> str | None:
    """``a.b.c`` for a chain of names and attributes, else None."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr.value}" if base else None
    return None


def _statements(body: Sequence[cst.CSTNode]) -> Iterable[cst.BaseSmallStatement]:
    """Every small statement at any depth of statement nesting; expressions are never entered."""
    for statement in body:
        if isinstance(statement, cst.SimpleStatementLine):
            yield from statement.body
        elif isinstance(statement, cst.Match):  # its blocks are its cases
            yield from _statements(statement.cases)
        elif isinstance(statement, cst.BaseCompoundStatement):
            block = statement.body
            yield from _statements(block.body if isinstance(block, cst.IndentedBlock) else [block])
            for attribute in ("orelse", "finalbody"):
                tail = getattr(statement, attribute, None)
                if tail is not None:
                    yield from _statements([tail])
            for handler in getattr(statement, "handlers", ()):
                yield from _statements([handler])
            for case in getattr(statement, "cases", ()):
                yield from _statements([case])
        elif isinstance(statement, cst.SimpleStatementSuite):
            yield from statement.body
        elif isinstance(statement, (cst.Else, cst.Finally, cst.ExceptHandler, cst.ExceptStarHandler, cst.MatchCase)):
            block = statement.body
            yield from _statements(block.body if isinstance(block, cst.IndentedBlock) else [block])


@per_tree
def import_bindings(module: cst.Module, top_level_only: bool = False) -> dict[str, frozenset[str]]:
    """Local name -> the dotted names imports bind it to, over the whole module (or its top level)."""
    smalls = (
        (small for stmt in module.body if isinstance(stmt, cst.SimpleStatementLine) for small in stmt.body)
        if top_level_only
        else _statements(module.body)
    )
    bindings: dict[str, set[str]] = {}
    for small in smalls:
        for binding in import_statement_bindings(small):
            bindings.setdefault(binding.name.value, set()).add(binding.qualified)
    return {local: frozenset(names) for local, names in bindings.items()}


@per_tree
def imported_modules(module: cst.Module) -> frozenset[str]:
    """The dotted modules of every absolute import, in any scope (``from m import *`` included)."""
    found = set()
    for small in _statements(module.body):
        if isinstance(small, cst.Import):
            found.update(dotted_or_empty(alias.name) for alias in small.names)
        elif isinstance(small, cst.ImportFrom) and not small.relative and small.module is not None:
            found.add(dotted_or_empty(small.module))
    return frozenset(found - {""})


def imported_names(module: cst.Module, expression: cst.BaseExpression) -> frozenset[str]:
    """The dotted names an expression spells through the module's imports (empty when not imported)."""
    spelled = dotted(expression)
    if spelled is None:
        return frozenset()
    head, _, rest = spelled.partition(".")
    sources = import_bindings(module).get(head, frozenset())
    return frozenset(f"{source}.{rest}" if rest else source for source in sources)


@dataclass(frozen=True)
class NewImport:
    """An import to ensure: ``import module [as alias]`` or ``from module import name [as alias]``."""

    module: str
    name: str | None = None
    alias: str | None = None


def add_imports(module: cst.Module, imports: Sequence[NewImport]) -> cst.Module:
    """Add the missing ``imports`` where LibCST's ``AddImportsVisitor`` puts them; present ones are never duplicated.

    That is: a name from a module the top import block already imports from joins that
    ``from`` line (new names first, sorted); ``__future__`` imports go before the block;
    the rest follow it (``import`` lines sorted, then ``from`` lines sorted by module), and
    the first statement after them gets a blank line. The visitor itself walks and rebuilds
    the whole tree (and loads LibCST's codemod framework); this touches the statements it
    changes only, so the other statements keep their remembered code.
    """
    missing = missing_imports(module, imports)
    if not missing:
        return module
    body = list(module.body)
    start = 1 if body and _is_docstring_or_strict(body[0]) else 0
    end = start
    while end < len(body) and _single_import(body[end]) is not None:
        end += 1
    wanted_from: dict[str, list[tuple[str, str | None]]] = {}
    for item in missing:
        if item.name is not None:
            wanted_from.setdefault(item.module, []).append((item.name, item.alias))
    for index in range(start, end):
        body[index] = _merged_from_import(body[index], wanted_from)
    config = parser_config(module)
    future = [_from_line(name, pairs, config) for name, pairs in wanted_from.items() if name == "__future__"]
    plain = sorted({item.module for item in missing if item.name is None and item.alias is None})
    aliased = {item.module: item.alias for item in missing if item.name is None and item.alias is not None}
    added = [
        *(cst.parse_statement(f"import {name}", config=config) for name in plain),
        *(cst.parse_statement(f"import {name} as {alias}", config=config) for name, alias in aliased.items()),
        *(_from_line(name, pairs, config) for name, pairs in sorted(wanted_from.items()) if name != "__future__"),
    ]
    if not future and not added:
        return module.with_changes(body=body)
    after = body[end:]
    if after and (not after[0].leading_lines or after[0].leading_lines[0].comment is not None):
        after[0] = after[0].with_changes(leading_lines=(cst.EmptyLine(), *after[0].leading_lines))
    return module.with_changes(body=[*body[:start], *future, *body[start:end], *added, *after])


def missing_imports(module: cst.Module, imports: Sequence[NewImport]) -> list[NewImport]:
    """Those of ``imports`` that no top-level import of the module binds yet (anywhere, not only the top block)."""
    bound = import_bindings(module, True)
    return [item for item in dict.fromkeys(imports) if not _already_bound(item, bound)]


def _from_line(name: str, pairs: list[tuple[str, str | None]], config: cst.PartialParserConfig) -> cst.BaseStatement:
    names = ", ".join(obj if alias is None else f"{obj} as {alias}" for obj, alias in sorted(pairs, key=str))
    return cst.parse_statement(f"from {name} import {names}", config=config)


def _single_import(statement: cst.BaseStatement) -> cst.Import | cst.ImportFrom | None:
    if isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1:
        small = statement.body[0]
        if isinstance(small, (cst.Import, cst.ImportFrom)):
            return small
    return None


def _is_docstring_or_strict(statement: cst.BaseStatement) -> bool:
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return False
    small = statement.body[0]
    if isinstance(small, cst.Expr):
        return isinstance(small.value, cst.SimpleString)
    return (
        isinstance(small, cst.Assign) and len(small.targets) == 1
        and isinstance(small.targets[0].target, cst.Name) and small.targets[0].target.value == "__strict__"
    )


def _merged_from_import(
    statement: cst.BaseStatement, wanted: dict[str, list[tuple[str, str | None]]]
) -> cst.BaseStatement:
    """The top block's ``from M import ...`` with the names wanted from ``M`` put first (and taken off ``wanted``)."""
    small = _single_import(statement)
    if not isinstance(small, cst.ImportFrom) or small.relative:
        return statement
    name = dotted_or_empty(small.module)
    pairs = wanted.pop(name, None) if name else None
    if not pairs:
        return statement
    if isinstance(small.names, cst.ImportStar):  # it brings every plain name; an alias still needs its line
        aliased = [pair for pair in pairs if pair[1] is not None]
        if aliased:
            wanted[name] = aliased
        return statement
    new = [cst.ImportAlias(cst.Name(obj)) for obj, alias in sorted(p for p in pairs if p[1] is None)]
    new += [
        cst.ImportAlias(cst.Name(obj), asname=cst.AsName(cst.Name(alias)))
        for obj, alias in sorted(p for p in pairs if p[1] is not None)
    ]
    return statement.with_changes(body=[small.with_changes(names=[*new, *small.names])])


def _already_bound(item: NewImport, bound: dict[str, frozenset[str]]) -> bool:
    if item.name is None:
        local = item.alias or item.module.split(".")[0]
        return (item.alias is None and local in bound.get(local, ())) or item.module in bound.get(local, ())
    local = item.alias or item.name
    return f"{item.module}.{item.name}" in bound.get(local, ())


def dotted_module(path: str) -> str:
    """``src/training/config.py`` -> ``src.training.config``; a package ``__init__`` -> the package."""
    parts = list(PurePosixPath(path).with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_of(path: str) -> str:
    parts = list(PurePosixPath(path).parts[:-1])
    return ".".join(parts)


def absolute_name(name: str, path: str) -> str:
    """Resolve a relative qualified name (``.config.f``) as seen from the file at ``path``."""
    if not name.startswith("."):
        return name
    level = len(name) - len(name.lstrip("."))
    package = package_of(path).split(".") if package_of(path) else []
    base = package[: len(package) - (level - 1)] if level > 1 else package
    rest = name[level:]
    return ".".join([*base, rest] if rest else base)


@dataclass(frozen=True)
class ImportBinding:
    """What a module-level import binds: ``import a.b as x``, ``import a.b``, ``from p import n``."""

    name: cst.Name  # the node that binds
    module: str  # dotted module as written ("" for ``from . import n``)
    level: int  # leading dots of a relative import
    imported: str | None  # ``n`` of ``from p import n``; None for ``import``
    aliased: bool

    @property
    def target_module(self) -> tuple[int, str]:
        """(level, dotted module) the bound object is, when it is a module."""
        if self.imported is not None:
            return self.level, ".".join(p for p in (self.module, self.imported) if p)
        # ``import a.b`` binds ``a``; ``import a.b as x`` binds ``a.b``.
        return self.level, self.module if self.aliased else self.module.split(".")[0]

    @property
    def qualified(self) -> str:
        """The dotted name the binding stands for (relative imports keep their leading dots)."""
        return "." * self.level + self.target_module[1]


def dotted_or_empty(node: cst.BaseExpression | None) -> str:
    return (dotted(node) if node is not None else None) or ""


def root_name(node: cst.BaseExpression) -> cst.Name | None:
    while isinstance(node, cst.Attribute):
        node = node.value
    return node if isinstance(node, cst.Name) else None


def import_statement_bindings(node: cst.CSTNode) -> Iterator[ImportBinding]:
    if isinstance(node, cst.Import):
        for alias in node.names:
            module = dotted_or_empty(alias.name)
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                yield ImportBinding(alias.asname.name, module, 0, None, True)
            elif alias.asname is None:
                yield ImportBinding(root_name(alias.name), module, 0, None, False)
    elif isinstance(node, cst.ImportFrom) and not isinstance(node.names, cst.ImportStar):
        module, level = dotted_or_empty(node.module), len(node.relative)
        for alias in node.names:
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                yield ImportBinding(alias.asname.name, module, level, alias.name.value, True)
            elif alias.asname is None and isinstance(alias.name, cst.Name):
                yield ImportBinding(alias.name, module, level, alias.name.value, False)
