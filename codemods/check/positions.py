"""Where a character of a notebook's decoded JSON string sits in the ``.ipynb`` text (for CI annotations).

An occurrence in a notebook is counted inside its cell; GitHub annotations and
SARIF point into the file itself, so each JSON string is lined up with its
span in the raw text (the parsed document keeps key order and duplicates for
this, see :class:`codemods.core.occurrences.JsonObject`).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from typing import Any

from codemods.core.occurrences import JsonObject

_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')


def _string_paths(value: Any, path: tuple = ()) -> Iterable[tuple | None]:
    if isinstance(value, JsonObject):
        for key, item in value.pairs:
            yield None  # the key is a JSON string too
            yield from _string_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _string_paths(item, (*path, index))
    elif isinstance(value, str):
        yield path


class JsonPositions:
    """Maps a character in a decoded JSON string back to its line and column in the file's text."""

    def __init__(self, text: str, document: Any):
        spans = [m.span() for m in _JSON_STRING.finditer(text)]
        paths = list(_string_paths(document))
        self.text = text
        self.spans = {p: s for p, s in zip(paths, spans, strict=True) if p is not None} if len(spans) == len(paths) else {}
        self.line_starts = [0, *(m.end() for m in re.finditer("\n", text))]

    def position(self, path: tuple, offset: int) -> tuple[int, int] | None:
        span = self.spans.get(path)
        if span is None:
            return None
        raw = span[0] + 1
        if "\\" in self.text[span[0] : span[1]]:
            index, decoded = raw, 0
            while decoded < offset and index < span[1] - 1:
                if self.text[index] == "\\":
                    if self.text[index + 1] == "u":
                        code = int(self.text[index + 2 : index + 6], 16)
                        pair = 0xD800 <= code < 0xDC00 and self.text[index + 6 : index + 8] == "\\u"
                        index += 12 if pair else 6
                    else:
                        index += 2
                else:
                    index += 1
                decoded += 1
            raw = index
        else:
            raw += offset
        line = bisect.bisect_right(self.line_starts, raw) - 1
        return line + 1, raw - self.line_starts[line] + 1
