"""Caching analyses of immutable LibCST trees.

Scope and qualified-name analyses cost a full pass over a module; several
codemods ask the same question about the same (unchanged) tree. LibCST nodes are
immutable, so a result stays valid for as long as the very same objects are asked about.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

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


def module_code(module) -> str:
    known = _known_code.get(id(module))
    if known is not None and known[0] is module:
        return known[1]
    code = module.code
    remember_code(module, code)
    return code
