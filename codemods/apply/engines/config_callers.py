"""Callers of the old config factories: the package's exports, imports and every call site.

The package ``__init__`` re-exports the new function instead (the old names stay
importable through a module ``__getattr__`` under the deprecation banner), and
every call in the repository is migrated with its arguments mapped by
:mod:`codemods.apply.engines.config_mapping`, so each behaviour change is reported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import PurePosixPath

import libcst as cst

from codemods.apply.engines.config_function import module_constants
from codemods.apply.engines.config_mapping import (
    UnmappableCall,
    argument_indent,
    call_keywords,
    map_call,
)
from codemods.apply.engines.config_module import GETATTR_TEMPLATE, OldFactories, fill_template
from codemods.apply.engines.config_pins import Pinned, keeps_behaviour, pin_changes, pinned_call, report_pins
from codemods.apply.engines.definitions import (
    append_under_banner,
    bound_names,
    statements,
    top_level_definitions,
)
from codemods.apply.engines.docstring_renames import rename_in_docstrings
from codemods.apply.engines.imports import (
    NewImport,
    absolute_name,
    add_imports,
    imported_names,
)
from codemods.apply.engines.lines import first_lines, visit_mentioning
from codemods.apply.engines.stack_fit import OPTION as FIT_STACK_OPTION
from codemods.apply.engines.stack_fit import stack_fit
from codemods.apply.session import Context, Refusal
from codemods.core.recipe import Task


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
        kept = False
        for i in targets:
            alias = names[i]
            self.renamed.append(alias.evaluated_name)
            renamed_key = (self.new_name, alias.evaluated_alias)
            if alias.evaluated_name in self.keep:
                kept = True  # still referenced other than by a call: the old name stays, the new one comes too
                continue
            if renamed_key in present:
                drop.add(i)
                continue
            names[i] = alias.with_changes(name=cst.Name(self.new_name))
            present.add(renamed_key)
        names = _without(names, drop)
        if kept and (self.new_name, None) not in present:
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


def migrate_package_init(context: Context, task: Task, path: str, old: OldFactories, root: str) -> None:
    function = context.recipe.config_function
    assert function is not None
    module = context.parse(path)
    # The package's own code calls the factories like any caller (a module __getattr__ never
    # serves its own global lookups); a name it uses otherwise keeps its import.
    new_module, keep = migrate_uses(context, task, path, module, old, root)
    renamer = RenameOldImports(path, old, function.name, keep=keep)
    new_module = new_module.visit(renamer)
    renames = {name: function.name for name in old.variants}
    new_module, all_changed = rename_in_all(new_module, renames)
    new_module = rename_in_docstrings(context, task, path, new_module, renames, {"__getattr__"}, old.variants)
    if not renamer.renamed and not all_changed:
        context.write_module(path, new_module)
        return
    context.report.info(task.id, f"the package now exports {function.name} instead of {', '.join(old.variants)}", path)
    if "__getattr__" not in top_level_definitions(new_module):
        written = renamer.import_module or ("." + PurePosixPath(old.spec.path).stem)
        names = ", ".join(f'"{name}"' for name in old.variants)
        if len(old.variants) == 1:
            names += ","
        getattr_def = statements(fill_template(GETATTR_TEMPLATE, NAMES=names, MODULE=_import_module_call(written)))
        new_module = append_under_banner(new_module, getattr_def, context.recipe.deprecation_banner)
        new_module = add_imports(new_module, [NewImport("importlib")])
        context.report.info(task.id, "old names stay importable from the package via __getattr__ (they warn)", path)
    context.write_module(path, new_module)


# ---------------------------------------------------------------------- callers
class _OldFactoryUses(cst.CSTVisitor):
    """Calls of old factories, and other references to them (passing the function itself)."""

    def __init__(self, module: cst.Module, path: str, old: OldFactories):
        super().__init__()
        self.module = module
        self.path = path
        self.old = old
        self.calls: dict[cst.Call, tuple[str, int]] = {}
        self.other_uses: dict[str, list[int]] = {}
        self._not_uses: set[cst.CSTNode] = set()  # callees of migrated calls, and attribute names
        self._other_nodes: list[tuple[str, cst.Name]] = []
        self._stars = _star_imports(module)
        self._bound = _bound_at_top_level(module) if self._stars else set()

    def find(self) -> _OldFactoryUses:
        """Visit the module, then give every use its line (one code generation for all of them)."""
        self.module.visit(self)
        lines = first_lines(self.module, [*self.calls, *(node for _, node in self._other_nodes)])
        self.calls = {call: (name, lines[call]) for call, (name, _) in self.calls.items()}
        for name, node in self._other_nodes:
            self.other_uses.setdefault(name, []).append(lines[node])
        return self

    def old_name(self, node: cst.CSTNode) -> str | None:
        for qualified in imported_names(self.module, node):
            name = self.old.old_name_for(absolute_name(qualified, self.path))
            if name:
                return name
        if isinstance(node, cst.Name) and node.value in self.old.variants and node.value not in self._bound:
            for written in self._stars:  # ``from m import *``: the name is m's unless this module binds it
                name = self.old.old_name_for(absolute_name(f"{written}.{node.value}", self.path))
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
            self.calls[node] = (name, 0)
            self._not_uses.add(node.func)

    def visit_Name(self, node: cst.Name) -> None:
        self._other_use(node)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self._not_uses.add(node.attr)  # ``m.old``'s ``old`` is an attribute name, never this module's binding
        self._other_use(node)

    def _other_use(self, node: cst.CSTNode) -> None:
        if node in self._not_uses:
            return
        name = self.old_name(node)
        if name and isinstance(node, cst.Name) and node.value == name:
            self._other_nodes.append((name, node))


def _star_imports(module: cst.Module) -> list[str]:
    """The modules, as written, of the module's top-level ``from m import *``."""
    found = []
    for stmt in module.body:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.ImportFrom) and isinstance(small.names, cst.ImportStar):
                    module_name = cst.helpers.get_full_name_for_node(small.module) if small.module else ""
                    found.append("." * len(small.relative) + (module_name or ""))
    return found


def _bound_at_top_level(module: cst.Module) -> set[str]:
    """Names the module binds itself at its top level."""
    return set().union(*(bound_names(stmt) for stmt in module.body))


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
        fit = stack_fit(self.context.options)
        if fit is not None and any(kw.name in fit.fields for kw in kept):
            # Set on the result, a field the installed config class lacks would raise TypeError.
            left_out = [kw.name for kw in kept if kw.name in fit.fields]
            kept = [kw for kw in kept if kw.name not in fit.fields]
            report.warn(
                self.task.id,
                f"{old_name}(...): left out {', '.join(left_out)} ({FIT_STACK_OPTION}: {function.config_class_name} "
                f"in {fit.label} does not accept {'it' if len(left_out) == 1 else 'them'})",
                self.path,
                line,
            )
        kept_names = [kw.name for kw in kept]
        report.info(self.task.id, f"{old_name}(...) -> {function.name}(variant={variant!r}, ...)", self.path, line)
        if keeps_behaviour(self.context):
            pinned = pin_changes(function, self.root, mapped, keywords, before, already_kept=kept_names)
        else:
            pinned = Pinned(mapped.arguments, (), mapped.changes, ())
        report.behaviour_changes.extend(c for c in pinned.changes if c.field not in kept_names)
        report_pins(self.context, self.task.id, self.path, line, f"{old_name}(...)", pinned)
        if kept:
            report.info(
                self.task.id,
                f"kept {', '.join(kept_names)} as passed, via dataclasses.replace(): {function.name}() cannot take them",
                self.path,
                line,
            )
        pinned = replace(pinned, replaced=(*kept, *pinned.replaced))
        self.needs_dataclasses = self.needs_dataclasses or bool(pinned.replaced)
        func = self._new_func(updated_node.func, old_name, function.name)
        return pinned_call(function.name, pinned, argument_indent(original_node), func)

    @staticmethod
    def _new_func(func: cst.BaseExpression, old_name: str, new_name: str) -> cst.BaseExpression:
        if isinstance(func, cst.Name) and func.value == old_name:
            return func.with_changes(value=new_name)
        if isinstance(func, cst.Attribute) and func.attr.value == old_name:
            return func.with_changes(attr=func.attr.with_changes(value=new_name))
        return func  # an ``as`` alias keeps its local name; the import is renamed instead


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
        new_module, keep = migrate_uses(context, task, path, module, old, root)
        renamer = RenameOldImports(path, old, function.name, keep=keep)
        new_module = visit_mentioning(new_module, renamer, list(old.variants))
        context.write_module(path, new_module)


def other_uses(module: cst.Module, path: str, old: OldFactories) -> set[str]:
    """The old factories a module refers to other than by calling them (their imports must stay)."""
    return set(_OldFactoryUses(module, path, old).find().other_uses)


def migrate_uses(
    context: Context, task: Task, path: str, module: cst.Module, old: OldFactories, root: str
) -> tuple[cst.Module, set[str]]:
    """The module with its calls of old factories migrated; and the old names it still uses otherwise."""
    uses = _OldFactoryUses(module, path, old).find()
    for name, lines in uses.other_uses.items():
        context.report.warn(
            task.id,
            f"{name} is used other than by a call (lines {', '.join(map(str, lines))}); its import is kept "
            "(the deprecated alias still works)",
            path,
            lines[0],
        )
    migrate = MigrateOldFactoryCalls(context, task, path, module, uses, old, root)
    new_module = module.visit(migrate)  # calls may go through aliases: no text filter
    if migrate.needs_dataclasses:
        new_module = add_imports(new_module, [NewImport("dataclasses")])
    return new_module, set(uses.other_uses)
