"""The identifiers a recipe's relabels find in one repository, as ordinary renames.

A relabel (``[[relabels]]`` in the recipe: ``old = "v3"``, ``new = "v2"``) names no
identifier: a repository has ``metrics_v3`` and ``ADAPTER_PATH_V3``, another has
``eval_v3``. So the recipe, once loaded for a ROOT, carries the renames its relabels
find there (``Recipe.relabelled``), and from then on they are renames like any other:
``apply`` renames them by binding, in every file and notebook, and ``check`` reports
them, from the same list. After ``apply`` none is left, so the list is empty and
``check`` has nothing to report.

Names already renamed by the recipe itself (``collate_fn_v3``) keep their own rename.
"""

from __future__ import annotations

import ast
import json
from dataclasses import replace
from pathlib import Path

from codemods.core.bom import without_bom
from codemods.core.git_grep import GitGrep
from codemods.core.ipython import mask_magics
from codemods.core.recipe_model import Recipe, Relabel, Rename
from codemods.core.workspace import Workspace, WorkspaceError

SUFFIXES = (".py", ".ipynb")


def with_relabelled(recipe: Recipe, root: Path, candidates: set[str] | None = None) -> Recipe:
    """``recipe`` with the renames its relabels find under ROOT (the recipe itself when it has none).

    ``candidates``: the listed files a caller's own ``git grep`` found holding one of :func:`literals`
    (``check`` greps once for everything); otherwise they are looked for here.
    """
    if recipe.relabels_resolved:
        return recipe
    if not recipe.relabels:
        return replace(recipe, relabels_resolved=True)
    workspace = Workspace(root)
    taken = {rename.old for rename in recipe.all_renames}
    found: dict[str, tuple[str, Relabel]] = {}
    texts = list(_texts(workspace, literals(recipe.relabels), candidates))
    for _, text in texts:
        for relabel in recipe.relabels:
            for match in relabel.pattern.finditer(text):
                old = match.group(0)
                new = relabel.renamed(old)
                if new is not None and old not in taken:
                    found.setdefault(old, (new, relabel))
    for name in not_the_users(workspace, texts, set(found)):
        del found[name]
    renames = tuple(
        Rename(
            old, new, relabel.description or f"relabelled from {relabel.old} to {relabel.new}",
            keep_containing=relabel.exclude_containing,
        )
        for old, (new, relabel) in sorted(found.items())
    )
    return replace(recipe, relabelled=renames, relabels_resolved=True)


def not_the_users(workspace: Workspace, texts: list[tuple[str, str]], names: set[str]) -> set[str]:
    """Of ``names``, those a relabel cannot rename: imported from a library, or naming a module (a file).

    ``from torchvision.models import inception_v3`` names a library's function: renaming it breaks
    the import. ``from src import metrics_v3`` names the file ``src/metrics_v3.py``, which no
    codemod renames. Both keep their label, in every file.
    """
    kept: set[str] = set()
    for relative, text in texts:
        if not names - kept:
            break
        try:
            tree = ast.parse(mask_magics(without_bom(text)))
        except (SyntaxError, ValueError, RecursionError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                # A module's own name (from src.mod_v3 import x, from .pkg_v3 import y) is a file's name.
                kept.update(part for part in (node.module or "").split(".") if part in names)
                if node.level == 0 and node.module:
                    local = _local_module(workspace, relative, node.module)
                    for alias in node.names:
                        if alias.name in names and (local is None or _is_module(local / alias.name)):
                            kept.add(alias.name)
            elif isinstance(node, ast.Import):
                kept.update(part for alias in node.names for part in alias.name.split(".") if part in names)
    return kept


def _local_module(workspace: Workspace, importer: str, dotted: str) -> Path | None:
    """Where ``dotted`` lies in ROOT's repository (the importer's directory, ROOT, ``src``); None: a library's."""
    parts = dotted.split(".")
    bases = {workspace.path(importer).parent, workspace.directory, workspace.directory / "src"}
    if workspace.git_root is not None:
        bases |= {Path(workspace.git_root), Path(workspace.git_root) / "src"}
    for base in bases:
        if _is_module(base / parts[0]):
            return base.joinpath(*parts)
    return None


def _is_module(path: Path) -> bool:
    return path.is_dir() or path.with_name(path.name + ".py").is_file()


def literals(relabels: tuple[Relabel, ...]) -> list[str]:
    """Fixed strings every relabelled identifier holds (``_v3``, ``v3_``, ``_V3``, ``V3_``)."""
    labels = {label for relabel in relabels for label in (relabel.old.lower(), relabel.old.upper())}
    return sorted({f"_{label}" for label in labels} | {f"{label}_" for label in labels})


def _texts(workspace: Workspace, literals: list[str], candidates: set[str] | None):
    """The code of every Python file and notebook that holds one of ``literals`` (notebooks: their cells' sources)."""
    for relative in _candidates(workspace, literals, candidates):
        try:
            data = workspace.read_bytes(relative)
        except WorkspaceError:
            continue
        if not any(literal.encode() in data for literal in literals):
            continue
        text = data.decode("utf-8", errors="replace")
        yield relative, _cell_sources(text) if relative.endswith(".ipynb") else text


def _candidates(workspace: Workspace, literals: list[str], matched: set[str] | None) -> list[str]:
    """The files the workspace lists that a ``git grep -l`` found (the caller's, or one run here); else every one.

    ``matched`` from a caller holds listed files only (``refactor check`` has listed them already).
    """
    if matched is not None:
        return sorted(path for path in matched if path.endswith(SUFFIXES))
    grep = None
    if workspace.git_root is not None and workspace.single_file is None:
        grep = GitGrep.start(workspace.directory, literals, SUFFIXES)  # runs while the files are listed
    listed = workspace.files(SUFFIXES, trust_index=True)
    if grep is not None:
        matched = grep.finish()
    return listed if grep is None or matched is None else [path for path in listed if path in matched]


def _cell_sources(text: str) -> str:
    """A notebook's cell sources, one after another (the JSON text would glue ``\\n`` to names)."""
    try:
        cells = json.loads(text).get("cells", [])
    except (ValueError, AttributeError):
        return ""
    sources = []
    for cell in cells if isinstance(cells, list) else []:
        source = cell.get("source", "") if isinstance(cell, dict) else ""
        sources.append("".join(source) if isinstance(source, list) else str(source))
    return "\n".join(sources)
