"""What ROOT must be before a command works on it, and telling a finished migration from the wrong directory.

``apply`` on a text file, or on an empty directory, used to end with "nothing to
do" and exit 0: a typo in a CI path then passes forever. ROOT is a repository
directory, a Python file or a notebook; and a directory where nothing is left to
do must show some trace of the plan (a file the recipe names, or one of its old
or new names) to count as migrated.
"""

from __future__ import annotations

import re
from pathlib import Path

from codemods.core.names import word_pattern
from codemods.core.recipe import Recipe
from codemods.core.workspace import Workspace

SOURCE_SUFFIXES = (".py", ".ipynb")
EXPECTED_ROOT = "a repository directory, a Python file (.py) or a notebook (.ipynb)"
MAIN_FILE_HINT = 'pass --main-file PATH, or set main_file = "PATH" under [tool.refactor] in pyproject.toml'


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


def missing_main_file(root: Path, recipe: Recipe) -> str | None:
    """What to say when a directory ROOT lacks the recipe's main file: what is skipped, and how to name yours.

    Without its main file the tasks that edit it find nothing to do, and a table of
    "not applicable" would read like a finished migration.
    """
    workspace = Workspace(root)
    if workspace.single_file is not None or workspace.exists(recipe.main_file):
        return None
    found = main_file_candidates(workspace, recipe)
    looks = f"; {', '.join(found)} looks like it (it builds the recipe's config blocks)" if found else ""
    return (
        f"the recipe's main file {recipe.main_file} is not in {root}, so the tasks that edit it "
        f"have nothing to do; if your notebook-script has another name, {MAIN_FILE_HINT}{looks}"
    )


def main_file_candidates(workspace: Workspace, recipe: Recipe, limit: int = 3) -> list[str]:
    """Python files that assign a config block the recipe replaces (``training_args = SFTConfig(``)."""
    function = recipe.config_function
    if function is None or not recipe.config_blocks:
        return []
    targets = "|".join(re.escape(block.target) for block in recipe.config_blocks)
    pattern = re.compile(rf"^(?:{targets})\s*=\s*(?:\w+\.)*{re.escape(function.config_class_name)}\(", re.MULTILINE)
    found = []
    for path in workspace.files((".py",)):
        if pattern.search(workspace.read_bytes(path).decode("utf-8", errors="replace")):
            found.append(path)
            if len(found) == limit:
                break
    return found
