"""The repository's own main file, and locations in the user's own coordinates.

Throwaway copies of target_repo whose notebook-script is ``train.py`` (paired with
``train.ipynb``) instead of the recipe's file name:

* without help, ``status`` and ``apply`` say the recipe's main file is missing and how
  to name it (``--main-file``, ``[tool.refactor] main_file``), pointing at the likely file;
* with ``--main-file train.py`` or ``[tool.refactor] main_file``, the tasks on the main
  file run on ``train.py`` and ``check``/``verify`` follow it;
* every location is the user's: a problem planted at ``train.py:24`` is reported at
  ``train.py:24``, notes of later tasks name lines of the file on disk, and a notebook
  cell has the same number in apply, check and verify.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import jupytext
import pytest
from typer.testing import CliRunner

from codemods.apply.migration import TaskState, task_states
from codemods.cli import app
from codemods.core.recipe import RecipeError, load_recipe
from codemods.verify.stale import check_stale_names
from tests.test_variant_repos import MAIN, PAIRED, copy_target

runner = CliRunner()
SCRIPT, NOTEBOOK = "train.py", "train.ipynb"
ON_THE_MAIN_FILE = ("2", "3", "5")


def renamed_repo(root: Path) -> Path:
    """target_repo with its notebook-script and paired notebook named train.py / train.ipynb."""
    copy_target(root)
    (root / MAIN).rename(root / SCRIPT)
    (root / PAIRED).rename(root / NOTEBOOK)
    return root


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return renamed_repo(tmp_path_factory.mktemp("renamed") / "repo")


@pytest.fixture
def repo(template: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(template, tmp_path / "repo"))


def states(root: Path, **options) -> dict[str, TaskState]:
    return {o.task.id: o.state for o in task_states(root, load_recipe(None, root, **options))}


def test_status_and_apply_say_the_main_file_is_missing_and_how_to_name_it(repo: Path):
    for command in (["status", str(repo)], ["apply", str(repo), "--dry-run", "--no-diff"]):
        output = " ".join(runner.invoke(app, command).output.split())
        assert f"the recipe's main file {MAIN} is not in" in output, output
        assert "--main-file PATH" in output and "main_file = \"PATH\" under [tool.refactor]" in output
        assert "train.py looks like it" in output
    table = " ".join(runner.invoke(app, ["status", str(repo)]).output.split())
    assert f"not applicable: {MAIN} does not exist (the recipe's main file;" in table


def test_main_file_option_runs_the_tasks_on_the_users_script(repo: Path):
    assert all(states(repo)[task] is not TaskState.PENDING for task in ON_THE_MAIN_FILE)
    assert all(states(repo, main_file=SCRIPT)[task] is TaskState.PENDING for task in ON_THE_MAIN_FILE)
    status = runner.invoke(app, ["status", str(repo), "--main-file", SCRIPT])
    assert status.exit_code == 0 and "is not in" not in status.output

    result = runner.invoke(app, ["apply", str(repo), "--main-file", SCRIPT, "--no-diff"])
    assert result.exit_code == 0, result.output[-3000:]
    text = (repo / SCRIPT).read_text(encoding="utf-8")
    assert "def create_training_config(" in text
    assert re.search(r"^training_args = create_training_config\(\s*variant=\"v1-all-tokens\"", text, re.MULTILINE)
    assert "DRAFT / LEGACY COLLATORS" in text  # task 5 moved the legacy class to the end of train.py
    from_script = jupytext.reads(text, fmt="py:percent")
    from_notebook = jupytext.reads((repo / NOTEBOOK).read_text(encoding="utf-8"), fmt="ipynb")
    assert [(c.cell_type, c.source) for c in from_notebook.cells] == [(c.cell_type, c.source) for c in from_script.cells]

    check = runner.invoke(app, ["check", str(repo), "--main-file", SCRIPT, "--format", "json"])
    assert check.exit_code == 0, [f for f in json.loads(check.stdout) if f["severity"] == "error"]
    assert check_stale_names(repo, load_recipe(None, repo, main_file=SCRIPT)).passed
    again = runner.invoke(app, ["apply", str(repo), "--main-file", SCRIPT, "--no-diff", "--dry-run"])
    assert again.exit_code == 0 and "Nothing to do" in again.output, again.output[-2000:]


def test_pyproject_names_the_main_file(repo: Path):
    (repo / "pyproject.toml").write_text(f'[tool.refactor]\nmain_file = "{SCRIPT}"\n', encoding="utf-8")
    assert load_recipe(None, repo).main_file == SCRIPT
    assert all(states(repo)[task] is TaskState.PENDING for task in ON_THE_MAIN_FILE)
    status = runner.invoke(app, ["status", str(repo)])
    assert status.exit_code == 0 and "is not in" not in status.output
    # The command line wins over the repository's setting.
    (repo / "other.py").write_text("x = 1\n", encoding="utf-8")
    assert load_recipe(None, repo, main_file="other.py").main_file == "other.py"


def test_a_main_file_path_from_the_current_directory_is_taken_inside_root(repo: Path, monkeypatch):
    monkeypatch.chdir(repo.parent)
    result = runner.invoke(app, ["status", "repo", "--main-file", f"repo/{SCRIPT}"])
    assert result.exit_code == 0, result.output
    assert "is not in" not in result.output


def test_a_main_file_path_with_dot_segments_inside_root_is_taken_as_its_plain_spelling(repo: Path, monkeypatch):
    (repo / "src" / "sub").mkdir()
    monkeypatch.chdir(repo)
    result = runner.invoke(app, ["status", ".", "--main-file", f"./src/sub/../../{SCRIPT}", "--format", "json"])
    assert result.exit_code in (0, 1), result.output
    assert f'"{SCRIPT}"' in result.output or SCRIPT in result.output
    outside = runner.invoke(app, ["status", "src", "--main-file", f"../{SCRIPT}"])
    assert outside.exit_code == 2 and "outside ROOT" in " ".join(outside.output.split()), outside.output


@pytest.mark.parametrize(
    ("pyproject", "option", "message"),
    [
        ('main_file = "nope.py"', None, "tool.refactor.main_file: 'nope.py' is no file in ROOT"),
        ('main_file = ""', None, "tool.refactor.main_file is empty"),
        ('main_file = "../train.py"', None, "leads out of ROOT"),
        ('main_file = "notes.md"', None, "is not a Python file"),
        (None, "nope.py", "--main-file: 'nope.py' is no file in ROOT"),
        (None, "../elsewhere.py", "leads out of ROOT"),
        (None, "./src/../nope.py", "--main-file: 'nope.py' is no file in ROOT"),
    ],
)
def test_a_main_file_that_cannot_be_used_is_refused(repo: Path, pyproject, option, message):
    (repo / "notes.md").write_text("# notes\n", encoding="utf-8")
    if pyproject:
        (repo / "pyproject.toml").write_text(f"[tool.refactor]\n{pyproject}\n", encoding="utf-8")
    for command in ("status", "apply", "check", "verify"):
        args = [command, str(repo), *(["--main-file", option] if option else [])]
        if command == "verify":
            args.append("--no-smoke")
        result = runner.invoke(app, args)
        output = " ".join(result.output.split())
        assert result.exit_code == 2 and message in output, (command, output)
        assert "Traceback" not in output
    if option is None:
        with pytest.raises(RecipeError, match=re.escape(message)):
            load_recipe(None, repo)


def test_main_file_option_on_a_single_file_root_is_refused(repo: Path):
    result = runner.invoke(app, ["status", str(repo / SCRIPT), "--main-file", SCRIPT])
    assert result.exit_code == 2 and "is a single file" in result.output


# ----------------------------------------------------------------------------- the user's coordinates

PLANTED = ["# %%", "import os", "settings = dict(verbose=True,", ""]


def test_a_problem_planted_at_line_24_is_reported_at_line_24(repo: Path):
    lines = (repo / SCRIPT).read_text(encoding="utf-8").split("\n")
    (repo / SCRIPT).write_text("\n".join(lines[:21] + PLANTED + lines[21:]), encoding="utf-8")
    assert (repo / SCRIPT).read_text(encoding="utf-8").split("\n")[23] == "settings = dict(verbose=True,"
    for command in (["apply", str(repo), "--main-file", SCRIPT, "--no-diff"], ["status", str(repo), "--main-file", SCRIPT]):
        output = " ".join(runner.invoke(app, command).output.split())
        assert f"{SCRIPT}:24: cannot parse: '(' was never closed" in output, output[-2000:]
    check = runner.invoke(app, ["check", str(repo), "--main-file", SCRIPT, "-v"])
    assert "line 24, column 16: '(' was never closed" in " ".join(check.output.split())


def test_notes_of_later_tasks_name_lines_of_the_file_on_disk(repo: Path):
    on_disk = (repo / SCRIPT).read_text(encoding="utf-8").split("\n")
    result = runner.invoke(app, ["apply", str(repo), "--main-file", SCRIPT, "--dry-run", "--no-diff", "-v"])
    assert result.exit_code == 0, result.output[-3000:]
    output = result.output
    found = {
        "training_args = SFTConfig(": r"\[task 3\] train\.py:(\d+)\s+training_args: SFTConfig\(\.\.\.\) ->",
        "training_args_v3 = SFTConfig(": r"\[task 3\] train\.py:(\d+)\s+training_args_v3: SFTConfig\(\.\.\.\) ->",
        "wandb.init(": r"\[task 3\] train\.py:(\d+)\s+W&B run name",
    }
    for expected, pattern in found.items():
        lines = [int(line) for line in re.findall(pattern, output)]
        assert lines, (pattern, output[-3000:])
        for line in lines:
            assert on_disk[line - 1].strip().startswith(expected), (line, on_disk[line - 1])


def test_a_notebook_cell_has_one_number_in_apply_check_and_verify(repo: Path):
    result = runner.invoke(app, ["apply", str(repo), "--main-file", SCRIPT, "--no-diff"])
    assert result.exit_code == 0, result.output[-3000:]
    in_apply = {int(n) for n in re.findall(r"train\.ipynb\s+cell (\d+) \(.*stored outputs still show", result.output)}
    check = runner.invoke(app, ["check", str(repo), "--main-file", SCRIPT, "--format", "json"])
    in_check = {f["cell"] for f in json.loads(check.stdout) if f["path"].endswith(NOTEBOOK)}
    text = runner.invoke(app, ["check", str(repo), "--main-file", SCRIPT]).output
    in_check_text = {int(n) for n in re.findall(r"^\s*cell (\d+) \d+:\d+", text, re.MULTILINE)}
    verify = check_stale_names(repo, load_recipe(None, repo, main_file=SCRIPT))
    in_verify = {int(n) for n in re.findall(r"train\.ipynb cell (\d+) ", " ".join(verify.data["warning_locations"]))}
    assert in_apply and in_apply == in_check == in_check_text
    assert in_verify and in_verify <= in_check  # verify lists the first 50 findings
    cells = json.loads((repo / NOTEBOOK).read_text(encoding="utf-8"))["cells"]
    for number in in_apply:
        assert cells[number]["cell_type"] == "code" and cells[number]["outputs"]
