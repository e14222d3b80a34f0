"""Links out of ROOT to code that holds old names: nothing reads or writes through them.

A tracked ``src/utils/debug.py`` that is a link to a file elsewhere (or ``src/extdir`` to a
directory elsewhere) stands for code the migration cannot reach; left unsaid, that code
breaks on import while check passes. apply names such links (a warning) and check fails on
them (an error).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from codemods.core.preflight import SOURCE_SUFFIXES
from codemods.core.workspace import Workspace

# Said by check (an error) and apply (a warning), each with its own end.
LINK_OUT = "a symbolic link to {target}, outside ROOT, which holds old names; refactor neither reads nor writes through links"


def links_out_holding(workspace: Workspace, needles: tuple[bytes, ...]) -> dict[str, str]:
    """Of the links the listing skipped, those leading out of ROOT to code holding a needle: ``{link: target}``."""
    found = {}
    top = os.path.realpath(workspace.directory)
    for relative in workspace.skipped_symlinks:
        target = os.path.realpath(os.path.join(workspace.directory, relative))
        if os.path.commonpath([target, top]) != top and any(_holds(path, needles) for path in _code_at(target)):
            found[relative] = target
    return found


def _code_at(target: str, budget: int = 5000) -> Iterator[str]:
    """A linked code file, or the code files of a linked directory, looking at ``budget`` entries at most
    (a link to a dataset must not cost a walk through millions of images)."""
    if os.path.isfile(target):
        if target.endswith(SOURCE_SUFFIXES):
            yield target
        return
    for directory, subdirectories, files in os.walk(target):
        budget -= len(files) + len(subdirectories)
        yield from (os.path.join(directory, name) for name in files if name.endswith(SOURCE_SUFFIXES))
        if budget <= 0:
            return


def _holds(path: str, needles: tuple[bytes, ...]) -> bool:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return False
    return any(needle in data for needle in needles)
