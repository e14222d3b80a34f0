"""IPython lines in notebook cells: what is no Python, masked while a cell is parsed, shown as written."""

from __future__ import annotations

import re

# A line of IPython that is no Python: a magic or shell escape (``%time f()``, ``!ls``), one whose result is
# assigned (``files = !ls``, ``t = %timeit f()``), or a help request (``obj?``, ``obj??``).
_IPYTHON_LINE = re.compile(
    r"^[ \t]*(?:[%!]|[A-Za-z_][\w.]*(?:[ \t]*,[ \t]*[A-Za-z_][\w.]*)*[ \t]*=[ \t]*[%!]|[A-Za-z_][\w.]*\?\??[ \t]*\r?$)"
)


def is_ipython_line(line: str) -> bool:
    return _IPYTHON_LINE.match(line) is not None


def mask_magics(source: str) -> str:
    """IPython-only lines (see :func:`is_ipython_line`) as comments of the same width."""
    if "%" not in source and "!" not in source and "?" not in source:
        return source
    out = []
    for line in source.split("\n"):
        if is_ipython_line(line):
            cut = len(line) - len(line.lstrip())
            line = line[:cut] + "#" + line[cut + 1 :]
        out.append(line)
    return "\n".join(out)
