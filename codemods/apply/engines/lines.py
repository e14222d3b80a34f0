"""Line numbers of a few nodes, from one code generation pass.

LibCST's ``PositionProvider`` records a range for every node of the tree, which
costs several times a parse on a 3,000-line notebook-script; the engines only
need the first line of the handful of nodes they report. Generating the code
once and counting newlines when one of those nodes starts gives the same lines
(the syntactic start, as ``PositionProvider`` gives it) for a fraction of that.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager

import libcst as cst
from libcst._nodes.internal import CodegenState

from codemods.apply.memo import per_tree


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
            self._line += tokens[index].count("\n")
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


@per_tree
def statement_sources(module: cst.Module) -> tuple[str, ...]:
    """The code of each top-level statement: a cheap text filter before any tree walk."""
    return tuple(module.code_for_node(stmt) for stmt in module.body)


def statements_mentioning(module: cst.Module, words: Collection[str]) -> list[tuple[int, cst.BaseStatement]]:
    """(index, statement) of the top-level statements whose text holds one of ``words``."""
    return [
        (index, stmt)
        for index, (stmt, code) in enumerate(zip(module.body, statement_sources(module), strict=True))
        if any(word in code for word in words)
    ]


def first_lines(module: cst.Module, nodes: Collection[cst.CSTNode]) -> dict[cst.CSTNode, int]:
    """The 1-based line where each of ``nodes`` starts in ``module``'s code."""
    if not nodes:
        return {}
    state = _LineRecordingState(module, nodes if isinstance(nodes, (set, frozenset, dict)) else set(nodes))
    module._codegen(state)
    return state.lines
