"""Keep the main file's paired ``.ipynb`` in sync (runs after the plan's tasks).

The plan's paired-notebook clause: when the main file is a jupytext script
paired with a notebook (``formats: ipynb,py:percent``), the notebook's cells are
rebuilt from the migrated script the way ``jupytext --sync`` does it: sources
come from the script, outputs and cell metadata from the existing notebook.
Stored outputs that still show a retired name are listed; with the
``clear_stale_outputs`` option they are cleared instead. A notebook that is not
paired with the main file is never touched.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from pathlib import PurePosixPath

import jupytext
from jupytext.combine import combine_inputs_with_outputs
from jupytext.formats import long_form_one_format
from jupytext.paired_paths import paired_paths
from nbformat import NotebookNode

from codemods.apply.engines.rename import exact_renames, substring_identifiers
from codemods.apply.session import Context, Refusal
from codemods.core.names import word_pattern
from codemods.core.recipe import Task

_TEXT_MIMETYPES = ("text/plain", "text/html", "text/markdown", "text/latex", "application/json")


@dataclass(frozen=True)
class StaleOutput:
    cell: int  # position in the notebook, from 0
    names: tuple[str, ...]  # old names the cell's outputs show


def paired_notebook(main_path: str, script_text: str) -> tuple[str, str] | None:
    """(notebook path, the script's jupytext format) when the script is paired with an ipynb."""
    try:
        # Only the leading comment block can hold the jupytext header: reading the whole script
        # would parse every cell of a 3,000-line notebook-script to look at ten lines.
        header = jupytext.reads(_leading_comments(script_text), fmt="py:percent").metadata.get("jupytext", {})
    except Exception:  # a header jupytext cannot read is not a pairing we can honour
        return None
    formats = header.get("formats")
    if not formats or "ipynb" not in str(formats):
        return None
    script_format = next(
        (fmt for fmt in str(formats).split(",") if long_form_one_format(fmt).get("extension") == ".py"),
        "py:percent",
    )
    try:
        pairs = paired_paths(main_path, script_format, formats)
    except Exception:  # jupytext refuses paths that do not match the formats' prefixes
        return None
    notebook = next((path for path, fmt in pairs if fmt.get("extension") == ".ipynb"), None)
    return (PurePosixPath(notebook).as_posix(), script_format) if notebook else None


def _leading_comments(script_text: str) -> str:
    lines = []
    for line in script_text.splitlines(keepends=True):
        if line.strip() and not line.lstrip().startswith("#") or line.startswith("# %%"):
            break
        lines.append(line)
    return "".join(lines)


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
    rebuilt = jupytext.reads(script_text, fmt=script_format)
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


def output_text(output: NotebookNode) -> str:
    """What an output shows, as text: stream text, text-like data, or an error's name, value and traceback."""
    kind = output.get("output_type")
    if kind == "stream":
        return _joined(output.get("text", ""))
    if kind == "error":
        return "\n".join([output.get("ename", ""), output.get("evalue", ""), *output.get("traceback", [])])
    data = output.get("data", {})
    return "\n".join(
        _joined(data[mime]) for mime in _TEXT_MIMETYPES if isinstance(data.get(mime), (str, list))
    )


def _joined(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def stale_outputs(notebook: NotebookNode, old_names: list[str]) -> list[StaleOutput]:
    """Code cells whose stored outputs name a retired name that their source no longer shows."""
    pattern = word_pattern(old_names)
    if pattern is None:
        return []
    stale = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code" or not cell.get("outputs"):
            continue
        shown = {match.group(1) for output in cell.outputs for match in pattern.finditer(output_text(output))}
        still_in_source = {match.group(1) for match in pattern.finditer(cell.source)}
        names = tuple(sorted(shown - still_in_source))
        if names:
            stale.append(StaleOutput(index, names))
    return stale


def notebook_text(notebook: NotebookNode) -> str:
    """The notebook as jupytext writes an ipynb file (nbformat JSON, final newline)."""
    text = jupytext.writes(notebook, fmt="ipynb")
    return text if text.endswith("\n") else text + "\n"


def _first_line(source: str, width: int = 40) -> str:
    # The first line that says something (banners of `=` signs don't).
    line = next((text.strip() for text in source.splitlines() if any(c.isalnum() for c in text)), "")
    return line if len(line) <= width else line[: width - 1] + "…"


def _renames(context: Context, main: str) -> dict[str, str]:
    """The old -> new names task 4 applies to the main file (identifiers containing one included)."""
    return {**substring_identifiers(context), **exact_renames(context, main)}


def sync_paired_notebooks(context: Context, task: Task) -> None:
    main = context.main_file
    workspace = context.workspace
    if not workspace.exists(main):
        return
    script_text = workspace.read_text(main)
    pairing = paired_notebook(main, script_text)
    if pairing is None:
        return
    notebook_path, script_format = pairing
    if not workspace.exists(notebook_path):
        if workspace.in_scope(notebook_path):
            context.report.info(
                task.id, f"paired with {notebook_path}, which does not exist; nothing to sync", main
            )
        else:
            context.report.warn(
                task.id, f"{notebook_path} is outside the migration scope and was not synced", main
            )
        return

    original = workspace.read_text(notebook_path)
    main_changed = any(change.path == main for change in workspace.changes())
    try:
        notebook = (
            synced_notebook(script_text, original, script_format, _renames(context, main))
            if main_changed
            else jupytext.reads(original, "ipynb")
        )
    except Exception as error:  # an unreadable notebook must not be overwritten
        raise Refusal(task.id, f"cannot read the paired notebook: {error}", notebook_path) from None

    stale = stale_outputs(notebook, list(context.recipe.old_names))
    clear = bool(context.options.get("clear_stale_outputs"))
    for item in stale:
        cell = notebook.cells[item.cell]
        where = f"cell {item.cell + 1} ({_first_line(cell.source)})"
        names = ", ".join(item.names)
        if clear:
            cell.outputs = []
            cell.execution_count = None
            context.report.info(
                task.id, f"{where}: cleared stored outputs that showed {names}", notebook_path
            )
        else:
            context.report.warn(
                task.id,
                f"{where}: stored outputs still show {names} "
                "(re-run the cell, or pass --clear-stale-outputs to clear them)",
                notebook_path,
            )

    if not main_changed and not (clear and stale):
        return
    new_text = notebook_text(notebook)
    if new_text != original:
        workspace.write_text(notebook_path, new_text)
        if main_changed:
            context.report.info(
                task.id, f"cell sources updated from {main}; outputs and cell metadata kept", notebook_path
            )
