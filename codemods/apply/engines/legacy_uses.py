"""Where a module uses the legacy class: the class itself, each use, and whether it runs on import.

A class defined last cannot be used by module-level code above it; these
answers decide whether the move is safe and what to warn about.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field

import libcst as cst
from libcst.metadata import FunctionScope, GlobalScope, PositionProvider, ScopeProvider

from codemods.apply.memo import per_tree
from codemods.core.names import word_pattern


class MentionFinder(cst.CSTVisitor):
    """Tells whether a statement names the legacy class, in code or in string text."""

    def __init__(self, names: Sequence[str]):
        super().__init__()
        self.names = set(names)
        self.pattern = word_pattern(names)
        self.found = False

    def visit_Name(self, node: cst.Name) -> None:
        if node.value in self.names:
            self.found = True

    def visit_SimpleString(self, node: cst.SimpleString) -> None:
        if self.pattern.search(node.value):
            self.found = True

    def visit_FormattedStringText(self, node: cst.FormattedStringText) -> None:
        if self.pattern.search(node.value):
            self.found = True


def mentions(node: cst.CSTNode, names: Sequence[str]) -> bool:
    finder = MentionFinder(names)
    node.visit(finder)
    return finder.found


@dataclass(frozen=True)
class Use:
    """One read of the legacy class's name in a module."""

    name: str
    line: int
    statement: int  # index of the top-level statement holding it
    at_import: bool  # evaluated while the module is imported (not deferred to a call)
    node: cst.CSTNode = field(compare=False, repr=False)


class LegacyUses(cst.CSTVisitor):
    """Every read of the class's names, and whether it runs at import time or only when called."""

    METADATA_DEPENDENCIES = (ScopeProvider, PositionProvider)

    def __init__(self, names: Sequence[str], postponed_annotations: bool):
        super().__init__()
        self.names = tuple(names)
        self.postponed_annotations = postponed_annotations
        self.uses: list[Use] = []
        self._ends: list[int] = []

    def visit_Module(self, node: cst.Module) -> bool:
        # Top-level statement of a line: the first one ending at or after it (decorators sit above `def`).
        self._ends = [self.get_metadata(PositionProvider, stmt).end.line for stmt in node.body]
        scopes = {scope for scope in self.metadata[ScopeProvider].values() if scope is not None}
        for scope in scopes:
            for name in self.names:
                for access in scope.accesses[name]:
                    line = self.get_metadata(PositionProvider, access.node).start.line
                    statement = bisect.bisect_left(self._ends, line)
                    self.uses.append(Use(name, line, statement, self._runs_at_import(access), access.node))
        self.uses.sort(key=lambda use: use.line)
        return False

    def _runs_at_import(self, access) -> bool:
        if isinstance(access.node, cst.BaseString):  # a string annotation is never evaluated on import
            return False
        if access.is_annotation and self.postponed_annotations:
            return False
        scope = access.scope
        while scope is not None and not isinstance(scope, GlobalScope):
            if isinstance(scope, FunctionScope):  # function and lambda bodies run when called
                return False
            scope = scope.parent
        return True


@per_tree
def legacy_uses(module: cst.Module, names: Sequence[str]) -> list[Use]:
    finder = LegacyUses(names, _has_postponed_annotations(module))
    cst.MetadataWrapper(module, unsafe_skip_copy=True).visit(finder)
    return finder.uses


def _has_postponed_annotations(module: cst.Module) -> bool:
    for stmt in module.body:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.ImportFrom) and isinstance(small.module, cst.Name):
                    if small.module.value == "__future__" and not isinstance(small.names, cst.ImportStar):
                        if any(alias.evaluated_name == "annotations" for alias in small.names):
                            return True
    return False


def find_class(body: Sequence[cst.BaseStatement], names: Sequence[str]) -> int | None:
    """Index of the module-level class with one of these names (the first name wins)."""
    for name in names:
        for index, stmt in enumerate(body):
            if isinstance(stmt, cst.ClassDef) and stmt.name.value == name:
                return index
    return None


def section_start(body: Sequence[cst.BaseStatement], title: str | None) -> int | None:
    """Index of the statement whose leading comments hold the banner's title line."""
    if not title:
        return None
    for index, stmt in enumerate(body):
        if any(
            line.comment and line.comment.value.lstrip("#").strip() == title for line in stmt.leading_lines
        ):
            return index
    return None


