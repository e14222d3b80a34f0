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
