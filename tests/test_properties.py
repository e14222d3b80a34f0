"""Property tests: on arbitrary valid Python, the rename codemod never breaks code it does not own."""

from __future__ import annotations

import tempfile
from pathlib import Path

import hypothesmith
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
