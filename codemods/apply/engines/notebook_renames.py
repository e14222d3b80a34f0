"""Rename old names in the notebooks that no script is paired with.

A jupytext-paired notebook is rebuilt from its script (:mod:`.notebooks`); every
other ``.ipynb`` under ROOT is edited here, cell by cell, so that ``refactor
check`` finds nothing left after ``refactor apply``. The edits are exactly the
occurrences :mod:`codemods.core.occurrences` reports, minus stored outputs:

* code cells: names, comments and strings as the check classifies them (IPython
  magics masked while parsing), identifiers containing an old name spliced by
  the recipe's substring policy; prose only where the rename policy reaches it;
* markdown cells: whole words, like prose documents (by the comment policy,
  which is the one the check reports markdown cells by);
* stored outputs: left as they are (they record a past run) and listed as
  warnings naming the cell, or cleared with the ``clear_stale_outputs`` option.

A code cell that does not parse is renamed as plain text (whole words) with a
warning, since the check reports its names as unparsed text; so is a notebook
whose JSON cannot be read, for the same reason. The file is written back in its
own JSON style (indent, ASCII escaping, BOM, final newline); a notebook without
old names is not written at all, so its bytes stay identical. Cells are numbered
from 0, as in the notebook's ``cells`` list and in ``refactor check``.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from codemods.apply.engines.jupytext_pairs import synced_notebooks
from codemods.apply.engines.rename_locals import kept_keywords, parameter_owners_in
from codemods.apply.session import Context
from codemods.core import occurrences
from codemods.core.bom import bom_of, without_bom
from codemods.core.ipython import is_ipython_line
from codemods.core.kinds import NOTEBOOK_OUTPUT, UNPARSED_TEXT
from codemods.core.occurrences import Names, NameTable, Occurrence
from codemods.core.recipe import Task

_INDENT = re.compile(r"\{\r?\n( +)\S")


def rename_in_notebooks(context: Context, task: Task) -> None:
    workspace = context.workspace
    table = NameTable(context.recipe, context.main_file)
    # A paired notebook follows its script after the tasks (and is checked on its own then).
    paired = synced_notebooks(context)
    for path in workspace.files((".ipynb",)):
        if path not in paired:
            rename_in_notebook(context, path, task.id, table)


def rename_in_notebook(
    context: Context, path: str, task_id: str, table: NameTable | None = None, *, outputs: bool = True
) -> bool:
    """Rename the old names in one notebook's cells; True when it changed.

    With ``outputs`` the stored outputs that show an old name are listed (or cleared, by option).
    """
    table = table or NameTable(context.recipe, context.main_file)
    names = table.for_path(path)
    text = context.workspace.read_text(path)
    if not names.pattern.search(text):
        return False
    body = without_bom(text)
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as error:
        return _rename_as_text(context, path, task_id, text, names, f"its JSON cannot be read ({error})")
    scan = occurrences.notebook(document, names, context.recipe)
    if scan.problem == occurrences.OLD_NOTEBOOK_FORMAT:
        # Renamed as text, its stored outputs would change too: left alone, and said why.
        context.report.warn(task_id, f"not edited: {scan.problem}, then apply again", path)
        return False
    if scan.problem is not None:
        return _rename_as_text(context, path, task_id, text, names, scan.problem)
    cells = document["cells"]
    spec = context.recipe.config_module
    factories = {alias.old for alias in spec.deprecated} if spec else set()
    by_cell: dict[int, list[Occurrence]] = {}
    stale_outputs: dict[int, set[str]] = {}
    for occurrence in scan.occurrences:
        if occurrence.kind == NOTEBOOK_OUTPUT:
            stale_outputs.setdefault(occurrence.cell, set()).add(occurrence.old)
        else:
            by_cell.setdefault(occurrence.cell, []).append(occurrence)
    counts: Counter[str] = Counter()
    code = [occurrences.text_field(c.get("source", ""), ())[0]
            for c in cells if isinstance(c, dict) and c.get("cell_type") == "code"]
    owners = parameter_owners_in(code, {o.old for o in scan.occurrences if not o.substring})
    for index, found in by_cell.items():
        cell = cells[index]
        source = cell["source"]
        joined = "".join(source) if isinstance(source, list) else source
        if cell.get("cell_type") == "code":
            found = _without_kept_keywords(context, task_id, path, index, joined, found, owners)
            found = [o for o in found if not _config_call_code(o, factories)]
        renamed = _apply(joined, found)
        cell["source"] = renamed.splitlines(keepends=True) if isinstance(source, list) else renamed
        for occurrence in found:
            counts[occurrence.kind] += 1
            if occurrence.substring:
                context.report.substring_renames[joined[occurrence.offset : occurrence.end]] = occurrence.suggestion
        if any(o.kind == UNPARSED_TEXT for o in found):
            why = dict(scan.unparsed_cells).get(index, "")
            context.report.warn(
                task_id, f"cell {index} does not parse ({why}); its old names were renamed as text (whole words)", path
            )
    cleared = _stale_outputs(context, task_id, path, cells, stale_outputs) if outputs else False
    if not counts and not cleared:
        return False
    context.workspace.write_text(path, dump_like(document, text))
    if counts:
        context.report.renames.update(counts)
        kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(counts.items()))
        context.report.info(task_id, f"renamed {sum(counts.values())} occurrences in notebook cells ({kinds})", path)
    return True


def _config_call_code(occurrence: Occurrence, factories: set[str]) -> bool:
    """An old config factory's name in code: the callers' engine migrates it (new name, variant and arguments).

    An IPython line (``%time cfg = create_sft_config()``) is code too, though the check reads it as a comment.
    """
    if occurrence.old not in factories or occurrence.kind == UNPARSED_TEXT:
        return False
    return occurrence.prose is None or is_ipython_line(occurrence.source_line)


def _without_kept_keywords(
    context: Context, task_id: str, path: str, index: int, source: str, found: list[Occurrence],
    owners: dict[str, set[str]],
) -> list[Occurrence]:
    """The cell's occurrences less the ``old=`` keywords of calls whose parameter keeps its name (said why)."""
    olds = {o.old for o in found if not o.substring and o.kind != UNPARSED_TEXT}
    kept = kept_keywords(context, source, olds, owners)
    if not kept:
        return found
    for old in sorted(set(kept.values())):
        context.report.warn(
            task_id,
            f"cell {index}: the keyword {old}= keeps its name: the parameter it passes keeps the old name",
            path,
        )
    return [o for o in found if (o.line, o.col) not in kept]


def _stale_outputs(context: Context, task_id: str, path: str, cells: list, stale: dict[int, set[str]]) -> bool:
    """List (or clear, by option) the stored outputs that show old names; True when some were cleared."""
    clear = bool(context.options.get("clear_stale_outputs"))
    for index, shown in sorted(stale.items()):
        cell = cells[index]
        source = cell.get("source", "")
        stale_output_note(context, task_id, path, index, "".join(source) if isinstance(source, list) else source,
                          sorted(shown), clear)
        if clear:
            cell["outputs"] = []
            if "execution_count" in cell:
                cell["execution_count"] = None
    return clear and bool(stale)


def stale_output_note(
    context: Context, task_id: str, path: str, index: int, source: str, names: Iterable[str], clear: bool
) -> None:
    """The one wording, paired or not, for a cell whose stored outputs show old names (cells counted from 0)."""
    where, shown = f"cell {index} ({_first_line(source)})", ", ".join(names)
    if clear:
        context.report.info(task_id, f"{where}: cleared stored outputs that showed {shown}", path)
    else:
        context.report.warn(
            task_id,
            f"{where}: stored outputs still show {shown} "
            "(re-run the cell, or pass --clear-stale-outputs to clear them)",
            path,
        )


def _first_line(source: str, width: int = 40) -> str:
    # The first line that says something (banners of `=` signs don't).
    line = next((text.strip() for text in source.splitlines() if any(c.isalnum() for c in text)), "")
    return line if len(line) <= width else line[: width - 1] + "…"


def _rename_as_text(context: Context, path: str, task_id: str, text: str, names: Names, problem: str) -> bool:
    """A file the check can only read as text: its old names are renamed as text, as the check reports them."""
    body = without_bom(text)
    found = occurrences.unparsed(body, names, context.recipe)
    if not found:
        return False
    context.workspace.write_text(path, text[: len(text) - len(body)] + _apply(body, found))
    context.report.renames[UNPARSED_TEXT] += len(found)
    context.report.warn(
        task_id, f"not a readable notebook: {problem}; its {len(found)} old name(s) were renamed as text", path
    )
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
    """The document as JSON in the original file's style: nbformat's indent 1 unless it used another, or none."""
    bom = bom_of(original)
    original = original[len(bom) :]
    ascii_only = original.isascii() and "\\u" in original
    if "\n" not in original.strip():  # written on one line (json.dumps without indent): it stays on one
        separators = (", ", ": ") if '": ' in original else (",", ":")
        return bom + json.dumps(document, ensure_ascii=ascii_only, separators=separators) + original[len(original.rstrip("\r\n")) :]
    match = _INDENT.match(original)
    indent = len(match.group(1)) if match else 1
    text = json.dumps(document, indent=indent, ensure_ascii=ascii_only)
    if "\r\n" in original:
        text = text.replace("\n", "\r\n")
    ending = original[len(original.rstrip("\r\n")) :]
    return bom + text + ending
