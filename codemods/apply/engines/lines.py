"""Line numbers of a few nodes, from one code generation pass.

LibCST's ``PositionProvider`` records a range for every node of the tree, which
costs several times a parse on a 3,000-line notebook-script; the engines only
need the first line of the handful of nodes they report. Generating the code
once and counting newlines when one of those nodes starts gives the same lines
(the syntactic start, as ``PositionProvider`` gives it) for a fraction of that.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Collection, Iterator
from contextlib import contextmanager

import libcst as cst
from libcst._nodes.internal import CodegenState

from codemods.apply.memo import module_code, per_tree


class _LineRecordingState(CodegenState):
    def __init__(self, module: cst.Module, targets: Collection[cst.CSTNode]):
        super().__init__(default_indent=module.default_indent, default_newline=module.default_newline)
        self.targets = targets
        self.lines: dict[cst.CSTNode, int] = {}
        self._line = 1
        self._counted = 0

    def _current_line(self) -> int:
        tokens = self.tokens
        for index in range(self._counted, len(tokens)):
            token = tokens[index]
            # As PositionProvider counts them: \r\n, a lone \r and \n each end a line.
            self._line += token.count("\n") + token.count("\r") - token.count("\r\n")
        self._counted = len(tokens)
        return self._line

    def before_codegen(self, node: cst.CSTNode) -> None:
        if node in self.targets and node not in self.lines:
            self.lines[node] = self._current_line()

    @contextmanager
    def record_syntactic_position(
        self, node: cst.CSTNode, *, start_node: cst.CSTNode | None = None, end_node: cst.CSTNode | None = None
    ) -> Iterator[None]:
        # A statement's syntactic start comes after its leading comments and blank lines.
        if node in self.targets:
            self.lines[node] = self._current_line()
        yield


def statements_mentioning(module: cst.Module, words: Collection[str]) -> list[tuple[int, cst.BaseStatement]]:
    """(index, statement) of the top-level statements whose text holds one of ``words``: the filter before a walk."""
    mentions = Mentions(module, words, module_code(module))
    return [(index, stmt) for index, stmt in enumerate(module.body) if mentions(stmt)]


def first_lines(module: cst.Module, nodes: Collection[cst.CSTNode]) -> dict[cst.CSTNode, int]:
    """The 1-based line where each of ``nodes`` starts in ``module``'s code."""
    if not nodes:
        return {}
    state = _LineRecordingState(module, nodes if isinstance(nodes, (set, frozenset, dict)) else set(nodes))
    module._codegen(state)
    return state.lines


# Fields that only hold whitespace, punctuation or operators: never a name.
_SKIPPED_FIELDS = re.compile(
    r"^(whitespace.*|.*_whitespace.*|lpar|rpar|leading_lines|lines_after_decorators|header|footer|comma|"
    r"semicolon|colon|equal|operator|dot|star_tok|lbracket|rbracket|lbrace|rbrace|newline|"
    r"trailing_whitespace|asynchronous|relative)$"
)
_FIELDS: dict[type, tuple[str, ...]] = {}
_FIELDS: dict[type, tuple[str, ...]] = {}
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def children(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    names = _FIELDS.get(type(node))
    if names is None:
        names = _FIELDS[type(node)] = tuple(f for f in node.__dataclass_fields__ if not _SKIPPED_FIELDS.match(f))
    for name in names:
        value = getattr(node, name)
        if isinstance(value, cst.CSTNode):
            yield value
        elif isinstance(value, (tuple, list)):
            for item in value:
                if isinstance(item, cst.CSTNode):
                    yield item


@functools.lru_cache(maxsize=8)
def _statement_spans(source: str) -> tuple[ast.stmt, ...] | None:
    """Every statement ``ast`` finds in a source, in order; several name filters ask about one text."""
    try:
        return tuple(_ast_statements(ast.parse(source).body))
    except (SyntaxError, ValueError, RecursionError):
        return None


@per_tree
def _cst_units(module: cst.Module) -> list[tuple[cst.BaseStatement | None, int]]:
    return list(_cst_statements(module.body))


class Mentions:
    """Whether a node's source text contains one of the names (memoised: nodes are shared)."""

    def __init__(self, module: cst.Module, names: Collection[str], source: str | None = None):
        self.module = module
        self.names = tuple(names)
        self._seen: dict[int, bool] = {}
        if source is not None:
            self._from_spans(source)

    def _from_spans(self, source: str) -> None:
        """Answer for every statement from the line spans ``ast`` finds: code generation costs far more."""
        spans = _statement_spans(source)
        if spans is None:
            return
        units = _cst_units(self.module)
        if sum(count for _, count in units) != len(spans):
            return
        lines = _LINE_BREAK.split(source)  # ast's line breaks; splitlines() also breaks at \f and others
        blank = [not line.strip() or line.lstrip().startswith("#") for line in lines]
        hits = [0]
        for line in lines:
            hits.append(hits[-1] + any(name in line for name in self.names))
        index = 0
        for statement, count in units:
            group, index = spans[index : index + count], index + count
            if statement is None:
                continue
            first = group[0]
            start = min([first.lineno] + [d.lineno for d in getattr(first, "decorator_list", ())]) - 1
            end = max(span.end_lineno for span in group)
            # Comment lines around a statement (leading lines, a block's footer) belong to it or its neighbour.
            while start > 0 and blank[start - 1]:
                start -= 1
            while end < len(lines) and blank[end]:
                end += 1
            self._seen[id(statement)] = hits[end] > hits[start]

    def __call__(self, node: cst.CSTNode) -> bool:
        key = id(node)
        if key not in self._seen:
            code = self.module.code_for_node(node)
            self._seen[key] = any(name in code for name in self.names)
        return self._seen[key]


def _cst_statements(statements) -> Iterator[tuple[cst.BaseStatement | None, int]]:
    """Statements in source order, each with how many ``ast`` statements it stands for."""
    for statement in statements:
        if isinstance(statement, cst.SimpleStatementLine):
            yield statement, len(statement.body)
            continue
        yield statement, 1
        for child in children(statement):
            if isinstance(child, cst.If):  # elif
                yield from _cst_statements([child])
                continue
            if isinstance(child, (cst.Else, cst.Finally, cst.ExceptHandler, cst.ExceptStarHandler, cst.MatchCase)):
                child = child.body
            if isinstance(child, cst.SimpleStatementSuite):
                yield None, len(child.body)
            elif isinstance(child, cst.IndentedBlock):
                yield from _cst_statements(child.body)


def _ast_statements(statements) -> Iterator[ast.stmt]:
    for statement in statements:
        yield statement
        for name in ("body", "handlers", "orelse", "finalbody", "cases"):
            for item in getattr(statement, name, ()):
                yield from _ast_statements(item.body if isinstance(item, (ast.ExceptHandler, ast.match_case)) else [item])
