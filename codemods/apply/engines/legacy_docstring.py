"""The legacy class's new name and its LEGACY docstring, written over the original explanation."""

from __future__ import annotations

import re

import libcst as cst

from codemods.apply.engines.lines import LINE_BREAK
from codemods.core.names import word_pattern
from codemods.core.recipe import RenamePolicy

_STRING_PREFIX = re.compile(r"^[rRuU]*")


class RenameWholeWord(cst.CSTTransformer):
    """Old name -> new name inside the moved statements: code, and by policy strings and comments."""

    def __init__(self, old: str, new: str, policy: RenamePolicy):
        super().__init__()
        self.old, self.new = old, new
        self.policy = policy
        self.pattern = word_pattern([old])

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.Name:
        if updated_node.value == self.old:
            return updated_node.with_changes(value=self.new)
        return updated_node

    def leave_SimpleString(self, original_node: cst.SimpleString, updated_node: cst.SimpleString):
        if not self.policy.strings:
            return updated_node
        return updated_node.with_changes(value=self.pattern.sub(self.new, updated_node.value))

    def leave_FormattedStringText(self, original_node, updated_node):
        if not self.policy.strings:
            return updated_node
        return updated_node.with_changes(value=self.pattern.sub(self.new, updated_node.value))

    def leave_Comment(self, original_node: cst.Comment, updated_node: cst.Comment) -> cst.Comment:
        if not self.policy.comments:
            return updated_node
        return updated_node.with_changes(value=self.pattern.sub(self.new, updated_node.value))


def merged_docstring(original: str | None, legacy_text: str, indent: str, newline: str = "\n") -> str:
    """Docstring source: the plan's LEGACY text, a blank line, then the original explanation.

    The original's quotes, prefix and layout (text on the opening line or below
    it, closing quotes on their own line or not) are kept; a one-line string
    becomes triple-quoted. Lines end in the file's own ``newline``.
    """
    legacy_lines = legacy_text.strip("\n").splitlines()
    if original is None:
        body = [f"{indent}{line}" if line.strip() else "" for line in legacy_lines]
        return '"""' + newline + newline.join(body) + f'{newline}{indent}"""'
    prefix = _STRING_PREFIX.match(original).group(0)
    quoted = original[len(prefix) :]
    quote = quoted[:3] if quoted[:3] in ('"""', "'''") else quoted[0]
    triple = quote[0] * 3
    inner = quoted[len(quote) : -len(quote)]
    raw = "r" in prefix.lower()
    legacy_lines = [_escaped(line, triple, raw) for line in legacy_lines]

    lines = LINE_BREAK.split(inner)
    opens_below = len(lines) > 1 and not lines[0].strip()
    closes_alone = len(lines) == 1 or not lines[-1].strip()
    if opens_below:
        lines = lines[1:]
    else:
        lines[0] = indent + lines[0].lstrip()
    if len(lines) > 1 and not lines[-1].strip():
        lines = lines[:-1]
    explanation = lines if any(line.strip() for line in lines) else []

    legacy_block = [f"{indent}{line}" if line.strip() else "" for line in legacy_lines]
    if not opens_below:
        legacy_block[0] = legacy_block[0].lstrip()
    text_lines = [*legacy_block, "", *explanation] if explanation else legacy_block
    opening = f"{prefix}{triple}" + (newline if opens_below else "")
    closing = f"{newline}{indent}{triple}" if closes_alone else triple
    return opening + newline.join(text_lines) + closing


def _escaped(line: str, triple: str, raw: bool) -> str:
    if not raw:
        line = line.replace("\\", "\\\\")
    return line.replace(triple, "\\" + triple) if not raw else line


def with_legacy_docstring(cls: cst.ClassDef, legacy_text: str, module: cst.Module) -> cst.ClassDef:
    """The class with the plan's LEGACY text leading its docstring (unchanged when already there)."""
    if not legacy_text.strip():
        return cls
    block = cls.body
    if not isinstance(block, cst.IndentedBlock):  # `class X: pass` on one line
        block = cst.IndentedBlock(body=[cst.SimpleStatementLine(body=list(block.body))])
    indent = block.indent if block.indent is not None else module.default_indent
    first = block.body[0] if block.body else None
    docstring = _docstring_node(first)
    if docstring is not None:
        if legacy_text.strip().splitlines()[0].strip() in docstring.value:
            return cls.with_changes(body=block)
        new_value = merged_docstring(docstring.value, legacy_text, indent, module.default_newline)
        new_first = first.with_changes(
            body=[first.body[0].with_changes(value=docstring.with_changes(value=new_value))]
        )
        return cls.with_changes(body=block.with_changes(body=[new_first, *block.body[1:]]))
    statement = cst.SimpleStatementLine(
        body=[cst.Expr(cst.SimpleString(merged_docstring(None, legacy_text, indent, module.default_newline)))]
    )
    return cls.with_changes(body=block.with_changes(body=[statement, *block.body]))


def _docstring_node(stmt: cst.BaseStatement | None) -> cst.SimpleString | None:
    if (
        isinstance(stmt, cst.SimpleStatementLine)
        and len(stmt.body) == 1
        and isinstance(stmt.body[0], cst.Expr)
    ):
        value = stmt.body[0].value
        if isinstance(value, cst.SimpleString):
            return value
    return None


