"""The engines' narrow analyses agree with LibCST's full metadata providers.

``first_lines`` stands in for ``PositionProvider``, ``legacy_uses`` for
``ScopeProvider`` and ``imported_names`` for ``QualifiedNameProvider``: each is
checked against the provider on the bundled repository's files, on hand-written
edge cases, and (positions) on generated programs.
"""

from __future__ import annotations

import bisect
from collections import Counter
from pathlib import Path

import hypothesmith
import libcst as cst
import pytest
from hypothesis import HealthCheck, given, settings
from libcst.metadata import (
    FunctionScope,
    GlobalScope,
    MetadataWrapper,
    PositionProvider,
    QualifiedNameProvider,
    QualifiedNameSource,
    ScopeProvider,
)

from codemods.apply.engines.imports import NewImport, add_imports, dotted, imported_names, missing_imports
from codemods.apply.engines.legacy_uses import _has_postponed_annotations, legacy_uses
from codemods.apply.engines.lines import Mentions, first_lines
from codemods.apply.memo import module_code

TARGET = Path(__file__).resolve().parent.parent / "target_repo"
FILES = ["fine_tuning_vlm_for_object_detection_trl.py", "src/data/collators.py", "scripts/train.py", "src/training/config.py"]
EDGES = '''
from __future__ import annotations
import trl as t
from trl import SFTConfig as Cfg
class L: pass
REG = {"a": L, "b": [L]}
def f(a: L = L, *, b=L) -> L:
    return L()
g = lambda q=L: L
@deco(L)
class C(Base[L]):
    attr = L
    def m(self):
        global L
        return L.x + obj.L
for i in [L for _ in range(3)]:
    print(i, key=L)
x: L = L
L2, (L3, L4) = L, (L, L)
config = Cfg(output_dir="x") if t.SFTConfig else t.SFTConfig(output_dir="y")
'''


def sources() -> dict[str, str]:
    found = {name: (TARGET / name).read_text(encoding="utf-8") for name in FILES}
    found["edges"] = EDGES
    return found


@pytest.mark.parametrize("name", list(sources()))
def test_first_lines_match_position_provider(name):
    module = cst.parse_module(sources()[name])
    positions = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    nodes = [n for n in positions if isinstance(n, (cst.Call, cst.Name, cst.BaseStatement, cst.SimpleString))]
    lines = first_lines(module, set(nodes))
    assert {n: positions[n].start.line for n in nodes} == lines


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(hypothesmith.from_node(cst.Module))
def test_first_lines_match_position_provider_on_generated_code(source):
    module = cst.parse_module(source)
    positions = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    nodes = [n for n in positions if isinstance(n, (cst.Name, cst.BaseStatement, cst.Call))]
    assert {n: positions[n].start.line for n in nodes} == first_lines(module, set(nodes))


def _scope_provider_uses(module: cst.Module, names) -> Counter:
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    positions, scopes = wrapper.resolve(PositionProvider), wrapper.resolve(ScopeProvider)
    ends = [positions[stmt].end.line for stmt in module.body]
    found = Counter()
    for scope in {s for s in scopes.values() if s is not None}:
        for name in names:
            for access in scope.accesses[name]:
                if isinstance(access.node, cst.BaseString):
                    continue  # string annotations never run on import; the move ignores them
                line = positions[access.node].start.line
                at_import = not (access.is_annotation and _has_postponed_annotations(module))
                current = access.scope
                while at_import and current is not None and not isinstance(current, GlobalScope):
                    at_import = not isinstance(current, FunctionScope)
                    current = current.parent
                found[(name, line, bisect.bisect_left(ends, line), at_import)] += 1
    return found


@pytest.mark.parametrize("name", list(sources()))
def test_legacy_uses_match_scope_provider(name):
    module = cst.parse_module(sources()[name])
    names = ("collate_fn_fixed_fixed1", "FlashAttentionPatchCollator", "COLLATORS", "L", "REG")
    ours = Counter((u.name, u.line, u.statement, u.at_import) for u in legacy_uses(module, names))
    assert ours == _scope_provider_uses(module, names)


@pytest.mark.parametrize("name", list(sources()))
def test_imported_names_match_qualified_name_provider_on_calls(name):
    module = cst.parse_module(sources()[name])
    class Calls(cst.CSTVisitor):
        METADATA_DEPENDENCIES = (QualifiedNameProvider,)

        def __init__(self):
            super().__init__()
            self.expected: dict[cst.Call, set[str]] = {}

        def visit_Call(self, node: cst.Call) -> None:
            names = self.get_metadata(QualifiedNameProvider, node, set())
            self.expected[node] = {q.name for q in names if q.source is QualifiedNameSource.IMPORT}

    calls = Calls()
    MetadataWrapper(module, unsafe_skip_copy=True).visit(calls)
    compared = 0
    for call, expected in calls.expected.items():
        # Only names and attribute chains: QualifiedNameProvider also names ``Path(x).resolve`` after
        # ``Path``, a spelling no engine acts on.
        if expected and dotted(call.func) is not None:
            assert set(imported_names(module, call.func)) == expected, module.code_for_node(call.func)
            compared += 1
    assert compared > 0


class _RenameOneStatement(cst.CSTTransformer):
    """Changes only the first top-level statement that binds a name, like a migration touching one block."""

    def __init__(self, target: cst.CSTNode):
        self.target = target

    def on_visit(self, node: cst.CSTNode) -> bool:
        return node is self.target or not isinstance(node, cst.BaseStatement) or isinstance(node, cst.Module)

    def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.Name:
        return updated.with_changes(value=updated.value + "_renamed")


def _assert_assembled_code_agrees(source: str) -> None:
    module = cst.parse_module(source)
    assert module_code(module) == module.code
    if module.body:
        changed = module.visit(_RenameOneStatement(module.body[0]))
        # The other statements are the same objects: their remembered code is reused.
        assert module_code(changed) == changed.code
        everywhere = Mentions(changed, ["_renamed"])
        assert [everywhere(s) for s in changed.body] == ["_renamed" in changed.code_for_node(s) for s in changed.body]


@pytest.mark.parametrize("name", list(sources()))
def test_module_code_from_statements_matches_codegen(name):
    _assert_assembled_code_agrees(sources()[name])


@pytest.mark.parametrize(
    "source", ["x = 1", "# only a comment\n", "\n\n", "", "if a:\n    b\n# footer\n", "a = 1\r\nb = 2\r\n", "x\n\n\n# end"]
)
def test_module_code_from_statements_on_odd_shapes(source):
    _assert_assembled_code_agrees(source)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(hypothesmith.from_node(cst.Module))
def test_module_code_from_statements_on_generated_code(source):
    _assert_assembled_code_agrees(source)


IMPORT_SHAPES = [
    "",
    "x = 1\n",
    '"""Doc."""\nx = 1\n',
    '"""Doc."""\n\nimport os\nfrom trl import SFTTrainer\n\n# a comment\nx = 1\n',
    "import os\nimport sys\nx = 1\n",
    "from trl import SFTTrainer\nfrom trl import SFTTrainer as T\n\n\ndef f():\n    pass\n",
    "__strict__ = True\nimport os\n# lead\nx = 1\n",
    "from __future__ import annotations\nimport os\nx = 1\n",
    "from trl import *\nx = 1\n",
    "from . import trl\nx = 1\n",
    "x = 1\nimport os\nfrom trl import SFTConfig\n",
    "import dataclasses\nfrom trl import (\n    SFTTrainer,\n)\ny = 2\n",
    "if True:\n    import inspect\nz = 3\n",
]
IMPORT_REQUESTS = [
    [NewImport("dataclasses")],
    [NewImport("trl", "SFTConfig")],
    [NewImport("dataclasses"), NewImport("inspect"), NewImport("warnings"), NewImport("trl", "SFTConfig")],
    [NewImport("os.path")],
    [NewImport("numpy", alias="np"), NewImport("trl", "SFTConfig", "Cfg")],
    [NewImport("__future__", "annotations")],
]


@pytest.mark.parametrize("source", IMPORT_SHAPES)
@pytest.mark.parametrize("request_index", range(len(IMPORT_REQUESTS)))
def test_add_imports_places_them_as_libcst_add_imports_visitor(source, request_index):
    from libcst.codemod import CodemodContext
    from libcst.codemod.visitors import AddImportsVisitor, ImportItem

    wanted = IMPORT_REQUESTS[request_index]
    module = cst.parse_module(source)
    # Both place the same imports: what the module does not bind yet (the visitor only looks at its top block).
    items = [ImportItem(item.module, item.name, item.alias) for item in missing_imports(module, wanted)]
    expected = AddImportsVisitor(CodemodContext(), items).transform_module(module).code
    assert add_imports(module, wanted).code == expected
