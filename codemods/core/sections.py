"""The tail sections where old names are allowed: the legacy collators and the deprecated aliases.

A section starts at its banner (text from the recipe) and runs to the end of the
module; it is found by the banner's title line, never by line numbers.
"""

from __future__ import annotations

import re

from codemods.core.recipe import Recipe

_RULE = re.compile(r"^#\s*[=\-#*~_ ]*$")


def banner_title(banner: str) -> str | None:
    """The distinctive line of a banner (not a rule of ``=`` signs), without the ``#``."""
    for line in banner.strip().splitlines():
        if not _RULE.match(line.strip()):
            return line.strip().lstrip("#").strip()
    return None


def banner_titles(recipe: Recipe) -> list[str]:
    banners = [recipe.legacy.banner if recipe.legacy else "", recipe.deprecation_banner]
    return [title for title in (banner_title(b) for b in banners if b) if title]


def allowed_tail_start(text: str, recipe: Recipe) -> int | None:
    """1-based line where the first allowed tail section begins (its banner's first line), or None."""
    titles = banner_titles(recipe)
    lines = text.splitlines()
    for index, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("#") and stripped.lstrip("#").strip() in titles:
            start = index
            while start > 0 and _RULE.match(lines[start - 1].strip()) and lines[start - 1].strip():
                start -= 1
            return start + 1
    return None
