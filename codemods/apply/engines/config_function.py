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

from collections.abc import Mapping

import libcst as cst

from codemods.apply.engines.definitions import parser_config
from codemods.apply.engines.stack_fit import StackFit, fit_notes, stack_fit
from codemods.apply.session import Context, Level
from codemods.core.config_values import (  # noqa: F401 - the engines import the value model from here
    OUTPUT_ROOT,
    REQUIRED,
    UNRECORDED_DEFAULT,
    ConfigFactory,
    Unknown,
    evaluate_trusted,
    literal_value,
    local_values,
    recipe_factory,
    same_value,
    show,
    string_literal,
)
from codemods.core.recipe import ConfigFunction


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
    function: ConfigFunction, output_root: str, module: cst.Module | None = None, fit: StackFit | None = None
) -> cst.FunctionDef:
    """The function as a statement; with ``fit`` (``--fit-stack``) the plan's text with the left-out lines commented."""
    config = parser_config(module) if module is not None else cst.PartialParserConfig()
    text = render_config_function(function, output_root) if fit is None else fit.render(
        render_config_function(fit.plan, output_root)
    )
    statement = cst.parse_statement(text, config=config)
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
    fit = stack_fit(context.options)
    for note in fit_notes(fit) if fit else ():
        context.report.info(task_id, note, path)

