"""Where a module uses the legacy class: the class itself, each use, and whether it runs on import.

A class defined last cannot be used by module-level code above it; these
answers decide whether the move is safe and what to warn about.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import libcst as cst

from codemods.apply.engines.lines import first_lines, statements_mentioning
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
    """Every read of the class's names, and whether it runs at import time or only when called.

    A narrow stand-in for LibCST's ``ScopeProvider`` (which costs several parses on
    a notebook-script): only the few names asked about, only in the top-level
    statements whose text holds one, and only the two facts the move needs. A
    function or lambda body runs when called; its decorators, defaults and (unless
    annotations are postponed) annotations run at import, like class bodies.
    """

    def __init__(self, names: Sequence[str], postponed_annotations: bool):
        super().__init__()
        self.names = frozenset(names)
        self.postponed_annotations = postponed_annotations
        self.statement = 0
        self.found: list[tuple[str, int, bool, cst.Name]] = []  # name, statement, at import, node
        self._deferred = 0  # depth of function/lambda bodies around the current node
        self._annotation = 0

    # Bodies that run later ---------------------------------------------------------------
    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        for decorator in node.decorators:
            decorator.visit(self)
        node.params.visit(self)
        if node.returns is not None:
            node.returns.visit(self)
        self._deferred += 1
        node.body.visit(self)
        self._deferred -= 1
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        node.params.visit(self)
        self._deferred += 1
        node.body.visit(self)
        self._deferred -= 1
        return False

    def visit_Annotation(self, node: cst.Annotation) -> None:
        self._annotation += 1

    def leave_Annotation(self, original_node: cst.Annotation) -> None:
        self._annotation -= 1

    # Names that are not reads ------------------------------------------------------------
    def visit_Attribute(self, node: cst.Attribute) -> bool:
        node.value.visit(self)  # ``x.<name>`` is an attribute, not a read of <name>
        return False

    def visit_Arg(self, node: cst.Arg) -> bool:
        node.value.visit(self)  # the keyword of ``f(name=...)`` is not a read
        return False

    def visit_Param(self, node: cst.Param) -> bool:
        for part in (node.annotation, node.default):
            if part is not None:
                part.visit(self)
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        for part in (*node.decorators, *node.bases, *node.keywords):
            part.visit(self)
        node.body.visit(self)
        return False

    def visit_Import(self, node: cst.Import) -> bool:
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        return False

    def visit_Global(self, node: cst.Global) -> bool:
        return False

    def visit_Nonlocal(self, node: cst.Nonlocal) -> bool:
        return False

    def visit_AssignTarget(self, node: cst.AssignTarget) -> bool:
        return not _is_store_only(node.target)

    def visit_Name(self, node: cst.Name) -> None:
        if node.value in self.names:
            at_import = not self._deferred and not (self._annotation and self.postponed_annotations)
            self.found.append((node.value, self.statement, at_import, node))


def _is_store_only(target: cst.BaseExpression) -> bool:
    """A bare name, or a tuple/list of them: assigning them reads nothing."""
    if isinstance(target, cst.Name):
        return True
    if isinstance(target, (cst.Tuple, cst.List)):
        return all(_is_store_only(element.value) for element in target.elements)
    return False


@per_tree
def legacy_uses(module: cst.Module, names: Sequence[str]) -> list[Use]:
    finder = LegacyUses(names, _has_postponed_annotations(module))
    for index, stmt in statements_mentioning(module, finder.names):
        finder.statement = index
        stmt.visit(finder)
    lines = first_lines(module, [node for *_, node in finder.found])
    uses = [Use(name, lines[node], statement, at_import, node) for name, statement, at_import, node in finder.found]
    return sorted(uses, key=lambda use: use.line)


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


def section_start(
    body: Sequence[cst.BaseStatement], title: str | None, header: Sequence[cst.EmptyLine] = ()
) -> int | None:
    """Index of the statement whose leading comments hold the banner's title line.

    ``header`` is the module's header: the comments above its first statement, which
    LibCST keeps apart from that statement (a module that opens with the section).
    """
    if not title:
        return None
    for index, stmt in enumerate(body):
        lines = [*header, *stmt.leading_lines] if index == 0 else stmt.leading_lines
        if any(line.comment and line.comment.value.lstrip("#").strip() == title for line in lines):
            return index
    return None


