"""What ROOT must be before a command works on it, and telling a finished migration from the wrong directory.

``apply`` on a text file, or on an empty directory, used to end with "nothing to
do" and exit 0: a typo in a CI path then passes forever. ROOT is a repository
directory, a Python file or a notebook; and a directory where nothing is left to
do must show some trace of the plan (a file the recipe names, or one of its old
or new names) to count as migrated.
"""

from __future__ import annotations

from pathlib import Path

from codemods.core.names import word_pattern
from codemods.core.recipe import Recipe
from codemods.core.workspace import Workspace

SOURCE_SUFFIXES = (".py", ".ipynb")
EXPECTED_ROOT = "a repository directory, a Python file (.py) or a notebook (.ipynb)"


class RootError(ValueError):
    """ROOT is not something a command can work on; nothing was read or written."""


def check_root(root: Path) -> None:
    """Refuse a ROOT that is missing, or a file that is not a Python file or notebook."""
    if not root.exists():
        raise RootError(f"{root} does not exist")
    if root.is_dir():
        return
    if not root.is_file():
        raise RootError(f"{root} is neither a directory nor a regular file; ROOT must be {EXPECTED_ROOT}")
    if not root.name.endswith(SOURCE_SUFFIXES):
        raise RootError(f"{root} is not a Python file or notebook; ROOT must be {EXPECTED_ROOT}")


def _expected(recipe: Recipe) -> str:
    """The files a repository before or after the plan holds (not the script the plan deletes)."""
    deleted = recipe.superseded_script.path if recipe.superseded_script else None
    return ", ".join(path for path in dict.fromkeys(recipe.named_paths().values()) if path != deleted)


def nothing_of_the_recipe(root: Path, recipe: Recipe) -> str | None:
    """Why a directory ROOT holds nothing of the recipe, or None when it holds something.

    Asked only once a planning pass found nothing to do, so the cost (reading the
    files that exist) is paid when the answer matters: an already-migrated
    repository keeps its files and new names and is "nothing to do", exit 0.
    """
    workspace = Workspace(root)
    if workspace.single_file is not None:
        return None
    if any(workspace.exists(path) for path in recipe.named_paths().values()):
        return None
    lead = f"nothing of the recipe {recipe.name!r} was found in {root}"
    files = workspace.files(SOURCE_SUFFIXES)
    if not files:
        return f"{lead}: it holds no Python file or notebook; expected the repository the plan is for, with {_expected(recipe)}"
    names = {*recipe.old_names, *recipe.old_names.values()}
    pattern = word_pattern(names)
    for path in files:
        if pattern is not None and pattern.search(workspace.read_bytes(path).decode("utf-8", errors="replace")):
            return None
    return (
        f"{lead}: none of the files it names ({_expected(recipe)}) is there, and none of its "
        f"{len(files)} Python file(s) and notebook(s) mentions an old or new name; "
        "expected the repository the plan is for"
    )
