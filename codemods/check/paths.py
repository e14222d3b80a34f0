"""`refactor check PATH...`: files (as pre-commit passes them) checked within the repositories that hold them.

A directory is checked as a whole, as ``refactor check ROOT`` always has. A file is
checked as part of its repository (see :func:`codemods.core.project_settings.repository_of`):
its path inside the repository decides which old names are allowed there (the
main file's legacy section, a rename limited to some files), and the repository's
``[tool.refactor]`` names the recipe. A file in no repository is checked on its
own, as the single-file ROOT it is. Files the check does not read (no Python
file or notebook) or that ``--exclude`` leaves out are skipped without a word, so
a hook may pass every changed file. Findings keep the paths as they were given.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from codemods.check.findings import CheckError, CheckResult
from codemods.check.runner import SUFFIXES, _order, _scan_serial, excluded, find_stale
from codemods.check.scan import _Scanner
from codemods.core.project_settings import repository_of
from codemods.core.recipe import Recipe, RecipeError
from codemods.core.relabel import with_relabelled


@dataclass
class Target:
    """One ROOT to check: a whole directory (``files`` None), or some files inside it (path inside -> as given)."""

    root: Path
    files: dict[str, str] | None = None


def targets(paths: Sequence[Path], exclude: Sequence[str] = ()) -> list[Target]:
    """What to check for the paths given, in the order given, each repository once."""
    found: dict[Path, Target] = {}
    for path in paths:
        if not path.exists():
            raise CheckError(f"{path} does not exist")
        if path.is_dir():
            found.setdefault(path.resolve(), Target(path))
            continue
        if not path.name.endswith(SUFFIXES) or excluded(path.as_posix(), exclude):
            continue
        try:
            repository = repository_of(path)
        except RecipeError as error:  # a pyproject.toml on the way up that may name the recipe cannot be read
            raise CheckError(f"bad recipe: {error}") from None
        if repository is None:
            found.setdefault(path.resolve(), Target(path))
            continue
        target = found.setdefault(repository, Target(repository, {}))
        if target.files is not None:
            inside = path.resolve().relative_to(repository).as_posix()
            if not excluded(inside, exclude):
                target.files.setdefault(inside, os.path.normpath(path).replace(os.sep, "/"))
    return _outermost(found)


def _outermost(found: dict[Path, Target]) -> list[Target]:
    """Each file once: a directory given inside another (``src src/data``), or a file given inside a directory
    given (``src src/x.py``), is left to the outer directory's check."""
    directories = [where for where, target in found.items() if target.files is None and where.is_dir()]

    def inside(path: Path, but: Path | None = None) -> bool:
        return any(other != but and path.is_relative_to(other) for other in directories)

    kept = []
    for where, target in found.items():
        if target.files is None:
            if not inside(where, but=where):
                kept.append(target)
            continue
        files = {path: given for path, given in target.files.items() if not inside((where / path).resolve())}
        if files or not target.files:
            kept.append(Target(target.root, files))
    return kept


class _GivenPathsScanner(_Scanner):
    """Scans files of one repository and reports each under the path it was given as."""

    def __init__(self, directory: str, recipe: Recipe, given: dict[str, str]):
        super().__init__(directory, ".", recipe, None)
        self.given = given

    def display(self, relative: str) -> str:
        return self.given.get(relative, relative)


def find_stale_in_files(repository: Path, recipe: Recipe, files: dict[str, str]) -> CheckResult:
    """Old names in these files of ``repository`` (path inside it -> path to report), as a check of it would find."""
    recipe = with_relabelled(recipe, repository)
    scanner = _GivenPathsScanner(str(repository), recipe, files)
    outcome = _scan_serial(scanner, sorted(files), None)
    notes = outcome.notes + [f"{path}: {reason}" for path, reason in outcome.unparsed]
    return CheckResult(
        findings=sorted(outcome.findings, key=_order),
        files_scanned=len(files),
        files_parsed=outcome.parsed,
        unparsed=sorted({path for path, _ in outcome.unparsed}),
        errors=outcome.errors,
        notes=notes,
        files_matched=outcome.matched,
        root=".",
    )


def merged(results: Sequence[CheckResult]) -> CheckResult:
    """One result for several checks: everything found, counts added up, the worst exit code."""
    if len(results) == 1:
        return results[0]
    return CheckResult(
        findings=[finding for result in results for finding in result.findings],
        files_scanned=sum(result.files_scanned for result in results),
        files_parsed=sum(result.files_parsed for result in results),
        unparsed=[path for result in results for path in result.unparsed],
        errors=[error for result in results for error in result.errors],
        notes=[note for result in results for note in result.notes],
        files_matched=sum(result.files_matched for result in results),
        root=".",
    )


def check_paths(
    paths: Sequence[Path],
    recipe_for: Callable[[Path], Recipe],
    exclude: Sequence[str] = (),
    jobs: int | None = None,
    progress: bool = False,
) -> tuple[CheckResult, Recipe | None]:
    """`refactor check PATH...`: each repository the paths lead to checked once, the results merged.

    ``recipe_for(root)`` gives the recipe for one ROOT (the caller reports a bad one). Returns the
    merged result and the last recipe used (None when no path led to anything to check). Raises
    :class:`CheckError` for a path that does not exist, and for a directory that holds nothing to
    check: a check that read nothing is a wrong path, or an ``--exclude`` that hides everything,
    never a clean tree.
    """
    results, recipe = [], None
    for target in targets(paths, exclude):
        recipe = recipe_for(target.root)
        if target.files is not None:
            results.append(find_stale_in_files(target.root, recipe, target.files))
            continue
        result = find_stale(target.root, recipe, exclude=exclude, jobs=jobs, progress=progress)
        if result.files_scanned == 0 and not result.errors:
            hidden = " (after --exclude)" if exclude else ""
            raise CheckError(f"nothing to check: {target.root} holds no Python file or notebook{hidden}")
        results.append(result)
    return (merged(results) if results else CheckResult([], 0, 0, [], [])), recipe
