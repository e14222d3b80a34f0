"""`refactor check`: which old names are found, with which kind, where; which are allowed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from codemods.check import CheckError, CheckResult, Finding, find_stale
from codemods.check import runner as check_module
from codemods.core.kinds import KINDS
from codemods.core.names import snake_case
from codemods.core.recipe import load_recipe, parse_recipe

TARGET_REPO = Path(__file__).resolve().parent.parent / "target_repo"
MAIN = "fine_tuning_vlm_for_object_detection_trl.py"
RECIPE = load_recipe()


def write(root: Path, files: dict[str, str | bytes]) -> None:
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def scan(root: Path, **kwargs) -> CheckResult:
    """find_stale with finding paths made relative to ROOT again (they are ROOT-as-given + path)."""
    result = find_stale(root, RECIPE, **kwargs)
    prefix = Path(root).as_posix().rstrip("/") + "/"
    for finding in result.findings:
        finding.path = finding.path.removeprefix(prefix)
    result.unparsed = [path.removeprefix(prefix) for path in result.unparsed]
    result.errors = [error.removeprefix(prefix) for error in result.errors]
    return result


def located(result: CheckResult) -> set[tuple[str, int, int, str, str]]:
    return {(Path(f.path).name, f.line, f.column, f.old_name, f.kind) for f in result.findings}


def expect(source: str, fragment: str, name: str, kind: str, occurrence: int = 0, file: str = "mod.py"):
    """(file, line, column, name, kind) of ``name`` on the one line holding ``fragment``."""
    lines = source.split("\n")
    numbers = [n for n, line in enumerate(lines, 1) if fragment in line]
    assert len(numbers) == 1, f"fragment {fragment!r} is on lines {numbers}"
    line = lines[numbers[0] - 1]
    column = -1
    for _ in range(occurrence + 1):
        column = line.index(name, column + 1)
    if kind == "identifier containing an old name":
        while column > 0 and (line[column - 1].isalnum() or line[column - 1] == "_"):
            column -= 1
    return (file, numbers[0], column + 1, name, kind)


# ---------------------------------------------------------------------- every kind, in a .py file
KINDS_SOURCE = '''\
"""Module docstring naming collate_fn_fixed_1.

    >>> from src.data.collators import collate_fn_fixed_3
    >>> made = collate_fn_fixed_3(
    ...     processor, create_sft_config)
"""
import src.data.collators as collators
from src.data.collators import collate_fn_fixed_1, collate_fn_fixed_3

__all__ = ["build", "collate_fn_fixed_fixed1"]
__all__ += ["create_sft_config"]


class collate_fn_fixed_fixed1:
    """Class docstring: replaces create_assistant_only_training_config."""


def create_sft_config(**kwargs):
    return kwargs


def build(collator: collate_fn_fixed_3) -> "collate_fn_fixed_1":
    return collator


made = collate_fn_fixed_1(processor, model)  # trailing note on collate_fn_fixed_3
batch = collators.collate_fn_fixed_3(samples)
collate_fn_fixed_fixed1.debug = True
first, create_sft_config = pair
trainer = Trainer(data_collator=collate_fn_fixed_3)
report(collate_fn_fixed_fixed1, dataset)
options = dict(collate_fn_fixed_fixed1=None)
COLLATORS = {"v1": collate_fn_fixed_1}
status = "✅ collate_fn_fixed_1 ready"
print(f"[collate_fn_fixed_3] step {create_sft_config.__name__}")
NOTE = """
plain triple-quoted text about create_assistant_only_training_config
"""
# full-line comment about collate_fn_fixed_3
# made = collate_fn_fixed_3(processor, model)
# trainer = Trainer(
#     data_collator=collate_fn_fixed_fixed1,
# )


def test_collate_fn_fixed_3():
    return None  # see test_collate_fn_fixed_3 above
'''

KINDS_EXPECTED = [
    ("Module docstring naming", "collate_fn_fixed_1", "docstring"),
    (">>> from src.data", "collate_fn_fixed_3", "doctest"),
    (">>> made =", "collate_fn_fixed_3", "doctest"),
    ("...     processor", "create_sft_config", "doctest"),
    ("from src.data.collators import collate_fn_fixed_1,", "collate_fn_fixed_1", "import"),
    ("from src.data.collators import collate_fn_fixed_1,", "collate_fn_fixed_3", "import"),
    ('__all__ = ["build"', "collate_fn_fixed_fixed1", "__all__ entry"),
    ("__all__ +=", "create_sft_config", "__all__ entry"),
    ("class collate_fn_fixed_fixed1", "collate_fn_fixed_fixed1", "class definition"),
    ("Class docstring", "create_assistant_only_training_config", "docstring"),
    ("def create_sft_config", "create_sft_config", "function definition"),
    ("def build(", "collate_fn_fixed_3", "annotation"),
    ("def build(", "collate_fn_fixed_1", "annotation"),
    ("made = collate_fn_fixed_1(", "collate_fn_fixed_1", "call"),
    ("made = collate_fn_fixed_1(", "collate_fn_fixed_3", "comment"),
    ("batch = collators.", "collate_fn_fixed_3", "attribute"),
    ("collate_fn_fixed_fixed1.debug", "collate_fn_fixed_fixed1", "assignment target"),
    ("first, create_sft_config", "create_sft_config", "assignment target"),
    ("data_collator=collate_fn_fixed_3)", "collate_fn_fixed_3", "keyword argument value"),
    ("report(", "collate_fn_fixed_fixed1", "positional argument"),
    ("options = dict(", "collate_fn_fixed_fixed1", "keyword"),
    ("COLLATORS", "collate_fn_fixed_1", "name"),
    ("status =", "collate_fn_fixed_1", "string"),
    ('print(f"', "collate_fn_fixed_3", "f-string"),
    ('print(f"', "create_sft_config", "f-string"),
    ("plain triple-quoted", "create_assistant_only_training_config", "string"),
    ("full-line comment", "collate_fn_fixed_3", "comment"),
    ("# made = collate_fn_fixed_3(", "collate_fn_fixed_3", "commented-out code"),
    ("#     data_collator=", "collate_fn_fixed_fixed1", "commented-out code"),
    ("def test_collate_fn_fixed_3", "collate_fn_fixed_3", "identifier containing an old name"),
    ("see test_collate_fn_fixed_3", "collate_fn_fixed_3", "identifier containing an old name"),
]


def test_every_kind_in_a_python_file_with_line_and_column(tmp_path: Path):
    write(tmp_path, {"mod.py": KINDS_SOURCE})
    result = scan(tmp_path)
    want = {expect(KINDS_SOURCE, fragment, name, kind) for fragment, name, kind in KINDS_EXPECTED}
    assert located(result) == want
    assert result.exit_code == 1 and result.files_parsed == 1 and not result.unparsed
    assert {f.kind for f in result.findings} <= set(KINDS)


def test_suggestions_follow_the_recipe(tmp_path: Path):
    write(tmp_path, {"mod.py": KINDS_SOURCE})
    by_kind = {(f.kind, f.old_name): f.suggestion for f in scan(tmp_path).findings}
    assert by_kind[("call", "collate_fn_fixed_1")] == "AllTokensCollator"
    assert by_kind[("function definition", "create_sft_config")] == "create_training_config"
    assert by_kind[("class definition", "collate_fn_fixed_fixed1")] == "FlashAttentionPatchCollator"
    assert by_kind[("identifier containing an old name", "collate_fn_fixed_3")] == "test_assistant_only_collator"
    assert snake_case("AssistantOnlyCollator") == "assistant_only_collator"


def test_verbatim_substring_style_and_keep_policy(tmp_path: Path):
    write(tmp_path, {"mod.py": "def test_collate_fn_fixed_3():\n    pass\n"})
    verbatim = parse_recipe(RECIPE_TEXT.replace('substring_style = "snake_case"', 'substring_style = "verbatim"'))
    [finding] = find_stale(tmp_path, verbatim).findings
    assert finding.suggestion == "test_AssistantOnlyCollator"
    keep = parse_recipe(RECIPE_TEXT.replace('substring_identifiers = "rename"', 'substring_identifiers = "keep"'))
    assert find_stale(tmp_path, keep).findings == []


RECIPE_TEXT = (Path(__file__).resolve().parent.parent / "codemods" / "recipes" / "consolidate_training_configs.toml").read_text(
    encoding="utf-8"
)


def test_comment_and_string_policies_are_honoured(tmp_path: Path):
    write(tmp_path, {"mod.py": 'x = collate_fn_fixed_1  # collate_fn_fixed_1\ny = "collate_fn_fixed_1"\n'})
    quiet = parse_recipe(RECIPE_TEXT.replace("comments = true", "comments = false").replace(
        "strings = true", "strings = false"))
    assert [f.kind for f in find_stale(tmp_path, quiet).findings] == ["name"]


def test_emoji_before_a_name_counts_one_column_per_character(tmp_path: Path):
    write(tmp_path, {"mod.py": 'print("🧹✅ done: collate_fn_fixed_3")\n'})
    [finding] = scan(tmp_path).findings
    assert (finding.line, finding.column) == (1, 17)
    assert finding.byte_column == 22  # a 4-byte and a 3-byte emoji before it
    assert finding.source_line == 'print("🧹✅ done: collate_fn_fixed_3")'


def test_whole_word_only_and_underscore_is_a_word_character(tmp_path: Path):
    write(tmp_path, {"mod.py": "a = collate_fn_fixed_10\nb = xcollate_fn_fixed_1\nc = collate_fn_fixed_2\n"})
    assert scan(tmp_path).findings == []


def main_only_recipe():
    """The bundled recipe with its v3 -> v2 variable renames limited to the main file."""
    text = RECIPE_TEXT
    for new in ("collate_fn_v2", "training_args_v2"):
        text = text.replace(f'new = "{new}"\n', f'new = "{new}"\nfiles = ["main"]\n')
    recipe = parse_recipe(text)
    assert all(r.files == ("main",) for r in recipe.renames if r.new.endswith("_v2"))
    return recipe


def test_repository_wide_variable_renames_are_checked_everywhere(tmp_path: Path):
    code = "collate_fn_v3 = build()\ntraining_args_v3 = make()\n"
    write(tmp_path, {MAIN: code, "other.py": code})
    found = {(f.path, f.old_name) for f in scan(tmp_path).findings}
    assert found == {(p, n) for p in (MAIN, "other.py") for n in ("collate_fn_v3", "training_args_v3")}


def test_file_limited_renames_apply_only_to_the_main_file_and_its_notebook(tmp_path: Path):
    code = "collate_fn_v3 = build()\ntraining_args_v3 = make()\n"
    write(tmp_path, {MAIN: code, "other.py": code})
    findings = find_stale(tmp_path, main_only_recipe()).findings
    found = {(Path(f.path).name, f.old_name) for f in findings}
    assert found == {(MAIN, "collate_fn_v3"), (MAIN, "training_args_v3")}
    [main_finding] = [f for f in findings if f.old_name == "collate_fn_v3"]
    assert main_finding.suggestion == "collate_fn_v2"


def test_jupytext_markdown_cells(tmp_path: Path):
    source = (
        "# %% [markdown]\n"
        "# ## Run 2 uses `collate_fn_fixed_3`\n"
        "#\n"
        "# It replaced collate_fn_fixed_1.\n"
        "\n"
        '# %% id="abc"\n'
        "# a comment in code about collate_fn_fixed_1\n"
        "made = collate_fn_fixed_3(processor, model)\n"
    )
    write(tmp_path, {"nb.py": source})
    assert located(scan(tmp_path)) == {
        expect(source, "## Run 2", "collate_fn_fixed_3", "markdown cell", file="nb.py"),
        expect(source, "It replaced", "collate_fn_fixed_1", "markdown cell", file="nb.py"),
        expect(source, "a comment in code", "collate_fn_fixed_1", "comment", file="nb.py"),
        expect(source, "made =", "collate_fn_fixed_3", "call", file="nb.py"),
    }


# ---------------------------------------------------------------------- allowed places
def test_legacy_and_deprecated_alias_sections_are_allowed(tmp_path: Path):
    legacy = (
        "made = collate_fn_fixed_1(processor, model)\n\n"
        + RECIPE.legacy.banner.strip("\n")
        + "\n\nclass FlashAttentionPatchCollator:\n"
        '    """Was collate_fn_fixed_fixed1; like collate_fn_fixed_1."""\n'
        "    marker = '_collate_fn_fixed_fixed1_patched'\n"
    )
    aliases = (
        "def create_training_config(variant):\n    return variant\n\n\n"
        + RECIPE.deprecation_banner.strip("\n")
        + "\n\ndef create_sft_config(**kwargs):\n"
        '    """Deprecated: use create_training_config()."""\n'
        "    return create_training_config('v1-all-tokens', **kwargs)\n\n\n"
        "create_assistant_only_training_config = create_sft_config\n"
    )
    write(tmp_path, {"collators.py": legacy, "config.py": aliases})
    result = scan(tmp_path)
    assert located(result) == {("collators.py", 1, 8, "collate_fn_fixed_1", "call")}
    # Both banners in one module: everything from the first one on is allowed.
    write(tmp_path, {"both.py": legacy + "\n\n" + aliases.split("\n\n\n", 1)[1]})
    assert {f.path for f in scan(tmp_path).findings} == {"collators.py", "both.py"}
    assert [f.line for f in scan(tmp_path).findings if f.path == "both.py"] == [1]


def test_allow_stale_comment_allows_that_line_only(tmp_path: Path):
    source = (
        "a = collate_fn_fixed_1(p, m)  # refactor: allow-stale\n"
        "b = collate_fn_fixed_1(p, m)  # refactor:allow-stale (kept for the old checkpoint)\n"
        "c = collate_fn_fixed_1(p, m)\n"
        "d = collate_fn_fixed_1(p, m)  # refactor: allow-stale-not\n"
    )
    write(tmp_path, {"mod.py": source})
    assert [f.line for f in scan(tmp_path).findings] == [3, 4]


def test_clean_file_is_not_parsed(tmp_path: Path):
    write(tmp_path, {"a.py": "x = 1\n", "b.py": "y = AllTokensCollator()\n"})
    result = scan(tmp_path)
    assert result.findings == [] and result.exit_code == 0
    assert result.files_scanned == 2 and result.files_parsed == 0 and result.files_matched == 0


def test_file_with_only_allowed_names_is_not_parsed(tmp_path: Path):
    write(tmp_path, {"a.py": "x = collate_fn_fixed_1  # refactor: allow-stale\n"})
    result = scan(tmp_path)
    assert result.findings == [] and result.files_matched == 1 and result.files_parsed == 0


# ---------------------------------------------------------------------- files that do not parse
def test_unparsable_file_is_text_scanned_and_flagged(tmp_path: Path):
    write(tmp_path, {"broken.py": "def broken(:\n    return collate_fn_fixed_1  # x\n", "ok.py": "x = 1\n"})
    result = scan(tmp_path)
    [finding] = result.findings
    assert (finding.path, finding.line, finding.column, finding.kind) == ("broken.py", 2, 12, "unparsed text")
    assert result.unparsed == ["broken.py"]
    assert any("broken.py" in note and "does not parse" in note for note in result.notes)
    assert result.exit_code == 1


def test_file_that_is_not_utf8_is_still_scanned(tmp_path: Path):
    write(tmp_path, {"latin.py": "s = 'caf\xe9'\nmade = collate_fn_fixed_1()\n".encode("latin-1")})
    result = scan(tmp_path)
    assert [(f.line, f.column, f.kind) for f in result.findings] == [(2, 8, "unparsed text")]
    assert result.unparsed == ["latin.py"]


def test_unreadable_file_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    write(tmp_path, {"a.py": "x = collate_fn_fixed_1\n"})

    def refuse(self, relative, directory_fd):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(check_module._Scanner, "_read", refuse)
    result = scan(tmp_path, prefilter="python")
    assert result.errors == ["a.py: cannot read: Permission denied"]
    assert result.exit_code == 2


def test_missing_root_raises(tmp_path: Path):
    with pytest.raises(CheckError, match="no such file"):
        scan(tmp_path / "nope")


def test_single_file_root(tmp_path: Path):
    write(tmp_path, {MAIN: "collate_fn_v3 = collate_fn_fixed_3(p, m)\n", "other.py": "collate_fn_fixed_1\n"})
    result = scan(tmp_path / MAIN)
    assert [(f.old_name, f.kind) for f in result.findings] == [
        ("collate_fn_v3", "assignment target"),
        ("collate_fn_fixed_3", "call"),
    ]
    assert result.files_scanned == 1


# ---------------------------------------------------------------------- which files
def test_gitignore_is_respected_in_a_git_repository(tmp_path: Path):
    git(tmp_path, "init", "-q")
    write(tmp_path, {
        ".gitignore": "ignored/\ngenerated_*.py\n",
        "ignored/a.py": "collate_fn_fixed_1\n",
        "generated_x.py": "collate_fn_fixed_1\n",
        "kept.py": "collate_fn_fixed_1\n",
        "sub/kept2.py": "collate_fn_fixed_3\n",
    })
    for prefilter in ("git", "python"):
        result = scan(tmp_path, prefilter=prefilter)
        assert sorted(f.path for f in result.findings) == ["kept.py", "sub/kept2.py"], prefilter
        assert result.files_scanned == 2


def test_a_subdirectory_of_a_repository_as_root(tmp_path: Path):
    git(tmp_path, "init", "-q")
    write(tmp_path, {"outer.py": "collate_fn_fixed_1\n", "pkg/inner.py": "x = collate_fn_fixed_1\n"})
    result = scan(tmp_path / "pkg")
    assert [(Path(f.path).name, f.line) for f in result.findings] == [("inner.py", 1)]


def test_exclude_globs(tmp_path: Path):
    write(tmp_path, {
        "keep.py": "collate_fn_fixed_1\n",
        "vendor/lib.py": "collate_fn_fixed_1\n",
        "tests/test_a.py": "collate_fn_fixed_1\n",
        "deep/er/gen_stub.py": "collate_fn_fixed_1\n",
    })
    result = scan(tmp_path, exclude=["vendor", "tests/*", "**/gen_*.py"])
    assert [f.path for f in result.findings] == ["keep.py"]
    assert result.files_scanned == 1


@pytest.mark.parametrize("in_git", [False, "untracked", "tracked"])
def test_symlinks_out_of_root_are_not_followed(tmp_path: Path, in_git):
    outside = tmp_path / "outside"
    root = tmp_path / "root"
    write(outside, {"secret.py": "x = collate_fn_fixed_1\n", "pkg/mod.py": "collate_fn_fixed_3\n"})
    write(root, {"real.py": "y = 1\n"})
    (root / "link.py").symlink_to(outside / "secret.py")
    (root / "linked_dir").symlink_to(outside / "pkg", target_is_directory=True)
    if in_git:
        git(root, "init", "-q")
    if in_git == "tracked":
        git(root, "add", "link.py", "linked_dir", "real.py")
    result = scan(root)
    assert result.findings == []
    assert any("link.py" in note and "outside ROOT" in note for note in result.notes)
    if not in_git:
        assert any("linked_dir" in note for note in result.notes)


# ---------------------------------------------------------------------- notebooks
def notebook(cells: list[dict]) -> str:
    document = {
        "cells": cells,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(document, indent=1) + "\n"


def code_cell(source: str, outputs: list[dict] | None = None) -> dict:
    return {
        "cell_type": "code",
        "execution_count": 1,
        "id": "c",
        "metadata": {},
        "outputs": outputs or [],
        "source": source.splitlines(keepends=True),
    }


def markdown_cell(source: str) -> dict:
    return {"cell_type": "markdown", "id": "m", "metadata": {}, "source": source.splitlines(keepends=True)}


NOTEBOOK = notebook([
    markdown_cell("# Evaluation\n\nWe trained with `collate_fn_fixed_3` (see run 2).\n"),
    code_cell(
        "%matplotlib inline\nimport torch\nmade = collate_fn_fixed_1(processor, model)\nprint(\"✅ collate_fn_fixed_1\")\n",
        outputs=[
            {"name": "stdout", "output_type": "stream", "text": ["✅ collate_fn_fixed_1 created\n", "done\n"]},
            {
                "output_type": "execute_result", "execution_count": 1, "metadata": {},
                "data": {"text/plain": ["<collate_fn_fixed_1 object>"], "image/png": "iVBORw0KGgo="},
            },
            {
                "output_type": "error", "ename": "NameError", "evalue": "name 'collate_fn_fixed_3' is not defined",
                "traceback": ["\u001b[0;31mNameError\u001b[0m", "name 'collate_fn_fixed_3' is not defined"],
            },
        ],
    ),
    code_cell("x = collate_fn_fixed_3  # refactor: allow-stale\n"),
    code_cell("broken = (collate_fn_fixed_1\n"),
    code_cell(RECIPE.legacy.banner.strip("\n") + "\nclass FlashAttentionPatchCollator:  # was collate_fn_fixed_fixed1\n    pass\n",
              outputs=[{"name": "stdout", "output_type": "stream", "text": "collate_fn_fixed_fixed1 kept\n"}]),
    code_cell("after = collate_fn_fixed_1\n"),
])


def test_notebook_code_markdown_and_outputs(tmp_path: Path):
    write(tmp_path, {"eval.ipynb": NOTEBOOK})
    result = scan(tmp_path)
    found = [(f.cell, f.line, f.column, f.old_name, f.kind) for f in result.findings]
    assert found == [
        (0, 3, 18, "collate_fn_fixed_3", "markdown cell"),
        (1, 3, 8, "collate_fn_fixed_1", "call"),
        (1, 4, 10, "collate_fn_fixed_1", "string"),
        (1, 1, 3, "collate_fn_fixed_1", "notebook output"),
        (1, 1, 2, "collate_fn_fixed_1", "notebook output"),
        (1, 1, 7, "collate_fn_fixed_3", "notebook output"),
        (1, 2, 7, "collate_fn_fixed_3", "notebook output"),
        (3, 1, 11, "collate_fn_fixed_1", "unparsed text"),
    ]
    assert result.unparsed == ["eval.ipynb (cell 3)"]
    assert all(f.path == "eval.ipynb" for f in result.findings)


def test_notebook_findings_point_into_the_json_file(tmp_path: Path):
    write(tmp_path, {"eval.ipynb": NOTEBOOK})
    raw_lines = NOTEBOOK.split("\n")
    for finding in scan(tmp_path).findings:
        raw = raw_lines[finding.file_line - 1]
        assert raw[finding.file_column - 1 :].startswith(finding.old_name), (finding, raw)


def test_notebook_that_is_not_json_is_text_scanned(tmp_path: Path):
    write(tmp_path, {"bad.ipynb": '{"cells": [ {"source": "collate_fn_fixed_1"\n'})
    result = scan(tmp_path)
    assert [(f.line, f.column, f.kind, f.cell) for f in result.findings] == [(1, 25, "unparsed text", None)]
    assert result.unparsed == ["bad.ipynb"]


def test_paired_notebook_follows_the_main_files_renames(tmp_path: Path):
    cells = [code_cell("collate_fn_v3 = make()\n")]
    write(tmp_path, {MAIN.replace(".py", ".ipynb"): notebook(cells), "notebooks/other.ipynb": notebook(cells)})
    found = [(Path(f.path).name, f.old_name) for f in find_stale(tmp_path, main_only_recipe()).findings]
    assert found == [(MAIN.replace(".py", ".ipynb"), "collate_fn_v3")]


# ---------------------------------------------------------------------- parallel and pre-filters agree
def test_worker_processes_and_prefilters_give_the_same_findings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    files = {f"pkg{i}/m{i}.py": "x = 1\n" * i for i in range(30)}
    files.update({"mod.py": KINDS_SOURCE, "eval.ipynb": NOTEBOOK, "broken.py": "def (:\n collate_fn_fixed_1\n"})
    write(tmp_path, files)
    git(tmp_path, "init", "-q")
    baseline = scan(tmp_path, jobs=1, prefilter="python")
    monkeypatch.setattr(check_module, "PARALLEL_MIN_FILES", 1)
    monkeypatch.setattr(check_module, "PARALLEL_MIN_CANDIDATES", 1)
    for prefilter in ("git", "python"):
        for jobs in (1, 2):
            other = scan(tmp_path, jobs=jobs, prefilter=prefilter)
            assert other.findings == baseline.findings, (prefilter, jobs)
            assert other.unparsed == baseline.unparsed and other.files_scanned == baseline.files_scanned


def test_progress_bar_does_not_change_the_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    write(tmp_path, {"mod.py": KINDS_SOURCE, "a.py": "x = 1\n"})
    monkeypatch.setattr(check_module, "PROGRESS_MIN_FILES", 1)
    assert scan(tmp_path, progress=True, prefilter="python").findings == scan(tmp_path).findings


def test_finding_json_keys_are_stable():
    finding = Finding("a.py", 1, 2, "collate_fn_fixed_1", "call", "AllTokensCollator", "x")
    assert list(finding.to_dict()) == [
        "path", "line", "column", "byte_column", "cell", "file_line", "file_column",
        "old_name", "kind", "suggestion", "source_line", "severity",
    ]


# ---------------------------------------------------------------------- the sample repository
SHAPES_KINDS = {
    "class definition", "function definition", "call", "import", "attribute", "__all__ entry", "annotation",
    "assignment target", "keyword argument value", "positional argument", "string", "f-string", "docstring",
    "doctest", "comment", "commented-out code", "markdown cell", "identifier containing an old name",
    "notebook output",
}
needs_target = pytest.mark.skipif(not (TARGET_REPO / MAIN).is_file(), reason="target_repo is not there yet")


@needs_target
def test_unmigrated_target_repo_reports_every_kind():
    result = scan(TARGET_REPO)
    assert result.exit_code == 1
    kinds = Counter(f.kind for f in result.findings)
    assert SHAPES_KINDS <= set(kinds), sorted(SHAPES_KINDS - set(kinds))
    assert not result.unparsed and not result.errors
    paths = {f.path for f in result.findings}
    assert MAIN in paths and f"{MAIN[:-3]}.ipynb" in paths
    assert any(p.endswith("src/training/__init__.py") for p in paths)
    # Two old names imported on one line, both reported.
    imports = [f for f in result.findings if f.kind == "import" and f.path.endswith("training/__init__.py")]
    assert len({f.line for f in imports}) == 1 and len(imports) == 2


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """target_repo after `refactor apply` (stale notebook outputs cleared), migrated once for this module."""
    try:
        from codemods.apply.migration import plan_migration
        from codemods.apply.session import Refusal
        from codemods.core.journal import commit
    except ImportError as error:  # pragma: no cover - while the codemods are being written
        pytest.skip(f"refactor apply is not available yet: {error}")
    root = tmp_path_factory.mktemp("migrated") / "repo"
    shutil.copytree(TARGET_REPO, root, ignore=shutil.ignore_patterns("__pycache__", ".git"))
    git(root, "init", "-q")
    try:
        migration = plan_migration(root, RECIPE, None, options={"clear_stale_outputs": True})
    except (Refusal, ImportError, TypeError) as error:  # pragma: no cover - while the codemods are being written
        pytest.skip(f"refactor apply cannot migrate target_repo yet: {error}")
    commit(migration.context.workspace)
    return root


@needs_target
def test_migrated_target_repo_is_clean(migrated: Path):
    result = scan(migrated)
    assert result.findings == [], [f.location for f in result.findings]
    assert result.exit_code == 0


PLANTS = [  # (line to plant, old name, kind)
    ("planted = collate_fn_fixed_1(processor, model)", "collate_fn_fixed_1", "call"),
    ("from src.data.collators import collate_fn_fixed_3", "collate_fn_fixed_3", "import"),
    ("class collate_fn_fixed_fixed1:\n    pass", "collate_fn_fixed_fixed1", "class definition"),
    ("def create_sft_config(**kwargs):\n    return kwargs", "create_sft_config", "function definition"),
    ("planted = collators.collate_fn_fixed_3(samples)", "collate_fn_fixed_3", "attribute"),
    ('__all__ = ["build", "collate_fn_fixed_1"]', "collate_fn_fixed_1", "__all__ entry"),
    ("def plant(c: collate_fn_fixed_3) -> None:\n    pass", "collate_fn_fixed_3", "annotation"),
    ("collate_fn_fixed_1.debug = True", "collate_fn_fixed_1", "assignment target"),
    ("planted = Trainer(data_collator=collate_fn_fixed_3)", "collate_fn_fixed_3", "keyword argument value"),
    ("report(collate_fn_fixed_fixed1, dataset)", "collate_fn_fixed_fixed1", "positional argument"),
    ('planted = "✅ collate_fn_fixed_1 ready"', "collate_fn_fixed_1", "string"),
    ('print(f"[collate_fn_fixed_3] step {step}")', "collate_fn_fixed_3", "f-string"),
    ('def doc():\n    """Why create_assistant_only_training_config exists."""', "create_assistant_only_training_config",
     "docstring"),
    ('def ex():\n    """Example.\n\n    >>> create_sft_config(seed=1)\n    """', "create_sft_config", "doctest"),
    ("# masking follows collate_fn_fixed_1 exactly", "collate_fn_fixed_1", "comment"),
    ("# planted = collate_fn_fixed_3(processor, model)", "collate_fn_fixed_3", "commented-out code"),
    ('PLANTED = {"v1": collate_fn_fixed_1}', "collate_fn_fixed_1", "name"),
    ("def test_collate_fn_fixed_3():\n    pass", "collate_fn_fixed_3", "identifier containing an old name"),
]


@needs_target
def test_names_planted_into_the_migrated_repo_are_found_with_line_and_column(migrated: Path, tmp_path: Path):
    root = tmp_path / "repo"
    shutil.copytree(migrated, root, symlinks=True)
    target = root / "src" / "utils" / "debug.py"
    text = target.read_text(encoding="utf-8")
    expected = set()
    lines = text.rstrip("\n").split("\n")
    for block, name, kind in PLANTS:
        lines += ["", ""]
        block_lines = block.split("\n")
        offset = next(i for i, line in enumerate(block_lines) if name in line)
        line = block_lines[offset]
        column = line.index(name) + 1
        if kind == "identifier containing an old name":
            column = line.index("test_") + 1
        expected.add(("debug.py", len(lines) + offset + 1, column, name, kind))
        lines += block_lines
    lines += ["", "allowed = collate_fn_fixed_1(p, m)  # refactor: allow-stale"]
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")

    from codemods.core.sections import allowed_tail_start

    main = root / MAIN
    main_lines = main.read_text(encoding="utf-8").split("\n")
    tail = allowed_tail_start("\n".join(main_lines), RECIPE)
    assert tail is not None, "the migrated main file has no legacy section"
    cell = ["# %% [markdown]", "# Planted: `collate_fn_fixed_3` in a markdown cell", "", ""]
    main_lines[tail - 1 : tail - 1] = cell
    expected.add((MAIN, tail + 1, 13, "collate_fn_fixed_3", "markdown cell"))
    main_lines.insert(-1, "legacy_reference = collate_fn_fixed_fixed1  # inside the legacy section")
    main.write_text("\n".join(main_lines), encoding="utf-8")

    result = scan(root)
    assert located(result) == expected
    assert result.exit_code == 1


# ---------------------------------------------------------------------- misc
def test_kinds_are_unique_strings():
    assert len(KINDS) == len(set(KINDS)) == 22


def test_root_given_as_dot_gives_paths_relative_to_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    write(tmp_path, {"src/a.py": "collate_fn_fixed_1\n"})
    monkeypatch.chdir(tmp_path)
    result = find_stale(Path("."), RECIPE)
    assert [f.path for f in result.findings] == ["src/a.py"] and result.root == "."
    os.chdir(tmp_path / "src")
    assert [f.path for f in find_stale(Path(".."), RECIPE).findings] == ["../src/a.py"]


def test_bench_tree_plants_are_found_exactly(tmp_path: Path):
    """The benchmark's generated tree and its verification, without timing anything."""
    from benchmarks import bench

    plants = bench.generate_tree(tmp_path, files=60, lines_per_file=40, seed=7, recipe=RECIPE)
    assert len(plants) == 2 * len(bench._PLANTS) + 1
    result = find_stale(tmp_path, RECIPE)
    assert bench._verify_check(result.findings, plants, tmp_path.resolve()) == []
    kinds = {p.kind for p in plants if p.reported}
    assert kinds == {f.kind for f in result.findings} and len(kinds) >= 18


def test_stored_notebook_outputs_warn_without_failing_the_check(tmp_path: Path):
    cell = code_cell("print('done')\n")
    cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["✅ collate_fn_fixed_1 created\n"]}]
    write(tmp_path, {"run.ipynb": notebook([cell])})
    result = scan(tmp_path)
    assert [(f.kind, f.severity) for f in result.findings] == [("notebook output", "warning")]
    assert result.failures == [] and result.exit_code == 0
    write(tmp_path, {"mod.py": "x = collate_fn_fixed_1()\n"})
    assert scan(tmp_path).exit_code == 1


# ---------------------------------------------------------------------- one occurrence model
def test_md_marker_is_a_markdown_cell_for_check_and_for_the_cell_helpers(tmp_path: Path):
    import libcst as cst

    from codemods.core.cells import is_code_cell_marker, is_markdown_marker_text

    source = "# %% [md]\n# Uses collate_fn_fixed_3.\n\n# %%\nmade = collate_fn_fixed_3(p, m)\n"
    write(tmp_path, {"nb.py": source})
    assert located(scan(tmp_path)) == {
        expect(source, "# Uses", "collate_fn_fixed_3", "markdown cell", file="nb.py"),
        expect(source, "made =", "collate_fn_fixed_3", "call", file="nb.py"),
    }
    marker = cst.EmptyLine(comment=cst.Comment("# %% [md]"))
    assert not is_code_cell_marker(marker) and is_markdown_marker_text("# %% [md]")
    assert is_code_cell_marker(cst.EmptyLine(comment=cst.Comment("# %%")))


def test_every_notebook_finding_carries_its_cell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from codemods.core import code_kinds

    write(tmp_path, {"eval.ipynb": NOTEBOOK})
    findings = scan(tmp_path).findings
    assert findings and all(f.cell is not None and f.file_line is not None for f in findings)
    assert all(f"[cell {f.cell}]" in f.location for f in findings)

    def fail(*args, **kwargs):
        raise RuntimeError("classifier bug")

    monkeypatch.setattr(code_kinds, "classify", fail)  # one cell failing must not lose the cells
    result = scan(tmp_path)
    assert result.findings and all(f.cell is not None for f in result.findings)
    assert {f.kind for f in result.findings if f.cell == 1} == {"unparsed text", "notebook output"}
    assert {f.kind for f in result.findings if f.cell == 0} == {"markdown cell"}


def test_kinds_used_by_check_are_exactly_those_documented_in_core_kinds(tmp_path: Path):
    import ast

    from codemods.core import kinds as occurrences

    tree = ast.parse(Path(occurrences.__file__).read_text(encoding="utf-8"))
    documented = {}
    for statement, following in zip(tree.body, tree.body[1:], strict=False):
        if (
            isinstance(statement, ast.Assign)
            and isinstance(statement.value, ast.Constant)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            name = statement.targets[0].id
            if name.isupper() and name != "ALLOW_MARKER":
                documented[statement.value.value] = following.value.value
    assert set(documented) == set(KINDS)
    assert all("apply" in doc for doc in documented.values()), "each kind says whether apply fixes it"
    # The check spells out no kind itself (one-word kinds like "name" are also ordinary JSON keys).
    spelled = {kind for kind in KINDS if " " in kind or "-" in kind}
    check_dir = Path(occurrences.__file__).resolve().parent.parent / "check"
    for module in check_dir.glob("*.py"):
        literals = {
            node.value for node in ast.walk(ast.parse(module.read_text(encoding="utf-8")))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
        }
        assert not (literals & spelled), (module.name, literals & spelled)
    # And a corpus exercising all of them yields exactly the documented kinds.
    write(tmp_path, {"mod.py": KINDS_SOURCE, "eval.ipynb": NOTEBOOK})
    assert {f.kind for f in scan(tmp_path).findings} == set(documented)


def test_what_apply_leaves_by_binding_is_not_reported(tmp_path: Path):
    """Some object's attribute and a class attribute spelled like an old name: apply leaves them, so check does."""
    from codemods.apply.migration import plan_migration
    from codemods.core.journal import commit
    from codemods.core.recipe import load_recipe

    root = tmp_path / "repo"
    shutil.copytree(TARGET_REPO, root, ignore=shutil.ignore_patterns("__pycache__", ".git"))
    (root / "src" / "unrelated.py").write_text(
        "import types\n\n"
        "import src.data.collators as coll\n\n"
        "registry = types.SimpleNamespace(value=None)\n"
        "print(registry.collate_fn_fixed_1, registry.conf.collate_fn_fixed_3)\n\n\n"
        "class Cfg:\n"
        "    collate_fn_fixed_1 = None\n\n"
        "    def collate_fn_fixed_3(self):\n"
        "        return self.collate_fn_fixed_1\n\n\n"
        "print(coll.collate_fn_fixed_1)\n",
        encoding="utf-8",
    )
    git(root, "init", "-q")
    before = [(f.line, f.old_name, f.kind) for f in scan(root).findings if f.path == "src/unrelated.py"]
    assert before == [(16, "collate_fn_fixed_1", "attribute")]
    commit(plan_migration(root, load_recipe(None, root)).context.workspace)
    text = (root / "src" / "unrelated.py").read_text(encoding="utf-8")
    assert "print(coll.AllTokensCollator)" in text and "registry.collate_fn_fixed_1" in text
    assert "    def collate_fn_fixed_3(self):" in text
    assert [f for f in scan(root).findings if f.kind != "notebook output"] == []
