"""Renames follow bindings, not spelling: each case is a bug of a spelling-based rename.

Every migrated tree is also run, so a rename that breaks a binding (a
``global`` left behind, an ``as`` alias kept, a method renamed at its uses only)
fails with the error Python would raise.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from codemods.core.recipe import parse_recipe
from tests.codemod_harness import dedent, run_codemod, write_tree

RECIPE_TOML = dedent(
    """
    [plan]
    name = "bindings"
    main_file = "main.py"

    [[tasks]]
    id = "4"
    codemod = "rename_collators"

    [[renames]]
    old = "old"
    new = "new"

    [[renames]]
    old = "replace"
    new = "new_var"

    [[renames]]
    old = "sep"
    new = "separator"

    [rename_policy]
    comments = false
    strings = false
    substring_identifiers = "keep"
    documents = []
    """
)
RECIPE = parse_recipe(RECIPE_TOML)


def migrate(tmp_path: Path, files: dict[str, str]) -> dict[str, str]:
    """The whole tree after the rename (unchanged files included)."""
    changed, _ = run_codemod(tmp_path / "before", "rename_collators", files, recipe=RECIPE)
    return {**files, **changed}


def run(tmp_path: Path, files: dict[str, str], script: str = "main.py") -> str:
    """Run one migrated file of the tree; its stdout."""
    root = tmp_path / "after"
    write_tree(root, files)
    result = subprocess.run([sys.executable, script], cwd=root, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_global_declarations_follow_the_module_binding(tmp_path):
    before = dedent(
        """
        old = 0


        def f():
            global old
            old = old + 1
            return old


        print(f(), old)
        """
    )
    after = migrate(tmp_path, {"main.py": before})
    assert after["main.py"] == before.replace("old", "new")
    assert run(tmp_path, after) == "1 1\n"


def test_nonlocal_declarations_stay_with_the_enclosing_function(tmp_path):
    before = dedent(
        """
        old = 10


        def outer():
            old = 1

            def inner():
                nonlocal old
                old += 1

            inner()
            return old


        print(outer(), old)
        """
    )
    after = migrate(tmp_path, {"main.py": before})
    # The enclosing function's local follows too (nothing else in the file is called `new`):
    # `nonlocal` keeps pointing at it, so the behaviour is the same.
    assert after["main.py"] == before.replace("old", "new")
    assert run(tmp_path, after) == "2 10\n"


def test_import_as_old_is_a_module_binding_and_renamed(tmp_path):
    before = "import json as old\n\nprint(old.dumps([1]))\n"
    after = migrate(tmp_path, {"main.py": before})
    assert after["main.py"] == "import json as new\n\nprint(new.dumps([1]))\n"
    assert run(tmp_path, after) == "[1]\n"


def test_a_method_call_is_not_the_module_level_function(tmp_path):
    before = dedent(
        """
        def replace(text):
            return text.upper()


        print(replace("aaa".replace("a", "b")))
        """
    )
    after = migrate(tmp_path, {"main.py": before})
    assert after["main.py"] == dedent(
        """
        def new_var(text):
            return text.upper()


        print(new_var("aaa".replace("a", "b")))
        """
    )
    assert run(tmp_path, after) == "BBB\n"


def test_unrelated_attributes_of_the_same_spelling_are_left(tmp_path):
    before = dedent(
        """
        import types


        class C:
            def __init__(self):
                self.old = 1


        old = 2
        ns = types.SimpleNamespace(old=3)
        print(ns.old + C().old + old)
        """
    )
    after = migrate(tmp_path, {"main.py": before})
    assert after["main.py"] == before.replace("old = 2", "new = 2").replace("C().old + old", "C().old + new")
    assert run(tmp_path, after) == "6\n"


def test_methods_and_class_attributes_named_like_an_old_name_keep_it(tmp_path):
    before = dedent(
        """
        old = 100


        class C:
            old = 1

            def old_value(self):
                return self.old + C.old

            def uses_the_module(self):
                return old


        class D:
            def old(self):
                return 2


        print(C().old_value(), D().old(), C().uses_the_module())
        """
    )
    after = migrate(tmp_path, {"main.py": before})
    assert after["main.py"] == before.replace("old = 100", "new = 100").replace("return old\n", "return new\n")
    assert run(tmp_path, after) == "2 2 100\n"


def test_module_attributes_follow_only_imports_of_the_defining_module(tmp_path):
    files = {
        "pkg/__init__.py": "",
        "pkg/mod.py": "def old():\n    return 1\n",
        "pkg/other.py": "def old():\n    return 10\n",
        "main.py": dedent(
            """
            import pkg.mod
            import pkg.mod as m
            import pkg.other as o
            from pkg import mod
            from pkg.mod import old as alias


            def local():
                from pkg.mod import old

                return old()


            print(m.old() + mod.old() + pkg.mod.old() + alias() + local() + o.old())
            """
        ),
    }
    after = migrate(tmp_path, files)
    assert after["pkg/mod.py"] == "def new():\n    return 1\n"
    assert after["pkg/other.py"] == "def new():\n    return 10\n"
    assert after["main.py"] == dedent(
        """
        import pkg.mod
        import pkg.mod as m
        import pkg.other as o
        from pkg import mod
        from pkg.mod import new as alias


        def local():
            from pkg.mod import new

            return new()


        print(m.new() + mod.new() + pkg.mod.new() + alias() + local() + o.new())
        """
    )
    assert run(tmp_path, after) == "15\n"


def test_attribute_of_an_import_whose_module_lacks_the_name_is_left(tmp_path):
    files = {
        "pkg/__init__.py": "",
        "pkg/mod.py": "def old():\n    return 1\n",
        "pkg/settings.py": "value = 5\n",
        "main.py": "import pkg.mod as m\nimport pkg.settings as s\n\ns.old = s.value\nprint(m.old(), s.old)\n",
    }
    after = migrate(tmp_path, files)
    assert after["main.py"] == "import pkg.mod as m\nimport pkg.settings as s\n\ns.old = s.value\nprint(m.new(), s.old)\n"
    assert run(tmp_path, after) == "1 5\n"


def test_standard_library_imports_keep_their_name_and_bind_the_new_one(tmp_path):
    before = "import os\nfrom os import sep\n\nprint(sep == os.sep)\n"
    after = migrate(tmp_path, {"main.py": before})
    assert after["main.py"] == "import os\nfrom os import sep as separator\n\nprint(separator == os.sep)\n"
    assert run(tmp_path, after) == "True\n"


def test_a_local_of_the_new_name_would_capture_the_renamed_global_so_the_rename_is_refused(tmp_path):
    """`return old` in a function that binds `new` itself would read that local once renamed."""
    import pytest

    from codemods.apply.session import Refusal

    before = dedent(
        """
        old = "global"


        def capture():
            new = "local"
            return old


        class Holder:
            new = "class attribute"
            seen = old


        print(capture(), Holder.seen)
        """
    )
    with pytest.raises(Refusal, match=r"renaming old to new would change what line 6 reads: .* bound at line 5"):
        migrate(tmp_path, {"main.py": before})
    # A local of the new name in a function that does not read the global is no capture.
    fine = before.replace("    return old\n", "    return new\n").replace("    seen = old\n", "    seen = 1\n")
    after = migrate(tmp_path / "fine", {"main.py": fine})
    assert after["main.py"] == fine.replace('old = "global"', 'new = "global"')
    assert run(tmp_path / "fine", after) == "local 1\n"


def test_a_format_field_and_the_keyword_that_fills_it_are_renamed_together(tmp_path):
    """`"{old}".format(old=1)`: the string's field was renamed and the keyword kept, a KeyError at run time."""
    recipe = parse_recipe(RECIPE_TOML.replace("strings = false", "strings = true"))
    before = 'old = 3\nprint("{old} {x}".format(old=1, x=2), "{old!r}".format(old=old), dict(old=1))\n'
    changed, _ = run_codemod(tmp_path / "before", "rename_collators", {"main.py": before}, recipe=recipe)
    after = changed["main.py"]
    # dict(old=1) is a library's parameter: it keeps its name.
    assert after == 'new = 3\nprint("{new} {x}".format(new=1, x=2), "{new!r}".format(new=new), dict(old=1))\n'
    assert run(tmp_path, {"main.py": after}) == "1 2 3 {'old': 1}\n"
