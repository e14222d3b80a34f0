"""Reading a recipe's TOML tables strictly: types, required and unknown keys, names and paths.

Every value the engines will trust is checked here, before any work, so a bad
recipe is refused with the table and the key to fix instead of failing halfway
through a migration (a ``KeyError`` traceback, or a rename of the keyword
``class``, or a path that reaches outside ROOT).
"""

from __future__ import annotations

import builtins
import difflib
import keyword
import re
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from codemods.core.recipe_model import MAIN_FILE_ALIAS, RecipeError

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BUILTINS = frozenset(name for name in dir(builtins) if not name.startswith("__"))
_TYPE_NAMES = {str: "a string", bool: "true or false", int: "an integer", list: "an array", dict: "a table"}


def _kind(value: object) -> str:
    for kind, name in _TYPE_NAMES.items():
        if type(value) is kind:
            return name
    return type(value).__name__


class Table:
    """One table of the recipe, read key by key; :meth:`done` refuses the keys nobody read."""

    def __init__(self, raw: object, where: str):
        if not isinstance(raw, dict):
            raise RecipeError(f"{where} must be a table, not {_kind(raw)}")
        self.raw, self.where = raw, where
        self._read: set[str] = set()

    def field(self, key: str) -> str:
        """``renames[0].old``: where a value sits, as the error messages name it."""
        return f"{self.where}.{key}" if self.where else key

    def has(self, key: str) -> bool:
        return key in self.raw

    def _get(self, key: str, kinds: tuple[type, ...], required: bool, default: Any) -> Any:
        self._read.add(key)
        if key not in self.raw:
            if required:
                close = difflib.get_close_matches(key, [k for k in self.raw if isinstance(k, str)], n=1)
                hint = f" ({close[0]!r} is no key of it: a misspelling?)" if close else ""
                raise RecipeError(f"{self.where or 'the recipe'}: missing required key {key!r}{hint}")
            return default
        value = self.raw[key]
        # bool is an int in Python; a recipe's `true` is never a number.
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            expected = " or ".join(_TYPE_NAMES.get(kind, kind.__name__) for kind in kinds)
            raise RecipeError(f"{self.field(key)} must be {expected}, not {_kind(value)}")
        return value

    def text(self, key: str, default: str | None = None, *, required: bool = False) -> Any:
        return self._get(key, (str,), required, default)

    def required(self, key: str) -> str:
        return self._get(key, (str,), True, None)

    def flag(self, key: str, default: bool) -> bool:
        return self._get(key, (bool,), False, default)

    def value(self, key: str, kinds: tuple[type, ...], default: Any = None, *, required: bool = False) -> Any:
        return self._get(key, kinds, required, default)

    def strings(self, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        values = self._get(key, (list,), False, list(default))
        for index, value in enumerate(values):
            if not isinstance(value, str):
                raise RecipeError(f"{self.field(key)}[{index}] must be a string, not {_kind(value)}")
        return tuple(values)

    def table(self, key: str, *, required: bool = False) -> Table | None:
        raw = self._get(key, (dict,), required, None)
        return None if raw is None else Table(raw, self.field(key))

    def tables(self, key: str, *, required: bool = False) -> list[Table]:
        raw = self._get(key, (list,), required, [])
        return [Table(item, f"{self.field(key)}[{index}]") for index, item in enumerate(raw)]

    def string_table(self, key: str) -> dict[str, str]:
        """A table of strings (``overrides``, ``library_defaults``): its keys are free, its values strings."""
        table = self.table(key)
        if table is None:
            return {}
        values = {}
        for name in table.raw:
            values[name] = table.required(name)
        return values

    def done(self) -> None:
        unknown = sorted(set(self.raw) - self._read)
        if unknown:
            listed = ", ".join(repr(key) for key in unknown)
            known = ", ".join(sorted(self._read)) or "none"
            where = self.where or "the recipe's top level"
            raise RecipeError(f"{where}: unknown key {listed} (known keys: {known})")


# ----------------------------------------------------------------------------- names
def identifier(value: str, field: str) -> str:
    """A name Python accepts where the recipe puts it (a keyword argument, a parameter)."""
    if not _IDENTIFIER.fullmatch(value):
        raise RecipeError(f"{field}: {value!r} is not a Python identifier")
    if keyword.iskeyword(value):
        raise RecipeError(f"{field}: {value!r} is a Python keyword, not a name")
    return value


def binding_name(value: str, field: str) -> str:
    """A name the plan binds, renames or retires: an identifier that is no builtin either.

    Renaming ``print`` would rename every call of the builtin; binding ``list`` would
    shadow it for the whole module.
    """
    identifier(value, field)
    if value in _BUILTINS:
        raise RecipeError(f"{field}: {value!r} is a Python builtin; the plan cannot bind or rename it")
    return value


def dotted_name(value: str, field: str) -> str:
    """``trl.SFTConfig``, ``analyze_tokens``: identifiers joined by dots."""
    for part in value.split("."):
        try:
            identifier(part, field)
        except RecipeError:
            raise RecipeError(f"{field}: {value!r} is not a dotted Python name") from None
    return value


# ----------------------------------------------------------------------------- paths
def relative_path(value: str, field: str) -> str:
    """A path inside ROOT, written as the workspace spells it: ``src/data/collators.py``.

    Resolving it against ROOT (and through symbolic links) happens when the recipe is
    loaded for a ROOT; here it is refused when it cannot stay inside any ROOT.
    """
    example = "a path relative to ROOT with '/' separators, like 'src/data/collators.py'"
    if not value or "\0" in value or "\\" in value:
        raise RecipeError(f"{field}: {value!r} is not {example}")
    if PurePosixPath(value).is_absolute() or PureWindowsPath(value).drive:
        raise RecipeError(f"{field}: {value!r} is an absolute path; it must be {example}")
    parts = value.split("/")
    if ".." in parts:
        raise RecipeError(f"{field}: {value!r} leads out of ROOT ('..'); it must be {example}")
    if "" in parts or "." in parts:
        raise RecipeError(f"{field}: {value!r} is not {example}")
    return value


def file_list(values: tuple[str, ...], field: str) -> tuple[str, ...]:
    """The files a rename is limited to: relative paths, or the main file's alias."""
    for index, value in enumerate(values):
        if value != MAIN_FILE_ALIAS:
            relative_path(value, f"{field}[{index}]")
    return values
