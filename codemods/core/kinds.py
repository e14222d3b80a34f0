"""The kinds of occurrence ``refactor check`` reports, each with what ``refactor apply`` does about it.

Like a linter's rule list: each kind is defined once, documented beside its definition.
"""

from __future__ import annotations

# Each kind says what the occurrence is and whether `refactor apply` fixes it.
# These strings are part of check's JSON/SARIF output: never reword one.

CLASS_DEFINITION = "class definition"
"""``class old_name:``; apply renames it (and every reference that resolves to it)."""
FUNCTION_DEFINITION = "function definition"
"""``def old_name(...)``; apply renames it."""
IMPORT = "import"
"""The name in ``import``/``from ... import``; apply renames it (an ``as`` alias equal to the new name is dropped)."""
CALL = "call"
"""``old_name(...)``: the called name; apply renames it."""
ATTRIBUTE = "attribute"
"""``module.old_name`` where ``module`` is an import; apply renames it. Another object's attribute
(``self.old_name``, ``args.old_name``) and a class attribute or method are not the recipe's name: neither
apply nor check touches them."""
ALL_ENTRY = "__all__ entry"
"""A string in ``__all__ = [...]`` (also ``+=`` and ``.extend``); apply renames it."""
ANNOTATION = "annotation"
"""In a type annotation, a forward-reference string included; apply renames it."""
ASSIGNMENT_TARGET = "assignment target"
"""Bound by ``=``, augmented or annotated assignment, ``for``, walrus or ``as``; apply renames it."""
KEYWORD_ARGUMENT = "keyword argument value"
"""``f(key=old_name)``; apply renames it."""
POSITIONAL_ARGUMENT = "positional argument"
"""``f(old_name)``; apply renames it."""
KEYWORD = "keyword"
"""``f(old_name=...)``: the keyword names a parameter of what is called. apply renames it with a parameter
it renames (or with a ``{old_name}`` field of the string it formats); a library's parameter keeps its name,
so this is a warning: one file does not tell whose parameter it is."""
NAME = "name"
"""Any other use of the name in code; apply renames it when it resolves to the module-level binding."""
STRING = "string"
"""Whole word inside a string literal; apply renames it when the recipe's ``strings`` policy is on."""
F_STRING = "f-string"
"""In an f-string's text or expression; apply renames it (text by the ``strings`` policy)."""
DOCSTRING = "docstring"
"""In a module, class or function docstring; apply renames it by the ``strings`` policy."""
DOCTEST = "doctest"
"""On a ``>>>``/``...`` line of a docstring; apply renames it by the ``strings`` policy."""
COMMENT = "comment"
"""Whole word in a prose comment; apply renames it by the ``comments`` policy."""
COMMENTED_OUT_CODE = "commented-out code"
"""A comment that parses as code; apply renames it by the ``comments`` policy."""
MARKDOWN_CELL = "markdown cell"
"""Text of a markdown cell (notebook, or ``# %% [markdown]``/``[md]`` script cell); apply renames it whole-word."""
NOTEBOOK_OUTPUT = "notebook output"
"""Text of a stored notebook output; apply leaves it (it records a past run): a warning, never a failure."""
IDENTIFIER_CONTAINING = "identifier containing an old name"
"""A longer identifier holding an old name (``test_old_name``); apply splices the new name in by policy."""
UNPARSED_TEXT = "unparsed text"
"""In a file or notebook cell that does not parse (or decode); apply cannot classify it and leaves files alone."""

#: Every kind an occurrence can have, in documentation order.
KINDS = (
    CLASS_DEFINITION, FUNCTION_DEFINITION, IMPORT, CALL, ATTRIBUTE, ALL_ENTRY, ANNOTATION, ASSIGNMENT_TARGET,
    KEYWORD_ARGUMENT, POSITIONAL_ARGUMENT, KEYWORD, NAME, STRING, F_STRING, DOCSTRING, DOCTEST, COMMENT,
    COMMENTED_OUT_CODE, MARKDOWN_CELL, NOTEBOOK_OUTPUT, IDENTIFIER_CONTAINING, UNPARSED_TEXT,
)
#: Kinds that record the past, or may not be the recipe's name at all: reported, but they do not fail a check.
WARNING_KINDS = frozenset({NOTEBOOK_OUTPUT, KEYWORD})


def severity(kind: str) -> str:
    return "warning" if kind in WARNING_KINDS else "error"
