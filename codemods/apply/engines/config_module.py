"""The recipe's config module: its old factories give way to the config function and deprecated aliases.

The old factories (``create_sft_config``, ``create_assistant_only_training_config``)
give way to the plan's ``create_training_config()``: the first old ``def`` is
replaced by it, the others are removed, everything else stays. Under the
deprecation banner at the end of the module each old name is kept as an alias
that warns (``DeprecationWarning``) and maps to its variant: keywords the new
function takes are forwarded, any other keyword (``output_dir=``, ``run_name=``,
``label_names=``, ...) is set on the returned config, and one SFTConfig rejects
raises a ``TypeError`` naming the replacement.

The package ``__init__`` re-exports the new function instead (the old names stay
importable through a module ``__getattr__`` under the same banner), and every
caller in the repository is migrated with its arguments mapped by
:mod:`codemods.apply.engines.config_mapping`, so each behaviour change is reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import libcst as cst

from codemods.apply.engines.config_function import (
    ConfigFactory,
    Unknown,
    alias_factory,
    config_function_statement,
    factory_from_def,
    literal_value,
    module_constants,
    recipe_factory,
    report_stack_notes,
    returned_call,
    same_value,
    show,
)
from codemods.apply.engines.config_mapping import map_call
from codemods.apply.engines.config_pins import keeps_behaviour, pin_changes, report_pins
from codemods.apply.engines.definitions import (
    append_under_banner,
    defined_names,
    module_function,
    statements,
    top_level_definitions,
)
from codemods.apply.engines.docstring_renames import rename_in_docstrings
from codemods.apply.engines.imports import NewImport, add_imports, dotted_module
from codemods.apply.engines.legacy_uses import legacy_uses
from codemods.apply.engines.lines import first_lines
from codemods.apply.engines.stack_fit import StackFit, stack_fit
from codemods.apply.session import Context, Refusal
from codemods.core import cells
from codemods.core.config_values import DEPRECATED_BUILDER
from codemods.core.recipe import ConfigFunction, ConfigModule, Recipe, Task

BUILDER_NAME = DEPRECATED_BUILDER

_BUILDER_TEMPLATE = '''
def __BUILDER__(old_name: str, variant: str, kwargs: dict) -> __CLASS__:
    """Build what a deprecated factory built, through __FN__().

    Keywords that __FN__() takes are forwarded to it; any other keyword
    (output_dir, run_name, label_names, ...) is set on the config it returns.
    """
    # stacklevel=3 skips this function and the alias, so the warning points at the caller.
    warnings.warn(
        f"{old_name}() is deprecated; use __FN__(variant={variant!r}, ...) instead",
        DeprecationWarning,
        stacklevel=3,
    )
    accepted = set(inspect.signature(__FN__).parameters) - {"__VARIANT__"}
    forwarded = {key: value for key, value in kwargs.items() if key in accepted}
    extra = {key: value for key, value in kwargs.items() if key not in accepted}
    config = __FN__(__VARIANT__=variant, **forwarded)
    settable = {field.name for field in dataclasses.fields(config) if field.init}
    rejected = sorted(set(extra) - settable)
    if rejected:
        raise TypeError(
            f"{old_name}() got {', '.join(rejected)}, which __CLASS__ does not accept; "
            f"call __FN__(variant={variant!r}, ...) and set the remaining fields another way"
        )
    return dataclasses.replace(config, **extra) if extra else config
'''

_ALIAS_TEMPLATE = '''
def __OLD__(**kwargs) -> __CLASS__:
    """Deprecated: use ``__FN__(variant="__VARIANT_VALUE__", ...)`` instead."""
    return __BUILDER__(
        "__OLD__",
        "__VARIANT_VALUE__",
        __KWARGS__,
    )
'''

GETATTR_TEMPLATE = '''
def __getattr__(name: str):
    """Keep the deprecated factories importable from the package (calling one warns)."""
    if name in (__NAMES__):
        return getattr(importlib.import_module(__MODULE__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
'''


def fill_template(template: str, **values: str) -> str:
    for key, value in values.items():
        template = template.replace(f"__{key}__", value)
    return template.lstrip("\n")


@dataclass(frozen=True)
class OldFactories:
    """The old names a caller may reach, where they may come from, and what each one built."""

    spec: ConfigModule
    sources: frozenset[str]
    factories: Mapping[str, ConfigFactory]
    variants: Mapping[str, str]
    # Old name -> its own defaults for parameters of the new function that differ from the new defaults.
    own_defaults: Mapping[str, Mapping[str, object]]

    def old_name_for(self, qualified: str) -> str | None:
        module, _, name = qualified.rpartition(".")
        if name not in self.variants:
            return None
        if module in self.sources:
            return name
        # A repository imported under another root (sys.path tricks) still ends the same way.
        tails = {source.rsplit(".", 1)[-1] for source in self.sources}
        return name if module.rsplit(".", 1)[-1] in tails else None


def is_alias_shaped(definition: cst.FunctionDef) -> bool:
    """``def old(**kwargs)``: an alias this codemod wrote, not an old factory."""
    params = definition.params
    return not (params.params or params.posonly_params or params.kwonly_params) and isinstance(
        params.star_kwarg, cst.Param
    )


def old_definitions(module: cst.Module, spec: ConfigModule) -> dict[str, int]:
    """Old factory ``def``s still in the module: name -> statement index."""
    olds = {d.old for d in spec.deprecated}
    return {
        stmt.name.value: index
        for index, stmt in enumerate(module.body)
        if isinstance(stmt, cst.FunctionDef) and stmt.name.value in olds and not is_alias_shaped(stmt)
    }


def refuse_defined_twice(task_id: str, path: str, module: cst.Module, spec: ConfigModule) -> None:
    """An old factory with two top-level ``def``s: which one the module means is the user's call, not ours."""
    for deprecated in spec.deprecated:
        defs = [s for s in module.body if isinstance(s, cst.FunctionDef) and s.name.value == deprecated.old]
        if len(defs) > 1:
            lines = first_lines(module, defs)
            where = ", ".join(str(lines[d]) for d in defs)
            raise Refusal(
                task_id,
                f"{deprecated.old} is defined {len(defs)} times (lines {where}); the last one wins when the module "
                "runs. Keep one, then run again",
                path,
                lines[defs[-1]],
            )


def own_defaults(old: ConfigFactory, new: ConfigFactory) -> dict[str, object]:
    """Literal values an old factory used by default where the new function's default differs."""
    built = old.build({})
    return {
        name: built[name]
        for name in new.parameter_names
        if name in new.passthrough
        and name in built
        and not isinstance(built[name], Unknown)
        and not same_value(built[name], new.default(name))
    }


def defaults_written_in_alias(definition: cst.FunctionDef, module: cst.Module) -> dict[str, object]:
    """Read back the ``{"eval_steps": 100, **kwargs}`` an alias this codemod wrote passes on."""
    call = returned_call(definition)
    values: dict[str, object] = {}
    for arg in call.args if call else ():
        if isinstance(arg.value, cst.Dict):
            for element in arg.value.elements:
                if isinstance(element, cst.DictElement) and isinstance(element.key, cst.SimpleString):
                    values[str(element.key.evaluated_value)] = literal_value(module.code_for_node(element.value))
    return values


def collect_old_factories(module: cst.Module, recipe: Recipe, root: str) -> OldFactories:
    """What each old name builds, read from its ``def`` (before it is replaced) or, once gone, its alias."""
    spec, function = recipe.config_module, recipe.config_function
    assert spec is not None and function is not None
    constants = module_constants(module)
    new = recipe_factory(function, root)
    factories: dict[str, ConfigFactory] = {}
    defaults: dict[str, dict[str, object]] = {}
    for deprecated in spec.deprecated:
        definition = module_function(module, deprecated.old)
        factory = None
        if definition is not None and not is_alias_shaped(definition):
            factory = factory_from_def(definition, module, constants)
        if factory is not None:
            defaults[deprecated.old] = own_defaults(factory, new)
        else:
            written = defaults_written_in_alias(definition, module) if definition is not None else {}
            defaults[deprecated.old] = written
            factory = alias_factory(function, root, deprecated.old, deprecated.variant, written)
        factories[deprecated.old] = factory
    sources = {dotted_module(spec.path)}
    if spec.package_init:
        sources.add(dotted_module(spec.package_init))
    variants = {d.old: d.variant for d in spec.deprecated}
    return OldFactories(spec, frozenset(sources), factories, variants, defaults)


# ---------------------------------------------------------------------- the config module
def replace_old_definitions(
    module: cst.Module, function: ConfigFunction, root: str, spec: ConfigModule, fit: StackFit | None = None
) -> cst.Module:
    """The first old ``def`` becomes the new function (fitted to the stack with ``fit``); the other old ``def``s go."""
    olds = old_definitions(module, spec)
    if not olds:
        return module
    body = list(module.body)
    first = min(olds.values())
    removed = set(olds.values())
    if module_function(module, function.name) is None:
        new_def = config_function_statement(function, root, module, fit)
        body[first] = new_def.with_changes(leading_lines=body[first].leading_lines)
        removed.discard(first)
    new_body, footer = cells.remove_statements(body, removed, module.footer)
    return module.with_changes(body=new_body, footer=footer)


# Where the alias template writes its keyword dict, and the longest line it may make there.
_KWARGS_INDENT, _LINE_LIMIT = " " * 8, 88


def _kwargs_with_defaults(defaults: Mapping[str, object]) -> str:
    if not defaults:
        return "kwargs"
    entries = [f"{show(name)}: {show(value)}" for name, value in defaults.items()]
    one_line = f"{{{', '.join(entries)}, **kwargs}}"
    if len(_KWARGS_INDENT) + len(one_line) + 1 <= _LINE_LIMIT:
        return one_line
    inner = _KWARGS_INDENT + "    "
    return "{\n" + "".join(f"{inner}{entry},\n" for entry in [*entries, "**kwargs"]) + _KWARGS_INDENT + "}"


def deprecated_aliases(
    module: cst.Module,
    function: ConfigFunction,
    old: OldFactories,
    defaults: Mapping[str, Mapping[str, object]] | None = None,
) -> list[cst.BaseStatement]:
    """The shared builder and the alias ``def``s the module does not define yet.

    ``defaults`` (old name -> keyword -> value) replaces the old factories' own defaults
    when the aliases also keep behaviour (see :func:`alias_changes`).
    """
    defined = top_level_definitions(module)
    missing = [d for d in old.spec.deprecated if d.old not in defined]
    if not missing:
        return []
    values = {"FN": function.name, "CLASS": function.config_class_name, "BUILDER": BUILDER_NAME}
    aliases: list[cst.BaseStatement] = []
    if BUILDER_NAME not in defined:
        aliases += statements(fill_template(_BUILDER_TEMPLATE, VARIANT=function.parameters[0].name, **values))
    for deprecated in missing:
        # An alias keeps the old factory's own defaults (e.g. eval_steps=100) for what the new function takes.
        kwargs = _kwargs_with_defaults((defaults or old.own_defaults).get(deprecated.old, {}))
        aliases += statements(
            fill_template(_ALIAS_TEMPLATE, OLD=deprecated.old, VARIANT_VALUE=deprecated.variant, KWARGS=kwargs, **values)
        )
    return aliases


def alias_changes(context: Context, task: Task, path: str, root: str, old: OldFactories, name: str):
    """What the alias of an old name passes by default, and how what it builds, called with no
    arguments, differs from what its ``def`` built. With --keep-behaviour every side effect is
    pinned among those defaults (the alias's builder forwards the new function's parameters and
    sets any other field on the result), and its row is marked kept."""
    function = context.recipe.config_function
    assert function is not None
    defaults = dict(old.own_defaults.get(name, {}))
    factory = old.factories[name]
    if factory.extra_fields:  # read from an alias already: nothing to compare against
        return defaults, []
    before = factory.build({})
    block = f"{path} {name}() (deprecated alias)"
    mapped = map_call(function, root, old.variants[name], [], before, path=path, block=block, implicit=before)
    if not keeps_behaviour(context):
        return defaults, list(mapped.changes)
    pinned = pin_changes(function, root, mapped, [], before)
    report_pins(context, task.id, path, None, f"{name}()", pinned)
    defaults.update({kw.name: kw.value for kw in (*pinned.arguments, *pinned.replaced) if kw.name in pinned.pinned})
    return defaults, list(pinned.changes)


def refuse_uses_on_import(task_id: str, path: str, module: cst.Module, aliases: list[str]) -> None:
    """The aliases are defined at the end of the module: code that runs on import above them cannot use them."""
    for use in legacy_uses(module, aliases) if aliases else ():
        if use.at_import:
            raise Refusal(
                task_id,
                f"module-level code uses {use.name} while the module is imported; its deprecated alias is defined "
                "at the end of the module, so that would be a NameError. Move that use into a function (or below "
                "the deprecated aliases) first, then run the migration again",
                path,
                use.line,
            )


def migrate_config_module(
    context: Context, task: Task, path: str, module: cst.Module, root: str, old: OldFactories
) -> cst.Module:
    recipe = context.recipe
    spec, function = recipe.config_module, recipe.config_function
    assert spec is not None and function is not None
    had_function = module_function(module, function.name) is not None
    new_module = replace_old_definitions(module, function, root, spec, stack_fit(context.options))
    if not had_function and module_function(new_module, function.name) is not None:
        context.report.info(task.id, f"replaced the old factories with {function.name}()", path)
        report_stack_notes(context, task.id, path)
    renames = {d.old: function.name for d in spec.deprecated}
    variants = {d.old: d.variant for d in spec.deprecated}
    new_module = rename_in_docstrings(
        context, task, path, new_module, renames, {*renames, BUILDER_NAME}, variants
    )
    defined = top_level_definitions(new_module)
    refuse_uses_on_import(task.id, path, module, [d.old for d in spec.deprecated if d.old not in defined])
    planned = {d.old: alias_changes(context, task, path, root, old, d.old) for d in spec.deprecated if d.old not in defined}
    aliases = deprecated_aliases(new_module, function, old, {name: defaults for name, (defaults, _) in planned.items()})
    new_module = append_under_banner(new_module, aliases, recipe.deprecation_banner)
    imports = []
    if aliases and BUILDER_NAME in top_level_definitions(new_module) and BUILDER_NAME not in top_level_definitions(module):
        imports += [NewImport("dataclasses"), NewImport("inspect"), NewImport("warnings")]
    if function.config_class_name not in defined_names(new_module):
        imports.append(NewImport(function.config_class_module, function.config_class_name))
    written = [s.name.value for s in aliases if isinstance(s, cst.FunctionDef) and s.name.value in old.variants]
    if written:
        context.report.info(task.id, f"kept {', '.join(written)} as deprecated aliases of {function.name}()", path)
        for name in written:
            context.report.behaviour_changes.extend(planned[name][1])
    return add_imports(new_module, imports)
