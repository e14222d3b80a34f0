"""Keep every jupytext-paired ``.ipynb`` in sync with its script (runs after the plan's tasks).

Pairs come from jupytext's own metadata, in either file (:mod:`.jupytext_pairs`).
When a paired script changed, its notebook's cells are rebuilt from the migrated
script the way ``jupytext --sync`` does it: sources come from the script,
outputs and cell metadata from the existing notebook. A pair that was already
out of sync is said so, since the notebook's own edits give way to the script.
Stored outputs that still show a retired name are listed; with the
``clear_stale_outputs`` option they are cleared instead. Cells are numbered from
0, as ``refactor check`` numbers them. Notebooks paired with no script are
renamed cell by cell (:mod:`.notebook_renames`).
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass

import jupytext
from jupytext.combine import combine_inputs_with_outputs
from nbformat import NotebookNode

from codemods.apply.engines.jupytext_pairs import Pair, jupytext_pairs
from codemods.apply.engines.notebook_renames import rename_in_notebook, stale_output_note
from codemods.apply.engines.rename import exact_renames, substring_identifiers
from codemods.apply.session import Context, Refusal
from codemods.core import kinds, occurrences
from codemods.core.bom import without_bom
from codemods.core.names import word_pattern
from codemods.core.occurrences import Names, NameTable
from codemods.core.recipe import Recipe, Task


@dataclass(frozen=True)
class StaleOutput:
    cell: int  # position in the notebook, from 0
    names: tuple[str, ...]  # old names the cell's outputs show


def synced_notebook(
    script_text: str, notebook_text: str, script_format: str, renames: dict[str, str] | None = None
) -> NotebookNode:
    """The notebook rebuilt from the script, with the stored notebook's outputs and cell metadata.

    jupytext pairs a new cell with a stored one by identical source first, then
    by position. So that a changed cell keeps its own outputs instead of
    borrowing a neighbour's, pairing looks at the stored cells as the migration
    left them: a cell whose marker carries the same Colab ``id`` is the same cell,
    and the others are compared with the renames applied. The sources written are
    always the script's.
    """
    stored = jupytext.reads(notebook_text, fmt="ipynb")
    rebuilt = jupytext.reads(without_bom(script_text), fmt=script_format)
    combined = combine_inputs_with_outputs(
        rebuilt, _pairing_view(stored, rebuilt, renames or {}), fmt=script_format
    )
    _stable_cell_ids(combined, stored)
    return combined


def _pairing_view(stored: NotebookNode, rebuilt: NotebookNode, renames: dict[str, str]) -> NotebookNode:
    """A copy of the stored notebook whose sources are what each cell should be paired by."""
    view = copy.deepcopy(stored)
    by_id: dict[str, list[NotebookNode]] = {}
    for cell in rebuilt.cells:
        if isinstance(cell.metadata.get("id"), str):
            by_id.setdefault(cell.metadata["id"], []).append(cell)
    pattern = word_pattern(renames)
    for cell in view.cells:
        same = by_id.get(cell.metadata.get("id"), []) if isinstance(cell.metadata.get("id"), str) else []
        if len(same) == 1 and same[0].cell_type == cell.cell_type:
            cell.source = same[0].source
        elif pattern is not None:
            cell.source = pattern.sub(lambda match: renames[match.group(1)], cell.source)
    return view


def _stable_cell_ids(notebook: NotebookNode, stored: NotebookNode) -> None:
    """New cells get ids derived from their content, so the same migration writes the same bytes."""
    if (notebook.nbformat, notebook.nbformat_minor) < (4, 5):
        for cell in notebook.cells:
            cell.pop("id", None)
        return
    known = {cell.get("id") for cell in stored.cells}
    used = {cell.get("id") for cell in notebook.cells if cell.get("id") in known}
    for index, cell in enumerate(notebook.cells):
        if cell.get("id") in known:
            continue
        digest = hashlib.sha1(f"{index}:{cell.cell_type}:{cell.source}".encode()).hexdigest()
        candidate = digest[:8]
        while candidate in used:
            digest = hashlib.sha1(digest.encode()).hexdigest()
            candidate = digest[:8]
        cell["id"] = candidate
        used.add(candidate)


def stale_outputs(notebook: NotebookNode, names: Names, recipe: Recipe) -> list[StaleOutput]:
    """Code cells whose stored outputs show an old name that their source no longer shows.

    The outputs are read as the check reads them (the same text fields, the allowed
    legacy tail skipped), so apply lists exactly the cells the check warns about.
    """
    shown: dict[int, set[str]] = {}
    for occurrence in occurrences.notebook(notebook, names, recipe).occurrences:
        if occurrence.kind == kinds.NOTEBOOK_OUTPUT and occurrence.cell is not None:
            shown.setdefault(occurrence.cell, set()).add(occurrence.old)
    stale = []
    for index, old in sorted(shown.items()):
        still_in_source = {match.group() for match in names.pattern.finditer(notebook.cells[index].source)}
        if old - still_in_source:
            stale.append(StaleOutput(index, tuple(sorted(old - still_in_source))))
    return stale


def notebook_text(notebook: NotebookNode) -> str:
    """The notebook as jupytext writes an ipynb file (nbformat JSON, final newline)."""
    text = jupytext.writes(notebook, fmt="ipynb")
    return text if text.endswith("\n") else text + "\n"


def _renames(context: Context, script: str) -> dict[str, str]:
    """The old -> new names the script got (identifiers containing one included)."""
    return {**substring_identifiers(context), **exact_renames(context, script)}


def sync_paired_notebooks(context: Context, task: Task) -> None:
    for pair in jupytext_pairs(context):
        sync_pair(context, task, pair)


def sync_pair(context: Context, task: Task, pair: Pair) -> None:
    workspace, script, path = context.workspace, pair.script, pair.notebook
    if not workspace.exists(script):
        return
    if not workspace.exists(path):
        if workspace.in_scope(path):
            context.report.info(task.id, f"paired with {path}, which does not exist; nothing to sync", script)
        else:
            context.report.warn(task.id, f"{path} is outside the migration scope and was not synced", script)
        return

    original = workspace.read_text(path)
    script_changed = any(change.path == script for change in workspace.changes())
    try:
        notebook = (
            synced_notebook(workspace.read_text(script), original, pair.script_format, _renames(context, script))
            if script_changed
            else jupytext.reads(original, "ipynb")
        )
    except Exception as error:  # an unreadable notebook must not be overwritten
        raise Refusal(task.id, f"cannot read the paired notebook: {error}", path) from None
    if script_changed:
        _say_if_out_of_sync(context, task, pair)

    names = NameTable(context.recipe, context.main_file).for_path(path)
    stale = stale_outputs(notebook, names, context.recipe)
    clear = bool(context.options.get("clear_stale_outputs"))
    for item in stale:
        cell = notebook.cells[item.cell]
        stale_output_note(context, task.id, path, item.cell, cell.source, item.names, clear)
        if clear:
            cell.outputs = []
            cell.execution_count = None

    if script_changed or (clear and stale):
        new_text = notebook_text(notebook)
        if new_text != original:
            workspace.write_text(path, new_text)
            if script_changed:
                context.report.info(
                    task.id, f"cell sources updated from {script}; outputs and cell metadata kept", path
                )
    if not script_changed and _clean(context, script) and rename_in_notebook(context, path, task.id, outputs=False):
        # The script names nothing old but its notebook does: the pair was out of sync before. Renaming
        # in place keeps what only the notebook holds (it may be the newer file) and leaves check clean.
        context.report.warn(
            task.id, f"was out of sync with {script}: old names only its cells held were renamed in them", path
        )


def _clean(context: Context, script: str) -> bool:
    """Whether the check would find nothing in the script (what its notebook's cells should then show)."""
    names = NameTable(context.recipe, context.main_file).for_path(script)
    return not occurrences.python(context.workspace.read_text(script), names, context.recipe).occurrences


def _say_if_out_of_sync(context: Context, task: Task, pair: Pair) -> None:
    """Warn when the notebook's cells differed from its script before the migration: they now follow the script."""
    script_text = context.workspace.original_text(pair.script)
    notebook_text_ = context.workspace.original_text(pair.notebook)
    try:
        before = jupytext.reads(without_bom(script_text or ""), fmt=pair.script_format).cells
        stored = jupytext.reads(notebook_text_ or "", fmt="ipynb").cells
    except Exception:  # noqa: BLE001 - what cannot be read cannot be compared; the sync itself says more
        return
    if [(c.cell_type, c.source) for c in before] == [(c.cell_type, c.source) for c in stored]:
        return
    differing = sum(
        (a.cell_type, a.source) != (b.cell_type, b.source) for a, b in zip(before, stored, strict=False)
    ) + abs(len(before) - len(stored))
    context.report.warn(
        task.id,
        f"was out of sync with {pair.script} before the migration ({differing} cell(s) differed); its cells "
        f"now follow the migrated script, as `jupytext --sync` would, and its own edits are gone (undo restores them)",
        pair.notebook,
    )
