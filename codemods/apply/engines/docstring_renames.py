"""Old factory names in docstrings follow the rename; examples that call them get the variant.

Doctest and usage examples are text to LibCST, so they are renamed whole-word
and each changed example line is reported: its keywords may no longer fit the
new function, which no tool can check without running the doctest.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import libcst as cst

from codemods.apply.engines.lines import first_lines, visit_mentioning
from codemods.apply.session import Context
from codemods.core.names import word_pattern
from codemods.core.recipe import Task


class RenameInDocstrings(cst.CSTTransformer):
    """Whole-word old names in docstrings -> the new name; remembers which lines changed."""

    def __init__(self, renames: Mapping[str, str], skip_functions: set[str], variants: Mapping[str, str]):
        super().__init__()
        self.renames = renames
        self.variants = variants
        # A call in an example also gets the variant the old factory stood for.
        self.pattern = re.compile(word_pattern(list(renames)).pattern + r"(\(\s*\)?)?")
        self.skip_functions = skip_functions
        self.docstrings: set[cst.SimpleString] = set()
        # (docstring as it was, line offset inside it, the new line)
        self.changed: list[tuple[cst.SimpleString, int, str]] = []

    def _remember_docstring(self, body: Sequence[cst.BaseStatement]) -> None:
        if body and isinstance(body[0], cst.SimpleStatementLine) and isinstance(body[0].body[0], cst.Expr):
            value = body[0].body[0].value
            if isinstance(value, cst.SimpleString):
                self.docstrings.add(value)

    def visit_Module(self, node: cst.Module) -> None:
        self._remember_docstring(node.body)

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        if isinstance(node.body, cst.IndentedBlock):
            self._remember_docstring(node.body.body)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        if node.name.value in self.skip_functions:
            return False
        if isinstance(node.body, cst.IndentedBlock):
            self._remember_docstring(node.body.body)
        return True

    def leave_SimpleString(self, original_node: cst.SimpleString, updated_node: cst.SimpleString) -> cst.SimpleString:
        if original_node not in self.docstrings or not self.pattern.search(updated_node.value):
            return updated_node
        new_lines = []
        for offset, line in enumerate(updated_node.value.split("\n")):
            new_line = self.pattern.sub(self._replacement, line)
            if new_line != line:
                self.changed.append((original_node, offset, new_line.strip()))
            new_lines.append(new_line)
        return updated_node.with_changes(value="\n".join(new_lines))

    def _replacement(self, match: re.Match[str]) -> str:
        old, call = match.group(1), match.group(2)
        new = self.renames[old]
        if not call or old not in self.variants:
            return new + (call or "")
        variant = f'variant="{self.variants[old]}"'
        if call.rstrip().endswith(")"):
            return f"{new}({variant})"
        at_line_end = not match.string[match.end() :].strip()
        return f"{new}({variant}," if at_line_end else f"{new}({variant}, "


def rename_in_docstrings(
    context: Context,
    task: Task,
    path: str,
    module: cst.Module,
    renames: Mapping[str, str],
    skip: set[str],
    variants: Mapping[str, str] | None = None,
) -> cst.Module:
    renamer = RenameInDocstrings(renames, skip, variants or {})
    new_module = visit_mentioning(module, renamer, list(renames))
    if not renamer.changed:
        return new_module
    starts = first_lines(module, {docstring for docstring, _, _ in renamer.changed})
    changed_lines = [(starts[docstring] + offset, text) for docstring, offset, text in renamer.changed]
    new_name = next(iter(renames.values()))
    lines = ", ".join(str(line) for line, _ in changed_lines)
    context.report.info(task.id, f"renamed old factory names in docstrings (lines {lines})", path)
    for line, text in changed_lines:
        if f"{new_name}(" in text or text.startswith((">>>", "...")):
            context.report.warn(
                task.id,
                f"line {line}: docstring example `{text}` now names {new_name}(); it needs variant= and "
                "only that function's parameters -- check it by hand (doctests are not run)",
                path,
                line,
            )
    return new_module
