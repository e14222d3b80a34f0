"""`refactor check`: find the recipe's old names where they must not come back.

After the migration a CI job or a pre-commit hook runs this over the repository.
Every occurrence of an old name in Python files and notebooks is reported with
its path, line, column, kind (one of :data:`KINDS`) and suggested new name,
except in the places the recipe allows: the legacy and deprecated-alias tail
sections (from their banner to the end of the module, found by the banner text,
never by line numbers) and lines carrying a ``# refactor: allow-stale`` comment.

Speed on big trees comes from doing as little as possible per file. Files are
listed by ``git ls-files`` (or one ``os.scandir`` walk outside git). A cheap text
pre-filter picks the files that mention an old name at all: in a git work tree
``git grep -F -l`` (started before the listing, so both run at once), elsewhere
reading every file's bytes and testing them with ``in``. Only a picked file is
decoded, and only if an old name sits outside the allowed places is it parsed,
and then only the top-level statements that hold one (``ast`` finds their
boundaries; LibCST, with ``PositionProvider`` positions and a parent map,
classifies each occurrence). Many files are spread over worker processes.

Paths: ``Finding.path`` is ROOT as given joined with the file's path inside it
(``refactor check .`` gives ``src/x.py``, ``refactor check repo`` gives
``repo/src/x.py``), so that it is valid from where the check was started, as
GitHub annotations and SARIF viewers expect.

Positions: lines are 1-based; columns are 1-based and counted in characters
(Unicode code points), so an emoji before a name counts as one column (a few
emoji are two code points, like ``⚠️``). ``byte_column`` gives the UTF-8 byte
column as well. In a notebook, ``line``/``column`` are counted inside the cell's
source (or inside the output's text) and ``cell`` is the 0-based index in the
notebook's ``cells`` list; ``file_line``/``file_column`` point into the ``.ipynb``
JSON text itself, which is what CI annotations use.
"""

from __future__ import annotations

import ast
import bisect
import errno
import fnmatch
import json
import os
import posixpath
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codemods.core.names import snake_case, substring_pattern
from codemods.core.recipe import Recipe
from codemods.core.sections import allowed_tail_start
from codemods.core.workspace import Workspace, WorkspaceError

# ----------------------------------------------------------------------- kinds
CLASS_DEFINITION = "class definition"
FUNCTION_DEFINITION = "function definition"
IMPORT = "import"
CALL = "call"
ATTRIBUTE = "attribute"
ALL_ENTRY = "__all__ entry"
ANNOTATION = "annotation"
ASSIGNMENT_TARGET = "assignment target"
KEYWORD_ARGUMENT = "keyword argument value"
POSITIONAL_ARGUMENT = "positional argument"
NAME = "name"
STRING = "string"
F_STRING = "f-string"
DOCSTRING = "docstring"
DOCTEST = "doctest"
COMMENT = "comment"
COMMENTED_OUT_CODE = "commented-out code"
MARKDOWN_CELL = "markdown cell"
NOTEBOOK_OUTPUT = "notebook output"
IDENTIFIER_CONTAINING = "identifier containing an old name"
UNPARSED_TEXT = "unparsed text"

#: Every kind a finding can have; these strings are part of the JSON output.
KINDS = (
    CLASS_DEFINITION, FUNCTION_DEFINITION, IMPORT, CALL, ATTRIBUTE, ALL_ENTRY, ANNOTATION, ASSIGNMENT_TARGET,
    KEYWORD_ARGUMENT, POSITIONAL_ARGUMENT, NAME, STRING, F_STRING, DOCSTRING, DOCTEST, COMMENT,
    COMMENTED_OUT_CODE, MARKDOWN_CELL, NOTEBOOK_OUTPUT, IDENTIFIER_CONTAINING, UNPARSED_TEXT,
)

#: The per-line escape hatch (it works like a noqa comment). In a notebook's markdown cell an
#: HTML comment works too: ``<!-- refactor: allow-stale -->``.
ALLOW_MARKER = "refactor: allow-stale"
_ALLOW = re.compile(r"(?:#|<!--)\s*refactor:\s*allow-stale(?![\w-])")

SUFFIXES = (".py", ".ipynb")
# Below this many files to read, or candidate files to parse, one process is faster than starting workers.
PARALLEL_MIN_FILES = 1500
PARALLEL_MIN_CANDIDATES = 64
# Below these a progress bar would only flicker.
PROGRESS_MIN_FILES = 2000
PROGRESS_MIN_CANDIDATES = 200

_WORD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_CELL_MARKER = re.compile(r"^#\s?%%(?:\s|$)")
_MARKDOWN_MARKER = re.compile(r"^#\s?%%.*\[(?:markdown|md)\]")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')


class CheckError(RuntimeError):
    """The check cannot run at all (unreadable root, unusable recipe)."""


@dataclass
class Finding:
    """One old name found where it is not allowed."""

    path: str
    line: int
    column: int
    old_name: str
    kind: str
    suggestion: str
    source_line: str
    cell: int | None = None
    byte_column: int | None = None
    file_line: int | None = None
    file_column: int | None = None

    @property
    def severity(self) -> str:
        """Stored notebook outputs record past runs, not code: they warn without failing the check."""
        return "warning" if self.kind == NOTEBOOK_OUTPUT else "error"

    def to_dict(self) -> dict[str, Any]:
        """The JSON form; the keys and their order are stable."""
        return {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "byte_column": self.byte_column,
            "cell": self.cell,
            "file_line": self.file_line if self.file_line is not None else self.line,
            "file_column": self.file_column if self.file_column is not None else self.column,
            "old_name": self.old_name,
            "kind": self.kind,
            "suggestion": self.suggestion,
            "source_line": self.source_line,
            "severity": self.severity,
        }

    @property
    def location(self) -> str:
        """``path:line:column``, or ``path[cell N]:line:column`` in a notebook."""
        cell = f"[cell {self.cell}]" if self.cell is not None else ""
        return f"{self.path}{cell}:{self.line}:{self.column}"


@dataclass
class CheckResult:
    findings: list[Finding]
    files_scanned: int
    files_parsed: int
    unparsed: list[str]
    errors: list[str]
    # Things worth saying at verbose level: skipped symlinks, why a file did not parse.
    notes: list[str] = field(default_factory=list)
    # Files whose bytes passed the pre-filter (they mention an old name somewhere).
    files_matched: int = 0
    # ROOT as given; finding paths are ROOT joined with the path inside it.
    root: str = "."

    @property
    def failures(self) -> list[Finding]:
        """Findings that fail the check (stored notebook outputs only warn)."""
        return [finding for finding in self.findings if finding.severity == "error"]

    @property
    def exit_code(self) -> int:
        """2 when a file could not be read, else 1 when anything stale was found in code or text, else 0."""
        if self.errors:
            return 2
        return 1 if self.failures else 0


# ----------------------------------------------------------------------- names
@dataclass(frozen=True)
class _Names:
    """The old names that apply to one file."""

    exact: dict[str, str]  # old -> suggested new name
    substrings: dict[str, str]  # old names also looked for inside longer identifiers
    style: str  # rename_policy.substring_style
    pattern: re.Pattern[str]

    def splice(self, identifier: str) -> str:
        for old, new in self.substrings.items():
            piece = snake_case(new) if self.style == "snake_case" else new
            identifier = substring_pattern(old).sub(piece, identifier)
        return identifier


class _Hit:
    """An old name found in some text, before and after it is classified."""

    __slots__ = ("offset", "line", "col", "old", "suggestion", "substring", "kind", "text_kind")

    def __init__(self, offset: int, line: int, col: int, old: str, suggestion: str, substring: bool):
        self.offset, self.line, self.col = offset, line, col  # col: 0-based, in characters
        self.old, self.suggestion, self.substring = old, suggestion, substring
        self.kind: str | None = None
        self.text_kind: str | None = None  # "comment" / "string" when the hit is in prose, for the rename policy


def _find_hits(text: str, names: _Names) -> list[_Hit]:
    """Every whole-word old name, and every longer identifier holding one, with its line and column."""
    hits: list[_Hit] = []
    line, line_start, scanned = 1, 0, 0
    last_token = -1
    size = len(text)
    for match in names.pattern.finditer(text):
        start, end = match.span()
        old = match.group()
        token_start = start
        while token_start > 0 and text[token_start - 1] in _WORD:
            token_start -= 1
        token_end = end
        while token_end < size and text[token_end] in _WORD:
            token_end += 1
        if token_start == last_token:
            continue  # a second old name inside the same identifier: reported once
        if token_start == start and token_end == end:
            suggestion, substring = names.exact[old], False
        else:
            if old not in names.substrings:
                continue
            if not (start == token_start or text[start - 1] == "_") or not (end == token_end or text[end] == "_"):
                continue
            suggestion, substring = names.splice(text[token_start:token_end]), True
            start = token_start
        last_token = token_start
        newlines = text.count("\n", scanned, start)
        if newlines:
            line += newlines
            line_start = text.rfind("\n", 0, start) + 1
        scanned = start
        hits.append(_Hit(start, line, start - line_start, old, suggestion, substring))
    return hits


def _line_at(lines: list[str], number: int) -> str:
    return lines[number - 1].rstrip("\r") if 0 < number <= len(lines) else ""


# ------------------------------------------------------------------ python code
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


def _classify_python(text: str, lines: list[str], hits: list[_Hit], names: _Names, cell: bool = False) -> str | None:
    """Give every hit without a kind its kind; returns why the text does not parse, or None."""
    pending = [h for h in hits if h.kind is None]
    if not pending:
        return None
    import libcst as cst

    ends = _statement_ends(text, cell)
    whole = [(1, len(lines))]
    ranges = whole if ends is None else _snippets(ends, (h.line for h in pending), len(lines))
    while True:
        try:
            for first, last in ranges:
                inside = [h for h in pending if first <= h.line <= last]
                module = cst.parse_module("\n".join(lines[first - 1 : last]) + "\n")
                _classify_module(module, first, inside, names, lines, file_start=first == 1 and not cell)
            return None
        except cst.ParserSyntaxError as error:
            if ranges is whole:
                return f"line {error.raw_line}: {error.message}"
            ranges = whole  # a statement that only parses in context: parse the file once


def _classify_module(module, first_line: int, hits: list[_Hit], names: _Names, lines: list[str], file_start: bool):
    import libcst as cst
    from libcst.metadata import MetadataWrapper, PositionProvider

    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    positions = wrapper.resolve(PositionProvider)
    parents = _parent_map(wrapper.module)
    leaf_types = (cst.Name, cst.SimpleString, cst.FormattedStringText, cst.Comment)
    offset = first_line - 1
    leaves = []
    for node, span in positions.items():
        if type(node) in leaf_types and names.pattern.search(node.value):
            start = (span.start.line + offset, span.start.column)
            leaves.append((start, (span.end.line + offset, span.end.column), node))
    leaves.sort(key=lambda leaf: leaf[0])
    starts = [leaf[0] for leaf in leaves]
    for hit in hits:
        where = (hit.line, hit.col)
        index = bisect.bisect_right(starts, where) - 1
        node = leaves[index][2] if index >= 0 and where < leaves[index][1] else None
        kind = _node_kind(cst, node, parents, hit, lines, file_start) if node is not None else NAME
        if isinstance(node, cst.Comment):
            hit.text_kind = "comment"
        elif isinstance(node, (cst.SimpleString, cst.FormattedStringText)):
            hit.text_kind = "string"
        hit.kind = IDENTIFIER_CONTAINING if hit.substring else kind


_PARENTS_VISITOR = None


def _parent_map(module) -> dict:
    """Each node's parent: what LibCST's ParentNodeProvider gives, without its fixed cost per call.

    ParentNodeProvider runs as a batched visitor, whose set-up inspects every
    visitor method (several milliseconds per module); a check parses many small
    snippets, so one plain traversal that keeps a stack is used instead.
    """
    global _PARENTS_VISITOR
    if _PARENTS_VISITOR is None:
        import libcst as cst

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

        _PARENTS_VISITOR = _Parents
    visitor = _PARENTS_VISITOR()
    module.visit(visitor)
    return visitor.parents


def _node_kind(cst, node, parents, hit: _Hit, lines: list[str], file_start: bool) -> str:
    if isinstance(node, cst.Comment):
        return _comment_kind(node, hit, lines)
    if isinstance(node, cst.FormattedStringText):
        return F_STRING
    if isinstance(node, cst.SimpleString):
        return _string_kind(cst, node, parents, hit, lines, file_start)
    return _name_kind(cst, node, parents)


def _name_kind(cst, node, parents) -> str:
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
    # `name.attr` / `name[i]` used as a whole: classify by where that expression sits.
    current = node
    while isinstance(parents.get(current), (cst.Attribute, cst.Subscript)) and parents[current].value is current:
        current = parents[current]
    holder = parents.get(current)
    if isinstance(holder, cst.Arg) and holder.value is current and isinstance(parents.get(holder), cst.Call):
        return KEYWORD_ARGUMENT if holder.keyword is not None else POSITIONAL_ARGUMENT
    if _is_assignment_target(cst, node, parents):
        return ASSIGNMENT_TARGET
    return NAME


def _is_assignment_target(cst, node, parents) -> bool:
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


def _string_kind(cst, node, parents, hit: _Hit, lines: list[str], file_start: bool) -> str:
    current = node
    while isinstance(parents.get(current), cst.ConcatenatedString):
        current = parents[current]
    ancestor = parents.get(current)
    while ancestor is not None and not isinstance(ancestor, (cst.BaseStatement, cst.Module)):
        if isinstance(ancestor, cst.Annotation):
            return ANNOTATION
        ancestor = parents.get(ancestor)
    if _is_all_entry(cst, current, parents):
        return ALL_ENTRY
    if _is_docstring(cst, current, parents, file_start):
        return DOCTEST if _in_doctest(lines, hit.line) else DOCSTRING
    return STRING


def _is_all_entry(cst, node, parents) -> bool:
    current = node
    while True:
        parent = parents.get(current)
        if isinstance(parent, (cst.Element, cst.List, cst.Tuple, cst.Set, cst.BinaryOperation)):
            current = parent
            continue
        if isinstance(parent, cst.Arg):
            call = parents.get(parent)
            func = getattr(call, "func", None)
            return isinstance(func, cst.Attribute) and _is_dunder_all(cst, func.value)
        if isinstance(parent, cst.Assign):
            return parent.value is current and any(_is_dunder_all(cst, t.target) for t in parent.targets)
        if isinstance(parent, (cst.AugAssign, cst.AnnAssign)):
            return parent.value is current and _is_dunder_all(cst, parent.target)
        return False


def _is_dunder_all(cst, node) -> bool:
    return isinstance(node, cst.Name) and node.value == "__all__"


def _is_docstring(cst, node, parents, file_start: bool) -> bool:
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
        stripped = _line_at(lines, number).lstrip()
        if stripped.startswith(">>>"):
            return True
        if not stripped.startswith("..."):
            return False
        number -= 1
    return False


def _comment_kind(node, hit: _Hit, lines: list[str]) -> str:
    own_line = _line_at(lines, hit.line).lstrip().startswith("#")
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
    indent = len(_line_at(lines, number)) - len(_line_at(lines, number).lstrip())

    def body(n: int) -> str | None:
        text = _line_at(lines, n)
        stripped = text.lstrip()
        if not stripped.startswith("#") or len(text) - len(stripped) != indent or stripped.startswith("# %%"):
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


def _markdown_lines(lines: list[str]) -> set[int]:
    """Line numbers inside jupytext percent-format markdown cells (``# %% [markdown]`` to the next marker)."""
    inside, found = False, set()
    for number, line in enumerate(lines, 1):
        if _CELL_MARKER.match(line):
            inside = bool(_MARKDOWN_MARKER.match(line))
            continue
        if inside:
            found.add(number)
    return found


# --------------------------------------------------------------------- notebooks
class _Object(dict):
    """A JSON object that remembers its key order and duplicates, to line strings up with the text."""

    def __init__(self, pairs: list[tuple[str, Any]]):
        super().__init__(pairs)
        self.pairs = pairs


def _string_paths(value: Any, path: tuple = ()) -> Iterable[tuple | None]:
    if isinstance(value, _Object):
        for key, item in value.pairs:
            yield None
            yield from _string_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _string_paths(item, (*path, index))
    elif isinstance(value, str):
        yield path


class _JsonPositions:
    """Maps a character in a decoded JSON string back to its line and column in the file's text."""

    def __init__(self, text: str, document: Any):
        spans = [m.span() for m in _JSON_STRING.finditer(text)]
        paths = list(_string_paths(document))
        self.text = text
        self.spans = {p: s for p, s in zip(paths, spans, strict=True) if p is not None} if len(spans) == len(paths) else {}
        self.line_starts = [0, *(m.end() for m in re.finditer("\n", text))]

    def position(self, path: tuple, offset: int) -> tuple[int, int] | None:
        span = self.spans.get(path)
        if span is None:
            return None
        raw = span[0] + 1
        if "\\" in self.text[span[0] : span[1]]:
            index, decoded = raw, 0
            while decoded < offset and index < span[1] - 1:
                if self.text[index] == "\\":
                    if self.text[index + 1] == "u":
                        code = int(self.text[index + 2 : index + 6], 16)
                        pair = 0xD800 <= code < 0xDC00 and self.text[index + 6 : index + 8] == "\\u"
                        index += 12 if pair else 6
                    else:
                        index += 2
                else:
                    index += 1
                decoded += 1
            raw = index
        else:
            raw += offset
        line = bisect.bisect_right(self.line_starts, raw) - 1
        return line + 1, raw - self.line_starts[line] + 1


def _text_field(value: Any, path: tuple, separator: str = "") -> tuple[str, list[tuple[int, tuple]]]:
    """A notebook text field (a string or a list of strings) joined, with where each part starts."""
    if isinstance(value, str):
        return value, [(0, path)]
    parts, starts, length = [], [], 0
    if isinstance(value, list):
        for index, part in enumerate(value):
            if isinstance(part, str):
                if parts and separator:
                    parts.append(separator)
                    length += len(separator)
                starts.append((length, (*path, index)))
                parts.append(part)
                length += len(part)
    return "".join(parts), starts


def _mask_magics(source: str) -> str:
    """IPython magics and shell escapes (``%time``, ``!ls``) as comments of the same width."""
    if "%" not in source and "!" not in source:
        return source
    out = []
    for line in source.split("\n"):
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")):
            cut = len(line) - len(stripped)
            line = line[:cut] + "#" + stripped[1:]
        out.append(line)
    return "\n".join(out)


# ----------------------------------------------------------------------- scanner
@dataclass
class _Outcome:
    findings: list[Finding] = field(default_factory=list)
    scanned: int = 0
    matched: int = 0
    parsed: int = 0
    unparsed: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def merge(self, other: _Outcome) -> None:
        self.findings += other.findings
        self.scanned += other.scanned
        self.matched += other.matched
        self.parsed += other.parsed
        self.unparsed += other.unparsed
        self.errors += other.errors
        self.notes += other.notes


class _Scanner:
    """Everything a worker needs to scan files; small and picklable."""

    def __init__(self, directory: str, display_root: str, recipe: Recipe, single_file: str | None):
        self.directory = directory
        self.display_root = display_root
        self.recipe = recipe
        self.single_file = single_file
        self.main_file = single_file or recipe.main_file
        names = recipe.old_names
        if not names:
            raise CheckError(f"the recipe {recipe.source or recipe.name} names no old names to check")
        self.needles = tuple(sorted({n.encode() for n in names}, key=len, reverse=True))
        policy = recipe.rename_policy
        self.report_comments = policy.comments
        self.report_strings = policy.strings
        self._names: dict[str, _Names] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_names"] = {}
        return state

    # ------------------------------------------------------------------ names
    def names_for(self, relative: str) -> _Names:
        subject = relative
        if relative.endswith(".ipynb") and relative[: -len(".ipynb")] + ".py" == self.main_file:
            subject = self.main_file  # the paired notebook follows the main file's renames
        exact = {rename.old: rename.new for rename in self.recipe.renames_for(subject, self.main_file)}
        substrings: dict[str, str] = {}
        if self.recipe.rename_policy.substring_identifiers == "rename":
            substrings = {rename.old: rename.new for rename in self.recipe.all_renames if not rename.files}
        if self.recipe.config_module and self.recipe.config_function:
            for alias in self.recipe.config_module.deprecated:
                exact[alias.old] = self.recipe.config_function.name
        key = repr(sorted(exact.items()))
        if key not in self._names:
            alternation = "|".join(re.escape(n) for n in sorted(exact, key=len, reverse=True))
            self._names[key] = _Names(exact, substrings, self.recipe.rename_policy.substring_style, re.compile(alternation))
        return self._names[key]

    def display(self, relative: str) -> str:
        if self.single_file is not None:
            return self.display_root
        if self.display_root in ("", "."):
            return relative
        return posixpath.join(self.display_root, relative)

    # ------------------------------------------------------------------ files
    def scan_many(self, relatives: Sequence[str]) -> _Outcome:
        outcome = _Outcome()
        directory_fd = None
        if os.open in os.supports_dir_fd:
            try:
                directory_fd = os.open(self.directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
            except OSError:
                directory_fd = None
        try:
            for relative in relatives:
                self.scan_file(relative, outcome, directory_fd)
        finally:
            if directory_fd is not None:
                os.close(directory_fd)
        return outcome

    def _read(self, relative: str, directory_fd: int | None) -> bytes:
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
        if directory_fd is not None:
            descriptor = os.open(relative, flags, dir_fd=directory_fd)
        else:
            descriptor = os.open(os.path.join(self.directory, relative), flags)
        try:
            chunks = []
            while True:
                chunk = os.read(descriptor, 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
        finally:
            os.close(descriptor)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def scan_file(self, relative: str, outcome: _Outcome, directory_fd: int | None = None) -> None:
        outcome.scanned += 1
        try:
            data = self._read(relative, directory_fd)
        except FileNotFoundError:
            return  # tracked, but deleted from the work tree
        except OSError as error:
            if error.errno == errno.ELOOP:  # became a symlink since it was listed
                outcome.notes.append(f"{self.display(relative)}: skipped, a symlink (not followed)")
            else:
                outcome.errors.append(f"{self.display(relative)}: cannot read: {error.strerror or error}")
            return
        for needle in self.needles:
            if needle in data:
                break
        else:
            return
        outcome.matched += 1
        try:
            text = data.decode("utf-8")
            undecodable = None
        except UnicodeDecodeError as error:
            text = data.decode("utf-8", errors="replace")
            undecodable = f"not UTF-8 ({error.reason} at byte {error.start})"
        if text.startswith("\ufeff"):
            text = text[1:]
        try:
            if relative.endswith(".ipynb"):
                self._scan_notebook(relative, text, outcome, undecodable)
            else:
                self._scan_python(relative, text, outcome, undecodable)
        except Exception as error:  # noqa: BLE001 - one odd file must not hide the others' findings
            reason = f"internal error while classifying ({type(error).__name__}: {error})"
            self._unparsed(relative, text, reason, outcome)

    def _allowed(self, text: str) -> int | None:
        return allowed_tail_start(text, self.recipe)

    def _report(self, relative: str, hits: list[_Hit], lines: list[str], outcome: _Outcome, **extra) -> None:
        for hit in hits:
            if hit.text_kind == "comment" and not self.report_comments:
                continue
            if hit.text_kind == "string" and not self.report_strings:
                continue
            source = _line_at(lines, hit.line)
            outcome.findings.append(
                Finding(
                    path=self.display(relative),
                    line=hit.line,
                    column=hit.col + 1,
                    old_name=hit.old,
                    kind=hit.kind or NAME,
                    suggestion=hit.suggestion,
                    source_line=_ANSI.sub("", source) if extra.get("cell") is not None else source,
                    byte_column=len(source[: hit.col].encode("utf-8", errors="surrogatepass")) + 1,
                    **extra,
                )
            )

    def _unparsed(self, relative: str, text: str, reason: str, outcome: _Outcome) -> None:
        """A file that cannot be parsed: report every old name in it as unparsed text."""
        names = self.names_for(relative)
        hits = _find_hits(text, names)
        lines = text.split("\n")
        tail = self._allowed(text) if hits else None
        hits = [h for h in hits if (tail is None or h.line < tail) and not _ALLOW.search(_line_at(lines, h.line))]
        if not hits:
            return
        for hit in hits:
            hit.kind = UNPARSED_TEXT
        outcome.unparsed.append((self.display(relative), reason))
        self._report(relative, hits, lines, outcome)

    def _scan_python(self, relative: str, text: str, outcome: _Outcome, undecodable: str | None) -> None:
        if undecodable:
            self._unparsed(relative, text, undecodable, outcome)
            return
        names = self.names_for(relative)
        hits = _find_hits(text, names)
        if not hits:
            return
        lines = text.split("\n")
        tail = self._allowed(text)
        hits = [
            h for h in hits if (tail is None or h.line < tail) and not _ALLOW.search(_line_at(lines, h.line))
        ]
        if not hits:
            return
        if "%%" in text:
            markdown = _markdown_lines(lines)
            for hit in hits:
                if hit.line in markdown:
                    hit.kind, hit.text_kind = MARKDOWN_CELL, "comment"
                    if hit.substring:
                        hit.kind = IDENTIFIER_CONTAINING
        if any(h.kind is None for h in hits):
            outcome.parsed += 1
        reason = _classify_python(text, lines, hits, names)
        if reason is not None:
            self._unparsed(relative, text, f"does not parse: {reason}", outcome)
            return
        self._report(relative, hits, lines, outcome)

    def _scan_notebook(self, relative: str, text: str, outcome: _Outcome, undecodable: str | None) -> None:
        if undecodable:
            self._unparsed(relative, text, undecodable, outcome)
            return
        try:
            document = json.loads(text, object_pairs_hook=_Object)
        except (ValueError, RecursionError) as error:
            self._unparsed(relative, text, f"not a valid notebook (JSON: {error})", outcome)
            return
        cells = document.get("cells") if isinstance(document, dict) else None
        if not isinstance(cells, list):
            self._unparsed(relative, text, "not a notebook (no list of cells)", outcome)
            return
        names = self.names_for(relative)
        positions: _JsonPositions | None = None
        tail_reached = False
        parsed = False
        for index, cell in enumerate(cells):
            if not isinstance(cell, dict) or tail_reached:
                continue
            source, parts = _text_field(cell.get("source", ""), ("cells", index, "source"))
            fields = []
            tail = self._allowed(source) if source else None
            if tail is not None:
                tail_reached = True
            if names.pattern.search(source):
                hits = _find_hits(source, names)
                lines = source.split("\n")
                hits = [
                    h for h in hits if (tail is None or h.line < tail) and not _ALLOW.search(_line_at(lines, h.line))
                ]
                if hits:
                    if cell.get("cell_type") == "code":
                        parsed = True
                        reason = _classify_python(_mask_magics(source), lines, hits, names, cell=True)
                        if reason is not None:
                            outcome.unparsed.append((f"{self.display(relative)} (cell {index})", f"does not parse: {reason}"))
                            for hit in hits:
                                hit.kind = UNPARSED_TEXT
                    else:
                        for hit in hits:
                            hit.kind = IDENTIFIER_CONTAINING if hit.substring else MARKDOWN_CELL
                            hit.text_kind = "comment"
                    fields.append((hits, lines, parts))
            if tail is None:
                for number, output in enumerate(cell.get("outputs") or ()):
                    fields += self._output_fields(output, ("cells", index, "outputs", number), names)
            for hits, lines, parts in fields:
                if positions is None:
                    positions = _JsonPositions(text, document)
                for hit in hits:
                    start, path = parts[bisect.bisect_right([p[0] for p in parts], hit.offset) - 1]
                    place = positions.position(path, hit.offset - start)
                    extra = {"cell": index, "file_line": place[0] if place else None}
                    extra["file_column"] = place[1] if place else None
                    self._report(relative, [hit], lines, outcome, **extra)
        if parsed:
            outcome.parsed += 1

    def _output_fields(self, output: Any, path: tuple, names: _Names):
        if not isinstance(output, dict):
            return []
        texts = []
        if "text" in output:
            texts.append(_text_field(output["text"], (*path, "text")))
        data = output.get("data")
        if isinstance(data, dict):
            for mime, value in data.items():
                if mime.startswith("text/") or mime in ("application/javascript", "application/x-ipynb+json"):
                    texts.append(_text_field(value, (*path, "data", mime)))
        if "traceback" in output:
            texts.append(_text_field(output["traceback"], (*path, "traceback"), separator="\n"))
        if isinstance(output.get("evalue"), str):
            texts.append(_text_field(output["evalue"], (*path, "evalue")))
        fields = []
        for text, parts in texts:
            if not parts or not names.pattern.search(text):
                continue
            hits = _find_hits(text, names)
            for hit in hits:
                hit.kind = NOTEBOOK_OUTPUT
            if hits:
                fields.append((hits, text.split("\n"), parts))
        return fields


# ------------------------------------------------------------------- the check
_WORKER: _Scanner | None = None


def _init_worker(scanner: _Scanner) -> None:
    global _WORKER
    _WORKER = scanner


def _scan_chunk(relatives: list[str]) -> _Outcome:
    assert _WORKER is not None
    return _WORKER.scan_many(relatives)


def excluded(relative: str, patterns: Sequence[str]) -> bool:
    """Whether ``--exclude`` globs leave this file out: a glob matches the path, a parent or (without ``/``) a name."""
    if not patterns:
        return False
    parts = relative.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for raw in patterns:
        pattern = raw.strip()
        while pattern.startswith("./"):
            pattern = pattern[2:]
        pattern = pattern.rstrip("/")
        if not pattern:
            continue
        variants = {pattern, pattern[3:]} if pattern.startswith("**/") else {pattern}
        for glob in variants:
            if any(fnmatch.fnmatchcase(prefix, glob) for prefix in prefixes):
                return True
            if "/" not in glob and any(fnmatch.fnmatchcase(part, glob) for part in parts):
                return True
    return False


def _cpu_count() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def _display_root(root: Path) -> str:
    text = root.as_posix()
    return posixpath.normpath(text) if text not in ("", ".") else "."


def find_stale(
    root: Path,
    recipe: Recipe,
    exclude: Sequence[str] = (),
    jobs: int | None = None,
    progress: bool = False,
    *,
    prefilter: str = "auto",
) -> CheckResult:
    """Every old name of the recipe under ROOT outside the allowed places.

    ``exclude``: globs (``--exclude``) matched against paths inside ROOT, their
    parent directories and, without a ``/``, single names. ``jobs``: worker
    processes (default: the usable cores; 1 keeps everything in this process).
    ``progress``: a progress bar on stderr for long runs. ``prefilter``: how
    files are picked for a closer look: ``"git"`` (``git grep -F -l``, in a git
    work tree), ``"python"`` (read every file and test its bytes) or ``"auto"``
    (git where possible). Raises :class:`CheckError` when ROOT cannot be read.
    """
    if prefilter not in ("auto", "git", "python"):
        raise ValueError(f"prefilter must be 'auto', 'git' or 'python', not {prefilter!r}")
    root = Path(root)
    if not root.exists():
        raise CheckError(f"{root}: no such file or directory")
    if not os.access(root, os.R_OK | (os.X_OK if root.is_dir() else 0)):
        raise CheckError(f"{root}: permission denied")
    try:
        workspace = Workspace(root)
    except (WorkspaceError, OSError) as error:
        raise CheckError(str(error)) from None
    scanner = _Scanner(str(workspace.directory), _display_root(root), recipe, workspace.single_file)
    notes: list[str] = []
    grep = None
    if prefilter != "python" and workspace.git_root is not None and workspace.single_file is None:
        grep = _GitGrep.start(workspace.directory, recipe.old_names)  # runs while the files are listed
    try:
        listed = workspace.files(SUFFIXES, trust_index=True)
    except (WorkspaceError, OSError) as error:
        if grep is not None:
            grep.cancel()
        raise CheckError(str(error)) from None
    relatives = [r for r in listed if not excluded(r, exclude)]
    notes += [f"{scanner.display(r)}: skipped, {why}" for r, why in sorted(workspace.skipped_symlinks.items())]
    errors = [f"{scanner.display(r)}: cannot list: {why}" for r, why in sorted(workspace.unlistable.items())]

    to_scan = relatives
    prefiltered = False
    if grep is not None:
        matched = grep.finish()
        if matched is None:
            notes.append(f"git grep failed ({grep.problem}); every file was read instead")
        else:
            to_scan = [r for r in relatives if r in matched]
            prefiltered = True

    jobs = _cpu_count() if jobs is None else max(1, jobs)
    heavy = len(to_scan) >= (PARALLEL_MIN_CANDIDATES if prefiltered else PARALLEL_MIN_FILES)
    long_run = len(to_scan) >= (PROGRESS_MIN_CANDIDATES if prefiltered else PROGRESS_MIN_FILES)
    bar = _ProgressBar(len(to_scan)) if progress and long_run else None
    if jobs > 1 and heavy:
        if prefiltered and to_scan:
            import libcst  # noqa: F401 - imported once here, inherited by forked workers
        try:
            outcome = _scan_parallel(scanner, to_scan, jobs, bar)
        except (OSError, RuntimeError) as error:  # no process pool here: scan in this process
            notes.append(f"worker processes unavailable ({error}); scanned in one process")
            outcome = _scan_serial(scanner, to_scan, bar)
    else:
        outcome = _scan_serial(scanner, to_scan, bar)

    findings = sorted(outcome.findings, key=_order)
    unparsed = sorted({path for path, _ in outcome.unparsed})
    notes += outcome.notes
    notes += [f"{path}: {reason}; its old names are reported as {UNPARSED_TEXT!r}" for path, reason in outcome.unparsed]
    return CheckResult(
        findings=findings,
        files_scanned=len(relatives),
        files_parsed=outcome.parsed,
        unparsed=unparsed,
        errors=errors + outcome.errors,
        notes=notes,
        files_matched=outcome.matched,
        root=scanner.display_root,
    )


def _order(finding: Finding) -> tuple:
    """By file; in a notebook by cell, its source before its outputs, each in the order of the file."""
    return (
        finding.path,
        finding.cell if finding.cell is not None else -1,
        finding.kind == NOTEBOOK_OUTPUT,
        finding.file_line if finding.file_line is not None else finding.line,
        finding.file_column if finding.file_column is not None else finding.column,
    )


class _GitGrep:
    """``git grep -F -l`` over the work tree (tracked and untracked, .gitignore honoured) as the pre-filter.

    It only narrows the files that are read and classified: every file it names
    is read again and checked here, so it can never add a finding.
    """

    def __init__(self, process: subprocess.Popen | None, problem: str = ""):
        self.process = process
        self.problem = problem

    @classmethod
    def start(cls, directory: Path, names: Iterable[str]) -> _GitGrep:
        command = [
            "git", "-c", "grep.fullName=false", "-c", "grep.patternType=fixed", "-c", "core.quotePath=false",
            "grep", "-z", "-l", "-F", "--untracked", "--no-color", "--no-textconv",
        ]
        for name in sorted(names):
            command += ["-e", name]
        command += ["--", *(f"*{suffix}" for suffix in SUFFIXES)]
        try:
            process = subprocess.Popen(
                command, cwd=directory, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
            )
        except OSError as error:
            return cls(None, str(error))
        return cls(process)

    def finish(self) -> set[str] | None:
        """Relative paths of the files that mention an old name, or None when git could not tell."""
        if self.process is None:
            return None
        out, err = self.process.communicate()
        if self.process.returncode == 1:
            return set()  # no file mentions an old name
        if self.process.returncode != 0:
            message = err.decode("utf-8", "replace").strip().splitlines()
            self.problem = message[-1] if message else f"exit status {self.process.returncode}"
            return None
        return {p for p in out.decode("utf-8", "surrogateescape").split("\0") if p}

    def cancel(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


def _scan_serial(scanner: _Scanner, relatives: list[str], bar) -> _Outcome:
    if bar is None:
        return scanner.scan_many(relatives)
    outcome = _Outcome()
    step = 200
    with bar as (progress, task):
        for start in range(0, len(relatives), step):
            outcome.merge(scanner.scan_many(relatives[start : start + step]))
            progress.advance(task, len(relatives[start : start + step]))
    return outcome


def _scan_parallel(scanner: _Scanner, relatives: list[str], jobs: int, bar) -> _Outcome:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # Contiguous slices, a few per worker so that a slow slice does not leave a core idle.
    count = max(jobs * 4, 1)
    size = -(-len(relatives) // count)
    chunks = [relatives[i : i + size] for i in range(0, len(relatives), size)]
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork") if sys.platform == "linux" and "fork" in methods else None
    outcome = _Outcome()
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_init_worker, initargs=(scanner,)) as pool:
        # Workers start (fork) on the first submit, before any progress-bar thread exists.
        futures = {pool.submit(_scan_chunk, chunk): len(chunk) for chunk in chunks}
        if bar is None:
            for future in as_completed(futures):
                outcome.merge(future.result())
        else:
            with bar as (progress, task):
                for future in as_completed(futures):
                    outcome.merge(future.result())
                    progress.advance(task, futures[future])
    return outcome


class _ProgressBar:
    def __init__(self, total: int):
        self.total = total

    def __enter__(self):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("checking"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=Console(stderr=True), transient=True,
        )
        self.progress.__enter__()
        task = self.progress.add_task("files", total=self.total)
        return self.progress, task

    def __exit__(self, *exc_info) -> None:
        self.progress.__exit__(*exc_info)
