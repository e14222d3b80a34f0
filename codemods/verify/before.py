"""What the repository looked like before the migration, for the checks that compare before and now.

``--before REV`` names any git revision (how a hand refactor is judged); without it the last
apply journal of ROOT gives the files that apply changed; with neither there is no "before" and
the comparing sections are skipped. The reading itself lives in :mod:`codemods.core.before_tree`
(core is the only code that opens the user's files).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from codemods.core.before_tree import BeforeError, BeforeTree, from_journal, from_revision
from codemods.core.recipe import Recipe

__all__ = ["BeforeError", "BeforeTree", "before_files", "materialised"]


def before_files(root: Path, recipe: Recipe, rev: str | None) -> BeforeTree | None:
    """ROOT before the migration: at ``rev`` when given, else as the last apply journal recorded it, else None.

    Raises :class:`BeforeError` for a revision git does not know (the CLI exits 2 with its message).
    The recipe is not needed to read the files; it is taken so that every comparing section asks
    for "before" the same way.
    """
    del recipe
    if rev is not None:
        return from_revision(Path(root), rev)
    return from_journal(Path(root))


@contextmanager
def materialised(before: BeforeTree) -> Iterator[Path]:
    """A temporary copy of ROOT at its before state (removed afterwards); yields ROOT's counterpart in it."""
    with tempfile.TemporaryDirectory(prefix="refactor-before-") as directory:
        yield before.materialise(Path(directory))
