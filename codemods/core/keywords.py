"""When a call's keyword (``f(old=...)``) is only a warning, and when it stays an error.

A keyword names a parameter of what is called; apply renames it only with a parameter it
renames, so a library's keeps its name and check reports it as a warning. A string beside it
can tie it down, though: the key it fills (``kwargs["old"]``) or a format field. See
:func:`keywords_feeding_strings`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from codemods.core.kinds import F_STRING, KEYWORD, NAME, STRING

if TYPE_CHECKING:
    from codemods.core.occurrences import Occurrence


def keywords_feeding_strings(text: str, found: list[Occurrence]) -> list[Occurrence]:
    """A keyword is a warning (``kinds.KEYWORD``) unless a string of the same code names it, old or new.

    ``f(**{"old": 1})``, ``kwargs["old"]``, ``"{old}".format``: a string that the strings policy
    renames may be the key a kept keyword fills, and then the code breaks (KeyError) only when run.
    Such a keyword stays an error, before apply and after it.
    """
    keywords = [o for o in found if o.kind == KEYWORD]
    if not keywords:
        return found
    in_strings = {o.old for o in found if o.kind in (STRING, F_STRING) and not o.substring}
    for occurrence in keywords:
        quoted = rf"[\"'][^\"'\n]*(?<![\w]){re.escape(occurrence.suggestion)}(?![\w])"
        if occurrence.old in in_strings or re.search(quoted, text):
            occurrence.kind = NAME
    return found
