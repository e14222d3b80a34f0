"""Caching analyses of immutable LibCST trees.

Scope and qualified-name analyses cost a full pass over a module; several
codemods ask the same question about the same (unchanged) tree. LibCST nodes are
immutable, so a result stays valid for as long as the very same objects are asked about.
"""

from __future__ import annotations

import functools
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import libcst as cst
from libcst._nodes.internal import CodegenState

Result = TypeVar("Result")
_CACHE_SIZE = 16


def _key(value: object) -> object:
    """Plain values by value; trees and other unhashable objects by identity (hashing a tree walks it)."""
    if isinstance(value, (str, int, float, bool, type(None))):
        return value
    if isinstance(value, tuple) and all(isinstance(item, (str, int)) for item in value):
        return value
    return ("id", id(value))


def per_tree(function: Callable[..., Result]) -> Callable[..., Result]:
    """Memoize ``function(module, *args)``: the module by identity, plain arguments by value."""
    cache: dict[tuple[object, ...], tuple[tuple[object, ...], Result]] = {}

    @functools.wraps(function)
    def cached(*args: object) -> Result:
        key = tuple(_key(arg) for arg in args)
        hit = cache.get(key)
        # The entry keeps its arguments alive, so an id cannot be reused while the entry exists.
        if hit is not None:
            return hit[1]
        result = function(*args)
        if len(cache) >= _CACHE_SIZE:
            cache.pop(next(iter(cache)))
        cache[key] = (args, result)
        return result

    return cached


# A module's code, by the tree's identity: the session records the text it parsed or wrote, so
# the text filters never generate what is already known (generation walks the whole tree).
# Trees cannot be weakly referenced; each entry keeps its tree alive, so an id is never reused.
_known_code: dict[int, tuple[object, str]] = {}
_KNOWN_CODE_SIZE = 64


def remember_code(module: object, code: str) -> None:
    if len(_known_code) >= _KNOWN_CODE_SIZE:
        _known_code.pop(next(iter(_known_code)))
    _known_code[id(module)] = (module, code)


class _NodeRecordingState(CodegenState):
    """Generates a statement's code and notes every node in it, so line lookups know where to look."""

    def __init__(self, default_indent: str, default_newline: str):
        super().__init__(default_indent=default_indent, default_newline=default_newline)
        self.nodes: set[int] = set()

    def before_codegen(self, node: cst.CSTNode) -> None:
        self.nodes.add(id(node))


@dataclass(frozen=True)
class StatementCode:
    """The code of one top-level statement and the ids of the nodes it contains."""

    statement: cst.CSTNode  # kept alive, so the ids below stay its own
    code: str
    nodes: frozenset[int]
    line_breaks: int


# Transforms that skip statements they do not touch hand the same statement objects to the next
# tree, so a new version of a 3,000-line file costs the generation of its changed statements only.
_statement_codes: OrderedDict[tuple[int, str, str], StatementCode] = OrderedDict()
_STATEMENT_CODES_SIZE = 8192
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def remembered_statement_code(module: cst.Module, statement: cst.CSTNode) -> StatementCode | None:
    """The statement's code if it was generated before (never generates it)."""
    known = _statement_codes.get((id(statement), module.default_indent, module.default_newline))
    return known if known is not None and known.statement is statement else None


def known_code(module: object) -> str | None:
    """The module's text if the session read or assembled it (never generates it)."""
    known = _known_code.get(id(module))
    return known[1] if known is not None and known[0] is module else None


def statement_code(module: cst.Module, statement: cst.CSTNode) -> StatementCode:
    """``module.code_for_node(statement)`` for a top-level statement (or header/footer line), remembered."""
    key = (id(statement), module.default_indent, module.default_newline)
    known = _statement_codes.get(key)
    if known is not None and known.statement is statement:
        _statement_codes.move_to_end(key)
        return known
    state = _NodeRecordingState(module.default_indent, module.default_newline)
    statement._codegen(state)
    code = "".join(state.tokens)
    # As PositionProvider counts them: \r\n, a lone \r and \n each end a line.
    known = StatementCode(statement, code, frozenset(state.nodes), len(_LINE_BREAK.findall(code)))
    _statement_codes[key] = known
    if len(_statement_codes) > _STATEMENT_CODES_SIZE:
        _statement_codes.popitem(last=False)
    return known


def module_code(module: cst.Module) -> str:
    """``module.code``, assembled from remembered statement codes where the tree shares them."""
    known = _known_code.get(id(module))
    if known is not None and known[0] is module:
        return known[1]
    if module.has_trailing_newline and module.body:
        parts = [statement_code(module, node).code for node in (*module.header, *module.body, *module.footer)]
        code = "".join(parts)
    else:  # the rare shapes where Module's own generation trims or adds a final newline
        code = module.code
    remember_code(module, code)
    return code
