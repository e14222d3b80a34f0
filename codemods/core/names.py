"""How an old name is recognised in text, and how a new name is spliced into a longer identifier.

Shared by the rename codemod and by ``refactor check`` so that both agree on what
counts as an occurrence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping


def snake_case(name: str) -> str:
    """``AssistantOnlyCollator`` -> ``assistant_only_collator`` (for splicing into longer identifiers)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def word_pattern(names: Iterable[str], guards: Mapping[str, str] | None = None) -> re.Pattern[str] | None:
    """Whole-word matcher where ``_`` counts as part of a word (``test_x`` does not match ``x``).

    ``guards`` gives some names a regex of their own (a relabelled word of prose, see
    ``Recipe.word_guards``); group 1 is always the name found.
    """
    names = sorted(set(names), key=len, reverse=True)
    if not names:
        return None
    guards = guards or {}
    alternatives = "|".join(guards.get(name) or re.escape(name) for name in names)
    return re.compile(r"(?<![A-Za-z0-9_])(" + alternatives + r")(?![A-Za-z0-9_])")


def substring_pattern(old: str) -> re.Pattern[str]:
    """An old name as an ``_``-separated part of a longer identifier (``test_x`` holds ``x``, ``x1`` does not)."""
    return re.compile(r"(?:(?<=_)|(?<![A-Za-z0-9_]))" + re.escape(old) + r"(?=_|(?![A-Za-z0-9_]))")


def holds_excluded_word(identifier: str, words: tuple[str, ...]) -> bool:
    """Whether an identifier names another experiment by one of ``words`` (``trainer_v3_encoder`` holds "encoder")."""
    lowered = identifier.lower()
    return any(word.lower() in lowered for word in words)


def spliced_identifier(identifier: str, old: str, new: str, style: str) -> str:
    """``test_collate_fn_fixed_3`` -> ``test_assistant_only_collator`` (style "snake_case") or verbatim."""
    piece = snake_case(new) if style == "snake_case" else new
    return substring_pattern(old).sub(piece, identifier)


def reads_as_prose(literal: str) -> bool:
    """A string literal holding white space is a sentence; one without is a key, a tag or a path.

    A relabelled word (``v3``) follows in sentences only: ``"Model v3 (assistant-only)"`` becomes
    ``"Model v2 (assistant-only)"``, while ``{"v3": ...}`` or ``"collator:v3"`` are data that some
    caller or dashboard may look up, and keep their text.
    """
    return any(character.isspace() for character in literal)
