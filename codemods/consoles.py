"""Consoles for the command line: whole lines in pipes and logs, folded details on a terminal.

rich wraps at 80 columns (or ``COLUMNS``) whenever stdout is not a terminal. In a CI log
that splits a journal path across two lines and crops field names in tables, so off a
terminal every line goes out whole and every table at its natural width.
"""

from __future__ import annotations

import sys
from typing import TextIO

from rich.console import Console
from rich.markup import escape

# Wider than any line a message, path, diff or table row can hold: nothing is wrapped or cropped.
_UNBOUNDED_WIDTH = 1_000_000


def console_for(stream: TextIO) -> Console:
    """A console on ``stream``: sized to the terminal there, unbounded and uncoloured anywhere else."""
    if _is_terminal(stream):
        return Console(file=stream, highlight=False)
    return Console(file=stream, highlight=False, width=_UNBOUNDED_WIDTH, soft_wrap=True, no_color=True)


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
    """Text taken from the user's files or paths, safe to embed in rich markup."""
    return escape(str(text))
