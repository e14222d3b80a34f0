"""Row 4: our rename engine against rope's ``Rename`` of the same three collator classes.

Rope renames one definition at a time, so each class is renamed at its definition in the main
file and again at its definition in ``src/data/collators.py``; the changes are computed and
never written. Ours is the recipe's rename task alone (``plan_migration(copy, recipe, only=[...])``).
Both sides are compared by which identifiers they change: the number of ``NAME`` tokens of each
old name that disappear from each Python file.
"""

from __future__ import annotations

import io
import tokenize
from collections import Counter
from pathlib import Path

from benchmarks.measure import Row, ratio_row, side_by_side
from codemods.core.recipe import Recipe

SYMBOLS = ("collate_fn_fixed_1", "collate_fn_fixed_3", "collate_fn_fixed_fixed1")
DEFINITION_FILES = ("{main}", "src/data/collators.py")
RENAME_TASK = "4"
TARGET = 0.05  # ours at least 20x faster than rope


def name_tokens(source: str, names: tuple[str, ...] | frozenset[str]) -> Counter[str]:
    """How often each of ``names`` occurs as an identifier (strings and comments do not count)."""
    counts: Counter[str] = Counter()
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.NAME and token.string in names:
                counts[token.string] += 1
    except (tokenize.TokenError, SyntaxError):
        pass
    return counts


def changed_identifiers(before: str, after: str, names: tuple[str, ...]) -> Counter[str]:
    old, new = name_tokens(before, names), name_tokens(after, names)
    return Counter({name: old[name] - new[name] for name in names if old[name] > new[name]})


def rope_rename(root: Path, renames: dict[str, str], definition_files: list[str]) -> dict[tuple[str, str], int]:
    """``{(path, old name): identifiers changed}`` from rope, one ``Rename`` per definition."""
    from rope.base.project import Project
    from rope.refactor.rename import Rename

    changed: dict[tuple[str, str], int] = {}
    project = Project(str(root), ropefolder=None)
    try:
        for relative in definition_files:
            resource = project.get_resource(relative)
            source = resource.read()
            for old, new in renames.items():
                at = source.find(f"class {old}")
                if at < 0:
                    continue
                changes = Rename(project, resource, at + len("class ")).get_changes(new)
                for change in changes.changes:
                    before = change.old_contents if change.old_contents is not None else change.resource.read()
                    for name, count in changed_identifiers(before, change.new_contents, (old,)).items():
                        key = (change.resource.path, name)
                        changed[key] = max(changed.get(key, 0), count)
    finally:
        project.close()
    return changed


def our_rename(root: Path, recipe: Recipe, names: tuple[str, ...]) -> dict[tuple[str, str], int]:
    """``{(path, old name): identifiers changed}`` from the recipe's rename task, nothing written."""
    from codemods.apply.migration import plan_migration

    changed: dict[tuple[str, str], int] = {}
    for change in plan_migration(root, recipe, only=[RENAME_TASK]).changes:
        if not change.path.endswith(".py") or change.before is None or change.after is None:
            continue
        before, after = change.before.decode("utf-8"), change.after.decode("utf-8")
        for name, count in changed_identifiers(before, after, names).items():
            changed[(change.path, name)] = count
    return changed


def compare(rope: dict[tuple[str, str], int], ours: dict[tuple[str, str], int]) -> dict[str, object]:
    """The extra fields of the row: counts on each side and where they differ."""
    differ = sorted(key for key in set(rope) | set(ours) if rope.get(key, 0) != ours.get(key, 0))
    return {
        "rope_identifiers": sum(rope.values()),
        "ours_identifiers": sum(ours.values()),
        "same_identifiers": not differ,
        "identifier_differences": [
            {"path": path, "name": name, "rope": rope.get((path, name), 0), "ours": ours.get((path, name), 0)}
            for path, name in differ
        ],
    }


def holding(copy: Path, names: tuple[str, ...]) -> list[str]:
    """The Python files (outside hidden directories) whose text holds one of ``names``: what any rename must parse."""
    found = []
    for path in sorted(copy.rglob("*.py")):
        relative = path.relative_to(copy)
        if not any(part.startswith(".") for part in relative.parts):
            text = path.read_text(encoding="utf-8", errors="replace")
            if any(name in text for name in names):
                found.append(relative.as_posix())
    return found


def parse_all(copy: Path, files: list[str], parse) -> int:
    return sum(1 for relative in files if parse((copy / relative).read_text(encoding="utf-8")) is not None)


def row_rename_vs_rope(copy: Path, recipe: Recipe, repeat: int) -> Row:
    """Also times two floors side by side: LibCST's and CPython's own parse of the files holding the names.

    They show where a target below them stands: no rename made with LibCST can be faster than
    LibCST parsing the files it changes.
    """
    import ast

    import libcst

    renames = {old: recipe.old_names[old] for old in SYMBOLS if old in recipe.old_names}
    files = [f.format(main=recipe.main_file) for f in DEFINITION_FILES]
    files = [f for f in files if (copy / f).is_file()]
    parsed = holding(copy, tuple(renames))
    (ours_s, rope_s, libcst_s, ast_s), (ours, rope, _, _) = side_by_side(
        [
            lambda: our_rename(copy, recipe, tuple(renames)),
            lambda: rope_rename(copy, renames, files),
            lambda: parse_all(copy, parsed, libcst.parse_module),
            lambda: parse_all(copy, parsed, ast.parse),
        ],
        repeat,
    )
    return ratio_row(
        "rename 3 collators (task 4)", ours_s, f"rope Rename at {len(files) * len(renames)} definitions", rope_s, TARGET,
        repeat=repeat, **compare(rope, ours),  # type: ignore[arg-type]
        target_s=round(rope_s * TARGET, 4), files_holding_names=len(parsed),
        libcst_parse_s=round(libcst_s, 4), ast_parse_s=round(ast_s, 4),
    )
