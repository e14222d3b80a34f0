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

import re
from collections.abc import Collection, Iterator
from contextlib import contextmanager

import libcst as cst
from libcst._nodes.internal import CodegenState

from codemods.apply.memo import statement_code


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
    """Whether a node's source text contains one of the names (memoised: nodes are shared)."""

    def __init__(self, module: cst.Module, names: Collection[str], source: str | None = None):
        self.module = module
        self.names = tuple(names)
        self._seen: dict[int, bool] = {}
        self._top = {id(statement) for statement in module.body}
        # A text that names none of them answers every question at once.
        self._nowhere = source is not None and not any(name in source for name in self.names)

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
