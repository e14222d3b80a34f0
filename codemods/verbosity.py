"""The command line's three levels of output: quiet, normal and verbose.

* ``-q/--quiet``: errors (on stderr) and the one final verdict line (``Dry run: 3
  file(s) would change…``, ``✗ 12 stale names…``, ``4 of 7 tasks pending…``), no
  warnings, tables, diffs or progress display. Machine formats (``--format json``,
  ``github``, ``sarif``) are the output itself and are printed whole.
* normal: what each command shows by default.
* ``-v/--verbose``: also the details the command names in its ``--help``
  (informational notes, skipped files, what each task does).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.text import Text


@contextmanager
def verdict_only(console: Console, quiet: bool) -> Iterator[Console]:
    """``console``, or with ``quiet`` a console that keeps only the last line printed to it: the verdict."""
    if not quiet:
        yield console
        return
    kept = Console(file=io.StringIO(), width=console.width, no_color=True, highlight=False, soft_wrap=True)
    yield kept
    lines = [line for line in kept.file.getvalue().splitlines() if line.strip()]
    if lines:
        console.print(Text(lines[-1]), soft_wrap=True)
