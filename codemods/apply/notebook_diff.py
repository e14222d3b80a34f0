"""A notebook's change told cell by cell, as nbdime and jupytext show it: source lines, outputs summarised.

The raw ``.ipynb`` diff repeats every source line as a JSON string with its quotes, commas
and ``\\n`` escapes, and buries them among outputs and metadata. A reader wants to know
which cells changed and how their code reads now, so each changed cell gets a header
(``path.ipynb:cell 12 (code)``, cells counted from 0 as in ``refactor check`` and the
notes) and a unified diff of its source lines only; outputs are summarised in words.
"""

from __future__ import annotations

import difflib
import warnings
from dataclasses import dataclass

from codemods.core.workspace import FileChange

MODIFIED, MOVED, ADDED, REMOVED = "modified", "moved", "added", "removed"
OUTPUTS_KEPT, OUTPUTS_CLEARED, OUTPUTS_CHANGED, OUTPUTS_NONE = "kept", "cleared", "changed", "none"


@dataclass(frozen=True)
class CellDiff:
    """One cell whose source or outputs differ."""

    path: str
    # In the notebook after the change; a removed cell keeps its number from before.
    index: int
    cell_type: str
    change: str
    outputs: str
    # Unified diff hunks of the cell's source lines, without file headers; empty when only outputs differ.
    hunks: str
    moved_from: int | None = None

    @property
    def header(self) -> str:
        notes = []
        if self.change == ADDED:
            notes.append("new cell")
        elif self.change == MOVED:
            notes.append(f"moved from cell {self.moved_from}")
        elif self.change == REMOVED:
            notes.append("removed; its number before the change")
        if self.outputs != OUTPUTS_NONE:
            notes.append(f"outputs {self.outputs}")
        suffix = f" — {', '.join(notes)}" if notes else ""
        return f"{self.path}:cell {self.index} ({self.cell_type}){suffix}"

    def to_dict(self) -> dict[str, object]:
        return {
            "cell": self.index,
            "cell_type": self.cell_type,
            "change": self.change,
            "moved_from": self.moved_from,
            "outputs": self.outputs,
            "diff": self.hunks,
        }


def is_notebook(change: FileChange) -> bool:
    return change.path.endswith(".ipynb")


def read_cells(data: bytes | None) -> list[dict] | None:
    """The notebook's cells (an absent file has none), or None when the text is no notebook nbformat reads."""
    if data is None:
        return []
    import nbformat

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # nbformat warns about missing cell ids and the like: not ours to report
            notebook = nbformat.reads(data.decode("utf-8"), as_version=4)
    except Exception:  # noqa: BLE001 - any unreadable notebook falls back to the raw text diff
        return None
    cells = notebook.get("cells")
    return cells if isinstance(cells, list) and all(isinstance(cell, dict) for cell in cells) else None


def cell_diffs(change: FileChange) -> list[CellDiff] | None:
    """Every changed cell of a notebook change, in order; None when either side is not a readable notebook."""
    before, after = read_cells(change.before), read_cells(change.after)
    if before is None or after is None:
        return None
    diffs: list[CellDiff] = []
    for old, new, moved in _aligned(before, after):
        diff = _cell_diff(change.path, old, new, moved)
        if diff is not None:
            diffs.append(diff)
    return diffs


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _key(cell: dict, by_id: bool) -> tuple[str, str]:
    return (cell.get("cell_type", ""), str(cell.get("id")) if by_id else _source(cell))


def _unique_ids(cells: list[dict]) -> bool:
    ids = [cell.get("id") for cell in cells]
    return all(ids) and len(set(ids)) == len(ids)


def _aligned(before: list[dict], after: list[dict]) -> list[tuple[tuple[int, dict] | None, tuple[int, dict] | None, bool]]:
    """(index, cell) before and after, and whether it moved: matched by cell id where every cell has one, else by
    source."""
    by_id = _unique_ids(before) and _unique_ids(after)
    matcher = difflib.SequenceMatcher(
        None, [_key(c, by_id) for c in before], [_key(c, by_id) for c in after], autojunk=False
    )
    pairs: list[tuple[tuple[int, dict] | None, tuple[int, dict] | None]] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        olds = [(i, before[i]) for i in range(i1, i2)]
        news = [(j, after[j]) for j in range(j1, j2)]
        if tag in ("equal", "replace"):
            # A replaced run is read as edits of the cells in the same places, the surplus as added or removed.
            common = min(len(olds), len(news))
            pairs.extend(zip(olds[:common], news[:common], strict=True))
            olds, news = olds[common:], news[common:]
        pairs.extend((old, None) for old in olds)
        pairs.extend((None, new) for new in news)
    return sorted(_moves_paired(pairs, by_id), key=lambda pair: (pair[1] or pair[0])[0])


def _moves_paired(pairs: list, by_id: bool) -> list:
    """A cell removed in one place and added with the same id (or source) in another was moved, not replaced."""
    removed = {_key(old[1], by_id): old for old, new in pairs if new is None}
    paired, taken = [], set()
    for old, new in pairs:
        if old is None and _key(new[1], by_id) in removed:
            source = removed.pop(_key(new[1], by_id))
            taken.add(source[0])
            paired.append((source, new, True))
        else:
            paired.append((old, new, False))
    return [(old, new, moved) for old, new, moved in paired if not (new is None and old[0] in taken)]


def _outputs(old: dict | None, new: dict | None) -> str:
    before = (old or {}).get("outputs") or []
    after = (new or {}).get("outputs") or []
    if not before and not after:
        return OUTPUTS_NONE
    if before == after:
        return OUTPUTS_KEPT
    return OUTPUTS_CLEARED if not after else OUTPUTS_CHANGED


def _hunks(before: str, after: str) -> str:
    lines = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="")
    return "".join(f"{line}\n" for line in list(lines)[2:])  # the "---"/"+++" pair names no file here


def _cell_diff(
    path: str, old: tuple[int, dict] | None, new: tuple[int, dict] | None, moved: bool = False
) -> CellDiff | None:
    index, cell = new if new is not None else old  # type: ignore[misc]
    old_cell, new_cell = old[1] if old else None, new[1] if new else None
    change = (MOVED if moved else MODIFIED) if old and new else (ADDED if new else REMOVED)
    before, after = _source(old_cell) if old_cell else "", _source(new_cell) if new_cell else ""
    outputs = _outputs(old_cell, new_cell) if cell.get("cell_type") == "code" else OUTPUTS_NONE
    hunks = _hunks(before, after)
    if change == MODIFIED and not hunks and outputs in (OUTPUTS_KEPT, OUTPUTS_NONE):
        return None  # metadata or an execution count only: nothing a reader acts on
    moved_from = old[0] if change == MOVED and old else None
    return CellDiff(path, index, str(cell.get("cell_type", "")), change, outputs, hunks, moved_from)
