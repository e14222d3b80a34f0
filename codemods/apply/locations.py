"""Lines in apply's notes and refusals, in the user's own coordinates: the file as it is on disk.

Each task works on the text the tasks before it left in memory, and an engine
computes lines in the module it parsed: once the config function is inserted
near the top of the main file, every line below it is some ninety lines further
down in a later task's text than in the user's file. After each task the lines
its notes and its refusal name are mapped back, through a line diff between the
text the task started from and the file on disk. A line inside code an earlier
task wrote maps to where that code goes in the user's file.

Only Python files are mapped: notebook notes name a cell and a line in the cell,
which no earlier task moves.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import replace

from codemods.apply.session import Context, Refusal

# "line 12", "lines 3, 4 and 9" in a message about a file: the numbers a reader looks up.
_LINES = re.compile(r"\b(lines? )(\d+(?:(?:, | and )\d+)*)\b")


class UserLines:
    """Maps lines of the text each file had when a task started to lines of the file on disk."""

    def __init__(self, context: Context, savepoint: dict[str, bytes | None]):
        self.context, self.savepoint = context, savepoint
        self._opcodes: dict[str, list[tuple[str, int, int, int, int]] | None] = {}

    def line(self, path: str, line: int) -> int:
        opcodes = self._diff(path)
        if opcodes is None or line < 1:
            return line
        index = line - 1
        for tag, i1, i2, j1, j2 in opcodes:
            if i1 <= index < i2:
                if tag == "equal":
                    return j1 + (index - i1) + 1
                # Written by an earlier task: where it stands in the user's file.
                return j1 + min(index - i1, max(j2 - j1 - 1, 0)) + 1
        return opcodes[-1][4] + 1 if opcodes else line

    def message(self, path: str, text: str) -> str:
        if self._diff(path) is None:
            return text
        return _LINES.sub(
            lambda m: m.group(1) + re.sub(r"\d+", lambda n: str(self.line(path, int(n.group()))), m.group(2)), text
        )

    def _diff(self, path: str) -> list[tuple[str, int, int, int, int]] | None:
        """The diff from the task's starting text to the file on disk; None where they are the same."""
        if path not in self._opcodes:
            self._opcodes[path] = None
            then = self.savepoint.get(path)
            if path.endswith(".py") and then is not None:
                disk = self.context.workspace.original_text(path)
                text = then.decode("utf-8", errors="replace")
                if disk is not None and text != disk:
                    matcher = difflib.SequenceMatcher(None, text.split("\n"), disk.split("\n"), autojunk=False)
                    self._opcodes[path] = matcher.get_opcodes()
        return self._opcodes[path]


def in_user_lines(
    context: Context, savepoint: dict[str, bytes | None], first_note: int, refusal: Refusal | None = None
) -> Refusal | None:
    """Rewrite the task's notes (from ``first_note`` on) and its refusal, if any, in the user's lines."""
    lines = UserLines(context, savepoint)
    notes = context.report.notes
    for index in range(first_note, len(notes)):
        note = notes[index]
        if note.path:
            line = lines.line(note.path, note.line) if note.line else note.line
            notes[index] = replace(note, line=line, message=lines.message(note.path, note.message))
    if refusal is None or not refusal.path:
        return refusal
    line = lines.line(refusal.path, refusal.line) if refusal.line else refusal.line
    return Refusal(refusal.task, lines.message(refusal.path, refusal.message), refusal.path, line)
