"""The command line keeps the conventions of the tools around it (ruff, black, pre-commit, click).

* ``refactor --version`` and ``python -m codemods``;
* ``[tool.refactor]`` is found by walking up from the path given, like ruff finds
  ``[tool.ruff]``: a pyproject.toml without the table is passed by, unknown keys warn;
* ``refactor check PATH...`` takes the files a pre-commit hook passes, each checked
  within the repository that holds it, with that repository's recipe;
* ``--exit-code`` on ``apply --dry-run`` and ``status`` (a CI gate), ``check --exit-zero``
  and ``check --statistics``; ``-q``/``-v`` on every command;
* ``--help`` shows ``ROOT``, flags without ``<bool>``, paragraphs without stray line breaks;
* a dry run says what would happen; ``status`` tells "never had it" from "done", and a
  task that refuses exits 2 as in ``apply``;
* the repository is a pre-commit hook repository (``pre-commit try-repo``).

Everything runs on throwaway copies of target_repo, through ``python -m codemods`` in a
child process or typer's CliRunner.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codemods.cli import app

REPO_ROOT = Path(__file__).resolve().parent.parent
TARGET_REPO = REPO_ROOT / "target_repo"
BUNDLED = REPO_ROOT / "codemods" / "recipes" / "consolidate_training_configs.toml"
MAIN = "fine_tuning_vlm_for_object_detection_trl"
NOTEBOOK = "notebooks/evaluate_v3_model.ipynb"
COMMANDS = ("status", "apply", "check", "verify", "undo")

runner = CliRunner()


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=root, check=True,
                   capture_output=True)


def committed_copy(root: Path) -> Path:
    shutil.copytree(TARGET_REPO, root, ignore=shutil.ignore_patterns("__pycache__", ".refactor"))
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "before the plan")
    return root


def refactor(*args: str, cwd: Path = REPO_ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    environment.pop("COLUMNS", None)  # as in CI
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "codemods", *args], cwd=cwd, capture_output=True, text=True,
                          env=environment, check=False)


def nested_recipe_text() -> str:
    """The bundled plan with one rename pointing elsewhere, so that findings show which recipe was used."""
    return BUNDLED.read_text(encoding="utf-8").replace('new = "AssistantOnlyCollator"', 'new = "NestedRecipeCollator"', 1)


@pytest.fixture
def nested(tmp_path: Path) -> Path:
    """outer/pyproject.toml names a recipe; the repository is a git copy of target_repo two levels below it."""
    outer = tmp_path / "outer"
    (outer / "recipes").mkdir(parents=True)
    (outer / "recipes" / "nested.toml").write_text(nested_recipe_text(), encoding="utf-8")
    (outer / "pyproject.toml").write_text('[tool.refactor]\nrecipe = "recipes/nested.toml"\n', encoding="utf-8")
    # A pyproject.toml without the table between them does not stop the walk (as with ruff).
    (outer / "level1").mkdir()
    (outer / "level1" / "pyproject.toml").write_text('[project]\nname = "inner"\n', encoding="utf-8")
    return committed_copy(outer / "level1" / "level2")


# ------------------------------------------------------------------ version, module entry, help
def test_version_comes_from_the_package_metadata():
    result = refactor("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"refactor {version('vlm-refactor')}\n"
    assert runner.invoke(app, ["--version"]).output == result.stdout


def test_python_dash_m_codemods_is_the_command_line():
    result = refactor("--help")
    assert result.returncode == 0, result.stderr
    assert "Usage: refactor [OPTIONS] COMMAND" in result.stdout
    for command in COMMANDS:
        assert command in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_help_reads_like_other_tools(command: str):
    result = refactor(command, "--help", env={"COLUMNS": "400"})
    assert result.returncode == 0, result.stderr
    text = result.stdout
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    assert usage.strip() == f"Usage: refactor {command} [OPTIONS] " + ("PATH..." if command == "check" else "ROOT")
    assert "{" not in usage and "<bool>" not in text
    assert "--quiet" in text and "-q" in text and "--verbose" in text and "-v" in text
    if command in ("check", "verify", "undo"):
        assert "to migrate" not in text
    # A docstring's paragraph is one line at this width: no break where the source line ended.
    paragraphs = {
        "status": ("States come from the same planning pass", "never from a marker file"),
        "apply": ("Exit codes: 0 success", "a dirty git tree"),
        "check": ("Scans Python files and notebooks", "do not fail the check"),
        "verify": ("Verify runs the repository's own code", "says so before it does"),
    }
    if command in paragraphs:
        start, later = paragraphs[command]
        line = next(line for line in text.splitlines() if start in line)
        assert later in line, line


def test_boolean_flags_have_no_type_column_but_valued_options_do():
    text = refactor("apply", "--help", env={"COLUMNS": "400"}).stdout
    dry_run = next(line for line in text.splitlines() if "--dry-run" in line)
    recipe = next(line for line in text.splitlines() if "--recipe" in line)
    assert "<" not in dry_run and "<path>" in recipe
    # A repeatable option or a PATH... argument takes one value at a time.
    check = refactor("check", "--help", env={"COLUMNS": "400"}).stdout
    assert "<list[" not in check and "<list[" not in text
    assert "<path>" in next(line for line in check.splitlines() if "PATH " in line and "What to check" in line)


# ------------------------------------------------------------------ config discovery
def test_check_of_files_uses_the_recipe_two_levels_up(nested: Path):
    files = [f"{MAIN}.py", NOTEBOOK]
    result = refactor("check", *files, "--format", "json", cwd=nested)
    assert result.returncode == 1, result.stderr
    findings = json.loads(result.stdout)
    assert {f["path"] for f in findings} == set(files)  # paths as given, relative to where the hook runs
    suggestions = {f["suggestion"] for f in findings if f["old_name"] == "collate_fn_fixed_3"}
    assert suggestions and all("NestedRecipeCollator" in s or "nested_recipe_collator" in s for s in suggestions)
    assert "warning" not in result.stderr


def test_check_of_the_directory_uses_the_recipe_two_levels_up_too(nested: Path):
    result = runner.invoke(app, ["check", str(nested), "--format", "json"])
    assert result.exit_code == 1
    findings = json.loads(result.stdout)
    assert any(f["suggestion"] == "NestedRecipeCollator" for f in findings)
    assert not any(f["suggestion"] == "AssistantOnlyCollator" for f in findings)


def test_a_file_is_checked_as_part_of_its_repository_not_as_its_own_main_file(nested: Path):
    """A rename limited to the main file applies to the repository's main file only, whatever file is passed."""
    recipe = nested.parent.parent / "recipes" / "nested.toml"
    limited = 'new = "NestedRecipeCollator"\nfiles = ["main"]'
    recipe.write_text(recipe.read_text(encoding="utf-8").replace('new = "NestedRecipeCollator"', limited), encoding="utf-8")
    copy = nested / "scripts" / "copied_main.py"
    shutil.copyfile(nested / f"{MAIN}.py", copy)
    findings = json.loads(refactor("check", "scripts/copied_main.py", f"{MAIN}.py", "--format", "json", cwd=nested).stdout)
    limited_to_main = {f["path"] for f in findings if f["old_name"] == "collate_fn_fixed_3"}
    assert limited_to_main == {f"{MAIN}.py"}
    # Outside any repository a file is its own ROOT, and so its own main file.
    alone = Path(shutil.copytree(nested / "scripts", nested.parent.parent.parent / "loose"))
    shutil.rmtree(nested.parent.parent.parent / "outer")
    findings = json.loads(refactor("check", str(alone / "copied_main.py"), "--format", "json").stdout)
    assert any(f["old_name"] == "collate_fn_fixed_3" for f in findings)


def test_unknown_tool_refactor_keys_are_warned_about_naming_the_known_keys(nested: Path):
    pyproject = nested.parent.parent / "pyproject.toml"
    pyproject.write_text(pyproject.read_text(encoding="utf-8") + 'main-file = "train.py"\ncolour = "red"\n', encoding="utf-8")
    result = refactor("check", f"{MAIN}.py", "--format", "json", cwd=nested)
    assert result.returncode == 1, result.stderr
    warning = " ".join(result.stderr.split())
    assert "unknown key 'main-file' in [tool.refactor] (did you mean 'main_file'?)" in warning
    assert "unknown key 'colour'" in warning and "known keys: main_file, recipe" in warning
    assert json.loads(result.stdout)  # the check ran, with the recipe the table names
    assert "warning" not in refactor("check", f"{MAIN}.py", "-q", cwd=nested).stderr


def test_a_broken_pyproject_on_the_way_up_is_refused(nested: Path):
    (nested.parent / "pyproject.toml").write_text("[tool.refactor\n", encoding="utf-8")
    result = refactor("check", f"{MAIN}.py", cwd=nested)
    assert result.returncode == 2 and "not valid TOML" in result.stderr


# ------------------------------------------------------------------ check PATH...
def test_each_file_is_checked_within_its_own_repository(nested: Path, tmp_path: Path):
    plain = committed_copy(tmp_path / "plain")
    stale = "src/data/collators.py"
    result = refactor(
        "check", str(nested / stale), str(plain / stale), str(plain / "TRAINING_NOTES.md"), str(plain / "requirements.txt"),
        "--format", "json", cwd=tmp_path,
    )
    assert result.returncode == 1, result.stderr
    by_repo = {}
    for finding in json.loads(result.stdout):
        if finding["old_name"] == "collate_fn_fixed_3" and finding["kind"] != "identifier containing an old name":
            by_repo.setdefault(finding["path"], set()).add(finding["suggestion"])
    assert by_repo == {str(nested / stale): {"NestedRecipeCollator"}, str(plain / stale): {"AssistantOnlyCollator"}}


def test_the_exit_code_is_the_worst_of_the_files(tmp_path: Path):
    repo = committed_copy(tmp_path / "repo")
    (repo / "clean.py").write_text("x = 1\n", encoding="utf-8")
    assert refactor("check", "clean.py", cwd=repo).returncode == 0
    assert refactor("check", "clean.py", "src/data/collators.py", cwd=repo).returncode == 1
    (repo / "docs").mkdir()
    (repo / "docs" / "notes.md").write_text("collate_fn_fixed_1\n", encoding="utf-8")
    worst = refactor("check", "clean.py", "src/data/collators.py", "docs", cwd=repo)
    assert worst.returncode == 2 and "nothing to check: docs" in worst.stderr


def test_files_the_check_does_not_read_are_skipped_silently(tmp_path: Path):
    repo = committed_copy(tmp_path / "repo")
    result = refactor("check", "TRAINING_NOTES.md", "requirements.txt", cwd=repo)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "" and "0 files checked" in result.stdout
    assert refactor("check", "src/data/collators.py", "--exclude", "src", cwd=repo).returncode == 0


def test_check_of_one_directory_is_unchanged(tmp_path: Path):
    from codemods.check import find_stale
    from codemods.check.formats import render_json
    from codemods.core.recipe import load_recipe

    repo = committed_copy(tmp_path / "repo")
    result = runner.invoke(app, ["check", str(repo), "--format", "json"])
    assert result.exit_code == 1
    assert result.stdout == render_json(find_stale(repo, load_recipe(None, repo)))


def test_a_directory_given_inside_another_is_checked_once(tmp_path: Path):
    repo = committed_copy(tmp_path / "repo")
    alone = json.loads(refactor("check", "src", "--format", "json", cwd=repo).stdout)
    for paths in (["src", "src/data"], ["src/data", "src"], ["src", "src/data/collators.py", "./src"]):
        given = json.loads(refactor("check", *paths, "--format", "json", cwd=repo).stdout)
        assert sorted(map(json.dumps, given)) == sorted(map(json.dumps, alone)), paths


# ------------------------------------------------------------------ exit codes for CI
def test_exit_code_is_1_while_changes_are_pending_and_0_after_apply(tmp_path: Path):
    repo = committed_copy(tmp_path / "repo")
    assert refactor("apply", str(repo), "--dry-run", "-q").returncode == 0  # without the flag: success
    pending = refactor("apply", str(repo), "--dry-run", "--exit-code", "-q")
    assert pending.returncode == 1, pending.stderr
    assert pending.stdout.startswith("Dry run:") and pending.stdout.count("\n") == 1
    status = refactor("status", str(repo), "--exit-code", "-q")
    assert status.returncode == 1, status.stderr
    assert status.stdout.count("\n") == 1 and "8 of 8 task(s) to apply" in status.stdout
    applied = refactor("apply", str(repo), "-q")
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.startswith("Applied: ") and applied.stdout.count("\n") == 1, applied.stdout
    assert refactor("apply", str(repo), "--dry-run", "--exit-code", "-q").returncode == 0
    done = refactor("status", str(repo), "--exit-code", "-q")
    assert done.returncode == 0 and done.stdout.startswith("nothing to apply"), done.stdout
    undone = refactor("undo", str(repo), "-q")
    assert undone.returncode == 0 and undone.stdout.startswith("Undone:") and undone.stdout.count("\n") == 1


def test_a_real_apply_with_exit_code_exits_1_when_it_wrote_files_like_ruff_fix(tmp_path: Path):
    repo = committed_copy(tmp_path / "repo")
    wrote = refactor("apply", str(repo), "--exit-code", "-q")
    assert wrote.returncode == 1 and wrote.stdout.startswith("Applied: "), wrote.stdout + wrote.stderr
    git(repo, "commit", "-qam", "migrated")
    again = refactor("apply", str(repo), "--exit-code", "-q")
    assert again.returncode == 0, again.stdout + again.stderr


def test_quiet_verify_prints_its_verdict_only(tmp_path: Path):
    repo = committed_copy(tmp_path / "repo")
    failed = refactor("verify", str(repo), "--no-smoke", "-q")
    assert failed.returncode == 1
    lines = failed.stdout.splitlines()
    assert len(lines) == 1 and "Verification failed" in lines[0], failed.stdout


def test_check_exit_zero_and_statistics(tmp_path: Path):
    repo = committed_copy(tmp_path / "repo")
    findings = json.loads(refactor("check", ".", "--format", "json", cwd=repo).stdout)
    assert refactor("check", ".", "--exit-zero", "-q", cwd=repo).returncode == 0
    stats = refactor("check", ".", "--statistics", "--format", "json", cwd=repo)
    assert stats.returncode == 1
    rows = json.loads(stats.stdout)
    assert sum(row["count"] for row in rows) == len(findings)
    assert [row["count"] for row in rows] == sorted((row["count"] for row in rows), reverse=True)
    top = rows[0]
    assert top["count"] == sum(f["old_name"] == top["old_name"] and f["kind"] == top["kind"] for f in findings)
    text = refactor("check", ".", "--statistics", cwd=repo).stdout.splitlines()
    assert text[0].split()[:2] == [str(top["count"]), top["old_name"]]
    assert text[-1].startswith("✗") and len(text) == len(rows) + 1


def test_quiet_check_prints_the_verdict_only(tmp_path: Path):
    repo = committed_copy(tmp_path / "repo")
    result = refactor("check", ".", "-q", cwd=repo)
    assert result.returncode == 1
    assert result.stdout.count("\n") == 1 and result.stdout.startswith("✗") and result.stderr == ""


# ------------------------------------------------------------------ wording and status truth
def test_a_dry_run_says_what_would_happen(tmp_path: Path):
    repo = committed_copy(tmp_path / "repo")
    result = refactor("apply", str(repo), "--dry-run", "--no-diff", "-v")
    assert result.returncode == 0, result.stderr
    assert "would delete analyze_tokens.py" in result.stdout
    assert "(the deletion would be staged in git)" in result.stdout
    assert "deleted analyze_tokens.py" not in result.stdout and "deletion staged" not in result.stdout
    notes = [line for line in result.stdout.splitlines() if re.match(r"\s*(info|notice) \[task", line)]
    assert any("would rename" in note for note in notes) and any("would insert" in note for note in notes)
    past = re.compile(r"(^|\s)(renamed|replaced|removed|dropped|inserted|moved|deleted|relabelled) ")
    assert not [note for note in notes if past.search(note.split("]", 1)[1])], notes


def test_status_calls_a_script_the_repository_never_had_not_applicable(tmp_path: Path):
    repo = tmp_path / "repo"
    shutil.copytree(TARGET_REPO, repo, ignore=shutil.ignore_patterns("__pycache__", "analyze_tokens.py"))
    result = runner.invoke(app, ["status", str(repo), "--format", "json"])
    assert result.exit_code == 0, result.output
    states = {task["id"]: task["state"] for task in json.loads(result.stdout)["tasks"]}
    assert states["1"] == "not applicable"


def test_status_exits_2_where_apply_would_refuse(tmp_path: Path):
    repo = committed_copy(tmp_path / "repo")
    (repo / "scripts" / "uses_the_script.py").write_text("from analyze_tokens import main\n", encoding="utf-8")
    apply = runner.invoke(app, ["apply", str(repo), "--dry-run"])
    assert apply.exit_code == 2
    status = runner.invoke(app, ["status", str(repo)])
    assert status.exit_code == 2, status.output
    assert "still imported by scripts/uses_the_script.py" in " ".join(status.output.split())
    assert "refuse to run" in status.output


# ------------------------------------------------------------------ pre-commit
def test_the_hook_runs_under_pre_commit_try_repo(tmp_path: Path):
    """`pre-commit try-repo` installs this repository's HEAD as a hook and runs it on the files given."""
    pre_commit = shutil.which("pre-commit") or str(Path(sys.executable).with_name("pre-commit"))
    if not Path(pre_commit).exists():
        pytest.skip("pre-commit is not installed (pip install -e '.[dev]')")
    hook_repo = tmp_path / "hook-repo"
    subprocess.run(["git", "clone", "-q", str(REPO_ROOT), str(hook_repo)], check=True, capture_output=True)
    if not (hook_repo / ".pre-commit-hooks.yaml").is_file():
        pytest.skip("the hook file is not committed in this checkout's HEAD")
    repo = committed_copy(tmp_path / "project")
    (repo / "clean.py").write_text("x = 1\n", encoding="utf-8")

    def try_repo(*files: str) -> subprocess.CompletedProcess:
        command = [pre_commit, "try-repo", str(hook_repo), "refactor-check", "--verbose", "--files", *files]
        return subprocess.run(command, cwd=repo, capture_output=True, text=True, check=False, timeout=900)

    stale = try_repo("src/data/collators.py", "clean.py", "TRAINING_NOTES.md")
    assert stale.returncode == 1, stale.stdout + stale.stderr
    assert "src/data/collators.py" in stale.stdout and "collate_fn_fixed_3" in stale.stdout
    clean = try_repo("clean.py")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "Passed" in clean.stdout


def test_the_readme_local_hook_works_as_written(tmp_path: Path):
    pre_commit = shutil.which("pre-commit") or str(Path(sys.executable).with_name("pre-commit"))
    if not Path(pre_commit).exists():
        pytest.skip("pre-commit is not installed (pip install -e '.[dev]')")
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### pre-commit"):]
    config = section[section.index("- repo: local") - len("repos:\n  "):]
    config = config[: config.index("```")]
    assert config.startswith("repos:\n") and "entry: refactor check\n" in config
    repo = committed_copy(tmp_path / "project")
    (repo / ".pre-commit-config.yaml").write_text(config, encoding="utf-8")
    (repo / "clean.py").write_text("x = 1\n", encoding="utf-8")
    git(repo, "add", ".pre-commit-config.yaml", "clean.py")
    # `refactor` on PATH, as the README asks of a local hook.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}
    run = [pre_commit, "run", "refactor-check", "--files"]
    stale = subprocess.run([*run, "src/data/collators.py", "clean.py"], cwd=repo, env=env, capture_output=True, text=True)
    assert stale.returncode == 1 and "src/data/collators.py" in stale.stdout, stale.stdout + stale.stderr
    clean = subprocess.run([*run, "clean.py"], cwd=repo, env=env, capture_output=True, text=True)
    assert clean.returncode == 0 and "Passed" in clean.stdout, clean.stdout + clean.stderr


def test_undo_says_when_the_migration_is_still_staged_in_git(tmp_path: Path):
    repo = committed_copy(tmp_path / "repo")
    assert refactor("apply", str(repo), "-q").returncode == 0
    clean_undo = refactor("undo", str(repo), "-q")
    assert clean_undo.returncode == 0 and "staged" not in clean_undo.stderr
    assert refactor("apply", str(repo), "-q").returncode == 0
    git(repo, "add", "-A")
    staged_undo = refactor("undo", str(repo), "-q")
    assert staged_undo.returncode == 0
    message = " ".join(staged_undo.stderr.split())
    assert "still staged in git" in message and "git restore --staged -- " in message
    assert "src/data/collators.py" in message
    # The command it gives unstages it: the index then holds the files as they are.
    command = message.split("git restore --staged -- ", 1)[1].split()
    git(repo, "restore", "--staged", "--", *command)
    assert subprocess.run(["git", "diff", "--name-only"], cwd=repo, capture_output=True, text=True).stdout == ""


@pytest.mark.parametrize("command", [["check", "."], ["status", "."], ["apply", ".", "--dry-run"]])
def test_a_recipe_naming_no_codemod_is_a_bad_recipe_for_every_command(tmp_path: Path, command):
    """check once ran such a recipe as if it were sound (exit 1) while apply and status refused it."""
    repo = committed_copy(tmp_path / "repo")
    bundled = (REPO_ROOT / "codemods" / "recipes" / "consolidate_training_configs.toml").read_text(encoding="utf-8")
    bad = tmp_path / "bad.toml"
    bad.write_text(bundled.replace('codemod = "rename_collators"', 'codemod = "no_such_codemod"'), encoding="utf-8")
    done = refactor(*command, "--recipe", str(bad), cwd=repo)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"bad recipe: {bad}" in done.stderr and "no codemod 'no_such_codemod'" in done.stderr, done.stderr
    assert "rename_collators" in done.stderr  # the ones there are, to pick from
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("where", ["a directory", "under a file"])
def test_verify_refuses_a_report_path_it_cannot_write_before_verifying(tmp_path: Path, where):
    repo = committed_copy(tmp_path / "repo")
    report = tmp_path if where == "a directory" else repo / "requirements.txt" / "report.json"
    done = refactor("verify", ".", "--no-smoke", "--report", str(report), cwd=repo)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert f"--report {report}" in done.stderr and done.stdout == "", done.stdout


@pytest.mark.parametrize("jobs", ["0", "-3"])
def test_check_refuses_fewer_than_one_job(jobs):
    done = refactor("check", str(TARGET_REPO), "--jobs", jobs)
    assert done.returncode == 2 and "--jobs" in done.stderr, done.stderr


def test_verify_quiet_says_only_its_verdict(tmp_path: Path):
    repo = committed_copy(tmp_path / "repo")
    done = refactor("verify", ".", "--no-smoke", "-q", "--report", str(tmp_path / "r.json"), cwd=repo)
    assert done.stdout.count("\n") == 1 and done.stdout.startswith("Verif"), done.stdout
    assert "note:" not in done.stderr, done.stderr
