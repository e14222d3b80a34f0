"""Editing a module's top-level statements without losing comments or jupytext cells.

In a jupytext percent script a cell marker (``# %%``) and the markdown cells
before a code cell live in the ``leading_lines`` of the cell's first statement.
Removing, inserting or moving statements therefore has to carry those lines
along; these helpers do that and nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import libcst as cst

# The one definition of a jupytext percent-format cell marker; jupytext writes
# ``[markdown]`` but reads the short ``[md]`` as a markdown cell too.
CELL_MARKER = re.compile(r"^#\s?%%(?:\s|$)")
MARKDOWN_MARKER = re.compile(r"^#\s?%%.*\[(?:markdown|md)\]")

Body = list[cst.BaseStatement]


def is_cell_marker(line: cst.EmptyLine) -> bool:
    return line.comment is not None and bool(CELL_MARKER.match(line.comment.value))


def is_code_cell_marker(line: cst.EmptyLine) -> bool:
    return is_cell_marker(line) and not MARKDOWN_MARKER.match(line.comment.value)


def is_marker_text(line: str) -> bool:
    """The same test as :func:`is_cell_marker`, on a raw line of text."""
    return bool(CELL_MARKER.match(line))


def is_markdown_marker_text(line: str) -> bool:
    return bool(CELL_MARKER.match(line)) and bool(MARKDOWN_MARKER.match(line))


def markdown_lines(lines: Sequence[str]) -> set[int]:
    """1-based numbers of the lines inside percent-format markdown cells (after the marker, to the next one)."""
    inside, found = False, set()
    for number, line in enumerate(lines, 1):
        if CELL_MARKER.match(line):
            inside = bool(MARKDOWN_MARKER.match(line))
            continue
        if inside:
            found.add(number)
    return found


def is_jupytext(module: cst.Module) -> bool:
    header = "".join(line.comment.value for line in module.header if line.comment)
    if "jupytext" in header:
        return True
    return any(is_cell_marker(line) for stmt in module.body for line in stmt.leading_lines)


def last_marker_index(lines: Sequence[cst.EmptyLine]) -> int | None:
    for index in range(len(lines) - 1, -1, -1):
        if is_cell_marker(lines[index]):
            return index
    return None


def cell_bounds(body: Sequence[cst.BaseStatement], index: int) -> tuple[int, int]:
    """The half-open range of top-level statements forming the cell that holds ``body[index]``."""
    start = index
    while start > 0 and last_marker_index(body[start].leading_lines) is None:
        start -= 1
    end = index + 1
    while end < len(body) and last_marker_index(body[end].leading_lines) is None:
        end += 1
    return start, end


def split_before_marker(lines: Sequence[cst.EmptyLine]) -> tuple[list[cst.EmptyLine], list[cst.EmptyLine]]:
    """Split leading lines into (what belongs to earlier cells, the cell's own marker and comments)."""
    marker = last_marker_index(lines)
    if marker is None:
        return [], list(lines)
    start = marker
    # Blank lines just before the marker separate cells; they stay with the earlier part.
    return list(lines[:start]), list(lines[start:])


def with_leading_lines(stmt: cst.BaseStatement, lines: Sequence[cst.EmptyLine]) -> cst.BaseStatement:
    return stmt.with_changes(leading_lines=list(lines))


def remove_statements(body: Sequence[cst.BaseStatement], indices: set[int], footer: Sequence[cst.EmptyLine] = ()):
    """Drop statements, handing each one's leading comments to the next survivor.

    Returns ``(new_body, new_footer)``. Comment lines of a removed statement that
    sit *above* it (cell markers, markdown cells, section comments) are kept.
    """
    new_body: Body = []
    carried: list[cst.EmptyLine] = []
    for index, stmt in enumerate(body):
        if index in indices:
            carried.extend(stmt.leading_lines)
            continue
        if carried:
            stmt = with_leading_lines(stmt, _join_lines(carried, stmt.leading_lines))
            carried = []
        new_body.append(stmt)
    new_footer = _join_lines(carried, footer) if carried else list(footer)
    return new_body, new_footer


def _join_lines(first: Sequence[cst.EmptyLine], second: Sequence[cst.EmptyLine]) -> list[cst.EmptyLine]:
    """Concatenate comment blocks, never stacking more than two blank lines."""
    joined: list[cst.EmptyLine] = []
    for line in [*first, *second]:
        blank = line.comment is None
        if blank and len(joined) >= 2 and joined[-1].comment is None and joined[-2].comment is None:
            continue
        joined.append(line)
    return joined


def strip_blank_edges(lines: Sequence[cst.EmptyLine]) -> list[cst.EmptyLine]:
    result = list(lines)
    while result and result[0].comment is None:
        result.pop(0)
    while result and result[-1].comment is None:
        result.pop()
    return result


def blank_lines(count: int) -> list[cst.EmptyLine]:
    return [cst.EmptyLine() for _ in range(count)]


def comment_lines(text: str) -> list[cst.EmptyLine]:
    """Comment text (one ``# ...`` per line; blank lines kept) as EmptyLine nodes."""
    lines = []
    for raw in text.strip("\n").splitlines():
        lines.append(cst.EmptyLine(comment=cst.Comment(raw.rstrip())) if raw.strip() else cst.EmptyLine())
    return lines
