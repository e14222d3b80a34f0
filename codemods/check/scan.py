"""The scanner: read the files picked for a closer look and turn their occurrences into findings.

What counts as an occurrence, its kind and whether it is allowed is decided by
:mod:`codemods.core.occurrences`; this module only reads files (through
:func:`codemods.core.workspace.read_bytes_at`), picks the cheap way through
each one and keeps the tallies. A :class:`_Scanner` is small and picklable, so
:mod:`codemods.check.runner` can hand it to worker processes.

Speed comes from doing as little as possible per file: the bytes are tested for
the old names with ``in`` first, only a file that mentions one is decoded, and
only one whose names sit outside the allowed places is parsed (and then only
the statements holding them).

Paths: ``Finding.path`` is ROOT as given joined with the file's path inside it
(``refactor check .`` gives ``src/x.py``, ``refactor check repo`` gives
``repo/src/x.py``), so that it is valid from where the check was started, as
GitHub annotations and SARIF viewers expect.

Positions: see :mod:`codemods.core.occurrences`. In a notebook ``line``/``column``
are counted inside the cell (or output) and ``cell`` is always set;
``file_line``/``file_column`` point into the ``.ipynb`` JSON text itself, which
is what CI annotations use.
"""

from __future__ import annotations

import errno
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from codemods.check.findings import CheckError, Finding
from codemods.core import kinds, occurrences
from codemods.core.bom import without_bom
from codemods.core.encoding import decode_source
from codemods.core.occurrences import NameTable, Occurrence
from codemods.core.recipe import Recipe
from codemods.core.workspace import directory_descriptor, read_bytes_at

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@dataclass
class _Outcome:
    findings: list[Finding] = field(default_factory=list)
    scanned: int = 0
    matched: int = 0
    parsed: int = 0
    unparsed: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def merge(self, other: _Outcome) -> None:
        self.findings += other.findings
        self.scanned += other.scanned
        self.matched += other.matched
        self.parsed += other.parsed
        self.unparsed += other.unparsed
        self.errors += other.errors
        self.notes += other.notes


class _Scanner:
    """Everything a worker needs to scan files; small and picklable."""

    def __init__(self, directory: str, display_root: str, recipe: Recipe, single_file: str | None):
        self.directory = directory
        self.display_root = display_root
        self.recipe = recipe
        self.single_file = single_file
        names = recipe.old_names
        if not names:
            raise CheckError(f"the recipe {recipe.source or recipe.name} names no old names to check")
        self.needles = tuple(sorted({n.encode() for n in (*names, *recipe.prose_relabels)}, key=len, reverse=True))
        self.names = NameTable(recipe, single_file or recipe.main_file)

    def names_for(self, relative: str) -> occurrences.Names:
        return self.names.for_path(relative)

    def display(self, relative: str) -> str:
        if self.single_file is not None:
            return self.display_root
        if self.display_root in ("", "."):
            return relative
        return posixpath.join(self.display_root, relative)

    # ------------------------------------------------------------------ files
    def scan_many(self, relatives: Sequence[str]) -> _Outcome:
        outcome = _Outcome()
        with directory_descriptor(self.directory) as directory_fd:
            for relative in relatives:
                self.scan_file(relative, outcome, directory_fd)
        return outcome

    def _read(self, relative: str, directory_fd: int | None) -> bytes:
        return read_bytes_at(directory_fd, relative, self.directory)

    def scan_file(self, relative: str, outcome: _Outcome, directory_fd: int | None = None) -> None:
        outcome.scanned += 1
        try:
            data = self._read(relative, directory_fd)
        except FileNotFoundError:
            return  # tracked, but deleted from the work tree
        except OSError as error:
            if error.errno == errno.ELOOP:  # became a symlink since it was listed
                outcome.notes.append(f"{self.display(relative)}: skipped, a symlink (not followed)")
            else:
                outcome.errors.append(f"{self.display(relative)}: cannot read: {error.strerror or error}")
            return
        for needle in self.needles:
            if needle in data:
                break
        else:
            return
        outcome.matched += 1
        try:
            text, _ = decode_source(relative, data)
            undecodable = None
        except UnicodeDecodeError as error:
            text = data.decode("utf-8", errors="replace")
            undecodable = f"not UTF-8 ({error.reason} at byte {error.start})"
        text = without_bom(text)
        try:
            if undecodable:
                self._unparsed(relative, text, undecodable, outcome)
            elif relative.endswith(".ipynb"):
                self._scan_notebook(relative, text, outcome)
            else:
                self._scan_python(relative, text, outcome)
        except Exception as error:  # noqa: BLE001 - one odd file must not hide the others' findings
            reason = f"internal error while classifying ({type(error).__name__}: {error})"
            self._unparsed(relative, text, reason, outcome)

    # ------------------------------------------------------------------ findings
    def _report(self, relative: str, found: list[Occurrence], outcome: _Outcome, positions=None) -> None:
        for occurrence in found:
            place = None
            if positions is not None and occurrence.field is not None:
                place = positions.position(occurrence.field, occurrence.field_offset)
            notebook = occurrence.cell is not None
            outcome.findings.append(
                Finding(
                    path=self.display(relative),
                    line=occurrence.line,
                    column=occurrence.column,
                    old_name=occurrence.old,
                    kind=occurrence.kind or kinds.NAME,
                    suggestion=occurrence.suggestion,
                    source_line=_ANSI.sub("", occurrence.source_line) if notebook else occurrence.source_line,
                    cell=occurrence.cell,
                    byte_column=occurrence.byte_column,
                    file_line=place[0] if place else None,
                    file_column=place[1] if place else None,
                )
            )

    def _unparsed(self, relative: str, text: str, reason: str, outcome: _Outcome) -> None:
        """A file that cannot be parsed: report every old name in it as unparsed text."""
        found = occurrences.unparsed(text, self.names_for(relative), self.recipe)
        if found:
            outcome.unparsed.append((self.display(relative), reason))
            self._report(relative, found, outcome)

    def _scan_python(self, relative: str, text: str, outcome: _Outcome) -> None:
        result = occurrences.python(text, self.names_for(relative), self.recipe)
        if result.parsed:
            outcome.parsed += 1
        if result.problem is not None:
            outcome.unparsed.append((self.display(relative), f"does not parse: {result.problem}"))
        self._report(relative, result.occurrences, outcome)

    def _scan_notebook(self, relative: str, text: str, outcome: _Outcome) -> None:
        try:
            document = occurrences.load_notebook(text)
        except (ValueError, RecursionError) as error:
            self._unparsed(relative, text, f"not a valid notebook (JSON: {error})", outcome)
            return
        result = occurrences.notebook(document, self.names_for(relative), self.recipe)
        if result.problem is not None:
            self._unparsed(relative, text, result.problem, outcome)
            return
        if result.parsed:
            outcome.parsed += 1
        for cell, reason in result.unparsed_cells:
            outcome.unparsed.append((f"{self.display(relative)} (cell {cell})", f"does not parse: {reason}"))
        if result.occurrences:
            from codemods.check.positions import JsonPositions

            self._report(relative, result.occurrences, outcome, JsonPositions(text, document))


def __getattr__(name: str) -> Any:
    # Older callers import find_stale from here; it lives in runner, which imports this module.
    if name == "find_stale":
        from codemods.check.runner import find_stale

        return find_stale
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
