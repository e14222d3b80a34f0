"""What a codemod is handed (the workspace and the recipe) and what it hands back (a report)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from enum import Enum
from typing import TypeVar

import libcst as cst

from codemods.apply.memo import module_code, remember_code
from codemods.core.bom import BOM
from codemods.core.config_values import BehaviourChange, Impact  # noqa: F401 - part of the report's model
from codemods.core.preflight import MAIN_FILE_HINT
from codemods.core.recipe import Recipe
from codemods.core.syntax import syntax_error
from codemods.core.workspace import Workspace

T = TypeVar("T")
_LONE_LF = re.compile(r"(?<!\r)\n")
_FINAL_BREAK = re.compile(r"(?:\r\n|\r|\n)\Z")


def in_file_conventions(code: str, current: str) -> str:
    """``code`` with the BOM and the CRLF or CR line ends of the file's ``current`` text, where it has them."""
    if current.startswith(BOM) and not code.startswith(BOM):
        code = BOM + code
    # Only a file that is CRLF throughout: a lone LF already there may be part of a string's value.
    if "\r\n" in current and not _LONE_LF.search(current):
        code = _LONE_LF.sub("\r\n", code)
    elif "\r" in current and "\n" not in current:  # old Mac line ends throughout: so is what an engine inserts
        code = code.replace("\r\n", "\r").replace("\n", "\r")
    # LibCST drops a CR-only file's last line break after an indented block; no engine removes it.
    ending = _FINAL_BREAK.search(current)
    if ending and code and not _FINAL_BREAK.search(code):
        code += ending.group(0)
    return code


class Level(str, Enum):
    INFO = "info"  # shown with -v
    NOTICE = "notice"  # informational, but always shown: something the user would not see in the diff
    WARNING = "warning"
    ERROR = "error"


class Refusal(Exception):
    """A codemod cannot carry out its task safely; nothing may be written."""

    def __init__(self, task: str, message: str, path: str | None = None, line: int | None = None):
        # ``path:line: ``, in the user's file (see codemods.apply.locations), or ``path: `` or nothing.
        self.location = f"{path}:{line}: " if path and line else (f"{path}: " if path else "")
        super().__init__(f"task {task}: {self.location}{message}")
        self.task, self.message, self.path, self.line = task, message, path, line


@dataclass(frozen=True)
class Note:
    task: str
    level: Level
    message: str
    path: str | None = None
    line: int | None = None


@dataclass
class Report:
    notes: list[Note] = field(default_factory=list)
    behaviour_changes: list[BehaviourChange] = field(default_factory=list)
    # (kind of occurrence) -> count, e.g. "class definition", "comment", "__all__ entry"
    renames: Counter[str] = field(default_factory=Counter)
    substring_renames: dict[str, str] = field(default_factory=dict)
    blocks_replaced: int = 0
    not_applicable: set[str] = field(default_factory=set)

    def note(self, task: str, level: Level, message: str, path: str | None = None, line: int | None = None) -> None:
        self.notes.append(Note(task, level, message, path, line))

    def info(self, task: str, message: str, path: str | None = None, line: int | None = None) -> None:
        self.note(task, Level.INFO, message, path, line)

    def notice(self, task: str, message: str, path: str | None = None, line: int | None = None) -> None:
        self.note(task, Level.NOTICE, message, path, line)

    def warn(self, task: str, message: str, path: str | None = None, line: int | None = None) -> None:
        self.note(task, Level.WARNING, message, path, line)

    @property
    def unintended_changes(self) -> list[BehaviourChange]:
        return [c for c in self.behaviour_changes if c.impact not in (Impact.INTENDED, Impact.KEPT)]

    @property
    def kept_fields(self) -> list[BehaviourChange]:
        return [c for c in self.behaviour_changes if c.impact is Impact.KEPT]


@dataclass
class Context:
    workspace: Workspace
    recipe: Recipe
    report: Report = field(default_factory=Report)
    # Run-wide switches from the command line (e.g. "clear_stale_outputs").
    options: dict[str, object] = field(default_factory=dict)
    _computed: dict[tuple[object, ...], object] = field(default_factory=dict, repr=False)
    # Cache of parsed modules keyed by (path, source) so consecutive codemods share parses.
    _parsed: dict[tuple[str, str], cst.Module] = field(default_factory=dict, repr=False)

    @property
    def main_file(self) -> str:
        """The main notebook-script: the recipe's, or the single file ROOT names."""
        return self.workspace.single_file or self.recipe.main_file

    def computed_once(self, function: Callable[..., T], *args: Hashable) -> T:
        """``function(self, *args)``, computed once per session: a result several engines share."""
        key = (function, *args)
        if key not in self._computed:
            self._computed[key] = function(self, *args)
        return self._computed[key]  # type: ignore[return-value]

    def parse(self, path: str) -> cst.Module:
        source = self.workspace.read_text(path)
        key = (path, source)
        if key not in self._parsed:
            try:
                module = cst.parse_module(source)
            except cst.ParserSyntaxError as error:
                # Python names the line to fix (an unclosed bracket's); LibCST the line where it gave up.
                line, column, message = syntax_error(source) or (error.raw_line, error.raw_column + 1, error.message)
                raise Refusal("parse", f"cannot parse: {message} (column {column})", path, line) from None
            self._parsed[key] = module
            if not source.startswith(BOM):  # LibCST drops a BOM: its code is then the text without it
                remember_code(module, source)
        return self._parsed[key]

    def write_module(self, path: str, module: cst.Module) -> bool:
        """Store a transformed module; True when its text changed.

        The file keeps its own conventions whatever the engines generated: a UTF-8 BOM
        (which LibCST drops when parsing) and CRLF line ends (code an engine inserts
        is written with ``\\n``).
        """
        current = self.workspace.read_text(path) if self.workspace.exists(path) else ""
        new_source = in_file_conventions(module_code(module), current)
        if new_source == current:
            return False
        self.workspace.write_text(path, new_source)
        self._parsed[(path, new_source)] = module
        return True

    def parse_present(self, path: str, task: str) -> cst.Module | None:
        """The parsed file, or None with the task marked not applicable because the file is not there."""
        if not self.workspace.exists(path):
            hint = f" (the recipe's main file; if yours has another name, {MAIN_FILE_HINT})" if path == self.main_file else ""
            self.not_applicable(task, f"{path} does not exist{hint}")
            return None
        return self.parse(path)

    def not_applicable(self, task: str, reason: str) -> None:
        self.report.not_applicable.add(task)
        self.report.info(task, f"not applicable: {reason}")
