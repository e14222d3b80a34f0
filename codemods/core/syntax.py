"""Where Python source stops parsing, as Python itself says it: a line and column of the user's text.

LibCST's parser reports where it gave up, which for an unclosed bracket can be
dozens of lines after the bracket (``train.py:113`` for an error on line 24);
the interpreter names the line the user has to fix (``'(' was never closed``).
Messages use this, and LibCST's account only where Python accepts the text.
"""

from __future__ import annotations

import ast

from codemods.core.bom import without_bom


def syntax_error(text: str, *, cell: bool = False) -> tuple[int, int, str] | None:
    """(line, column, message), both 1-based, where Python rejects ``text``; None when it compiles.

    ``cell``: a notebook cell, where a top-level ``await`` is allowed.
    """
    flags = ast.PyCF_ONLY_AST | (ast.PyCF_ALLOW_TOP_LEVEL_AWAIT if cell else 0)
    try:
        compile(without_bom(text), "<source>", "exec", flags, dont_inherit=True)
    except SyntaxError as error:
        return error.lineno or 1, error.offset or 1, error.msg
    except (ValueError, RecursionError, MemoryError):  # a NUL byte, or nesting too deep to say where
        return None
    return None


def describe(text: str, *, cell: bool = False) -> str | None:
    """``line 24, column 9: '(' was never closed``, or None when Python accepts the text."""
    found = syntax_error(text, cell=cell)
    return None if found is None else f"line {found[0]}, column {found[1]}: {found[2]}"
