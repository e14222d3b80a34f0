"""Which ``Name`` nodes of a module resolve to its module-level bindings of a few names.

A narrow stand-in for LibCST's ScopeProvider: it follows Python's scoping rules
(function, lambda and comprehension scopes, class bodies that nested functions
cannot see, ``global`` and ``nonlocal``) but only for the names asked about, and
it descends only into statements whose source mentions one of them. The full
scope analysis costs most of a rename of a long notebook-script; almost all of
that file never mentions a recipe name.

A name with no binding anywhere up the chain (a builtin, a name a star import or
an earlier notebook cell provides) counts as module level: it is looked up in the
module's namespace at run time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

import libcst as cst

from codemods.apply.engines.imports import (
    ImportBinding,
    dotted_or_empty,
    import_statement_bindings,
    root_name,
)
from codemods.apply.engines.lines import Mentions, children
from codemods.apply.memo import module_code

_MODULE, _FUNCTION, _CLASS, _COMPREHENSION = "module", "function", "class", "comprehension"
_COMPREHENSIONS = (cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)
# Keywords that LibCST parses as names.
_CONSTANTS = {"True", "False", "None"}



@dataclass(frozen=True)
class AttributeAccess:
    """``<import>.<rest>.<attr>``: an attribute reached through a module-level import."""

    node: cst.Attribute
    binding: ImportBinding
    rest: tuple[str, ...]

    @property
    def module(self) -> tuple[int, str]:
        level, module = self.binding.target_module
        return level, ".".join(p for p in (module, *self.rest) if p)


@dataclass(frozen=True)
class FromImport:
    """``from module import name [as alias]`` for a requested name, in any scope."""

    alias: cst.ImportAlias
    module: str
    level: int
    at_module_level: bool


@dataclass
class Resolution:
    references: set[cst.Name] = field(default_factory=set)  # load, store, del and global declaration
    definitions: list[cst.Name] = field(default_factory=list)  # the module-level bindings among them
    # Names bound inside a function or comprehension (not parameters, not class attributes), with their uses.
    locals: set[cst.Name] = field(default_factory=set)
    # Parameters spelled like an old name, with their uses inside the function.
    parameters: set[cst.Name] = field(default_factory=set)
    attributes: list[AttributeAccess] = field(default_factory=list)
    from_imports: list[FromImport] = field(default_factory=list)
    mentions: Callable[[cst.CSTNode], bool] = lambda node: True
    # (reference, local binding): a reference to a module-level old name inside a scope that binds its
    # new name itself; renamed, it would read that local instead (see ``resolve``'s ``renames``).
    captured: list[tuple[cst.Name, cst.Name]] = field(default_factory=list)


class _Scope:
    __slots__ = ("kind", "parent", "bound", "parameters", "globals", "nonlocals", "uses")

    def __init__(self, kind: str, parent: _Scope | None):
        self.kind, self.parent = kind, parent
        self.bound: set[str] = set()
        self.parameters: set[str] = set()
        self.globals: set[str] = set()
        self.nonlocals: set[str] = set()
        self.uses: list[tuple[cst.Name, bool]] = []  # (node, binds)

    def binding_scope(self, name: str) -> _Scope | None:
        """The function, comprehension or class scope that binds ``name`` here; None for module level."""
        scope: _Scope | None = self
        while scope is not None and scope.kind != _MODULE:
            if name in scope.globals:
                return None
            if name in scope.bound and name not in scope.nonlocals:
                return scope
            scope = scope.parent
            while scope is not None and scope.kind == _CLASS:
                scope = scope.parent
        return None

    def resolves_to_module(self, name: str) -> bool:
        scope: _Scope | None = self
        while scope is not None and scope.kind != _MODULE:
            if name in scope.globals:
                return True
            if name in scope.nonlocals or name in scope.bound:
                return False
            scope = scope.parent
            # A class body is invisible to the scopes nested in it.
            while scope is not None and scope.kind == _CLASS:
                scope = scope.parent
        return True


def module_imports(module: cst.Module) -> dict[str, list[ImportBinding]]:
    """Imports made at module level (also under ``if``/``try``/``with``), by the name they bind."""
    found: dict[str, list[ImportBinding]] = {}

    def scan(statements) -> None:
        for statement in statements:
            if isinstance(statement, cst.SimpleStatementLine):
                for small in statement.body:
                    for binding in import_statement_bindings(small):
                        found.setdefault(binding.name.value, []).append(binding)
            elif not isinstance(statement, (cst.FunctionDef, cst.ClassDef)):
                for child in children(statement):
                    if isinstance(child, cst.BaseSuite):
                        scan(child.body)
                    elif isinstance(child, (cst.Else, cst.Finally, cst.ExceptHandler, cst.ExceptStarHandler)):
                        scan(child.body.body)
                    elif isinstance(child, cst.If):
                        scan([child])

    scan(module.body)
    return found


class _Resolver:
    def __init__(self, names: set[str], tracked: set[str], mentions: Callable[[cst.CSTNode], bool]):
        self.names, self.tracked, self.mentions = names, tracked, mentions
        self.scopes: list[_Scope] = []
        self.accesses: list[tuple[cst.Attribute, cst.Name, tuple[str, ...]]] = []
        self.from_imports: list[FromImport] = []

    def scope(self, kind: str, parent: _Scope | None) -> _Scope:
        scope = _Scope(kind, parent)
        self.scopes.append(scope)
        return scope

    # ------------------------------------------------------------------ bindings
    def bind(self, name: cst.Name, scope: _Scope) -> None:
        if name.value in self.tracked:
            scope.bound.add(name.value)
            scope.uses.append((name, True))

    def target(self, node: cst.CSTNode, scope: _Scope) -> None:
        """An assignment, ``for``, ``with``, ``del`` or walrus target."""
        if isinstance(node, cst.Name):
            self.bind(node, scope)
        elif isinstance(node, (cst.Tuple, cst.List)):
            for element in node.elements:
                self.target(element.value, scope)
        elif isinstance(node, cst.StarredElement):
            self.target(node.value, scope)
        else:
            self.walk(node, scope)

    # ------------------------------------------------------------------ walk
    def walk(self, node: cst.CSTNode, scope: _Scope) -> None:
        if isinstance(node, cst.BaseStatement) and not self.mentions(node):
            return
        handler = getattr(self, f"_{type(node).__name__}", None)
        if handler is not None:
            handler(node, scope)
            return
        for child in children(node):
            self.walk(child, scope)

    def walk_all(self, nodes, scope: _Scope) -> None:
        for node in nodes:
            if node is not None:
                self.walk(node, scope)

    def _Name(self, node: cst.Name, scope: _Scope) -> None:
        if node.value in self.tracked:
            scope.uses.append((node, False))

    def _Attribute(self, node: cst.Attribute, scope: _Scope) -> None:
        self.walk(node.value, scope)
        if node.attr.value in self.names:
            root = root_name(node.value)
            if root is not None:
                rest = dotted_or_empty(node.value).split(".")[1:]
                self.accesses.append((node, root, tuple(rest)))

    def _Arg(self, node: cst.Arg, scope: _Scope) -> None:
        self.walk(node.value, scope)  # the keyword is not a name lookup

    def _Assign(self, node: cst.Assign, scope: _Scope) -> None:
        self.walk(node.value, scope)
        for target in node.targets:
            self.target(target.target, scope)

    def _AugAssign(self, node: cst.AugAssign, scope: _Scope) -> None:
        self.walk(node.value, scope)
        self.target(node.target, scope)

    def _AnnAssign(self, node: cst.AnnAssign, scope: _Scope) -> None:
        self.walk_all((node.annotation, node.value), scope)
        self.target(node.target, scope)

    def _Del(self, node: cst.Del, scope: _Scope) -> None:
        self.target(node.target, scope)

    def _For(self, node: cst.For, scope: _Scope) -> None:
        self.walk(node.iter, scope)
        self.target(node.target, scope)
        self.walk_all((node.body, node.orelse), scope)

    def _WithItem(self, node: cst.WithItem, scope: _Scope) -> None:
        self.walk(node.item, scope)
        if node.asname is not None:
            self.target(node.asname.name, scope)

    def _ExceptHandler(self, node: cst.ExceptHandler, scope: _Scope) -> None:
        self.walk_all((node.type, node.body), scope)
        if node.name is not None:
            self.target(node.name.name, scope)

    _ExceptStarHandler = _ExceptHandler

    def _NamedExpr(self, node: cst.NamedExpr, scope: _Scope) -> None:
        self.walk(node.value, scope)
        owner = scope
        while owner.kind == _COMPREHENSION:
            owner = owner.parent
        self.target(node.target, owner)

    def _Global(self, node: cst.Global, scope: _Scope) -> None:
        for item in node.names:
            if item.name.value in self.tracked:
                scope.globals.add(item.name.value)
                scope.uses.append((item.name, False))

    def _Nonlocal(self, node: cst.Nonlocal, scope: _Scope) -> None:
        for item in node.names:
            if item.name.value in self.tracked:
                scope.nonlocals.add(item.name.value)
                scope.uses.append((item.name, False))

    def _Import(self, node: cst.Import, scope: _Scope) -> None:
        for binding in import_statement_bindings(node):
            self.bind(binding.name, scope)

    def _ImportFrom(self, node: cst.ImportFrom, scope: _Scope) -> None:
        for binding in import_statement_bindings(node):
            self.bind(binding.name, scope)
        if isinstance(node.names, cst.ImportStar):
            return
        module, level = dotted_or_empty(node.module), len(node.relative)
        for alias in node.names:
            if isinstance(alias.name, cst.Name) and alias.name.value in self.names:
                self.from_imports.append(FromImport(alias, module, level, scope.kind == _MODULE))

    def _MatchAs(self, node: cst.MatchAs, scope: _Scope) -> None:
        self.walk_all((node.pattern,), scope)
        if node.name is not None:
            self.bind(node.name, scope)

    def _MatchStar(self, node: cst.MatchStar, scope: _Scope) -> None:
        if node.name is not None:
            self.bind(node.name, scope)

    def _MatchMapping(self, node: cst.MatchMapping, scope: _Scope) -> None:
        for element in node.elements:
            self.walk_all((element.key, element.pattern), scope)
        if node.rest is not None:
            self.bind(node.rest, scope)

    def _MatchKeywordElement(self, node: cst.MatchKeywordElement, scope: _Scope) -> None:
        self.walk(node.pattern, scope)

    # ------------------------------------------------------------------ scopes
    def _FunctionDef(self, node: cst.FunctionDef, scope: _Scope) -> None:
        for decorator in node.decorators:
            self.walk(decorator.decorator, scope)
        self.parameters(node.params, scope, annotations=True)
        if node.returns is not None:
            self.walk(node.returns, scope)
        self.bind(node.name, scope)
        inner = self.scope(_FUNCTION, scope)
        self.bind_parameters(node.params, inner)
        self.walk(node.body, inner)

    def _Lambda(self, node: cst.Lambda, scope: _Scope) -> None:
        self.parameters(node.params, scope, annotations=False)
        inner = self.scope(_FUNCTION, scope)
        self.bind_parameters(node.params, inner)
        self.walk(node.body, inner)

    def _ClassDef(self, node: cst.ClassDef, scope: _Scope) -> None:
        for decorator in node.decorators:
            self.walk(decorator.decorator, scope)
        self.walk_all((*node.bases, *node.keywords), scope)
        self.bind(node.name, scope)
        self.walk(node.body, self.scope(_CLASS, scope))

    def _comprehension(self, node, scope: _Scope) -> None:
        # The first iterable is evaluated where the comprehension stands.
        self.walk(node.for_in.iter, scope)
        inner = self.scope(_COMPREHENSION, scope)
        comp_for, first = node.for_in, True
        while comp_for is not None:
            if not first:
                self.walk(comp_for.iter, inner)
            self.target(comp_for.target, inner)
            self.walk_all([c.test for c in comp_for.ifs], inner)
            comp_for, first = comp_for.inner_for_in, False
        if isinstance(node, cst.DictComp):
            self.walk_all((node.key, node.value), inner)
        else:
            self.walk(node.elt, inner)

    _ListComp = _SetComp = _DictComp = _GeneratorExp = _comprehension

    def parameters(self, params: cst.Parameters, scope: _Scope, annotations: bool) -> None:
        for param in all_params(params):
            self.walk_all((param.default, param.annotation if annotations else None), scope)

    def bind_parameters(self, params: cst.Parameters, scope: _Scope) -> None:
        for param in all_params(params):
            self.bind(param.name, scope)
            scope.parameters.add(param.name.value)


def _note_capture(resolution: Resolution, scope: _Scope, reference: cst.Name, new: str) -> None:
    owner = scope.binding_scope(new)
    if owner is not None:
        local = next(name for name, binds in owner.uses if binds and name.value == new)
        resolution.captured.append((reference, local))


def all_params(params: cst.Parameters) -> list[cst.Param]:
    """Every parameter of a signature: positional-only, regular, ``*args``, keyword-only, ``**kwargs``."""
    star = [p for p in (params.star_arg, params.star_kwarg) if isinstance(p, cst.Param)]
    return [*params.posonly_params, *params.params, *params.kwonly_params, *star]


def resolve(
    module: cst.Module, names: Collection[str], text_names: Collection[str] = (), source: str | None = None,
    renames: Mapping[str, str] | None = None,
) -> Resolution:
    """Names resolving to module-level bindings of ``names``, and attributes ``<import>.<name>``.

    ``text_names`` widen the statements whose source is read (``Resolution.mentions``
    answers for all of them, so a caller can skip the same statements). ``source``
    is the module's text when the caller has it (generating it costs a walk). With
    ``renames`` (old -> new), ``Resolution.captured`` lists the references a local of the new name would capture.
    """
    names = set(names) - _CONSTANTS
    renames = {old: new for old, new in (renames or {}).items() if old in names}
    code = module_code(module) if source is None else source
    imports = module_imports(module)
    receivers: set[str] = set()
    if names and imports:
        # Names just before ``.old``: the roots of attribute chains that may reach an old name.
        attribute = re.compile(r"\.\s*(?:" + "|".join(map(re.escape, sorted(names))) + r")(?!\w)")
        for match in attribute.finditer(code):
            receivers.update(re.findall(r"\w+", code[max(0, match.start() - 200) : match.start()]))
        receivers &= set(imports)
    tracked = names | receivers | set(renames.values())
    mentions = Mentions(module, tracked | set(text_names), code)
    resolver = _Resolver(names, tracked, mentions)
    top = resolver.scope(_MODULE, None)
    if any(name in code for name in tracked):
        for statement in module.body:
            resolver.walk(statement, top)
    resolution = Resolution(mentions=mentions, from_imports=resolver.from_imports)
    for scope in resolver.scopes:
        for name, binds in scope.uses:
            if scope.resolves_to_module(name.value):
                resolution.references.add(name)
                if name.value in renames:
                    _note_capture(resolution, scope, name, renames[name.value])
                if binds and name.value in names:
                    resolution.definitions.append(name)
            elif name.value in names:
                owner = scope.binding_scope(name.value)
                if owner is not None and owner.kind != _CLASS:
                    (resolution.parameters if name.value in owner.parameters else resolution.locals).add(name)
    for node, root, rest in resolver.accesses:
        bindings = imports.get(root.value, [])
        if root in resolution.references and len({b.target_module for b in bindings}) == 1:
            resolution.attributes.append(AttributeAccess(node, bindings[0], rest))
    resolution.references -= {name for name in resolution.references if name.value not in names}
    return resolution
