"""Calls of the old config factories in the code cells of notebooks that no script is paired with.

A call such as ``create_sft_config(seed=1)`` cannot just take the new name: the new
function needs its variant and maps the arguments (``create_training_config(variant=...,
...)``), as :mod:`.config_callers` does for Python files. So each code cell is migrated by
that same engine: the cell is parsed as a module, with the imports of every code cell of
the notebook appended behind a marker statement (a notebook's cells share one namespace,
so a name a cell calls was often imported by another), and only the cell's own code is
kept afterwards. IPython magics are masked while parsing and restored as written; a cell
that does not parse is left as it is, with a warning. Paired notebooks follow their script.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace

import libcst as cst

from codemods.apply.engines.config_callers import RenameOldImports, migrate_uses, other_uses
from codemods.apply.engines.config_module import OldFactories
from codemods.apply.engines.jupytext_pairs import synced_notebooks
from codemods.apply.engines.notebook_renames import dump_like
from codemods.apply.session import Context
from codemods.core.bom import without_bom
from codemods.core.ipython import is_ipython_line
from codemods.core.occurrences import text_field
from codemods.core.recipe import Task

# Marks where a cell's own code ends; what follows it is the other cells' imports.
_MARKER = "pass  # refactor: end of cell"
_MASK = "#refactor-magic:"


def migrate_notebook_callers(context: Context, task: Task, old: OldFactories, root: str) -> None:
    paired = synced_notebooks(context)
    for path in context.workspace.files((".ipynb",)):
        if path in paired:
            continue
        text = context.workspace.read_text(path)
        if any(name in text for name in old.variants):
            _migrate_notebook(context, task, path, text, old, root)


def _migrate_notebook(context: Context, task: Task, path: str, text: str, old: OldFactories, root: str) -> None:
    try:
        document = json.loads(without_bom(text))
        cells = document["cells"]
    except (ValueError, KeyError, TypeError):
        return  # not a notebook this engine can read: the rename reports it
    code = [(index, cell) for index, cell in enumerate(cells) if isinstance(cell, dict) and cell.get("cell_type") == "code"]
    sources = {index: text_field(cell.get("source", ""), ())[0] for index, cell in code}
    imports = "".join(_imports_of(source) for source in sources.values())
    mentioning = [(index, cell) for index, cell in code if any(name in sources[index] for name in old.variants)]
    modules = {index: _parsed(sources[index], imports) for index, _ in mentioning}
    # One namespace: a name any cell uses other than by a call keeps the import that another cell makes.
    keep: set[str] = set()
    for index, module in modules.items():
        keep |= other_uses(module, path, old) if module is not None else set()
        # A magic that calls one stays as written (see _migrate_cell): the name must stay imported.
        magics = [line for line in sources[index].split("\n") if is_ipython_line(line)]
        keep |= {name for name in old.variants if any(re.search(rf"\b{name}\b", line) for line in magics)}
    changed = False
    for index, cell in mentioning:
        source = sources[index]
        new_source = _migrate_cell(context, task, path, index, source, modules[index], old, root, keep)
        if new_source is not None and new_source != source:
            cell["source"] = new_source.splitlines(keepends=True) if isinstance(cell.get("source"), list) else new_source
            changed = True
    if changed:
        context.workspace.write_text(path, dump_like(document, text))


def _parsed(source: str, imports: str) -> cst.Module | None:
    """The cell, then the marker, then every cell's imports, as one module (None when the cell does not parse)."""
    body = source if source.endswith("\n") or not source else source + "\n"
    try:
        return cst.parse_module(_masked(body) + _MARKER + "\n" + imports)
    except cst.ParserSyntaxError:
        return None


def _migrate_cell(
    context: Context, task: Task, path: str, index: int, source: str, module: cst.Module | None, old: OldFactories,
    root: str, keep: set[str],
) -> str | None:
    """The cell's source (parsed by :func:`_parsed`) with its calls migrated (None when it does not parse)."""
    if module is None:
        context.report.warn(
            task.id, f"cell {index} does not parse; its calls of {', '.join(old.variants)} were not migrated", path
        )
        return None
    function = context.recipe.config_function
    assert function is not None
    notes, changes = len(context.report.notes), len(context.report.behaviour_changes)
    new_module, kept = migrate_uses(context, task, path, module, old, root)
    _located_in_cell(context, path, index, notes, changes)
    new_module = new_module.visit(RenameOldImports(path, old, function.name, keep=keep | kept))
    marker = next(i for i, stmt in enumerate(new_module.body) if _is_marker(new_module, stmt))
    # Comments after the cell's last statement are the marker's leading lines: they stay the cell's.
    cell_module = new_module.with_changes(body=new_module.body[:marker], footer=new_module.body[marker].leading_lines)
    for line in cell_module.code.split("\n"):
        if line.lstrip().startswith(_MASK) and any(name in line for name in old.variants):
            context.report.warn(
                task.id, f"cell {index}: {line.replace(_MASK, '', 1).strip()!r} is an IPython magic that calls an old "
                "config factory; the engine cannot rewrite inside a magic, migrate it by hand", path,
            )
    migrated = _unmasked(cell_module.code)
    return migrated if source.endswith("\n") or not migrated.endswith("\n") else migrated[:-1]


def _located_in_cell(context: Context, path: str, index: int, notes: int, changes: int) -> None:
    """The engine counts lines inside the cell: its notes since ``notes`` say which cell (``cell 3 line 2``)."""
    report = context.report
    for at in range(notes, len(report.notes)):
        note = report.notes[at]
        if note.path == path and note.line is not None:
            report.notes[at] = replace(note, message=f"cell {index} line {note.line}: {note.message}", line=None)
    for at in range(changes, len(report.behaviour_changes)):
        change = report.behaviour_changes[at]
        if change.block.startswith(f"{path}:"):
            block = f"{path} cell {index} line {change.block[len(path) + 1 :]}"
            report.behaviour_changes[at] = replace(change, block=block)


def _is_marker(module: cst.Module, stmt: cst.BaseStatement) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and module.code_for_node(stmt).strip().endswith(_MARKER)


def _imports_of(source: str) -> str:
    """The top-level import statements of a cell, as code (nothing when the cell does not parse)."""
    try:
        module = cst.parse_module(_masked(source))
    except cst.ParserSyntaxError:
        return ""
    found = [
        stmt.with_changes(leading_lines=())
        for stmt in module.body
        if isinstance(stmt, cst.SimpleStatementLine) and any(isinstance(s, (cst.Import, cst.ImportFrom)) for s in stmt.body)
    ]
    return cst.Module(body=found).code if found else ""


def _masked(source: str) -> str:
    """IPython magics and shell escapes (``%time ...``, ``!ls``) as comments that :func:`_unmasked` restores."""
    lines = source.split("\n")
    return "\n".join(_indented(line, _MASK + line.lstrip()) if is_ipython_line(line) else line for line in lines)


def _indented(line: str, content: str) -> str:
    return line[: len(line) - len(line.lstrip())] + content


def _unmasked(code: str) -> str:
    return "\n".join(line.replace(_MASK, "", 1) if line.lstrip().startswith(_MASK) else line for line in code.split("\n"))
