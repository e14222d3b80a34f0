"""Property tests on arbitrary valid Python (hypothesmith).

The rename codemod never breaks code it does not own, and the binding resolver
behind it (codemods/apply/engines/bindings.py) agrees with LibCST's ScopeProvider
about which names resolve to a module-level binding.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import hypothesmith
import libcst as cst
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from libcst.metadata import GlobalScope, PositionProvider, ScopeProvider

from codemods.apply.engines.bindings import resolve
from codemods.apply.engines.lines import Mentions
from codemods.apply.engines.rename import rename_in_file
from codemods.apply.session import Context
from codemods.core.recipe import load_recipe
from codemods.core.workspace import Workspace

RECIPE = load_recipe()
OLD_NAMES = [r.old for r in RECIPE.all_renames]


def migrate(source: str) -> str | None:
    with tempfile.TemporaryDirectory() as directory:
        (Path(directory) / "mod.py").write_text(source, encoding="utf-8")
        context = Context(Workspace(Path(directory)), RECIPE)
        rename_in_file(context, "mod.py", "4")
        changes = context.workspace.changes()
        return changes[0].after.decode("utf-8") if changes else None


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(hypothesmith.from_grammar())
def test_code_without_old_names_is_left_byte_for_byte(source: str):
    if any(name in source for name in OLD_NAMES):
        return
    assert migrate(source) is None


@pytest.mark.filterwarnings("ignore::SyntaxWarning")  # generated code may be odd, e.g. `1()`
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(hypothesmith.from_grammar(), st.sampled_from(OLD_NAMES))
def test_renamed_code_still_compiles_and_a_second_run_is_a_no_op(source: str, old: str):
    planted = f"{source}\n{old} = 1\nprint({old})  # {old}\n"
    try:
        compile(planted, "<planted>", "exec")
    except SyntaxError:
        return
    migrated = migrate(planted)
    assert migrated is not None
    compile(migrated, "<migrated>", "exec")
    assert migrate(migrated) is None


class _Names(cst.CSTVisitor):
    def __init__(self):
        self.names: list[cst.Name] = []
        self.declared: set[cst.Name] = set()
        # Where LibCST's scopes differ from Python's (see LIBCST_DIVERGES).
        self.walrus_or_del: set[str] = set()

    def visit_Name(self, node: cst.Name) -> None:
        self.names.append(node)

    def visit_NameItem(self, node: cst.NameItem) -> None:
        self.declared.add(node.name)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self.walrus_or_del.update(n.value for n in _target_names(node.target))

    def visit_Del(self, node: cst.Del) -> None:
        self.walrus_or_del.update(n.value for n in _target_names(node.target))


def _target_names(node: cst.CSTNode) -> list[cst.Name]:
    if isinstance(node, cst.Name):
        return [node]
    if isinstance(node, (cst.Tuple, cst.List)):
        return [n for element in node.elements for n in _target_names(element.value)]
    return []


def scope_provider_module_names(module: cst.Module, name: str) -> set[cst.Name]:
    """Name nodes LibCST resolves to the module scope: accesses (unresolved ones too) and bindings."""
    wrapper = cst.MetadataWrapper(module, unsafe_skip_copy=True)
    found: set[cst.Name] = set()
    for scope in {s for s in wrapper.resolve(ScopeProvider).values() if s is not None}:
        for access in scope.accesses[name]:
            if isinstance(access.node, cst.Name) and all(isinstance(a.scope, GlobalScope) for a in access.referents):
                found.add(access.node)
        if isinstance(scope, GlobalScope):
            for assignment in scope.assignments[name]:
                node = getattr(assignment, "as_name", None) or getattr(assignment, "node", None)
                while isinstance(node, cst.Attribute):  # ``import a.b`` binds ``a``
                    node = node.value
                if isinstance(node, (cst.ClassDef, cst.FunctionDef)):
                    node = node.name
                if isinstance(node, cst.Name):
                    found.add(node)
    return found


def resolver_module_names(module: cst.Module, name: str, declared: set[cst.Name]) -> set[cst.Name]:
    # LibCST records no access for the names of ``global``/``nonlocal`` statements.
    return resolve(module, {name}).references - declared


@pytest.mark.filterwarnings("ignore::SyntaxWarning")
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(hypothesmith.from_grammar(), st.data())
def test_resolver_agrees_with_libcst_scope_provider(source: str, data):
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError:
        return
    names = _Names()
    module.visit(names)
    candidates = sorted({node.value for node in names.names})
    if not candidates:
        return
    name = data.draw(st.sampled_from(candidates))
    if name in names.walrus_or_del:
        return
    assert resolver_module_names(module, name, names.declared) == scope_provider_module_names(module, name)


@pytest.mark.filterwarnings("ignore::SyntaxWarning")
@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(hypothesmith.from_grammar(), st.data())
def test_statements_skipped_by_line_spans_never_mention_a_name(source: str, data):
    """The resolver skips statements by ``ast`` line spans; code generation is the reference."""
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError:
        return
    names = _Names()
    module.visit(names)
    candidates = sorted({node.value for node in names.names})
    if not candidates:
        return
    chosen = data.draw(st.lists(st.sampled_from(candidates), min_size=1, max_size=3))
    fast, reference = Mentions(module, chosen, source), Mentions(module, chosen)
    statements = _Statements()
    module.visit(statements)
    assert [s for s in statements.found if reference(s) and not fast(s)] == []


class _Statements(cst.CSTVisitor):
    def __init__(self):
        self.found: list[cst.BaseStatement] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, cst.BaseStatement):
            self.found.append(node)
        return True


SCOPING_CASES = {
    "shadowing": "x = 1\ndef f(x):\n    return x\ndef g():\n    x = 2\n    return x\ndef h():\n    return x\n",
    "global": "x = 0\ndef f():\n    global x\n    x = x + 1\n",
    "nonlocal": "x = 0\ndef f():\n    x = 1\n    def g():\n        nonlocal x\n        x += 1\n    return x\n",
    "class body": "x = 1\nclass C:\n    x = 2\n    y = x\n    def m(self):\n        return x\n",
    "comprehension": "x = [1]\ny = [x for x in x]\nz = [[x for _ in x] for x in range(3)]\n",
    "class comprehension": "x = 1\nclass C:\n    x = [1]\n    y = [x for _ in x]\n",
    "lambda": "x = 1\nf = lambda x=x: x\ng = lambda: x\n",
    "defaults and decorators": "x = 1\ndef f(a=x, *, b: x = x) -> x:\n    def x():\n        pass\n    return a\n@x\nclass C(x):\n    pass\n",
    "walrus": "def f():\n    [(x := 1) for _ in range(2)]\n    return x\nx = 0\n[(x := 2) for _ in range(2)]\n",
    "imports": "import os.path as x\ndef f():\n    import x\n    return x\ndef g():\n    return x\n",
    "except and with": "def f():\n    try:\n        pass\n    except E as x:\n        pass\nwith a as x:\n    pass\n",
    "del and augassign": "x = 1\ndef f():\n    del x\ndef g():\n    x += 1\nx += 1\n",
    "for": "for x in range(3):\n    pass\ndef f():\n    for x in range(3):\n        pass\n    return x\n",
    "keyword arguments and attributes": "x = 1\nf(x=x)\no.x = x.x\n",
    "match": "match v:\n    case [x, *rest]:\n        pass\n    case {'k': y, **x}:\n        pass\n    case C(a=x):\n        pass\n",
}


# LibCST keeps a walrus target in the comprehension and reads ``del x`` as a use;
# Python binds the walrus in the enclosing function (or module) and makes a
# deleted name local. The resolver follows Python: (line, column) of the names
# only it resolves to the module, and of those only LibCST does.
LIBCST_DIVERGES = {
    "walrus": ({(5, 2)}, {(3, 11)}),
    "del and augassign": (set(), {(3, 8)}),
}


@pytest.mark.parametrize("case", sorted(SCOPING_CASES))
def test_resolver_agrees_with_libcst_on_hand_written_scoping(case: str):
    module = cst.parse_module(SCOPING_CASES[case])
    names = _Names()
    module.visit(names)
    ours = resolver_module_names(module, "x", names.declared)
    theirs = scope_provider_module_names(module, "x")
    positions = cst.MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)

    def where(nodes):
        return {(positions[n].start.line, positions[n].start.column) for n in nodes}

    assert (where(ours - theirs), where(theirs - ours)) == LIBCST_DIVERGES.get(case, (set(), set()))
    assert ours, "every case has module-level uses of x"
