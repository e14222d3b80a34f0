"""Rename old names in the notebooks that no script is paired with.

A jupytext-paired notebook is rebuilt from its script (:mod:`.notebooks`); every
other ``.ipynb`` under ROOT is edited here, cell by cell, so that ``refactor
check`` finds nothing left after ``refactor apply``. The edits are exactly the
occurrences :mod:`codemods.core.occurrences` reports, minus stored outputs:

* code cells: names, comments and strings as the check classifies them (IPython
  magics masked while parsing), identifiers containing an old name spliced by
  the recipe's substring policy; prose only where the rename policy reaches it;
* markdown cells: whole words (the document policy, and the comment policy
  that the check reports markdown cells by);
* stored outputs: left as they are (they record a past run) and listed as
  warnings naming the cell.

A code cell that does not parse is renamed as plain text (whole words) with a
warning, since the check would report its names as unparsed text. A notebook
whose JSON cannot be read is left alone with a warning. The file is written
back in its own JSON style (indent, ASCII escaping, final newline); a notebook
without old names is not written at all, so its bytes stay identical.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import PurePosixPath
from typing import Any

from codemods.apply.session import Context
from codemods.core import occurrences
from codemods.core.occurrences import UNPARSED_TEXT, WARNING_KINDS, NameTable, Occurrence
from codemods.core.recipe import Task

_INDENT = re.compile(r"\{\r?\n( +)\S")


def rename_in_notebooks(context: Context, task: Task) -> None:
    workspace = context.workspace
    table = NameTable(context.recipe, context.main_file)
    for path in workspace.files((".ipynb",)):
        if paired_script(context, path) is not None:
            continue
        rename_in_notebook(context, path, task.id, table)


def paired_script(context: Context, path: str) -> str | None:
    """The existing ``.py`` a notebook is paired with (by its jupytext metadata, or as the main file's pair)."""
    workspace = context.workspace
    stem = path[: -len(".ipynb")]
    if stem + ".py" == context.main_file and workspace.exists(context.main_file):
        from codemods.apply.engines.notebooks import paired_notebook

        pairing = paired_notebook(context.main_file, workspace.read_text(context.main_file))
        if pairing is not None and pairing[0] == path:
            return context.main_file
    text = workspace.read_text(path)
    if '"jupytext"' not in text:
        return None
    try:
        formats = json.loads(text).get("metadata", {}).get("jupytext", {}).get("formats")
    except (ValueError, AttributeError, RecursionError):
        return None
    if not isinstance(formats, str) or "py" not in formats:
        return None
    candidates = [stem + ".py"]
    try:
        from jupytext.paired_paths import paired_paths

        candidates = [p for p, fmt in paired_paths(path, "ipynb", formats) if fmt.get("extension") == ".py"]
    except Exception:  # noqa: BLE001 - jupytext refuses odd prefixes; the same-stem script is the usual pair
        pass
    for candidate in candidates:
        candidate = PurePosixPath(candidate).as_posix()
        if workspace.exists(candidate):
            return candidate
    return None


def rename_in_notebook(context: Context, path: str, task_id: str, table: NameTable | None = None) -> bool:
    """Rename the old names in one notebook's cells; True when it changed."""
    table = table or NameTable(context.recipe, context.main_file)
    names = table.for_path(path)
    text = context.workspace.read_text(path)
    if not names.pattern.search(text):
        return False
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as error:
        context.report.warn(task_id, f"not renamed: the notebook's JSON cannot be read ({error})", path)
        return False
    scan = occurrences.notebook(document, names, context.recipe)
    if scan.problem is not None:
        context.report.warn(task_id, f"not renamed: {scan.problem}", path)
        return False
    cells = document["cells"]
    by_cell: dict[int, list[Occurrence]] = {}
    stale_outputs: dict[int, set[str]] = {}
    for occurrence in scan.occurrences:
        if occurrence.kind in WARNING_KINDS:
            stale_outputs.setdefault(occurrence.cell, set()).add(occurrence.old)
        else:
            by_cell.setdefault(occurrence.cell, []).append(occurrence)
    counts: Counter[str] = Counter()
    for index, found in by_cell.items():
        cell = cells[index]
        source = cell["source"]
        joined = "".join(source) if isinstance(source, list) else source
        renamed = _apply(joined, found)
        cell["source"] = renamed.splitlines(keepends=True) if isinstance(source, list) else renamed
        for occurrence in found:
            counts[occurrence.kind] += 1
            if occurrence.substring:
                context.report.substring_renames[joined[occurrence.offset : occurrence.end]] = occurrence.suggestion
        if any(o.kind == UNPARSED_TEXT for o in found):
            context.report.warn(
                task_id, f"cell {index} does not parse; its old names were renamed as text (whole words)", path
            )
    for index, shown in sorted(stale_outputs.items()):
        context.report.warn(
            task_id,
            f"cell {index}: stored outputs still show {', '.join(sorted(shown))} (re-run the cell to refresh them)",
            path,
        )
    if not counts:
        return False
    context.workspace.write_text(path, dump_like(document, text))
    context.report.renames.update(counts)
    kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(counts.items()))
    context.report.info(task_id, f"renamed {sum(counts.values())} occurrences in notebook cells ({kinds})", path)
    return True


def _apply(text: str, found: list[Occurrence]) -> str:
    """Replace each occurrence's span (the old name, or the whole identifier holding it) by its suggestion."""
    pieces, last = [], 0
    for occurrence in sorted(found, key=lambda o: o.offset):
        if occurrence.offset < last:
            continue  # never overlaps in practice; a second edit of the same span would corrupt it
        pieces += [text[last : occurrence.offset], occurrence.suggestion]
        last = occurrence.end
    pieces.append(text[last:])
    return "".join(pieces)


def dump_like(document: Any, original: str) -> str:
    """The document as JSON in the original file's style: nbformat's indent 1 unless it used another."""
    match = _INDENT.match(original)
    indent = len(match.group(1)) if match else 1
    ascii_only = original.isascii() and "\\u" in original
    text = json.dumps(document, indent=indent, ensure_ascii=ascii_only)
    if "\r\n" in original:
        text = text.replace("\n", "\r\n")
    ending = original[len(original.rstrip("\r\n")) :]
    return text + ending
