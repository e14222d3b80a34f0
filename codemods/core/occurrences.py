"""Where the recipe's old names occur in a file's text, of which kind, and whether that is allowed.

The one occurrence model: ``refactor check`` reports what it finds, and the
apply wing renames notebook cells by the same occurrences, so the two cannot
disagree about what is left. Nothing here opens a file; callers pass text.

Positions: ``line`` is 1-based, ``column`` 1-based in characters (code points),
``byte_column`` 1-based in UTF-8 bytes. In a notebook they are counted inside
the cell's source or the output's text, ``cell`` is the 0-based index into the
notebook's ``cells`` and ``field``/``field_offset`` name the JSON string (path
of keys and indices) and the character in it, for callers that map the
occurrence back into the ``.ipynb`` text.

Allowed, hence never returned: anything from the legacy or deprecated-alias
banner to the end of the module (or notebook), found by the banner's text
(:mod:`codemods.core.sections`), and any line carrying ``# refactor: allow-stale``.
Returned but only a warning: text in stored notebook outputs (see
:func:`codemods.core.kinds.severity`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from codemods.core.ipython import mask_magics
from codemods.core.keywords import keywords_feeding_strings
from codemods.core.kinds import (
    IDENTIFIER_CONTAINING,
    MARKDOWN_CELL,
    NAME,
    NOTEBOOK_OUTPUT,
    UNPARSED_TEXT,
    severity,
)
from codemods.core.names import holds_excluded_word, snake_case, substring_pattern
from codemods.core.recipe import Recipe, RenamePolicy
from codemods.core.sections import allowed_tail_start

#: The per-line escape hatch (it works like a noqa comment). In a notebook's markdown cell an
#: HTML comment works too: ``<!-- refactor: allow-stale -->``.
ALLOW_MARKER = "refactor: allow-stale"
_ALLOW = re.compile(r"(?:#|<!--)\s*refactor:\s*allow-stale(?![\w-])")

_WORD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_OUTPUT_MIMES = ("application/javascript", "application/x-ipynb+json")


# ----------------------------------------------------------------------- names
@dataclass(frozen=True)
class Names:
    """The old names that apply to one file."""

    exact: dict[str, str]  # old -> suggested new name
    substrings: dict[str, str]  # old names also looked for inside longer identifiers
    style: str  # rename_policy.substring_style
    pattern: re.Pattern[str]
    prose_only: frozenset[str] = frozenset()  # relabelled words: only comments, strings and markdown change
    # old -> words that keep a longer identifier holding it as it is (Rename.keep_containing)
    substring_guards: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def splice(self, identifier: str) -> str:
        for old, new in self.substrings.items():
            piece = snake_case(new) if self.style == "snake_case" else new
            identifier = substring_pattern(old).sub(piece, identifier)
        return identifier


class NameTable:
    """Builds (and caches) the :class:`Names` of each file; small and picklable for worker processes."""

    def __init__(self, recipe: Recipe, main_file: str):
        self.recipe, self.main_file = recipe, main_file
        self._cache: dict[str, Names] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_cache": {}}

    def for_path(self, relative: str) -> Names:
        recipe, subject = self.recipe, relative
        if relative.endswith(".ipynb") and relative[: -len(".ipynb")] + ".py" == self.main_file:
            subject = self.main_file  # the paired notebook follows the main file's renames
        exact = dict(recipe.renames_for(subject, self.main_file))
        substrings: dict[str, str] = {}
        keep_containing: dict[str, tuple[str, ...]] = {}
        if recipe.rename_policy.substring_identifiers == "rename":
            spliced = [rename for rename in recipe.all_renames if not rename.files]
            substrings = {rename.old: rename.new for rename in spliced}
            keep_containing = {rename.old: rename.keep_containing for rename in spliced if rename.keep_containing}
        if recipe.config_module and recipe.config_function:
            for alias in recipe.config_module.deprecated:
                exact[alias.old] = recipe.config_function.name
        prose_only = {word: new for word, new in recipe.prose_relabels.items() if word not in exact}
        exact.update(prose_only)
        key = repr(sorted(exact.items()))
        if key not in self._cache:
            guards = recipe.word_guards
            alternation = "|".join(guards.get(n) or re.escape(n) for n in sorted(exact, key=len, reverse=True))
            self._cache[key] = Names(
                exact, substrings, recipe.rename_policy.substring_style, re.compile(alternation), frozenset(prose_only),
                keep_containing,
            )
        return self._cache[key]


# ----------------------------------------------------------------- occurrences
class Occurrence:
    """One old name in some text; ``kind`` stays None until the text is classified."""

    __slots__ = ("offset", "end", "line", "col", "old", "suggestion", "substring", "kind", "prose",
                 "source_line", "cell", "field", "field_offset", "unrelated")

    def __init__(self, offset: int, end: int, line: int, col: int, old: str, suggestion: str, substring: bool):
        self.offset, self.end = offset, end  # the characters to replace: the old name, or the whole identifier
        self.line, self.col = line, col  # col: 0-based, in characters
        self.old, self.suggestion, self.substring = old, suggestion, substring
        self.kind: str | None = None
        # "comment" / "string" (a sentence) / "token" (a string without white space: a key, a tag), which
        # the rename policy governs; None in code.
        self.prose: str | None = None
        # ``obj.old`` where ``obj`` is no import: some object's attribute, which apply leaves alone.
        self.unrelated = False
        self.source_line = ""
        self.cell: int | None = None
        self.field: tuple | None = None
        self.field_offset = 0

    @property
    def column(self) -> int:
        return self.col + 1

    @property
    def byte_column(self) -> int:
        return len(self.source_line[: self.col].encode("utf-8", errors="surrogatepass")) + 1

    @property
    def severity(self) -> str:
        return severity(self.kind or NAME)


def find(text: str, names: Names) -> list[Occurrence]:
    """Every whole-word old name, and every longer identifier holding one, with its line and column."""
    found: list[Occurrence] = []
    line, line_start, scanned = 1, 0, 0
    last_token = -1
    size = len(text)
    for match in names.pattern.finditer(text):
        start, end = match.span()
        old = match.group()
        token_start = start
        while token_start > 0 and text[token_start - 1] in _WORD:
            token_start -= 1
        token_end = end
        while token_end < size and text[token_end] in _WORD:
            token_end += 1
        if token_start == last_token:
            continue  # a second old name inside the same identifier: reported once
        if token_start == start and token_end == end:
            suggestion, substring = names.exact[old], False
        else:
            if old not in names.substrings:
                continue
            if not (start == token_start or text[start - 1] == "_") or not (end == token_end or text[end] == "_"):
                continue
            if holds_excluded_word(text[token_start:token_end], names.substring_guards.get(old, ())):
                continue
            suggestion, substring = names.splice(text[token_start:token_end]), True
            start, end = token_start, token_end
        last_token = token_start
        newlines = text.count("\n", scanned, start)
        if newlines:
            line += newlines
            line_start = text.rfind("\n", 0, start) + 1
        scanned = start
        found.append(Occurrence(start, end, line, start - line_start, old, suggestion, substring))
    return found


def line_at(lines: list[str], number: int) -> str:
    return lines[number - 1].rstrip("\r") if 0 < number <= len(lines) else ""


def not_allowed(text: str, found: list[Occurrence], recipe: Recipe) -> tuple[list[Occurrence], int | None]:
    """The occurrences outside the allowed places, and the line where an allowed tail begins (or None)."""
    if not found:
        return found, None
    lines = text.split("\n")
    tail = allowed_tail_start(text, recipe)
    kept = [o for o in found if (tail is None or o.line < tail) and not _ALLOW.search(line_at(lines, o.line))]
    return kept, tail


def _finish(
    found: list[Occurrence], lines: list[str], policy: RenamePolicy | None, prose_only: frozenset[str] = frozenset()
) -> list[Occurrence]:
    """Fill in source lines, and drop prose that the rename policy leaves alone.

    A relabelled word (``prose_only``) counts only in prose: ``v3 = ...``, ``{"v3": ...}`` or a stored
    output keeps it (see ``names.reads_as_prose``).
    """
    kept = []
    for occurrence in found:
        if occurrence.unrelated:
            continue
        if occurrence.prose not in ("comment", "string") and occurrence.old in prose_only:
            continue
        if policy is not None and occurrence.prose == "comment" and not policy.comments:
            continue
        if policy is not None and occurrence.prose in ("string", "token") and not policy.strings:
            continue
        occurrence.source_line = line_at(lines, occurrence.line)
        kept.append(occurrence)
    return kept


def unparsed(text: str, names: Names, recipe: Recipe) -> list[Occurrence]:
    """Text that cannot be classified (not UTF-8, does not parse): every old name outside allowed places."""
    found, _ = not_allowed(text, find(text, names) if names.pattern.search(text) else [], recipe)
    for occurrence in found:
        occurrence.kind = UNPARSED_TEXT
    return _finish(found, text.split("\n"), None, names.prose_only)


# ---------------------------------------------------------------------- python
@dataclass
class PythonScan:
    occurrences: list[Occurrence]
    parsed: bool = False  # LibCST had to look at the text
    problem: str | None = None  # why the text does not parse; its names are then UNPARSED_TEXT


def python(text: str, names: Names, recipe: Recipe, *, cell: bool = False) -> PythonScan:
    """Occurrences in Python source (a module, or with ``cell`` a notebook code cell, magics allowed)."""
    if not names.pattern.search(text):
        return PythonScan([])
    found, _ = not_allowed(text, find(text, names), recipe)
    if not found:
        return PythonScan([])
    lines = text.split("\n")
    if not cell and "%%" in text:
        from codemods.core.cells import markdown_lines  # imports LibCST: only for jupytext scripts

        markdown = markdown_lines(lines)
        for occurrence in found:
            if occurrence.line in markdown:
                occurrence.kind = IDENTIFIER_CONTAINING if occurrence.substring else MARKDOWN_CELL
                occurrence.prose = "comment"
    parsed = any(o.kind is None for o in found)
    if parsed:
        from codemods.core import code_kinds  # LibCST is imported only when some text needs parsing

        source = mask_magics(text) if cell else text  # classified with magics masked, shown as written
        problem = code_kinds.classify(source, source.split("\n") if cell else lines, found, names, cell=cell)
        if problem is not None:
            for occurrence in found:
                occurrence.kind, occurrence.prose = UNPARSED_TEXT, None
            return PythonScan(_finish(found, lines, None, names.prose_only), parsed, problem)
    return PythonScan(keywords_feeding_strings(text, _finish(found, lines, recipe.rename_policy, names.prose_only)), parsed)


def prose(text: str, names: Names, recipe: Recipe, kind: str = MARKDOWN_CELL) -> list[Occurrence]:
    """Occurrences in Markdown text (a markdown cell): whole words, an allowed tail and allow markers honoured."""
    if not names.pattern.search(text):
        return []
    found, _ = not_allowed(text, find(text, names), recipe)
    for occurrence in found:
        occurrence.kind = IDENTIFIER_CONTAINING if occurrence.substring else kind
        occurrence.prose = "comment"
    return _finish(found, text.split("\n"), recipe.rename_policy, names.prose_only)


# -------------------------------------------------------------------- notebooks
class JsonObject(dict):
    """A JSON object that remembers its key order and duplicates, to line strings up with the text."""

    def __init__(self, pairs: list[tuple[str, Any]]):
        super().__init__(pairs)
        self.pairs = pairs


def load_notebook(text: str) -> Any:
    """The notebook's JSON (objects as :class:`JsonObject`); raises ValueError or RecursionError."""
    return json.loads(text, object_pairs_hook=JsonObject)


OLD_NOTEBOOK_FORMAT = (
    "an nbformat 3 notebook (its cells are under worksheets): convert it to nbformat 4 first "
    "(jupyter nbconvert --to notebook --nbformat 4 --inplace)"
)


@dataclass
class NotebookScan:
    occurrences: list[Occurrence] = field(default_factory=list)
    parsed: bool = False  # some code cell was parsed
    problem: str | None = None  # not a notebook at all: the caller scans it as unparsed text
    unparsed_cells: list[tuple[int, str]] = field(default_factory=list)  # (cell, why it does not parse)


def notebook(document: Any, names: Names, recipe: Recipe) -> NotebookScan:
    """Occurrences in a parsed notebook: code cells as Python, markdown cells as prose, outputs as warnings.

    Every occurrence carries its cell index. A code cell that does not parse, or
    that the classifier fails on, has its names reported as unparsed text of
    that cell; cells from an allowed banner on are skipped, outputs included.
    """
    cells = document.get("cells") if isinstance(document, dict) else None
    if not isinstance(cells, list):
        if isinstance(document, dict) and "worksheets" in document:
            return NotebookScan(problem=OLD_NOTEBOOK_FORMAT)
        return NotebookScan(problem="not a notebook (no list of cells)")
    scan = NotebookScan()
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict):
            continue
        source, parts = text_field(cell.get("source", ""), ("cells", index, "source"))
        tail = allowed_tail_start(source, recipe) if source else None
        found: list[Occurrence] = []
        if names.pattern.search(source):
            if cell.get("cell_type") == "code":
                try:
                    result = python(source, names, recipe, cell=True)
                except Exception as error:  # noqa: BLE001 - one odd cell must not hide the notebook's other findings
                    result = PythonScan(unparsed(source, names, recipe), True, f"internal error ({error!r})")
                scan.parsed = scan.parsed or result.parsed
                if result.problem is not None and result.occurrences:
                    scan.unparsed_cells.append((index, result.problem))
                found = result.occurrences
            else:
                found = prose(source, names, recipe)
        _place(found, index, parts)
        scan.occurrences += found
        if tail is not None:
            break  # the allowed section runs to the end of the notebook
        for number, output in enumerate(cell.get("outputs") or ()):
            for occurrence_list, field_parts in _output_fields(output, ("cells", index, "outputs", number), names):
                _place(occurrence_list, index, field_parts)
                scan.occurrences += occurrence_list
    return scan


def _place(found: list[Occurrence], cell: int, parts: list[tuple[int, tuple]]) -> None:
    """Record the cell and the JSON string (a source may be a list of strings) of each occurrence."""
    for occurrence in found:
        occurrence.cell = cell
        start, path = parts[0]
        for part_start, part_path in parts:
            if part_start > occurrence.offset:
                break
            start, path = part_start, part_path
        occurrence.field, occurrence.field_offset = path, occurrence.offset - start


def _output_fields(output: Any, path: tuple, names: Names) -> list[tuple[list[Occurrence], list]]:
    if not isinstance(output, dict):
        return []
    texts = []
    if "text" in output:
        texts.append(text_field(output["text"], (*path, "text")))
    data = output.get("data")
    if isinstance(data, dict):
        for mime, value in data.items():
            if mime.startswith("text/") or mime in _OUTPUT_MIMES:
                texts.append(text_field(value, (*path, "data", mime)))
    if "traceback" in output:
        texts.append(text_field(output["traceback"], (*path, "traceback"), separator="\n"))
    if isinstance(output.get("evalue"), str):
        texts.append(text_field(output["evalue"], (*path, "evalue")))
    fields = []
    for text, parts in texts:
        if not parts or not names.pattern.search(text):
            continue
        found = find(text, names)
        for occurrence in found:
            occurrence.kind = NOTEBOOK_OUTPUT
        if found:
            fields.append((_finish(found, text.split("\n"), None, names.prose_only), parts))
    return fields


def text_field(value: Any, path: tuple, separator: str = "") -> tuple[str, list[tuple[int, tuple]]]:
    """A notebook text field (a string or a list of strings) joined, with where each part starts."""
    if isinstance(value, str):
        return value, [(0, path)]
    parts, starts, length = [], [], 0
    if isinstance(value, list):
        for index, part in enumerate(value):
            if isinstance(part, str):
                if parts and separator:
                    parts.append(separator)
                    length += len(separator)
                starts.append((length, (*path, index)))
                parts.append(part)
                length += len(part)
    return "".join(parts), starts
