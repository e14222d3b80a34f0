"""The UTF-8 byte order mark: read past it, and write it back where the file had it.

Editors on Windows put one before a file's first character. Python and json both refuse or
misread text that starts with it, and LibCST drops it when parsing; the file keeps it.
"""

from __future__ import annotations

BOM = "\ufeff"


def without_bom(text: str) -> str:
    """``text`` as a parser must read it: one leading BOM removed."""
    return text.removeprefix(BOM)


def bom_of(text: str) -> str:
    """The BOM ``text`` starts with, or ``""``: what a rewritten file starts with again."""
    return BOM if text.startswith(BOM) else ""
