"""A Python file's text encoding: UTF-8, or what its PEP 263 line declares (``# -*- coding: latin-1 -*-``).

Python reads such a file in its declared encoding, so it is valid source; the tool reads it
the same way and writes it back in that encoding, never converting the user's file to UTF-8.
"""

from __future__ import annotations

import codecs
import io
import tokenize

UTF8 = "utf-8"


def declared_encoding(data: bytes) -> str | None:
    """The encoding a Python file's first two lines declare, as Python names it (None: none, or a bad one)."""
    if b"coding" not in data[:400]:
        return None
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError:  # an unknown encoding, or a BOM that contradicts the declaration
        return None
    return None if codecs.lookup(encoding).name == codecs.lookup(UTF8).name else encoding


def decode_source(relative: str, data: bytes) -> tuple[str, str]:
    """(text, encoding) of a file: UTF-8, or a Python file's declared encoding; raises UnicodeDecodeError."""
    try:
        return data.decode(UTF8), UTF8
    except UnicodeDecodeError:
        declared = declared_encoding(data) if relative.endswith(".py") else None
        if declared is None:
            raise
        return data.decode(declared), declared
