"""What kind of Python code each old name sits in, by LibCST: the classifier behind :mod:`occurrences`.

Only the top-level statements that hold an occurrence are parsed (``ast``
finds their boundaries, which is much cheaper than a LibCST parse of a whole
file); LibCST's ``PositionProvider`` and a parent map then say what each
occurrence is. The kinds are defined, and documented, in
:mod:`codemods.core.occurrences`.
"""

from __future__ import annotations

import ast
import bisect
import re
import textwrap
from collections.abc import Iterable

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from codemods.core import syntax
from codemods.core.cells import CELL_MARKER
from codemods.core.kinds import (
    ALL_ENTRY,
    ANNOTATION,
    ASSIGNMENT_TARGET,
    ATTRIBUTE,
    CALL,
    CLASS_DEFINITION,
    COMMENT,
    COMMENTED_OUT_CODE,
    DOCSTRING,
    DOCTEST,
    F_STRING,
    FUNCTION_DEFINITION,
    IDENTIFIER_CONTAINING,
    IMPORT,
    KEYWORD,
    KEYWORD_ARGUMENT,
    NAME,
    POSITIONAL_ARGUMENT,
    STRING,
)
from codemods.core.names import reads_as_prose
from codemods.core.occurrences import Names, Occurrence, line_at

_LEAVES = (cst.Name, cst.SimpleString, cst.FormattedStringText, cst.Comment)

def _statement_ends(text: str, cell: bool) -> list[int] | None:
    """Last line of each group of top-level statements (``None`` if ``ast`` cannot parse the text)."""
    try:
        flags = ast.PyCF_ONLY_AST | (ast.PyCF_ALLOW_TOP_LEVEL_AWAIT if cell else 0)
        tree = compile(text, "<check>", "exec", flags, dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    ends: list[int] = []
    for node in tree.body:
        start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", ()))])
        end = node.end_lineno or node.lineno
        if ends and start <= ends[-1]:
            ends[-1] = max(ends[-1], end)
        else:
            ends.append(end)
    return ends


def _snippets(ends: list[int], hit_lines: Iterable[int], last_line: int) -> list[tuple[int, int]]:
    """Line ranges to parse: the statements (with their leading comments) that hold a hit, merged."""
    chunks = sorted({bisect.bisect_left(ends, line) for line in hit_lines})
    ranges: list[tuple[int, int]] = []
    previous = None
    for chunk in chunks:
        start = ends[chunk - 1] + 1 if chunk > 0 else 1
        end = ends[chunk] if chunk < len(ends) else last_line
        if previous is not None and previous == chunk - 1:
            ranges[-1] = (ranges[-1][0], end)
        else:
            ranges.append((start, end))
        previous = chunk
    return ranges


def classify(text: str, lines: list[str], hits: list[Occurrence], names: Names, cell: bool = False) -> str | None:
    """Give every hit without a kind its kind; returns why the text does not parse, or None."""
    pending = [h for h in hits if h.kind is None]
    if not pending:
        return None
    ends = _statement_ends(text, cell)
    # A notebook cell sees the imports of other cells: there every attribute stays reported.
    imported = None if cell else _import_line_names(text)
    whole = [(1, len(lines))]
    ranges = whole if ends is None else _snippets(ends, (h.line for h in pending), len(lines))
    while True:
        try:
            for first, last in ranges:
                inside = [h for h in pending if first <= h.line <= last]
                module = cst.parse_module("\n".join(lines[first - 1 : last]) + "\n")
                _classify_module(module, first, inside, names, lines, first == 1 and not cell, imported)
            return None
        except cst.ParserSyntaxError as error:
            if ranges is whole:  # Python names the line to fix; LibCST where it gave up
                return syntax.describe(text, cell=cell) or f"line {error.raw_line}: {error.message}"
            ranges = whole  # a statement that only parses in context: parse the file once


_IMPORT_LINE = re.compile(r"^\s*(?:from\s+[\w.]+\s+)?import\s+(.*)$", re.MULTILINE)
_WORDS = re.compile(r"[A-Za-z_]\w*")


def _import_line_names(text: str) -> frozenset[str]:
    """Every identifier on an import line of ``text``: more than the names imports bind, never fewer."""
    return frozenset(word for line in _IMPORT_LINE.findall(text) for word in _WORDS.findall(line))


_DEFINITIONS = frozenset({ASSIGNMENT_TARGET, FUNCTION_DEFINITION, CLASS_DEFINITION})


def _defined_in_class(node: cst.CSTNode, parents) -> bool:
    """Whether the scope that ``node`` binds a name in is a class body."""
    current = parents.get(node)
    if isinstance(current, (cst.FunctionDef, cst.ClassDef)) and current.name is node:
        current = parents.get(current)  # the definition's own name is bound in the scope around it
    while current is not None and not isinstance(current, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
        current = parents.get(current)
    return isinstance(current, cst.ClassDef)


def _attribute_root(node: cst.Name, parents) -> cst.BaseExpression:
    """``a`` of ``a.b.old``: the object an attribute chain starts from."""
    value = parents[node].value
    while isinstance(value, cst.Attribute):
        value = value.value
    return value


def _classify_module(
    module, first_line: int, hits: list[Occurrence], names: Names, lines: list[str], file_start: bool,
    imported: frozenset[str] | None = None,
):
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    positions = wrapper.resolve(PositionProvider)
    parents = _parent_map(wrapper.module)
    offset = first_line - 1
    leaves = []
    for node, span in positions.items():
        if type(node) in _LEAVES and names.pattern.search(node.value):
            start = (span.start.line + offset, span.start.column)
            leaves.append((start, (span.end.line + offset, span.end.column), node))
    leaves.sort(key=lambda leaf: leaf[0])
    starts = [leaf[0] for leaf in leaves]
    for hit in hits:
        where = (hit.line, hit.col)
        index = bisect.bisect_right(starts, where) - 1
        node = leaves[index][2] if index >= 0 and where < leaves[index][1] else None
        kind = _node_kind(node, parents, hit, lines, file_start) if node is not None else NAME
        if isinstance(node, cst.Comment):
            hit.prose = "comment"
        elif isinstance(node, (cst.SimpleString, cst.FormattedStringText)):
            hit.prose = "string" if reads_as_prose(node.value) else "token"
        hit.kind = IDENTIFIER_CONTAINING if hit.substring else kind
        if kind == ATTRIBUTE and not hit.substring and imported is not None:
            # apply renames ``module.old`` only through an import of the module (bindings.py).
            root = _attribute_root(node, parents)
            hit.unrelated = not (isinstance(root, cst.Name) and root.value in imported)
        elif kind in _DEFINITIONS and not hit.substring and _defined_in_class(node, parents):
            hit.unrelated = True  # a method or class attribute: no module-level binding, apply leaves it


class _Parents(cst.CSTVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list = []
        self.parents: dict = {}

    def on_visit(self, node) -> bool:
        if self.stack:
            self.parents[node] = self.stack[-1]
        self.stack.append(node)
        return True

    def on_leave(self, original_node) -> None:
        self.stack.pop()


def _parent_map(module) -> dict:
    """Each node's parent: what LibCST's ParentNodeProvider gives, without its fixed cost per call.

    ParentNodeProvider runs as a batched visitor, whose set-up inspects every
    visitor method (several milliseconds per module); a check parses many small
    snippets, so one plain traversal that keeps a stack is used instead.
    """
    visitor = _Parents()
    module.visit(visitor)
    return visitor.parents


def _node_kind(node, parents, hit: Occurrence, lines: list[str], file_start: bool) -> str:
    if isinstance(node, cst.Comment):
        return _comment_kind(node, hit, lines)
    if isinstance(node, cst.FormattedStringText):
        return F_STRING
    if isinstance(node, cst.SimpleString):
        return _string_kind(node, parents, hit, lines, file_start)
    return _name_kind(node, parents)


def name_kind(node: cst.Name, parents) -> str:
    """The kind of a Name node, given a node -> parent mapping (ParentNodeProvider's metadata will do)."""
    return _name_kind(node, parents)


def _name_kind(node, parents) -> str:
    parent = parents.get(node)
    if isinstance(parent, cst.ClassDef) and parent.name is node:
        return CLASS_DEFINITION
    if isinstance(parent, cst.FunctionDef) and parent.name is node:
        return FUNCTION_DEFINITION
    ancestor = parent
    while ancestor is not None and not isinstance(ancestor, (cst.BaseCompoundStatement, cst.Module)):
        if isinstance(ancestor, (cst.Import, cst.ImportFrom)):
            return IMPORT
        if isinstance(ancestor, cst.FormattedStringExpression):
            return F_STRING
        if isinstance(ancestor, cst.Annotation):
            return ANNOTATION
        if isinstance(ancestor, cst.BaseSmallStatement):
            break
        ancestor = parents.get(ancestor)
    if isinstance(parent, cst.Attribute) and parent.attr is node:
        return ATTRIBUTE
    if isinstance(parent, cst.Call) and parent.func is node:
        return CALL
    if isinstance(parent, cst.Arg) and parent.keyword is node:
        return KEYWORD
    # `name.attr` / `name[i]` used as a whole: classify by where that expression sits.
    current = node
    while isinstance(parents.get(current), (cst.Attribute, cst.Subscript)) and parents[current].value is current:
        current = parents[current]
    holder = parents.get(current)
    if isinstance(holder, cst.Arg) and holder.value is current and isinstance(parents.get(holder), cst.Call):
        return KEYWORD_ARGUMENT if holder.keyword is not None else POSITIONAL_ARGUMENT
    if _is_assignment_target(node, parents):
        return ASSIGNMENT_TARGET
    return NAME


def _is_assignment_target(node, parents) -> bool:
    current = node
    while True:
        parent = parents.get(current)
        if parent is None:
            return False
        if isinstance(parent, (cst.AssignTarget, cst.AugAssign, cst.AnnAssign, cst.For, cst.CompFor, cst.NamedExpr)):
            return getattr(parent, "target", None) is current
        if isinstance(parent, cst.AsName):
            return parent.name is current
        if isinstance(parent, (cst.Element, cst.StarredElement, cst.Tuple, cst.List)):
            current = parent
            continue
        if isinstance(parent, (cst.Attribute, cst.Subscript)) and parent.value is current:
            current = parent
            continue
        return False


def _string_kind(node, parents, hit: Occurrence, lines: list[str], file_start: bool) -> str:
    current = node
    while isinstance(parents.get(current), cst.ConcatenatedString):
        current = parents[current]
    ancestor = parents.get(current)
    while ancestor is not None and not isinstance(ancestor, (cst.BaseStatement, cst.Module)):
        if isinstance(ancestor, cst.Annotation):
            return ANNOTATION
        ancestor = parents.get(ancestor)
    if _is_all_entry(current, parents):
        return ALL_ENTRY
    if _is_docstring(current, parents, file_start):
        return DOCTEST if _in_doctest(lines, hit.line) else DOCSTRING
    return STRING


def _is_all_entry(node, parents) -> bool:
    current = node
    while True:
        parent = parents.get(current)
        if isinstance(parent, (cst.Element, cst.List, cst.Tuple, cst.Set, cst.BinaryOperation)):
            current = parent
            continue
        if isinstance(parent, cst.Arg):
            call = parents.get(parent)
            func = getattr(call, "func", None)
            return isinstance(func, cst.Attribute) and _is_dunder_all(func.value)
        if isinstance(parent, cst.Assign):
            return parent.value is current and any(_is_dunder_all(t.target) for t in parent.targets)
        if isinstance(parent, (cst.AugAssign, cst.AnnAssign)):
            return parent.value is current and _is_dunder_all(parent.target)
        return False


def _is_dunder_all(node) -> bool:
    return isinstance(node, cst.Name) and node.value == "__all__"


def _is_docstring(node, parents, file_start: bool) -> bool:
    expr = parents.get(node)
    if not isinstance(expr, cst.Expr) or expr.value is not node:
        return False
    holder = parents.get(expr)
    if isinstance(holder, cst.SimpleStatementSuite):  # def f(): "doc"
        return holder.body[0] is expr and isinstance(parents.get(holder), (cst.ClassDef, cst.FunctionDef))
    if not isinstance(holder, cst.SimpleStatementLine) or holder.body[0] is not expr:
        return False
    block = parents.get(holder)
    if isinstance(block, cst.Module):
        return file_start and bool(block.body) and block.body[0] is holder
    return (
        isinstance(block, cst.IndentedBlock)
        and block.body[0] is holder
        and isinstance(parents.get(block), (cst.ClassDef, cst.FunctionDef))
    )


def _in_doctest(lines: list[str], number: int) -> bool:
    while number >= 1:
        stripped = line_at(lines, number).lstrip()
        if stripped.startswith(">>>"):
            return True
        if not stripped.startswith("..."):
            return False
        number -= 1
    return False


def _comment_kind(node, hit: Occurrence, lines: list[str]) -> str:
    own_line = line_at(lines, hit.line).lstrip().startswith("#")
    if _looks_like_code(node.value.lstrip("#")):
        return COMMENTED_OUT_CODE
    if own_line and _block_is_code(lines, hit.line):
        return COMMENTED_OUT_CODE
    return COMMENT


def _looks_like_code(source: str) -> bool:
    """True when the text parses as Python and is more than a bare word, number or ``Label: word``."""
    source = textwrap.dedent(source).strip("\n")
    if not source.strip():
        return False
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    for statement in tree.body:
        if isinstance(statement, ast.Expr) and isinstance(statement.value, (ast.Name, ast.Constant)):
            continue
        if isinstance(statement, ast.AnnAssign) and statement.value is None:
            continue  # "Note: something" is prose, not a bare annotation
        return True
    return False


def _block_is_code(lines: list[str], number: int, reach: int = 12) -> bool:
    """A full-line comment that is part of a commented-out statement spanning several lines."""
    indent = len(line_at(lines, number)) - len(line_at(lines, number).lstrip())

    def body(n: int) -> str | None:
        text = line_at(lines, n)
        stripped = text.lstrip()
        if not stripped.startswith("#") or len(text) - len(stripped) != indent or CELL_MARKER.match(stripped):
            return None
        content = stripped[1:]
        return content[1:] if content.startswith(" ") else content

    first = number
    while first > 1 and number - first < reach and body(first - 1) is not None:
        first -= 1
    last = number
    while last < len(lines) and last - number < reach and body(last + 1) is not None:
        last += 1
    if first == last:
        return False
    for start in range(number, first - 1, -1):
        for end in range(max(number, start + 1), last + 1):
            if _looks_like_code("\n".join(body(n) or "" for n in range(start, end + 1))):
                return True
    return False

