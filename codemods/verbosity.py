"""The command line's three levels of output: quiet, normal and verbose.

* ``-q/--quiet``: errors (on stderr) and the one final verdict line (``Dry run: 3
  file(s) would change…``, ``✗ 12 stale names…``, ``3 of 7 task(s) to apply…``), no
  warnings, tables, diffs or progress display. Machine formats (``--format json``,
  ``github``, ``sarif``) are the output itself and are printed whole.
* normal: what each command shows by default.
* ``-v/--verbose``: also the details the command names in its ``--help``
  (informational notes, skipped files, what each task does).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.text import Text

# How a verdict line starts; after a real apply, for one, the file list and the undo hint follow it.
_VERDICT = re.compile(r"(Applied|Dry run|Refused|Nothing to do|Undone|Verified|Verification failed|Passed with adaptations)\b|[✓✗]|\d+ of \d+ task|nothing to apply")


@contextmanager
def verdict_only(console: Console, quiet: bool) -> Iterator[Console]:
    """``console``, or with ``quiet`` a console that keeps only the verdict: the last line that reads as one
    (``Applied: …``, ``Dry run: …``, ``✗ …``), else the last line printed to it."""
    if not quiet:
        yield console
        return
    kept = Console(file=io.StringIO(), width=console.width, no_color=True, highlight=False, soft_wrap=True)
    yield kept
    lines = [line for line in kept.file.getvalue().splitlines() if line.strip()]
    verdicts = [line for line in lines if _VERDICT.match(line)] or lines[-1:]
    if verdicts:
        console.print(Text(verdicts[-1]), soft_wrap=True)
