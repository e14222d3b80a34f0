"""Config values and what changes between two configs: shared by `apply` (its behaviour table) and `verify`.

A config is modelled as ``{field: value}``, each value a Python literal or :class:`Unknown`
(known only as source text). :class:`ConfigFactory` models anything that builds the config
-- the plan's function, an old factory ``def`` or an alias -- well enough to tell which fields a
call sets without importing TRL. :func:`field_changes` lists the fields whose effective value
differs between a "before" and an "after" config and judges each one as ``apply`` shows it:
intended (derived from the variant, or set by the plan), unintended, or unverifiable.
"""

from __future__ import annotations

import ast
import json
import keyword
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

from codemods.core.recipe import ConfigFunction

OUTPUT_ROOT = "{output_root}"
# The helper every deprecated alias `apply` writes goes through (see apply's config module).
DEPRECATED_BUILDER = "_config_from_deprecated_call"


# ---------------------------------------------------------------------- values
@dataclass(frozen=True)
class Unknown:
    """A value known only as source text: not a literal, or computed at run time."""

    source: str


# SFTConfig's default for a field the recipe has no measurement for.
UNRECORDED_DEFAULT = Unknown("<SFTConfig default>")


def show(value: object) -> str:
    """A value as Python source, strings double-quoted like the user's code."""
    if isinstance(value, Unknown):
        return value.source
    if isinstance(value, str):
        return string_literal(value)
    if isinstance(value, list):
        return "[" + ", ".join(show(item) for item in value) + "]"
    if isinstance(value, tuple):
        inner = ", ".join(show(item) for item in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{show(k)}: {show(v)}" for k, v in value.items()) + "}"
    return repr(value)


def string_literal(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def same_value(before: object, after: object) -> bool:
    """Equal as the config would see them (``2e-5 == 0.00002``, but ``1 != True``)."""
    if isinstance(before, Unknown) or isinstance(after, Unknown):
        return before == after
    numbers = (int, float)
    if isinstance(before, bool) or isinstance(after, bool):
        return type(before) is type(after) and before == after
    if isinstance(before, numbers) and isinstance(after, numbers):
        return before == after
    return type(before) is type(after) and before == after


def literal_value(source: str, names: Mapping[str, object] | None = None) -> object:
    """The value of a literal (or of a known name); anything else stays ``Unknown``."""
    text = source.strip()
    if names is not None and _is_name(text) and text in names:
        return names[text]
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return Unknown(text)


def _is_name(text: str) -> bool:
    """An identifier that is not a keyword (``True``/``None`` are literals, not names)."""
    return text.isidentifier() and not keyword.iskeyword(text)


def _referenced_names(source: str) -> set[str]:
    return {
        node.id for node in ast.walk(ast.parse(source.strip(), mode="eval")) if isinstance(node, ast.Name)
    }


def evaluate_trusted(source: str, namespace: Mapping[str, object]) -> object:
    """Evaluate recipe source (never user code) with no builtins; unknown inputs give ``Unknown``."""
    text = source.strip()
    if _is_name(text):
        return namespace.get(text, Unknown(text))
    names = _referenced_names(text)
    if any(name not in namespace or isinstance(namespace[name], Unknown) for name in names):
        return Unknown(text)
    try:
        return eval(compile(text, "<recipe>", "eval"), {"__builtins__": {}}, dict(namespace))  # noqa: S307
    except Exception:  # noqa: BLE001 - a recipe value we cannot compute is reported as unknown
        return Unknown(text)


# ---------------------------------------------------------------------- factories
REQUIRED = Unknown("<required>")


@dataclass(frozen=True)
class ConfigFactory:
    """Something that builds the config from keyword arguments.

    ``fields`` maps each config field to the source of its value, evaluated in
    a namespace of constants, parameters (defaults overridden by the call) and
    locals. ``extra_fields`` models a deprecated alias, which sets keywords it
    does not take as parameters directly on the result.
    """

    name: str
    parameters: tuple[tuple[str, object], ...]
    fields: tuple[tuple[str, str], ...]
    locals: tuple[tuple[str, object], ...] = ()
    constants: Mapping[str, object] = field(default_factory=dict)
    trusted: bool = False
    extra_fields: bool = False
    derived: frozenset[str] = frozenset()

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.parameters)

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.fields)

    @property
    def passthrough(self) -> frozenset[str]:
        """Parameters handed unchanged to the config field of the same name."""
        names = set(self.parameter_names)
        return frozenset(name for name, source in self.fields if source.strip() == name and name in names)

    def default(self, parameter: str) -> object:
        return dict(self.parameters).get(parameter, REQUIRED)

    def build(self, kwargs: Mapping[str, object]) -> dict[str, object]:
        """The fields this factory sets for a call with ``kwargs`` (values or ``Unknown``)."""
        namespace: dict[str, object] = dict(self.constants)
        for name, default in self.parameters:
            namespace[name] = kwargs.get(name, Unknown(name) if default is REQUIRED else default)
        namespace.update(self.locals)
        result = {}
        for name, source in self.fields:
            if self.trusted:
                result[name] = evaluate_trusted(source, namespace)
            else:
                result[name] = literal_value(source, namespace)
        if self.extra_fields:
            result.update({k: v for k, v in kwargs.items() if k not in self.parameter_names})
        return result


def local_values(function: ConfigFunction, output_root: str) -> tuple[tuple[str, str], ...]:
    return tuple((local.name, local.value.replace(OUTPUT_ROOT, output_root)) for local in function.locals)


def recipe_factory(function: ConfigFunction, output_root: str) -> ConfigFactory:
    """The new function as the plan writes it."""
    parameters = tuple(
        (p.name, REQUIRED if p.default is None else evaluate_trusted(p.default, {}))
        for p in function.parameters
    )
    return ConfigFactory(
        name=function.name,
        parameters=parameters,
        fields=tuple((f.name, f.value) for f in function.fields),
        locals=local_values(function, output_root),
        trusted=True,
        derived=frozenset(f.name for f in function.fields if f.derived),
    )


# ---------------------------------------------------------------------- behaviour changes
class Impact(str, Enum):
    INTENDED = "intended"
    UNINTENDED = "unintended"
    UNVERIFIABLE = "unverifiable"
    # Would have changed, but `apply --keep-behaviour` pinned it to its old value: no change remains.
    KEPT = "kept"


@dataclass(frozen=True)
class BehaviourChange:
    """One config field whose effective value differs after the migration."""

    path: str
    block: str
    field: str
    before: str
    after: str
    impact: Impact
    reason: str = ""


def library_default(function: ConfigFunction, name: str) -> object:
    """SFTConfig's value for a field nobody passes, as the recipe measured it."""
    source = function.library_defaults.get(name)
    return UNRECORDED_DEFAULT if source is None else literal_value(source)


def field_changes(
    function: ConfigFunction,
    factory: ConfigFactory,
    before: Mapping[str, object],
    after: Mapping[str, object],
    *,
    path: str,
    block: str,
    overrides: Mapping[str, str] | None = None,
    planned: Mapping[str, object] | None = None,
) -> list[BehaviourChange]:
    """Every field whose effective value differs between ``before`` and ``after``, judged.

    ``factory`` is the plan's function (its derived fields and parameters decide the impact).
    ``planned`` is what the plan's function builds for this variant: given when ``after`` was not
    built by the plan itself (a hand refactor), a derived or overridden field is intended only
    when it holds the plan's value.
    """
    overrides = dict(overrides or {})
    changes = []
    for name in dict.fromkeys([*before, *after]):
        old = before.get(name, library_default(function, name))
        new = after.get(name, library_default(function, name))
        if same_value(old, new):
            continue
        impact, reason = judge(function, factory, name, old, new, before, after, overrides, planned)
        changes.append(BehaviourChange(path, block, name, show(old), show(new), impact, reason))
    return changes


def judge(
    function: ConfigFunction,
    factory: ConfigFactory,
    name: str,
    old: object,
    new: object,
    before: Mapping[str, object],
    after: Mapping[str, object],
    overrides: Mapping[str, str],
    planned: Mapping[str, object] | None = None,
) -> tuple[Impact, str]:
    fn = f"{function.name}()"
    if isinstance(old, Unknown) or isinstance(new, Unknown):
        unknown = old if isinstance(old, Unknown) else new
        if unknown is UNRECORDED_DEFAULT:
            return Impact.UNVERIFIABLE, "SFTConfig's default for this field is not recorded in the recipe"
        if name in factory.derived:
            return (
                Impact.UNVERIFIABLE,
                f"{fn} derives it from the variant; the old value is only known at run time",
            )
        return Impact.UNVERIFIABLE, "the value is only known at run time"
    if planned is not None and (name in factory.derived or name in overrides):
        wanted = planned.get(name, library_default(function, name))
        if not isinstance(wanted, Unknown) and not same_value(new, wanted):
            return Impact.UNINTENDED, f"the plan gives {name}={show(wanted)} for this variant"
    if name in factory.derived:
        return Impact.INTENDED, "derived from the variant"
    if name in overrides:
        return Impact.INTENDED, f"the plan sets {name}={overrides[name]}"
    if name not in after:
        return Impact.UNINTENDED, f"{fn} cannot set {name}; SFTConfig's default applies"
    if name not in before:
        return Impact.UNINTENDED, f"not set before (SFTConfig default); {fn} sets it"
    if name in factory.parameter_names:
        return Impact.UNINTENDED, f"{fn} parameter default differs"
    return Impact.UNINTENDED, f"{fn} always sets {name}={show(new)}"
