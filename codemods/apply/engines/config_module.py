"""Task 6 of the plan: update ``src/training/config.py``.

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

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor, ImportItem
from libcst.metadata import MetadataWrapper, PositionProvider, QualifiedNameProvider, QualifiedNameSource

from codemods.apply.engines.config_function import (
    ConfigFactory,
    Unknown,
    alias_factory,
    config_function_statement,
    factory_from_def,
    find_output_root,
    literal_value,
    module_constants,
    module_function,
    recipe_factory,
    report_stack_notes,
    returned_call,
    same_value,
    show,
)
from codemods.apply.engines.config_mapping import (
    UnmappableCall,
    argument_indent,
    call_keywords,
    map_call,
    new_call,
)
from codemods.apply.session import Context, Refusal
from codemods.core import cells
from codemods.core.names import word_pattern
from codemods.core.recipe import ConfigFunction, ConfigModule, Recipe, Task
from codemods.core.sections import banner_title

BUILDER_NAME = "_config_from_deprecated_call"

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

_GETATTR_TEMPLATE = '''
def __getattr__(name: str):
    """Keep the deprecated factories importable from the package (calling one warns)."""
    if name in (__NAMES__):
        return getattr(importlib.import_module(__MODULE__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
'''


def _fill(template: str, **values: str) -> str:
    for key, value in values.items():
        template = template.replace(f"__{key}__", value)
    return template.lstrip("\n")


# ---------------------------------------------------------------------- module paths
def dotted_module(path: str) -> str:
    """``src/training/config.py`` -> ``src.training.config``; a package ``__init__`` -> the package."""
    parts = list(PurePosixPath(path).with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_of(path: str) -> str:
    parts = list(PurePosixPath(path).parts[:-1])
    return ".".join(parts)


def absolute_name(name: str, path: str) -> str:
    """Resolve a relative qualified name (``.config.f``) as seen from the file at ``path``."""
    if not name.startswith("."):
        return name
    level = len(name) - len(name.lstrip("."))
    package = package_of(path).split(".") if package_of(path) else []
    base = package[: len(package) - (level - 1)] if level > 1 else package
    rest = name[level:]
    return ".".join([*base, rest] if rest else base)


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
def replace_old_definitions(module: cst.Module, function: ConfigFunction, root: str, spec: ConfigModule) -> cst.Module:
    """The first old ``def`` becomes the new function; the other old ``def``s go."""
    olds = old_definitions(module, spec)
    if not olds:
        return module
    body = list(module.body)
    first = min(olds.values())
    removed = set(olds.values())
    if module_function(module, function.name) is None:
        new_def = config_function_statement(function, root, module)
        body[first] = new_def.with_changes(leading_lines=body[first].leading_lines)
        removed.discard(first)
    new_body, footer = cells.remove_statements(body, removed, module.footer)
    return module.with_changes(body=new_body, footer=footer)


class RenameInDocstrings(cst.CSTTransformer):
    """Whole-word old names in docstrings -> the new name; remembers which lines changed."""

    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, renames: Mapping[str, str], skip_functions: set[str], variants: Mapping[str, str]):
        super().__init__()
        self.renames = renames
        self.variants = variants
        # A call in an example also gets the variant the old factory stood for.
        self.pattern = re.compile(word_pattern(list(renames)).pattern + r"(\(\s*\)?)?")
        self.skip_functions = skip_functions
        self.docstrings: set[cst.SimpleString] = set()
        self.changed_lines: list[tuple[int, str]] = []

    def _remember_docstring(self, body: Sequence[cst.BaseStatement]) -> None:
        if body and isinstance(body[0], cst.SimpleStatementLine) and isinstance(body[0].body[0], cst.Expr):
            value = body[0].body[0].value
            if isinstance(value, cst.SimpleString):
                self.docstrings.add(value)

    def visit_Module(self, node: cst.Module) -> None:
        self._remember_docstring(node.body)

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        if isinstance(node.body, cst.IndentedBlock):
            self._remember_docstring(node.body.body)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        if node.name.value in self.skip_functions:
            return False
        if isinstance(node.body, cst.IndentedBlock):
            self._remember_docstring(node.body.body)
        return True

    def leave_SimpleString(self, original_node: cst.SimpleString, updated_node: cst.SimpleString) -> cst.SimpleString:
        if original_node not in self.docstrings or not self.pattern.search(updated_node.value):
            return updated_node
        start = self.get_metadata(PositionProvider, original_node).start.line
        new_lines = []
        for offset, line in enumerate(updated_node.value.split("\n")):
            new_line = self.pattern.sub(self._replacement, line)
            if new_line != line:
                self.changed_lines.append((start + offset, new_line.strip()))
            new_lines.append(new_line)
        return updated_node.with_changes(value="\n".join(new_lines))

    def _replacement(self, match: re.Match[str]) -> str:
        old, call = match.group(1), match.group(2)
        new = self.renames[old]
        if not call or old not in self.variants:
            return new + (call or "")
        variant = f'variant="{self.variants[old]}"'
        if call.rstrip().endswith(")"):
            return f"{new}({variant})"
        at_line_end = not match.string[match.end() :].strip()
        return f"{new}({variant}," if at_line_end else f"{new}({variant}, "


def rename_in_docstrings(
    context: Context,
    task: Task,
    path: str,
    module: cst.Module,
    renames: Mapping[str, str],
    skip: set[str],
    variants: Mapping[str, str] | None = None,
) -> cst.Module:
    renamer = RenameInDocstrings(renames, skip, variants or {})
    new_module = MetadataWrapper(module).visit(renamer)
    if not renamer.changed_lines:
        return new_module
    new_name = next(iter(renames.values()))
    lines = ", ".join(str(line) for line, _ in renamer.changed_lines)
    context.report.info(task.id, f"renamed old factory names in docstrings (lines {lines})", path)
    for line, text in renamer.changed_lines:
        if f"{new_name}(" in text or text.startswith((">>>", "...")):
            context.report.warn(
                task.id,
                f"line {line}: docstring example `{text}` now names {new_name}(); it needs variant= and "
                "only that function's parameters -- check it by hand (doctests are not run)",
                path,
                line,
            )
    return new_module


def _statements(source: str) -> list[cst.BaseStatement]:
    return list(cst.parse_module(source).body)


def _defined(module: cst.Module) -> set[str]:
    return {stmt.name.value for stmt in module.body if isinstance(stmt, (cst.FunctionDef, cst.ClassDef))}


def append_under_banner(module: cst.Module, statements: Sequence[cst.BaseStatement], banner: str) -> cst.Module:
    """Append statements at the end of the module, under the banner unless the module already has it."""
    if not statements:
        return module
    title = banner_title(banner) if banner else None
    has_banner = bool(title) and title in module.code
    footer_comments = cells.strip_blank_edges(module.footer)
    lead: list[cst.EmptyLine] = cells.blank_lines(2) if module.body else []
    if footer_comments:
        lead += [*footer_comments, *cells.blank_lines(2)]
    if banner and not has_banner:
        lead += [*cells.comment_lines(banner), *cells.blank_lines(1)]
    first, *rest = statements
    laid_out = [cells.with_leading_lines(first, lead)]
    laid_out += [cells.with_leading_lines(stmt, cells.blank_lines(2)) for stmt in rest]
    return module.with_changes(body=[*module.body, *laid_out], footer=())


def _kwargs_with_defaults(defaults: Mapping[str, object]) -> str:
    if not defaults:
        return "kwargs"
    entries = ", ".join(f"{show(name)}: {show(value)}" for name, value in defaults.items())
    return f"{{{entries}, **kwargs}}"


def deprecated_aliases(module: cst.Module, function: ConfigFunction, old: OldFactories) -> list[cst.BaseStatement]:
    """The shared builder and the alias ``def``s the module does not define yet."""
    defined = _defined(module)
    missing = [d for d in old.spec.deprecated if d.old not in defined]
    if not missing:
        return []
    values = {"FN": function.name, "CLASS": function.config_class_name, "BUILDER": BUILDER_NAME}
    statements = []
    if BUILDER_NAME not in defined:
        statements += _statements(_fill(_BUILDER_TEMPLATE, VARIANT=function.parameters[0].name, **values))
    for deprecated in missing:
        # An alias keeps the old factory's own defaults (e.g. eval_steps=100) for what the new function takes.
        kwargs = _kwargs_with_defaults(old.own_defaults.get(deprecated.old, {}))
        statements += _statements(
            _fill(_ALIAS_TEMPLATE, OLD=deprecated.old, VARIANT_VALUE=deprecated.variant, KWARGS=kwargs, **values)
        )
    return statements


def report_alias_changes(context: Context, path: str, root: str, old: OldFactories, aliases: Sequence[str]) -> None:
    """What an old name builds now, called with no arguments, against what its ``def`` built."""
    function = context.recipe.config_function
    assert function is not None
    for name in aliases:
        factory = old.factories[name]
        if factory.extra_fields:  # read from an alias already: nothing to compare against
            continue
        before = factory.build({})
        mapped = map_call(
            function,
            root,
            old.variants[name],
            [],
            before,
            path=path,
            block=f"{path} {name}() (deprecated alias)",
            implicit=before,
        )
        context.report.behaviour_changes.extend(mapped.changes)


def add_imports(module: cst.Module, imports: Sequence[ImportItem]) -> cst.Module:
    if not imports:
        return module
    return AddImportsVisitor(CodemodContext(), imports).transform_module(module)


def migrate_config_module(
    context: Context, task: Task, path: str, module: cst.Module, root: str, old: OldFactories
) -> cst.Module:
    recipe = context.recipe
    spec, function = recipe.config_module, recipe.config_function
    assert spec is not None and function is not None
    had_function = module_function(module, function.name) is not None
    new_module = replace_old_definitions(module, function, root, spec)
    if not had_function and module_function(new_module, function.name) is not None:
        context.report.info(task.id, f"replaced the old factories with {function.name}()", path)
        report_stack_notes(context, task.id, path)
    renames = {d.old: function.name for d in spec.deprecated}
    variants = {d.old: d.variant for d in spec.deprecated}
    new_module = rename_in_docstrings(
        context, task, path, new_module, renames, {*renames, BUILDER_NAME}, variants
    )
    aliases = deprecated_aliases(new_module, function, old)
    new_module = append_under_banner(new_module, aliases, recipe.deprecation_banner)
    imports = []
    if aliases and BUILDER_NAME in _defined(new_module) and BUILDER_NAME not in _defined(module):
        imports += [ImportItem("dataclasses"), ImportItem("inspect"), ImportItem("warnings")]
    if function.config_class_name not in _bound_at_module_level(new_module):
        imports.append(ImportItem(function.config_class_module, function.config_class_name))
    written = [s.name.value for s in aliases if isinstance(s, cst.FunctionDef) and s.name.value in old.variants]
    if written:
        context.report.info(task.id, f"kept {', '.join(written)} as deprecated aliases of {function.name}()", path)
        report_alias_changes(context, path, root, old, written)
    return add_imports(new_module, imports)


def _bound_at_module_level(module: cst.Module) -> set[str]:
    names: set[str] = set()
    for stmt in module.body:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, (cst.Import, cst.ImportFrom)) and not isinstance(small.names, cst.ImportStar):
                    for alias in small.names:
                        names.add(alias.evaluated_alias or alias.evaluated_name.split(".")[0])
    return names | _defined(module)


# ---------------------------------------------------------------------- imports and __all__
def _without(elements: Sequence, drop: set[int]) -> list:
    """Drop elements by position; the last survivor takes the last element's comma (and its layout)."""
    kept = [e for i, e in enumerate(elements) if i not in drop]
    if kept and (len(elements) - 1) in drop:
        kept[-1] = kept[-1].with_changes(comma=elements[-1].comma)
    return kept


class RenameOldImports(cst.CSTTransformer):
    """``from <config module> import old, other`` -> ``import new, other`` (deduplicated)."""

    def __init__(self, path: str, old: OldFactories, new_name: str, keep: set[str]):
        super().__init__()
        self.path = path
        self.old = old
        self.new_name = new_name
        self.keep = keep
        self.renamed: list[str] = []
        self.import_module: str | None = None

    def leave_ImportFrom(self, original_node: cst.ImportFrom, updated_node: cst.ImportFrom) -> cst.ImportFrom:
        if isinstance(updated_node.names, cst.ImportStar):
            return updated_node
        dots = "." * len(updated_node.relative)
        module = cst.helpers.get_full_name_for_node(updated_node.module) if updated_node.module else ""
        written = f"{dots}{module or ''}"
        names = list(updated_node.names)
        targets = [
            i for i, alias in enumerate(names)
            if alias.evaluated_name in self.old.variants
            and self.old.old_name_for(absolute_name(f"{written}.{alias.evaluated_name}", self.path))
        ]
        if not targets:
            return updated_node
        self.import_module = written
        present = {(a.evaluated_name, a.evaluated_alias) for i, a in enumerate(names) if i not in targets}
        drop: set[int] = set()
        also_new = False
        for i in targets:
            alias = names[i]
            self.renamed.append(alias.evaluated_name)
            renamed_key = (self.new_name, alias.evaluated_alias)
            if alias.evaluated_name in self.keep:
                # Still referenced other than by a call: keep the old name and import the new one too.
                also_new = also_new or (self.new_name, None) not in present
                continue
            if renamed_key in present:
                drop.add(i)
                continue
            names[i] = alias.with_changes(name=cst.Name(self.new_name))
            present.add(renamed_key)
        names = _without(names, drop)
        if also_new:
            names.insert(0, cst.ImportAlias(name=cst.Name(self.new_name), comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))))
        return updated_node.with_changes(names=names)


def _all_assignment(stmt: cst.BaseStatement) -> cst.List | cst.Tuple | None:
    if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1:
        small = stmt.body[0]
        if isinstance(small, cst.Assign) and len(small.targets) == 1:
            target = small.targets[0].target
            if isinstance(target, cst.Name) and target.value == "__all__" and isinstance(small.value, (cst.List, cst.Tuple)):
                return small.value
    return None


def rename_in_all(module: cst.Module, renames: Mapping[str, str]) -> tuple[cst.Module, bool]:
    """``__all__`` string entries of old names -> the new name, once."""
    body = list(module.body)
    changed = False
    for index, stmt in enumerate(body):
        sequence = _all_assignment(stmt)
        if sequence is None:
            continue
        elements = list(sequence.elements)
        present = {e.value.evaluated_value for e in elements if isinstance(e.value, cst.SimpleString)}
        drop: set[int] = set()
        for i, element in enumerate(elements):
            value = element.value.evaluated_value if isinstance(element.value, cst.SimpleString) else None
            if value not in renames:
                continue
            changed = True
            new = renames[value]
            if new in present:
                drop.add(i)
                continue
            quote = element.value.quote
            elements[i] = element.with_changes(value=cst.SimpleString(f"{quote}{new}{quote}"))
            present.add(new)
        new_sequence = sequence.with_changes(elements=_without(elements, drop))
        assert isinstance(stmt, cst.SimpleStatementLine)
        body[index] = stmt.with_changes(body=[stmt.body[0].with_changes(value=new_sequence)])
    return module.with_changes(body=body), changed


def _import_module_call(written: str) -> str:
    """The ``importlib.import_module(...)`` arguments that reach the config module from the package."""
    if written.startswith("."):
        return f'"{written}", __name__'
    return f'"{written}"'


def migrate_package_init(context: Context, task: Task, path: str, old: OldFactories) -> None:
    function = context.recipe.config_function
    assert function is not None
    module = context.parse(path)
    renamer = RenameOldImports(path, old, function.name, keep=set())
    new_module = module.visit(renamer)
    renames = {name: function.name for name in old.variants}
    new_module, all_changed = rename_in_all(new_module, renames)
    new_module = rename_in_docstrings(context, task, path, new_module, renames, {"__getattr__"}, old.variants)
    if not renamer.renamed and not all_changed:
        context.write_module(path, new_module)
        return
    context.report.info(task.id, f"the package now exports {function.name} instead of {', '.join(old.variants)}", path)
    if "__getattr__" not in _defined(new_module):
        written = renamer.import_module or ("." + PurePosixPath(old.spec.path).stem)
        names = ", ".join(f'"{name}"' for name in old.variants)
        if len(old.variants) == 1:
            names += ","
        getattr_def = _statements(_fill(_GETATTR_TEMPLATE, NAMES=names, MODULE=_import_module_call(written)))
        new_module = append_under_banner(new_module, getattr_def, context.recipe.deprecation_banner)
        new_module = add_imports(new_module, [ImportItem("importlib")])
        context.report.info(task.id, "old names stay importable from the package via __getattr__ (they warn)", path)
    context.write_module(path, new_module)


# ---------------------------------------------------------------------- callers
class _OldFactoryUses(cst.CSTVisitor):
    """Calls of old factories, and other references to them (passing the function itself)."""

    METADATA_DEPENDENCIES = (QualifiedNameProvider, PositionProvider)

    def __init__(self, path: str, old: OldFactories):
        super().__init__()
        self.path = path
        self.old = old
        self.calls: dict[cst.Call, tuple[str, int]] = {}
        self.other_uses: dict[str, list[int]] = {}
        self._callees: set[cst.CSTNode] = set()

    def old_name(self, node: cst.CSTNode) -> str | None:
        for qualified in self.get_metadata(QualifiedNameProvider, node, set()):
            if qualified.source is QualifiedNameSource.IMPORT:
                name = self.old.old_name_for(absolute_name(qualified.name, self.path))
                if name:
                    return name
        return None

    def visit_Import(self, node: cst.Import) -> bool:
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        return False

    def visit_Call(self, node: cst.Call) -> None:
        name = self.old_name(node.func)
        if name:
            self.calls[node] = (name, self.get_metadata(PositionProvider, node).start.line)
            self._callees.add(node.func)

    def visit_Name(self, node: cst.Name) -> None:
        self._other_use(node)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self._other_use(node)

    def _other_use(self, node: cst.CSTNode) -> None:
        if node in self._callees:
            return
        name = self.old_name(node)
        if name and isinstance(node, cst.Name) and node.value == name:
            self.other_uses.setdefault(name, []).append(self.get_metadata(PositionProvider, node).start.line)


class MigrateOldFactoryCalls(cst.CSTTransformer):
    """``create_sft_config(...)`` -> ``create_training_config(variant=..., ...)`` with mapped keywords."""

    def __init__(self, context: Context, task: Task, path: str, module: cst.Module, uses: _OldFactoryUses,
                 old: OldFactories, root: str):
        super().__init__()
        self.context, self.task, self.path, self.module = context, task, path, module
        self.uses, self.old, self.root = uses, old, root
        self.constants = module_constants(module)
        self.needs_dataclasses = False

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        if original_node not in self.uses.calls:
            return updated_node
        function = self.context.recipe.config_function
        assert function is not None
        old_name, line = self.uses.calls[original_node]
        try:
            keywords = call_keywords(original_node, self.module, self.constants)
        except UnmappableCall as error:
            raise Refusal(self.task.id, f"{old_name}(...) cannot be migrated: {error}", self.path, line) from None
        before = self.old.factories[old_name].build({kw.name: kw.value for kw in keywords})
        variant = self.old.variants[old_name]
        mapped = map_call(
            function,
            self.root,
            variant,
            keywords,
            before,
            path=self.path,
            block=f"{self.path}:{line} {old_name}(...)",
            implicit=before,
        )
        report = self.context.report
        # A caller chose these values on purpose (often from its command line): keep them on the
        # returned config instead of letting the variant's derived or fixed values replace them.
        passed = {kw.name for kw in mapped.arguments}
        changed = {change.field for change in mapped.changes}
        kept = [kw for kw in keywords if kw.name not in passed and kw.name in changed]
        report.behaviour_changes.extend(c for c in mapped.changes if c.field not in {kw.name for kw in kept})
        report.info(self.task.id, f"{old_name}(...) -> {function.name}(variant={variant!r}, ...)", self.path, line)
        indent = argument_indent(original_node)
        call = new_call(function.name, mapped.arguments, indent).with_changes(
            func=self._new_func(updated_node.func, old_name, function.name)
        )
        if not kept:
            return call
        self.needs_dataclasses = True
        report.info(
            self.task.id,
            f"kept {', '.join(kw.name for kw in kept)} as passed, via dataclasses.replace(): "
            f"{function.name}() cannot take them",
            self.path,
            line,
        )
        return preserving_replace(self.module.code_for_node(call), kept, indent)

    @staticmethod
    def _new_func(func: cst.BaseExpression, old_name: str, new_name: str) -> cst.BaseExpression:
        if isinstance(func, cst.Name) and func.value == old_name:
            return func.with_changes(value=new_name)
        if isinstance(func, cst.Attribute) and func.attr.value == old_name:
            return func.with_changes(attr=func.attr.with_changes(value=new_name))
        return func  # an ``as`` alias keeps its local name; the import is renamed instead


def preserving_replace(call_source: str, kept: Sequence, indent: str) -> cst.BaseExpression:
    """``dataclasses.replace(<new call>, name=value, ...)``: the new call plus the caller's own values."""
    inner = call_source.replace("\n", "\n" + indent)
    lines = ["dataclasses.replace(", f"{indent}{inner},"]
    for kw in kept:
        lines.append(f"{indent}{kw.name}={kw.source}," + (f"  {kw.comment}" if kw.comment else ""))
    lines.append(")")
    return cst.parse_expression("\n".join(lines))


def migrate_callers(context: Context, task: Task, old: OldFactories, root: str, skip: set[str]) -> None:
    function = context.recipe.config_function
    assert function is not None
    for path in context.workspace.files():
        if path in skip or not any(name in context.workspace.read_text(path) for name in old.variants):
            continue
        try:
            module = context.parse(path)
        except Refusal as refusal:
            context.report.warn(task.id, f"not migrated, it does not parse: {refusal.message}", path)
            continue
        wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
        uses = _OldFactoryUses(path, old)
        wrapper.visit(uses)
        for name, lines in uses.other_uses.items():
            context.report.warn(
                task.id,
                f"{name} is used other than by a call (lines {', '.join(map(str, lines))}); its import is kept "
                "(the deprecated alias still works)",
                path,
                lines[0],
            )
        migrate = MigrateOldFactoryCalls(context, task, path, module, uses, old, root)
        new_module = module.visit(migrate)
        new_module = new_module.visit(RenameOldImports(path, old, function.name, keep=set(uses.other_uses)))
        if migrate.needs_dataclasses:
            new_module = add_imports(new_module, [ImportItem("dataclasses")])
        context.write_module(path, new_module)


# ---------------------------------------------------------------------- task
def consolidate_config_module(context: Context, task: Task) -> None:
    recipe = context.recipe
    spec, function = recipe.config_module, recipe.config_function
    if spec is None or function is None:
        context.not_applicable(task.id, "the recipe names no config module")
        return
    if not context.workspace.exists(spec.path):
        context.not_applicable(task.id, f"{spec.path} does not exist")
        return
    module = context.parse(spec.path)
    root = find_output_root(context, task.id)
    # Read what the old factories build before their definitions are replaced.
    old = collect_old_factories(module, recipe, root)
    context.write_module(spec.path, migrate_config_module(context, task, spec.path, module, root, old))
    if spec.package_init and context.workspace.exists(spec.package_init):
        migrate_package_init(context, task, spec.package_init, old)
    migrate_callers(context, task, old, root, skip={spec.path, spec.package_init})

