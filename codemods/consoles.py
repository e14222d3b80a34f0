"""Consoles for the command line: whole lines in pipes and logs, folded details on a terminal.

rich wraps at 80 columns (or ``COLUMNS``) whenever stdout is not a terminal. In a CI log
that splits a journal path across two lines and crops field names in tables, so off a
terminal every line goes out whole and every table at its natural width.

Text from the user's files and paths is shown, never obeyed: a control character
(``ESC]0;…`` retitles the terminal, ``ESC[2J`` clears it, a lone CR overwrites the
line, a bidi override reorders it) goes out as a visible escape such as ``\\x1b``.
:func:`visible` does it for one string; every console made here also does it for
whatever it prints, as the last step before the terminal.
"""

from __future__ import annotations

import re
import sys
from typing import TextIO

from rich.console import Console, ConsoleOptions, RenderableType, RenderHook, RenderResult
from rich.markup import escape
from rich.segment import Segment

# Wider than any line a message, path, diff or table row can hold: nothing is wrapped or cropped.
_UNBOUNDED_WIDTH = 1_000_000


# C0 controls but tab and newline, DEL, C1 controls, a CR that ends no line, and the bidi
# embeddings, overrides and isolates ("Trojan Source").
_CONTROL = re.compile("[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]|\r(?!\n)")
_NAMED = {"\r": "\\r", "\x1b": "\\x1b"}


def _escaped(match: re.Match[str]) -> str:
    character = match.group()
    if character in _NAMED:
        return _NAMED[character]
    code = ord(character)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def visible(text: object, *, one_line: bool = False) -> str:
    """``text`` with every control character written out (``\\x1b``, ``\\r``, ``\\u202e``).

    Tabs and line ends are kept, unless ``one_line``: a path or a name must not start a
    line of its own that looks like the tool's output.
    """
    text = str(text)
    if one_line:
        text = text.replace("\r\n", "\\r\\n").replace("\n", "\\n")
    return _CONTROL.sub(_escaped, text)


class _Visible:
    """Renders another renderable with the control characters of its text made visible."""

    def __init__(self, renderable: RenderableType):
        self.renderable = renderable

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for segment in console.render(self.renderable, options):
            # Control segments are rich's own cursor and screen codes, not text from a file.
            if segment.control or not _CONTROL.search(segment.text):
                yield segment
            else:
                yield Segment(visible(segment.text), segment.style)


class _ShowControlCharacters(RenderHook):
    def process_renderables(self, renderables: list) -> list:
        return [_Visible(renderable) for renderable in renderables]


def console_for(stream: TextIO) -> Console:
    """A console on ``stream``: sized to the terminal there, unbounded and uncoloured anywhere else."""
    if _is_terminal(stream):
        console = Console(file=stream, highlight=False)
    else:
        console = Console(file=stream, highlight=False, width=_UNBOUNDED_WIDTH, soft_wrap=True, no_color=True)
    console.push_render_hook(_ShowControlCharacters())
    return console


def stdout_console() -> Console:
    return console_for(sys.stdout)


def stderr_console() -> Console:
    return console_for(sys.stderr)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def plain(text: object) -> str:
    """Text taken from the user's files or paths, safe to embed in rich markup, its control characters visible."""
    return escape(visible(text))
