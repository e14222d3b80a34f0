"""Plain conversion of the command line's simple parameter types, without pydantic.

typer (0.29) converts every non-flag parameter through a pydantic ``TypeAdapter``:
importing and building those costs about half a second per run, more than
`refactor check` needs to scan a clean 10,000-file repository. The parameters of
this CLI are paths, strings, flags, integers with bounds, enums and lists of those, which
need no schema: :func:`install` has typer build a plain converter for them, with the
same values and the same error messages, and leaves every other annotation to typer.
"""

from __future__ import annotations

import enum
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def _unwrap_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return members[0]
    return annotation


def is_plain(annotation: Any) -> bool:
    """Whether :func:`convert` handles ``annotation`` itself."""
    annotation = _unwrap_optional(annotation)
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation) or (str,)
        return is_plain(item) and typing.get_origin(_unwrap_optional(item)) is not list
    return annotation in (str, int, bool, Path) or (isinstance(annotation, type) and issubclass(annotation, enum.Enum))


def convert(annotation: Any, value: Any, minimum: Any = None, maximum: Any = None) -> Any:
    """``value`` (as the command line gives it) as ``annotation``; ValueError with typer's message when it is not."""
    annotation = _unwrap_optional(annotation)
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation) or (str,)
        return [convert(item, v, minimum, maximum) for v in value]
    if annotation is Path:
        return value if isinstance(value, Path) else Path(value)
    if annotation is str:
        return value if isinstance(value, str) else str(value)
    if annotation is bool:
        return _boolean(value)
    if annotation is int:
        number = _integer(value)
        if minimum is not None and number < minimum:
            raise ValueError(f"Input should be greater than or equal to {minimum}")
        if maximum is not None and number > maximum:
            raise ValueError(f"Input should be less than or equal to {maximum}")
        return number
    if isinstance(value, annotation):
        return value
    try:
        return annotation(value)
    except ValueError:
        choices = ", ".join(repr(member.value) for member in annotation)
        raise ValueError(f"Value error, {value!r} is not one of {choices}.") from None


_TRUE, _FALSE = {"1", "true", "t", "yes", "y", "on"}, {"", "0", "false", "f", "no", "n", "off"}


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ValueError("Input should be a valid boolean, unable to interpret input")


def _integer(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        raise ValueError("Input should be a valid integer, unable to parse string as an integer") from None


def install() -> bool:
    """Have typer convert this CLI's simple parameters with :func:`convert`; False where typer differs."""
    try:
        from typer import _click, core
        from typer._coercion import RuntimeParam
    except ImportError:
        return False
    original = getattr(core, "build_runtime_param", None)
    if original is None or getattr(original, "_plain", False):
        return original is not None

    @dataclass(frozen=True)
    class PlainRuntimeParam(RuntimeParam):
        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            info = self.parameter_info
            try:
                return convert(self.annotation, value, getattr(info, "min", None), getattr(info, "max", None))
            except ValueError as error:
                raise _click.exceptions.BadParameter(str(error), ctx=ctx, param=param) from None

    def build_runtime_param(descriptor: Any) -> Any:
        info = descriptor.parameter_info
        simple = (
            descriptor.file_annotation is None
            and getattr(info, "parser", None) is None
            and not getattr(info, "clamp", False)
            and is_plain(descriptor.annotation)
        )
        if simple:
            return PlainRuntimeParam(parameter_info=info, annotation=descriptor.annotation)
        return original(descriptor)

    build_runtime_param._plain = True  # type: ignore[attr-defined]
    core.build_runtime_param = build_runtime_param
    return True
