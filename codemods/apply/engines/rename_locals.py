"""Function locals and parameters spelled like an old name: which of them follow the rename.

``refactor check`` reports such a name like any other occurrence, so the rename takes it
along where that cannot change what the code does, and says why where it keeps one.
"""

from __future__ import annotations

import re

import libcst as cst

from codemods.apply.engines.bindings import resolve
from codemods.apply.engines.lines import first_lines
from codemods.apply.session import Context


def renamable_locals(
    context: Context, path: str, task_id: str, names: set[cst.Name], exact: dict[str, str], text: str
) -> set[cst.Name]:
    """Function locals spelled like an old name follow the rename, unless the new name is already in the file.

    ``check`` reports such a local like any other occurrence, so leaving it would leave
    the repository failing the check; renaming it can only capture another binding when
    the new name is spelled somewhere in the file already, and then it keeps its name.
    """
    safe, kept = set(), set()
    for name in names:
        (kept if re.search(rf"(?<![\w]){re.escape(exact[name.value])}(?![\w])", text) else safe).add(name)
    if kept:
        lines = first_lines(context.parse(path), kept)
        for name in sorted(kept, key=lines.__getitem__):
            context.report.warn(
                task_id,
                f"the local {name.value} keeps its name: {exact[name.value]} is already used in this file",
                path,
                lines[name],
            )
    return safe


def renamable_parameters(
    context: Context, path: str, task_id: str, names: set[cst.Name], exact: dict[str, str], text: str
) -> set[cst.Name]:
    """Parameters follow the rename like locals; one a caller passes by keyword only together with those calls.

    A keyword argument names the parameter from outside the function (``f(old=...)``),
    possibly from another file. Where every such call is renamed too (:func:`keywords_follow`)
    the parameter follows; otherwise it keeps its name and the report says why.
    """
    by_keyword = {
        name.value for name in names
        if _passed_by_keyword(context, name.value) and not keywords_follow(context, name.value)
    }
    kept = {name for name in names if name.value in by_keyword}
    for old in sorted(by_keyword):
        context.report.warn(
            task_id, f"the parameter {old} keeps its name: a call passes it by keyword ({old}=...)", path
        )
    return renamable_locals(context, path, task_id, names - kept, exact, text)


def keywords_follow(context: Context, old: str) -> bool:
    """Whether ``old=...`` keyword arguments are renamed with the parameters they name, everywhere at once.

    Only when the keyword can only mean a parameter this migration renames: some Python
    file of the workspace has a parameter ``old``, none keeps one (its file already
    spells the new name), and every Python file that passes ``old=`` is one the rename
    covers. Otherwise parameters and keywords alike keep the old name.
    """
    return bool(context.computed_once(_keywords_follow, old))


def _renamed_in(context: Context, path: str, old: str) -> str | None:
    return next((r.new for r in context.recipe.renames_for(path, context.main_file) if r.old == old), None)


def _keywords_follow(context: Context, old: str) -> bool:
    callers = context.computed_once(_files_passing_keyword, old)
    # A notebook's cells are renamed occurrence by occurrence (keywords too); a Python file only where the rename covers it.
    if not callers or any(path.endswith(".py") and _renamed_in(context, path, old) is None for path in callers):
        return False
    word = re.compile(rf"(?<![\w]){re.escape(old)}(?![\w])")
    defined = False
    for path in context.workspace.files((".py",)):
        text = context.workspace.read_text(path)
        new = _renamed_in(context, path, old)
        if new is None or not word.search(text):
            continue
        try:
            parameters = {name.value for name in resolve(context.parse(path), [old], source=text).parameters}
        except Exception:  # noqa: BLE001 - a file that does not parse is reported by the rename itself
            return False
        if old in parameters:
            if re.search(rf"(?<![\w]){re.escape(new)}(?![\w])", text):
                return False  # that parameter keeps its name (renamable_locals), so its callers must too
            defined = True
    return defined


def _passed_by_keyword(context: Context, name: str) -> bool:
    return bool(context.computed_once(_files_passing_keyword, name))


def _files_passing_keyword(context: Context, name: str) -> tuple[str, ...]:
    """The Python files and notebooks with a call that passes ``name=...`` (a text search: cheap and cautious)."""
    keyword = re.compile(rf"[(,]\s*{re.escape(name)}\s*=(?!=)")
    found = []
    for path in context.workspace.files((".py", ".ipynb")):
        text = context.workspace.read_text(path)
        if name in text and keyword.search(text):
            found.append(path)
    return tuple(found)
