"""Hostile and odd inputs: refused before any work, by name, with every byte left as it was.

Each test builds a throwaway variant of target_repo (or a smaller tree) in a temp
dir: a recipe that misses a key, renames a keyword or reaches outside ROOT; a
pyproject.toml that does not parse; a ROOT that is a text file or an empty
directory; files and paths holding terminal control sequences; a new name that the
repository already defines; and the notice before verify runs the repository's code.
"""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codemods.cli import app
from codemods.consoles import console_for, visible
from codemods.core.recipe import RecipeError, load_recipe, parse_recipe
from tests.test_variant_repos import MAIN, copy_target, snapshot

BUNDLED = Path(__file__).resolve().parent.parent / "codemods" / "recipes" / "consolidate_training_configs.toml"
GOLDEN = Path(__file__).resolve().parent / "golden" / "migrated_target_repo"
RECIPE_TEXT = BUNDLED.read_text(encoding="utf-8")
runner = CliRunner()


def edited_recipe(*replacements: tuple[str, str]) -> str:
    text = RECIPE_TEXT
    for old, new in replacements:
        assert text.count(old) >= 1, old
        text = text.replace(old, new, 1)
    return text


def name_recipe_in_pyproject(root: Path, text: str, name: str = "refactor-recipe.toml") -> None:
    (root / name).write_text(text, encoding="utf-8")
    (root / "pyproject.toml").write_text(f'[tool.refactor]\nrecipe = "{name}"\n', encoding="utf-8")


def refused(result, *parts: str) -> str:
    """The run exited 2 with a message holding every part, and no traceback."""
    output = result.output
    assert result.exit_code == 2, output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in output
    for part in parts:
        assert part in output, (part, output)
    return output


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of target_repo outside git: apply writes without a dirty-tree check."""
    return copy_target(tmp_path / "repo")


# ============================================================================ 1. the recipe


@pytest.mark.parametrize(
    ("line", "where", "key"),
    [
        ('module = "analyze_tokens"\n', "superseded_script", "module"),
        ('superseded_by = "analyze_token_distribution"\n', "superseded_script", "superseded_by"),
        ('main_file = "fine_tuning_vlm_for_object_detection_trl.py"\n', "plan", "main_file"),
        ('codemod = "delete_superseded_script"\n', "tasks[0]", "codemod"),
        ('new = "AllTokensCollator"\n', "renames[0]", "new"),
        ('new = "FlashAttentionPatchCollator"\n', "legacy", "new"),
        ('config_class = "trl.SFTConfig"\n', "config_function", "config_class"),
        ('variant = "v1-all-tokens"\n', "config_blocks[0]", "variant"),
        ('path = "src/training/config.py"\n', "config_module", "path"),
        ('collators = "src/data/collators.py"\n', "data_package", "collators"),
    ],
)
def test_a_missing_required_key_names_its_table_and_key(line, where, key):
    text = RECIPE_TEXT
    if where == "config_blocks[0]":  # the same line opens the deprecated list further down
        text = text.replace(f"\n{line}", "\n", 1)
    else:
        text = text.replace(line, "", 1)
    with pytest.raises(RecipeError) as raised:
        parse_recipe(text, "mine.toml")
    assert f"mine.toml: {where}: missing required key {key!r}" in str(raised.value)


def test_a_recipe_named_by_pyproject_without_a_module_is_exit_2_not_a_traceback(repo: Path):
    name_recipe_in_pyproject(repo, edited_recipe(('module = "analyze_tokens"\n', "")))
    before = snapshot(repo)
    result = runner.invoke(app, ["apply", str(repo), "--no-diff"])
    refused(result, "bad recipe", "refactor-recipe.toml", "superseded_script", "missing required key 'module'")
    assert snapshot(repo) == before


@pytest.mark.parametrize(
    ("replacement", "message"),
    [
        (('files = ["main", "src/data/collators.py"]', 'files = "main"'), "legacy.files must be an array, not a string"),
        (("comments = true", 'comments = "yes"'), "rename_policy.comments must be true or false, not a string"),
        (('module = "analyze_tokens"', "module = 3"), "superseded_script.module must be a string, not an integer"),
        (('module = "analyze_tokens"', 'modul = "analyze_tokens"'),
         "superseded_script: missing required key 'module' ('modul' is no key of it: a misspelling?)"),
        (('description = "Trains on all', 'descripton = "Trains on all'), "renames[0]: unknown key 'descripton'"),
        (("[deprecation]", "[deprecations]"), "the recipe's top level: unknown key 'deprecations'"),
        (('module = "analyze_tokens"', 'module = "analyze tokens"'), "is not a dotted Python name"),
    ],
)
def test_every_table_is_checked_for_types_and_unknown_keys(replacement, message):
    with pytest.raises(RecipeError, match=re.escape(message)):
        parse_recipe(edited_recipe(replacement))


@pytest.mark.parametrize(
    ("replacement", "field", "why"),
    [
        (('old = "collate_fn_v3"', 'old = "class"'), "renames[2].old", "is a Python keyword"),
        (('new = "AllTokensCollator"', 'new = "None"'), "renames[0].new", "is a Python keyword"),
        (('new = "AssistantOnlyCollator"', 'new = "print"'), "renames[1].new", "is a Python builtin"),
        (('old = "collate_fn_fixed_fixed1"', 'old = "list"'), "legacy.old", "is a Python builtin"),
        (('name = "create_training_config"', 'name = "def"'), "config_function.name", "is a Python keyword"),
        (('{ name = "seed", annotation', '{ name = "lambda", annotation'), "parameters[3].name", "is a Python keyword"),
        (('new_target = "training_args_v2"', 'new_target = "training-args"'), "config_blocks[1].new_target",
         "is not a Python identifier"),
        (('"FlashAttentionPatchCollator"]', '"dict"]'), "data_package.exports[2]", "is a Python builtin"),
        (('{ old = "create_sft_config"', '{ old = "open"'), "config_module.deprecated[0].old", "is a Python builtin"),
    ],
)
def test_names_the_recipe_binds_or_renames_are_identifiers_not_keywords_or_builtins(replacement, field, why):
    with pytest.raises(RecipeError) as raised:
        parse_recipe(edited_recipe(replacement))
    assert field in str(raised.value) and why in str(raised.value)


def test_a_keyword_old_name_is_refused_before_any_work(repo: Path):
    name_recipe_in_pyproject(repo, edited_recipe(('old = "collate_fn_v3"', 'old = "class"')))
    before = snapshot(repo)
    result = runner.invoke(app, ["apply", str(repo), "--no-diff"])
    refused(result, "renames[2].old", "'class' is a Python keyword")
    assert snapshot(repo) == before


def test_a_name_renamed_twice_or_to_itself_is_refused():
    with pytest.raises(RecipeError, match="'collate_fn_v3' is renamed to itself"):
        parse_recipe(edited_recipe(('new = "collate_fn_v2"', 'new = "collate_fn_v3"')))
    twice = edited_recipe(('old = "training_args_v3"', 'old = "collate_fn_v3"'))
    with pytest.raises(RecipeError, match="'collate_fn_v3' is renamed twice"):
        parse_recipe(twice)


def test_a_field_may_carry_a_builtins_name_because_it_is_a_keyword_argument():
    text = edited_recipe(('{ name = "seed", value = "seed" }', '{ name = "seed", value = "seed" },\n    { name = "type", value = "None" }'))
    assert "type" in [f.name for f in parse_recipe(text).config_function.fields]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("../elsewhere/secret.py", "leads out of ROOT"),
        ("src/../../elsewhere/secret.py", "leads out of ROOT"),
        ("/etc/secret.py", "is an absolute path"),
        ("C:/elsewhere/secret.py", "is an absolute path"),
        ("src\\\\data\\\\collators.py", "is not a path relative to ROOT"),
        ("./analyze_tokens.py", "is not a path relative to ROOT"),
    ],
)
def test_recipe_paths_must_stay_inside_root(path, message):
    with pytest.raises(RecipeError, match=message):
        parse_recipe(edited_recipe(('path = "analyze_tokens.py"', f'path = "{path}"')))


def test_a_recipe_in_pyproject_cannot_delete_a_file_outside_root(tmp_path: Path):
    repo = copy_target(tmp_path / "repo")
    secret = tmp_path / "elsewhere" / "secret.py"
    secret.parent.mkdir()
    secret.write_text("KEY = 'do not delete'\n", encoding="utf-8")
    name_recipe_in_pyproject(repo, edited_recipe(('path = "analyze_tokens.py"', 'path = "../elsewhere/secret.py"')))
    before = snapshot(repo)
    result = runner.invoke(app, ["apply", str(repo), "--no-diff"])
    refused(result, "superseded_script.path", "'../elsewhere/secret.py'", "leads out of ROOT")
    assert secret.read_text(encoding="utf-8") == "KEY = 'do not delete'\n"
    assert snapshot(repo) == before


def test_a_recipe_path_through_a_symlink_leading_outside_root_is_refused(tmp_path: Path):
    repo = copy_target(tmp_path / "repo")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "secret.py").write_text("KEY = 1\n", encoding="utf-8")
    (repo / "vendor").symlink_to(outside, target_is_directory=True)
    name_recipe_in_pyproject(repo, edited_recipe(('path = "analyze_tokens.py"', 'path = "vendor/secret.py"')))
    before = snapshot(repo)
    for command in (["apply", str(repo), "--no-diff"], ["status", str(repo)], ["check", str(repo)]):
        refused(runner.invoke(app, command), "superseded_script.path = 'vendor/secret.py'", "outside ROOT")
    assert (outside / "secret.py").read_text(encoding="utf-8") == "KEY = 1\n"
    assert snapshot(repo) == before


def test_an_explicit_recipe_is_confined_to_root_too(tmp_path: Path):
    repo = copy_target(tmp_path / "repo")
    recipe = tmp_path / "outside-recipe.toml"
    recipe.write_text(edited_recipe(('path = "analyze_tokens.py"', 'path = "../x.py"')), encoding="utf-8")
    refused(runner.invoke(app, ["apply", str(repo), "--recipe", str(recipe)]), "leads out of ROOT")


def test_a_symlink_inside_root_that_stays_inside_is_accepted(tmp_path: Path):
    repo = copy_target(tmp_path / "repo")
    (repo / "training").symlink_to(repo / "src" / "training", target_is_directory=True)
    recipe = tmp_path / "r.toml"
    recipe.write_text(edited_recipe(('path = "src/training/config.py"', 'path = "training/config.py"')), encoding="utf-8")
    assert load_recipe(recipe, repo).config_module.path == "training/config.py"


# ============================================================================ 2. pyproject.toml


def test_a_pyproject_that_does_not_parse_is_exit_2_naming_the_file_and_the_error(repo: Path):
    (repo / "pyproject.toml").write_text('[tool.refactor\nrecipe = "mine.toml"\n', encoding="utf-8")
    before = snapshot(repo)
    for command in (["apply", str(repo), "--no-diff"], ["status", str(repo)], ["check", str(repo)]):
        refused(runner.invoke(app, command), "pyproject.toml", "not valid TOML", "line 1", "--recipe FILE")
    assert snapshot(repo) == before


def test_an_explicit_recipe_does_not_read_a_broken_pyproject(repo: Path):
    (repo / "pyproject.toml").write_text("[tool.refactor\n", encoding="utf-8")
    result = runner.invoke(app, ["check", str(repo), "--recipe", str(BUNDLED), "--format", "json"])
    assert result.exit_code == 1, result.output  # target_repo has stale names: the check ran


def test_a_misspelt_tool_refactor_key_is_warned_about(repo: Path):
    (repo / "pyproject.toml").write_text('[tool.refactor]\nrecipie = "mine.toml"\n', encoding="utf-8")
    result = runner.invoke(app, ["status", str(repo)])
    output = " ".join(result.output.split())
    assert result.exit_code == 0, output
    assert "warning:" in output and "unknown key 'recipie' in [tool.refactor] (did you mean 'recipe'?)" in output


# ============================================================================ 3. what ROOT is


@pytest.mark.parametrize("command", ["apply", "status", "check", "verify"])
def test_a_text_file_root_is_exit_2_saying_what_root_must_be(tmp_path: Path, command: str):
    notes = tmp_path / "notes.txt"
    notes.write_text("collate_fn_fixed_1\n", encoding="utf-8")
    output = refused(runner.invoke(app, [command, str(notes)]), "notes.txt is not a Python file or notebook")
    assert "a repository directory, a Python file (.py) or a notebook (.ipynb)" in output
    assert notes.read_text(encoding="utf-8") == "collate_fn_fixed_1\n"


@pytest.mark.parametrize("command", ["apply", "status", "verify"])
def test_an_empty_directory_is_exit_2_nothing_of_the_recipe(tmp_path: Path, command: str):
    empty = tmp_path / "empty"
    empty.mkdir()
    refused(
        runner.invoke(app, [command, str(empty)]),
        "nothing of the recipe 'consolidate-training-configs' was found",
        "no Python file or notebook",
        "fine_tuning_vlm_for_object_detection_trl.py, src/training/config.py",
    )
    assert list(empty.iterdir()) == []


def test_check_on_an_empty_directory_is_exit_2_nothing_to_check(tmp_path: Path):
    (tmp_path / "README.md").write_text("collate_fn_fixed_1\n", encoding="utf-8")
    refused(runner.invoke(app, ["check", str(tmp_path)]), "nothing to check", "holds no Python file or notebook")
    (tmp_path / "mod.py").write_text("x = 1\n", encoding="utf-8")
    refused(runner.invoke(app, ["check", str(tmp_path), "--exclude", "*.py"]), "nothing to check", "after --exclude")
    assert runner.invoke(app, ["check", str(tmp_path)]).exit_code == 0


def test_a_directory_of_unrelated_python_is_exit_2_not_nothing_to_do(tmp_path: Path):
    (tmp_path / "app.py").write_text("print('hello')\n", encoding="utf-8")
    output = refused(runner.invoke(app, ["apply", str(tmp_path)]), "none of the files it names", "old or new name")
    assert "Nothing to do" not in output


def test_an_already_migrated_repository_is_still_nothing_to_do(tmp_path: Path):
    root = tmp_path / "migrated"
    shutil.copytree(GOLDEN, root)
    result = runner.invoke(app, ["apply", str(root), "--no-diff"])
    assert result.exit_code == 0, result.output
    assert "Nothing to do" in result.output
    status = runner.invoke(app, ["status", str(root)])
    assert status.exit_code == 0 and "pending" not in status.output, status.output


def test_a_tree_that_only_uses_new_names_is_migrated_not_foreign(tmp_path: Path):
    (tmp_path / "train.py").write_text("from lib import AllTokensCollator\n", encoding="utf-8")
    result = runner.invoke(app, ["apply", str(tmp_path)])
    assert result.exit_code == 0 and "Nothing to do" in result.output, result.output


def test_a_single_python_file_root_is_still_accepted(tmp_path: Path):
    script = tmp_path / "script.py"
    script.write_text("x = 1\n", encoding="utf-8")
    assert runner.invoke(app, ["apply", str(script)]).exit_code == 0


# ============================================================================ 4. control characters

# A lone CR would end the line for Python's tokenizer too; it is tried on its own in a diff below.
HOSTILE = "\x1b]0;pwned\x07 \x1b[2J \u202e \x9b31m"
RAW_SEQUENCES = ("\x1b]0;", "\x1b[2J", "\u202e", "\x9b", "\x07")


def hostile_tree(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "mod.py").write_text(f"x = collate_fn_fixed_1()  # {HOSTILE} end\n", encoding="utf-8", newline="")
    (root / "ev\x1b[2Jil.py").write_text("y = collate_fn_fixed_3\n", encoding="utf-8")
    return root


def assert_shown_not_obeyed(output: str) -> None:
    for raw in RAW_SEQUENCES:
        assert raw not in output, (raw, output)
    assert "\\x1b]0;pwned" in output and "\\x1b[2J" in output


def test_check_text_escapes_control_characters_from_files_and_paths(tmp_path: Path):
    root = hostile_tree(tmp_path / "tree")
    result = runner.invoke(app, ["check", str(root)])
    assert result.exit_code == 1
    assert_shown_not_obeyed(result.output)
    assert "ev\\x1b[2Jil.py" in result.output and "\\u202e" in result.output and "\\x9b31m" in result.output


def test_check_text_on_a_terminal_escapes_them_too(tmp_path: Path):
    from codemods.check import find_stale
    from codemods.check.formats import render_text

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    render_text(find_stale(hostile_tree(tmp_path / "tree"), load_recipe()), console_for(stream))
    output = stream.getvalue()
    for raw in ("\x1b]0;", "\x1b[2J", "\u202e", "\x9b", "\x07"):
        assert raw not in output, raw
    assert "\\x1b]0;pwned" in output


@pytest.mark.parametrize("output_format", ["json", "sarif"])
def test_machine_formats_keep_the_data_json_escaped(tmp_path: Path, output_format: str):
    result = runner.invoke(app, ["check", str(hostile_tree(tmp_path / "tree")), "--format", output_format])
    for raw in ("\x1b", "\u202e", "\x9b", "\x07"):
        assert raw not in result.stdout, raw
    data = json.loads(result.stdout)
    findings = data if output_format == "json" else data["runs"][0]["results"]
    lines = [f["source_line"] if output_format == "json" else f["locations"][0]["physicalLocation"]["region"]["snippet"]["text"]
             for f in findings]
    assert any(HOSTILE in line for line in lines), lines


def test_github_annotations_escape_control_characters(tmp_path: Path):
    result = runner.invoke(app, ["check", str(hostile_tree(tmp_path / "tree")), "--format", "github"])
    assert "\x1b" not in result.stdout and "ev\\x1b[2Jil.py" in result.stdout


def test_apply_diffs_and_notes_escape_control_characters(tmp_path: Path):
    root = hostile_tree(tmp_path / "tree")
    result = runner.invoke(app, ["apply", str(root), "--dry-run", "-v"])
    assert result.exit_code == 0, result.output
    assert_shown_not_obeyed(result.output)


def test_a_diff_on_a_terminal_shows_control_characters_escaped():
    from codemods.apply.render import print_diff
    from codemods.core.workspace import FileChange

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    change = FileChange("ev\x1b]0;x\x07il.py", f"a = 1  # {HOSTILE}\n".encode(), b"a = 2\r\n")
    print_diff(console_for(stream), change)
    output = stream.getvalue()
    for raw in ("\x1b]0;", "\x1b[2J", "\u202e", "\x9b", "\x07", "\r"):
        assert raw not in output, raw
    assert "\\x1b[2J" in output and "ev\\x1b]0;x\\x07il.py" in output


def test_markup_in_file_text_is_shown_not_interpreted(repo: Path):
    main = repo / MAIN
    main.write_text(main.read_text(encoding="utf-8").replace(
        'output_dir="./vlm_outputs/qwen2vl-nutrition-detection-lora"',
        'output_dir="./vlm_outputs/[/][bold]qwen2vl-nutrition-detection-lora"',
    ), encoding="utf-8")
    result = runner.invoke(app, ["apply", str(repo), "--dry-run", "--no-diff"])
    assert result.exit_code == 0, result.output
    assert "[/][bold]qwen2vl" in result.output


def test_a_root_path_with_control_characters_is_escaped_in_errors(tmp_path: Path):
    missing = tmp_path / "gone\x1b[2J"
    result = runner.invoke(app, ["status", str(missing)])
    assert result.exit_code == 2 and "\x1b" not in result.output and "gone\\x1b[2J does not exist" in result.output


def test_visible_keeps_tabs_newlines_crlf_and_emoji():
    assert visible("a\tb\nc\r\nd ✅ 👩‍💻") == "a\tb\nc\r\nd ✅ 👩‍💻"
    assert visible("a\nb", one_line=True) == "a\\nb"
    assert visible("progress 10%\rprogress 99%") == "progress 10%\\rprogress 99%"
    assert visible("\x00\x7f\x85\u2066") == "\\x00\\x7f\\x85\\u2066"


# ============================================================================ 6. verify says it runs the repository's code


def test_verify_says_it_will_run_the_repositorys_code_before_it_does(repo: Path):
    from codemods.verify import run_verification

    marker = repo / "imported.txt"
    config = repo / "src" / "training" / "config.py"
    config.write_text(
        f"open({str(marker)!r}, 'w').close()\n" + config.read_text(encoding="utf-8"), encoding="utf-8"
    )
    events = []

    def progress(event):
        events.append((event.get("event"), marker.exists(), event.get("message", "")))

    run_verification(repo, load_recipe(), smoke=False, progress=progress)
    announced = [e for e in events if e[0] == "runs-user-code"]
    assert announced and announced[0][1] is False, events
    assert "run the repository's own code" in announced[0][2]
    assert marker.exists(), "the import check did not run the repository's code"


def test_verify_no_smoke_prints_the_notice(repo: Path):
    result = runner.invoke(app, ["verify", str(repo), "--no-smoke"])
    assert "verify will now run the repository's own code" in result.output


# ============================================================================ 5. a name defined twice


def line_of(path: Path, prefix: str) -> int:
    return next(n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if line.startswith(prefix))


def insert_before(path: Path, anchor: str, text: str) -> None:
    source = path.read_text(encoding="utf-8")
    assert anchor in source, anchor
    path.write_text(source.replace(anchor, text + anchor, 1), encoding="utf-8")


def assert_refused_untouched(root: Path, *parts: str) -> str:
    before = snapshot(root)
    output = refused(runner.invoke(app, ["apply", str(root), "--no-diff"]), "nothing was written", *parts)
    assert snapshot(root) == before
    assert not (root / ".refactor").exists(), "a journal was written for a refused apply"
    return output


def test_a_rename_onto_a_class_the_main_file_already_defines_is_refused(repo: Path):
    main = repo / MAIN
    insert_before(main, 'def print_gpu_memory(tag=""):', 'class AllTokensCollator:\n    """Another collator."""\n\n\n')
    theirs, ours = line_of(main, "class AllTokensCollator"), line_of(main, "class collate_fn_fixed_1")
    assert_refused_untouched(
        repo,
        "task 4: renaming collate_fn_fixed_1",
        f"(defined at {MAIN}:{ours})",
        f"would define AllTokensCollator twice: {MAIN}:{theirs} already defines AllTokensCollator",
    )


def test_a_rename_onto_a_class_of_the_data_package_is_refused(repo: Path):
    collators = repo / "src" / "data" / "collators.py"
    insert_before(collators, "class collate_fn_fixed_1", "class AssistantOnlyCollator:\n    pass\n\n\n")
    theirs, ours = line_of(collators, "class AssistantOnlyCollator"), line_of(collators, "class collate_fn_fixed_3")
    assert_refused_untouched(
        repo, f"src/data/collators.py:{ours}", f"src/data/collators.py:{theirs} already defines AssistantOnlyCollator"
    )


def test_an_import_renamed_onto_a_local_class_is_refused(repo: Path):
    script = repo / "scripts" / "mine.py"
    script.write_text(
        "from src.data.collators import collate_fn_fixed_1\n\n\nclass AllTokensCollator:\n    pass\n", encoding="utf-8"
    )
    assert_refused_untouched(repo, "scripts/mine.py:1) to AllTokensCollator", "scripts/mine.py:4 already defines")


def test_an_identifier_spliced_onto_an_existing_one_is_refused(repo: Path):
    (repo / "test_mine.py").write_text(
        "def test_collate_fn_fixed_3():\n    pass\n\n\ndef test_assistant_only_collator():\n    pass\n", encoding="utf-8"
    )
    assert_refused_untouched(repo, "renaming test_collate_fn_fixed_3 (defined at test_mine.py:1)", "test_mine.py:5")


def test_two_imports_of_the_same_object_are_no_clash(tmp_path: Path):
    from tests.codemod_harness import run_codemod

    files = {
        "use.py": "from lib import collate_fn_fixed_3\nfrom lib import collate_fn_fixed_3 as AssistantOnlyCollator\n",
        "alias.py": "class collate_fn_fixed_1:\n    pass\n\n\nAllTokensCollator = collate_fn_fixed_1\n",
    }
    changed, _ = run_codemod(tmp_path, "rename_collators", files)
    assert changed["use.py"] == "from lib import AssistantOnlyCollator\nfrom lib import AssistantOnlyCollator\n"
    assert "class AllTokensCollator" in changed["alias.py"]


def test_a_migrated_file_with_the_new_names_is_no_clash(tmp_path: Path):
    from tests.codemod_harness import run_codemod

    migrated = (GOLDEN / "src" / "data" / "collators.py").read_text(encoding="utf-8")
    changed, _ = run_codemod(tmp_path, "rename_collators", {"src/data/collators.py": migrated})
    assert changed == {}


@pytest.mark.parametrize(
    "existing",
    ["def create_training_config(name):\n    return name\n", "create_training_config = dict\n"],
    ids=["another def", "an assignment"],
)
def test_inserting_the_config_function_over_another_binding_is_refused(repo: Path, existing: str):
    main = repo / MAIN
    insert_before(main, 'def print_gpu_memory(tag=""):', existing + "\n\n")
    theirs, block = line_of(main, existing.splitlines()[0]), line_of(main, "training_args = SFTConfig(")
    assert_refused_untouched(
        repo,
        f"task 2: create_training_config is already defined at {MAIN}:{theirs}",
        "not as the recipe's create_training_config(variant, ...)",
        f"inserting the recipe's create_training_config() at {MAIN}:{block} would define it twice",
    )


def test_replacing_blocks_alone_refuses_a_foreign_config_function_too(repo: Path):
    main = repo / MAIN
    insert_before(main, 'def print_gpu_memory(tag=""):', "def create_training_config(name):\n    return name\n\n\n")
    before = snapshot(repo)
    refused(runner.invoke(app, ["apply", str(repo), "--only", "3", "--no-diff"]), "task 3: create_training_config is already")
    assert snapshot(repo) == before


def test_the_config_module_binding_the_function_name_elsewhere_is_refused(repo: Path):
    config = repo / "src" / "training" / "config.py"
    config.write_text("from helpers import create_training_config\n" + config.read_text(encoding="utf-8"), encoding="utf-8")
    assert_refused_untouched(repo, "task 6: create_training_config is already defined at src/training/config.py:1")


def test_a_second_apply_after_a_first_changes_nothing_and_refuses_nothing(tmp_path: Path):
    from codemods.apply.migration import plan_migration
    from codemods.core.journal import commit

    root = copy_target(tmp_path / "repo")
    commit(plan_migration(root, load_recipe(None, root)).context.workspace)
    again = runner.invoke(app, ["apply", str(root), "--no-diff"])
    assert again.exit_code == 0 and "Nothing to do" in again.output, again.output
