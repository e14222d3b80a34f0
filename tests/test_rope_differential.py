"""Differential test: our code renames equal rope's ``Rename`` refactoring.

A module-level name is renamed by rope (``Rename(project, resource, offset)``
at its definition, ``docs=False``) and by our engine with a recipe whose text
policy is off, on hand-written and on generated modules: one module alone, and a
small package where a second module uses the first through ``from m import old``
or ``import m`` / ``m.old``.

Differences that are policy, not resolution, and so kept out of the inputs:

* comments, docstrings and strings (f-strings too) follow by whole-word match
  when the recipe's policy is on; rope's ``docs=False`` leaves them, and our
  policy is switched off here. ``__all__`` entries and string annotations are
  renamed by us even then (they name the binding); rope leaves them.
* identifiers that merely contain an old name (``test_old``) are spliced by
  policy ("keep" here); rope leaves them.
* a name with no binding in the file (a notebook cell's earlier definition, a
  star import) is renamed by us as module level; rope cannot resolve it.
* a function-local ``from m import old`` becomes ``from m import new as old``
  here (the function's uses stay as written); rope renames the local uses too.
* rope renames every module that uses the name; the recipe renames the files it
  covers (all of them here).
* function locals spelled like the old name follow the rename by policy
  (``locals = true``, so that ``refactor check`` is clean after apply); rope
  leaves them, and the policy is off here.

One difference is rope's, not policy: rope reads a lambda's parameter named like
the module-level name as that name (``lambda old=old: old`` becomes ``lambda
new=new: new``, which changes nothing at run time but is no rename of the
module binding); ``test_lambda_parameters_are_local`` pins our answer instead.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rope.base.project import Project
from rope.refactor.rename import Rename

from codemods.core.recipe import parse_recipe
from tests.codemod_harness import dedent, run_codemod

RECIPE = parse_recipe(
    dedent(
        """
        [plan]
        name = "rope-differential"
        main_file = "m.py"

        [[tasks]]
        id = "4"
        codemod = "rename_collators"

        [[renames]]
        old = "old"
        new = "new"

        [rename_policy]
        comments = false
        strings = false
        substring_identifiers = "keep"
        documents = []
        locals = false
        """
    )
)
DEFINITIONS = ["old = 1\n", "def old(*args):\n    return 1\n", "class old:\n    value = 1\n", "import json as old\n"]

# Uses of ``old`` in a module that binds it at module level.
SNIPPETS = [
    "print(old)\n",
    "def f1():\n    return old\n",
    "def f2(old):\n    return old\n",
    "def f3():\n    old = 2\n    return old\n",
    "def f4():\n    global old\n    old = old\n",
    "def f5():\n    old = 1\n\n    def g():\n        nonlocal old\n        old = 2\n        return old\n\n    return g\n",
    "class K1:\n    old = 1\n\n    def old_(self):\n        return self.old, old\n",
    "class K2:\n    def old(self):\n        return old\n",
    "x1 = [old for _ in range(2)]\n",
    "x2 = [old for old in range(2)]\n",
    "x4 = lambda: old\n",
    "def f6(a=old, *, b=old):\n    return a, b\n",
    "for old in range(2):\n    pass\n",
    "try:\n    pass\nexcept ValueError as old:\n    pass\n",
    "x5 = {old: old for _ in (1,)}\n",
    "x6 = str(old).replace('1', '2')\n",
    "ns = type('N', (), {})()\nns.old = old\n",
    "def f7():\n    def old():\n        return 1\n\n    return old()\n",
    "class K3(dict):\n    attr = old\n",
]
# Uses in a second module of the package, after its import of ``m``.
IMPORTS = ["from m import old\n", "import m\n", "from m import old as alias\n", "import m as mod\n"]
USER_SNIPPETS = {
    "from m import old\n": ["print(old)\n", "def u1():\n    return old\n", "def u2(old):\n    return old\n"],
    "import m\n": ["print(m.old)\n", "def u1():\n    return m.old\n", "def u2(m):\n    return m.old\n"],
    "from m import old as alias\n": ["print(alias)\n", "def u1(old):\n    return alias, old\n"],
    "import m as mod\n": ["print(mod.old)\n", "def u1(old):\n    return mod.old, old\n"],
}


def rope_rename(files: dict[str, str], path: str, offset: int) -> dict[str, str]:
    directory = Path(tempfile.mkdtemp())
    try:
        for relative, text in files.items():
            (directory / relative).write_text(text, encoding="utf-8")
        project = Project(str(directory), ropefolder=None)
        try:
            changes = Rename(project, project.get_resource(path), offset).get_changes("new", docs=False)
            project.do(changes)
        finally:
            project.close()
        return {relative: (directory / relative).read_text(encoding="utf-8") for relative in files}
    finally:
        shutil.rmtree(directory)


def our_rename(files: dict[str, str]) -> dict[str, str]:
    directory = Path(tempfile.mkdtemp())
    try:
        changed, _ = run_codemod(directory, "rename_collators", files, recipe=RECIPE)
        return {**files, **changed}
    finally:
        shutil.rmtree(directory)


def definition_offset(text: str) -> int:
    """Offset of ``old`` in the module's first (module-level) definition."""
    first = text.split("\n", 1)[0]
    return first.rindex("old") if first.startswith("import") else first.index("old")


def assert_same_as_rope(files: dict[str, str]) -> None:
    assert our_rename(files) == rope_rename(files, "m.py", definition_offset(files["m.py"]))


@pytest.mark.parametrize("definition", DEFINITIONS)
@pytest.mark.parametrize("snippet", SNIPPETS)
def test_single_module(definition: str, snippet: str):
    assert_same_as_rope({"m.py": definition + "\n\n" + snippet})


def test_lambda_parameters_are_local():
    files = {"m.py": "old = 1\n\n\nx3 = lambda old=old: old\n"}
    assert our_rename(files) == {"m.py": "new = 1\n\n\nx3 = lambda old=new: old\n"}


@pytest.mark.parametrize("imported", IMPORTS)
def test_two_modules(imported: str):
    user = imported + "\n\n" + "\n\n".join(USER_SNIPPETS[imported])
    assert_same_as_rope({"m.py": DEFINITIONS[1] + "\n\n" + "\n\n".join(SNIPPETS[:4]), "user.py": user})


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.sampled_from(DEFINITIONS[:3]),
    st.lists(st.sampled_from(SNIPPETS), min_size=1, max_size=6),
    st.sampled_from(IMPORTS),
    st.data(),
)
def test_generated_packages(definition: str, snippets: list[str], imported: str, data):
    user_snippets = data.draw(st.lists(st.sampled_from(USER_SNIPPETS[imported]), min_size=1, max_size=3))
    files = {
        "m.py": definition + "\n\n" + "\n\n".join(snippets),
        "user.py": imported + "\n\n" + "\n\n".join(user_snippets),
    }
    assert_same_as_rope(files)
