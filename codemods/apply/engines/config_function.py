"""The recipe's config function: its source text and what it builds (used by insertion, replacement and the config module).

``render_config_function`` writes ``create_training_config()`` from
``recipe.config_function`` byte for byte as the plan shows it, with the base
directories rooted where the user's first literal ``output_dir`` lives
(see ``config_discovery``). ``ConfigFactory`` models anything that builds the
config -- the new function, an old factory ``def`` or an alias -- well enough
to tell which fields a call would set, so the behaviour-change table can be
computed without importing TRL.
"""

from __future__ import annotations

import ast
import json
import keyword
from collections.abc import Mapping
from dataclasses import dataclass, field

import libcst as cst

from codemods.apply.session import Context, Level
from codemods.core.recipe import ConfigFunction

OUTPUT_ROOT = "{output_root}"


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
    return {node.id for node in ast.walk(ast.parse(source.strip(), mode="eval")) if isinstance(node, ast.Name)}


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
        (p.name, REQUIRED if p.default is None else evaluate_trusted(p.default, {})) for p in function.parameters
    )
    return ConfigFactory(
        name=function.name,
        parameters=parameters,
        fields=tuple((f.name, f.value) for f in function.fields),
        locals=local_values(function, output_root),
        trusted=True,
        derived=frozenset(f.name for f in function.fields if f.derived),
    )


def alias_factory(
    function: ConfigFunction,
    output_root: str,
    old_name: str,
    variant: str,
    defaults: Mapping[str, object] | None = None,
) -> ConfigFactory:
    """A deprecated alias: the new function for one variant (with the old factory's own
    defaults for its parameters); keywords it does not take set fields directly, and so
    do its defaults for fields that are no parameter (written by --keep-behaviour)."""
    base = recipe_factory(function, output_root)
    defaults = defaults or {}
    parameters = tuple(
        (name, defaults.get(name, default)) for name, default in base.parameters if name != function.parameters[0].name
    )
    extra = {name: show(value) for name, value in defaults.items() if name not in base.parameter_names}
    fields = (*((name, source) for name, source in base.fields if name not in extra), *extra.items())
    locals_ = (*base.locals, (function.parameters[0].name, variant))
    return ConfigFactory(old_name, parameters, tuple(fields), locals_, trusted=True, extra_fields=True)


def module_constants(module: cst.Module) -> dict[str, object]:
    """Module-level ``NAME = <literal>`` assignments made exactly once."""
    values: dict[str, object] = {}
    seen: set[str] = set()
    for stmt in module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if isinstance(small, cst.Assign) and len(small.targets) == 1:
                target, value = small.targets[0].target, small.value
            elif isinstance(small, cst.AnnAssign) and small.value is not None:
                target, value = small.target, small.value
            else:
                continue
            if isinstance(target, cst.Name):
                if target.value in seen:
                    values.pop(target.value, None)
                    continue
                seen.add(target.value)
                literal = literal_value(module.code_for_node(value))
                if not isinstance(literal, Unknown):
                    values[target.value] = literal
    return values


def returned_call(function: cst.FunctionDef) -> cst.Call | None:
    """The call in the function's top-level ``return CALL(...)``."""
    body = function.body.body if isinstance(function.body, cst.IndentedBlock) else ()
    for stmt in body:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.Return) and isinstance(small.value, cst.Call):
                    return small.value
    return None


def factory_from_def(
    function: cst.FunctionDef, module: cst.Module, constants: Mapping[str, object]
) -> ConfigFactory | None:
    """An old factory ``def NAME(params...) -> SFTConfig: return SFTConfig(...)`` as a model."""
    call = returned_call(function)
    if call is None:
        return None
    parameters = []
    for param in (*function.params.posonly_params, *function.params.params, *function.params.kwonly_params):
        default = REQUIRED if param.default is None else literal_value(module.code_for_node(param.default), constants)
        parameters.append((param.name.value, default))
    fields = tuple(
        (arg.keyword.value, module.code_for_node(arg.value)) for arg in call.args if arg.keyword is not None
    )
    return ConfigFactory(function.name.value, tuple(parameters), fields, constants=dict(constants))


# ---------------------------------------------------------------------- rendering
def _sectioned_lines(sections, indent: str, item_text) -> list[str]:
    """Comment-headed groups of ``item,`` lines with a blank line between groups: the plan's layout."""
    lines: list[str] = []
    for index, (comment, items) in enumerate(sections):
        if index:
            lines.append("")
        if comment:
            lines.append(f"{indent}# {comment}")
        for item in items:
            text, trailing_comment = item_text(item)
            lines.append(f"{indent}{text}," + (f"  # {trailing_comment}" if trailing_comment else ""))
    return lines


def _signature_lines(function: ConfigFunction) -> list[str]:
    def parameter(param):
        default = f" = {param.default}" if param.default is not None else ""
        return f"{param.name}: {param.annotation}{default}", param.comment

    sections = [(section.comment, section.parameters) for section in function.parameter_sections]
    return [f"def {function.name}(", *_sectioned_lines(sections, "    ", parameter), f") -> {function.return_annotation}:"]


def _docstring_lines(docstring: str) -> list[str]:
    if not docstring.strip():
        return []
    body = [f"    {line}" if line.strip() else "" for line in docstring.strip("\n").split("\n")]
    return ['    """', *body, '    """']


def _return_lines(function: ConfigFunction) -> list[str]:
    sections = [(section.comment, section.fields) for section in function.field_sections]
    fields = _sectioned_lines(sections, "        ", lambda field: (f"{field.name}={field.value}", field.comment))
    return [f"    return {function.config_class_name}(", *fields, "    )"]


def render_config_function(function: ConfigFunction, output_root: str) -> str:
    """The function's source, newline-terminated, with ``{output_root}`` filled in."""
    lines = [*_signature_lines(function), *_docstring_lines(function.docstring)]
    for name, value in local_values(function, output_root):
        lines.append(f"    {name} = {string_literal(value)}")
    if function.locals:
        lines.append("")
    lines.extend(_return_lines(function))
    return "\n".join(lines) + "\n"


def config_function_statement(
    function: ConfigFunction, output_root: str, module: cst.Module | None = None
) -> cst.FunctionDef:
    config = module.config_for_parsing if module is not None else cst.PartialParserConfig()
    statement = cst.parse_statement(render_config_function(function, output_root), config=config)
    assert isinstance(statement, cst.FunctionDef)
    return statement


# ---------------------------------------------------------------------- notes
def warn_once(context: Context, task_id: str, message: str, path: str | None = None) -> None:
    """A warning that several tasks may raise is reported once per run."""
    if any(note.level is Level.WARNING and note.message == message for note in context.report.notes):
        return
    context.report.warn(task_id, message, path)


def report_stack_notes(context: Context, task_id: str, path: str) -> None:
    """Tell the user which of the plan's field values their installed stack rejects."""
    function = context.recipe.config_function
    assert function is not None
    values = {f.name: f.value for f in function.fields}
    for name, note in function.stack_notes.items():
        shown = f"{name}={values[name]}" if name in values else name
        warn_once(context, task_id, f"{function.name}() sets {shown}: {note}", path)

