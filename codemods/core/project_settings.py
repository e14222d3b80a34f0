"""What ROOT's own ``pyproject.toml`` says about the migration, and the main file named for ROOT.

``[tool.refactor]`` may name the recipe (``recipe``) and the repository's main
notebook-script (``main_file``), when it is not the file the recipe was written
for; ``--main-file`` on the command line names it too, and wins. Unknown keys are
refused, as in the recipe itself: a misspelt key would otherwise be ignored and
the migration carried out on the wrong file.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

from codemods.core.recipe_model import Recipe, RecipeError
from codemods.core.recipe_schema import Table, relative_path


class MainFileError(RecipeError):
    """The main file named for ROOT (``--main-file``, ``[tool.refactor] main_file``) cannot be used."""


def pyproject_settings(root: Path) -> dict[str, object]:
    """What ROOT's pyproject.toml sets in ``[tool.refactor]``: ``recipe`` (a Path) and ``main_file``.

    A pyproject.toml that cannot be read is refused rather than skipped: it may name a
    recipe, and migrating with the bundled one instead would carry out the wrong plan.
    """
    directory = root if root.is_dir() else root.parent
    pyproject = directory / "pyproject.toml"
    if not pyproject.is_file():
        return {}
    escape = "it may name the recipe ([tool.refactor] recipe): fix it, or pass --recipe FILE"
    try:
        config = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except OSError as error:
        raise RecipeError(f"{pyproject}: cannot be read ({error.strerror or error}); {escape}") from None
    except UnicodeDecodeError as error:
        raise RecipeError(f"{pyproject}: not UTF-8 ({error.reason} at byte {error.start}); {escape}") from None
    except tomllib.TOMLDecodeError as error:
        raise RecipeError(f"{pyproject}: not valid TOML ({error}); {escape}") from None
    tool = config.get("tool", {})
    settings = tool.get("refactor") if isinstance(tool, dict) else None
    if settings is None:
        return {}
    table = Table(settings, "tool.refactor")
    try:
        recipe, main_file = table.text("recipe"), table.text("main_file")
        table.done()
    except RecipeError as error:
        raise RecipeError(f"{pyproject}: {error}") from None
    found: dict[str, object] = {}
    for key, value in (("recipe", recipe), ("main_file", main_file)):
        if value == "":
            raise RecipeError(f"{pyproject}: tool.refactor.{key} is empty; name a file or remove the key")
    if recipe is not None:
        found["recipe"] = directory / recipe
    if main_file is not None:
        found["main_file"] = main_file
    return found


def with_main_file(recipe: Recipe, root: Path, given: str | None, configured: object) -> Recipe:
    """The recipe with ROOT's own main file: ``given`` (``--main-file``), else ``configured`` (pyproject.toml)."""
    value, field = (given, "--main-file") if given else (configured, "tool.refactor.main_file")
    if not isinstance(value, str) or not value:
        return recipe
    if not root.is_dir():
        if given:
            raise MainFileError(f"--main-file {value!r}: ROOT {root} is a single file, which is the main file itself")
        return recipe  # a single-file ROOT is its own main file, whatever the repository's setting says
    try:
        relative_path(value, field)
    except RecipeError as error:
        raise MainFileError(str(error)) from None
    if not value.endswith(".py"):
        raise MainFileError(f"{field}: {value!r} is not a Python file; the main file is the notebook-script (.py)")
    if not (root / value).is_file():
        raise MainFileError(f"{field}: {value!r} is no file in ROOT ({root})")
    return replace(recipe, main_file=value)


def main_file_argument(root: Path, value: str) -> str:
    """``--main-file`` as a path inside ROOT.

    Relative to ROOT when it names a file there; otherwise a path from the current
    directory (or absolute) that leads into ROOT is accepted and made relative to ROOT.
    """
    directory = root if root.is_dir() else root.parent
    if not Path(value).is_absolute() and (directory / value).is_file() or not Path(value).is_file():
        return value
    try:
        return Path(value).resolve().relative_to(directory.resolve()).as_posix()
    except ValueError:
        raise MainFileError(f"--main-file {value!r} is outside ROOT ({directory}); name a file inside it") from None
