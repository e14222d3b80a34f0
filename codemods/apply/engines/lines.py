"""Line numbers of a few nodes, and which statements mention a name, from remembered statement code.

LibCST's ``PositionProvider`` records a range for every node of the tree, which
costs several times a parse on a 3,000-line notebook-script; the engines only
need the first line of the handful of nodes they report. Each top-level
statement's code is generated once and remembered (see ``memo.statement_code``),
so a line is the newlines of the statements before it plus a short walk through
the one statement that holds the node: the syntactic start, as
``PositionProvider`` gives it.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Collection, Iterator
from contextlib import contextmanager

import libcst as cst
from libcst._nodes.internal import CodegenState

from codemods.apply.memo import known_code, per_tree, remembered_statement_code, statement_code


class _LineRecordingState(CodegenState):
    def __init__(self, module: cst.Module, targets: Collection[cst.CSTNode], first_line: int):
        super().__init__(default_indent=module.default_indent, default_newline=module.default_newline)
        self.targets = targets
        self.lines: dict[cst.CSTNode, int] = {}
        self._line = first_line
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
    mentions = Mentions(module, words)
    return [(index, stmt) for index, stmt in enumerate(module.body) if mentions(stmt)]


def first_lines(module: cst.Module, nodes: Collection[cst.CSTNode]) -> dict[cst.CSTNode, int]:
    """The 1-based line where each of ``nodes`` starts in ``module``'s code.

    Only the top-level statements that contain one of ``nodes`` are generated again; the
    others contribute their remembered line count.
    """
    targets = nodes if isinstance(nodes, (set, frozenset, dict)) else set(nodes)
    wanted = {id(node) for node in targets}
    lines: dict[cst.CSTNode, int] = {}
    line = 1
    for statement in (*module.header, *module.body, *module.footer):
        if len(lines) == len(wanted):
            break
        known = statement_code(module, statement)
        if any(key in known.nodes for key in wanted):
            state = _LineRecordingState(module, targets, line)
            statement._codegen(state)
            lines.update(state.lines)
        line += known.line_breaks
    return lines


# Fields that only hold whitespace, punctuation or operators: never a name.
_SKIPPED_FIELDS = re.compile(
    r"^(whitespace.*|.*_whitespace.*|lpar|rpar|leading_lines|lines_after_decorators|header|footer|comma|"
    r"semicolon|colon|equal|operator|dot|star_tok|lbracket|rbracket|lbrace|rbrace|newline|"
    r"trailing_whitespace|asynchronous|relative)$"
)
_FIELDS: dict[type, tuple[str, ...]] = {}
# As Python and PositionProvider count lines: \r\n, a lone \r and \n each end one.
LINE_BREAK = re.compile(r"\r\n|\r|\n")


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


class Mentions:
    """Whether a node's source text contains one of the names (memoised: nodes are shared).

    Statements a previous tree shared are answered from their remembered code. A freshly
    parsed tree is answered from its text: ``ast`` (the interpreter's parser, a tenth of
    LibCST's cost) gives every statement's lines, nested ones too, and a statement mentions
    a name when one of its lines, or of the comment lines around it, does.
    """

    def __init__(self, module: cst.Module, names: Collection[str], source: str | None = None):
        self.module = module
        self.names = tuple(names)
        self._seen: dict[int, bool] = {}
        self._top = {id(statement) for statement in module.body}
        text = source if source is not None else known_code(module)
        # A text that names none of them answers every question at once.
        self._nowhere = text is not None and not any(name in text for name in self.names)
        if text is not None and not self._nowhere and not self._mostly_remembered():
            self._from_spans(text)

    def _mostly_remembered(self) -> bool:
        remembered = sum(remembered_statement_code(self.module, s) is not None for s in self.module.body)
        return remembered * 2 >= len(self.module.body)

    def _from_spans(self, source: str) -> None:
        spans = _statement_spans(source)
        if spans is None:
            return
        units = _cst_units(self.module)
        if sum(count for _, count in units) != len(spans):
            return
        lines = LINE_BREAK.split(source)  # ast's line breaks; splitlines() also breaks at \f and others
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
        if self._nowhere:
            return False
        key = id(node)
        if key not in self._seen:
            if key in self._top:
                code = statement_code(self.module, node).code
            else:
                code = self.module.code_for_node(node)
            self._seen[key] = any(name in code for name in self.names)
        return self._seen[key]


@functools.lru_cache(maxsize=8)
def _statement_spans(source: str) -> tuple[ast.stmt, ...] | None:
    """Every statement ``ast`` finds in a source, in order; several name filters ask about one text."""
    try:
        return tuple(_ast_statements(ast.parse(source).body))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


@per_tree
def _cst_units(module: cst.Module) -> list[tuple[cst.BaseStatement | None, int]]:
    return list(_cst_statements(module.body))


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


def visit_mentioning(module: cst.Module, transformer: cst.CSTTransformer, words: Collection[str]) -> cst.Module:
    """``module.visit(transformer)`` where top-level statements that mention none of ``words`` are left alone.

    For a transformer that can only change code naming one of ``words``. The skipped
    statements are neither walked nor rebuilt: the new tree shares them, so their
    remembered code and lines stay valid (a full walk costs as much as a parse).
    """
    mentions = Mentions(module, words)
    skipped = {id(statement) for statement in module.body if not mentions(statement)}
    if not skipped:
        return module.visit(transformer)
    on_visit, on_leave = transformer.on_visit, transformer.on_leave

    def visit(node: cst.CSTNode) -> bool:
        return id(node) not in skipped and on_visit(node)

    def leave(original: cst.CSTNode, updated: cst.CSTNode):
        return original if id(original) in skipped else on_leave(original, updated)

    # Instance attributes shadow the two hooks LibCST calls for every node, for this walk only.
    transformer.on_visit, transformer.on_leave = visit, leave  # type: ignore[method-assign]
    try:
        return module.visit(transformer)
    finally:
        del transformer.on_visit, transformer.on_leave
