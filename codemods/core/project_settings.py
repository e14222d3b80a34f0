"""The user's ``[tool.refactor]`` settings, found like ruff finds ``[tool.ruff]``, and the main file named for ROOT.

Discovery walks up from the path given on the command line (ROOT, or a file
inside a repository) to the nearest ``pyproject.toml`` that has a
``[tool.refactor]`` table, up to the root of the file system. As with ruff, a
``pyproject.toml`` without the table does not stop the walk (a package's own
pyproject.toml inside a larger project is passed by), but one that cannot be
read or parsed does: it may hold the table, and migrating with the bundled
recipe instead would carry out the wrong plan.

``[tool.refactor]`` may name the recipe (``recipe``) and the repository's main
notebook-script (``main_file``), both relative to the ``pyproject.toml`` that
holds them; ``--recipe`` and ``--main-file`` on the command line win. A key
this tool does not know is warned about (naming the key and the known keys),
not refused: a newer configuration stays usable with an older tool.
"""

from __future__ import annotations

import difflib
import os
import posixpath
import sys
from dataclasses import dataclass, replace
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

from codemods.core.recipe_model import Recipe, RecipeError
from codemods.core.recipe_schema import Table, relative_path

KNOWN_KEYS = ("main_file", "recipe")


class MainFileError(RecipeError):
    """The main file named for ROOT (``--main-file``, ``[tool.refactor] main_file``) cannot be used."""


@dataclass(frozen=True)
class ProjectSettings:
    """The ``[tool.refactor]`` table that applies to a path; ``pyproject`` is None where there is none."""

    pyproject: Path | None = None
    recipe: Path | None = None
    # Relative to the pyproject.toml's directory, as written.
    main_file: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def directory(self) -> Path | None:
        return None if self.pyproject is None else self.pyproject.parent


def _start(path: Path) -> Path:
    absolute = Path(os.path.abspath(path))
    return absolute if absolute.is_dir() else absolute.parent


def discover_settings(path: Path) -> ProjectSettings:
    """The ``[tool.refactor]`` table of the nearest pyproject.toml at or above ``path`` that has one."""
    for directory in (start := _start(Path(path)), *start.parents):
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file():
            settings = _read(pyproject)
            if settings is not None:
                return settings
    return ProjectSettings()


def _read(pyproject: Path) -> ProjectSettings | None:
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
    raw = tool.get("refactor") if isinstance(tool, dict) else None
    if raw is None:
        return None
    table = Table(raw, "tool.refactor")
    try:
        recipe, main_file = table.text("recipe"), table.text("main_file")
    except RecipeError as error:
        raise RecipeError(f"{pyproject}: {error}") from None
    for key, value in (("recipe", recipe), ("main_file", main_file)):
        if value == "":
            raise RecipeError(f"{pyproject}: tool.refactor.{key} is empty; name a file or remove the key")
    warnings = []
    for key in sorted(k for k in raw if k not in KNOWN_KEYS):
        close = difflib.get_close_matches(str(key), KNOWN_KEYS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        warnings.append(
            f"{pyproject}: unknown key {key!r} in [tool.refactor]{hint}, ignored; known keys: {', '.join(KNOWN_KEYS)}"
        )
    return ProjectSettings(
        pyproject=pyproject,
        recipe=pyproject.parent / recipe if recipe is not None else None,
        main_file=main_file,
        warnings=tuple(warnings),
    )


def pyproject_settings(root: Path) -> dict[str, object]:
    """What ``[tool.refactor]`` sets for ROOT: ``recipe`` (a Path) and ``main_file`` (a path inside ROOT).

    A main file the table names outside ROOT (ROOT is one repository below the
    pyproject.toml, the main file another's) is left out: it is not ROOT's.
    """
    settings = discover_settings(root)
    found: dict[str, object] = {}
    if settings.recipe is not None:
        found["recipe"] = settings.recipe
    if settings.main_file is not None and settings.directory is not None:
        found["main_file"] = settings.main_file
        directory = Path(os.path.abspath(root if Path(root).is_dir() else Path(root).parent))
        if directory != settings.directory:
            named = Path(os.path.normpath(settings.directory / settings.main_file))
            if named.is_relative_to(directory):
                found["main_file"] = named.relative_to(directory).as_posix()
            else:
                del found["main_file"]
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
    spelled = posixpath.normpath(value.replace(os.sep, "/"))  # ./src/../train.py is train.py
    leads_out = spelled == ".." or spelled.startswith("../")
    if not Path(value).is_absolute() and (directory / value).is_file():
        if leads_out:
            raise MainFileError(f"--main-file {value!r} is outside ROOT ({directory}); name a file inside it")
        return spelled
    if not Path(value).is_file():
        # No such file: say so of its plain spelling, unless it leads out of ROOT (refused as such).
        return value if Path(value).is_absolute() or leads_out else spelled
    try:
        return Path(value).resolve().relative_to(directory.resolve()).as_posix()
    except ValueError:
        raise MainFileError(f"--main-file {value!r} is outside ROOT ({directory}); name a file inside it") from None


def repository_of(file: Path) -> Path | None:
    """The repository that holds ``file``: the nearest directory above it that is the top of a git work tree or
    holds the pyproject.toml whose ``[tool.refactor]`` applies; None where there is neither.
    """
    from codemods.core.workspace import git_toplevel

    file = Path(file).resolve()
    candidates = [discover_settings(file).directory, git_toplevel(file.parent)]
    holding = [d.resolve() for d in candidates if d is not None and file.is_relative_to(d.resolve())]
    return max(holding, key=lambda directory: len(directory.parts)) if holding else None
