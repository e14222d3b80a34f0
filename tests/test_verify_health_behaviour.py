"""`refactor verify` sections 1-3 on real repositories: stale names, code health, config behaviour.

"Before" comes from the apply journal or from a git revision (`--before`), read with real git;
a hand refactor is built here in a temporary git repository, the way a user would make one.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codemods.core.recipe import load_recipe
from codemods.verify.before import BeforeError, before_files, materialised
from codemods.verify.behaviour import check_config_behaviour
from codemods.verify.health import check_code_health
from codemods.verify.stale import check_stale_names
from tests.test_config_function import plan_function

TARGET_REPO = Path(__file__).resolve().parent.parent / "target_repo"
MAIN_FILE = "fine_tuning_vlm_for_object_detection_trl.py"


def git(directory: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=verify", "-c", "user.email=verify@example.invalid", *args]
    return subprocess.run(command, cwd=directory, check=True, capture_output=True, text=True).stdout.strip()


def committed_copy(destination: Path) -> Path:
    """target_repo in a fresh git repository, committed: the "before" of every test here."""
    shutil.copytree(TARGET_REPO, destination, ignore=shutil.ignore_patterns("__pycache__", ".refactor", "wandb"))
    git(destination, "init", "-q")
    git(destination, "add", ".")
    git(destination, "commit", "-qm", "before the migration")
    return destination


@pytest.fixture(scope="module")
def recipe():
    return load_recipe()


@pytest.fixture(scope="module")
def migrated(tmp_path_factory, recipe) -> Path:
    """target_repo migrated by apply with --keep-behaviour (journal committed), its git HEAD the old code."""
    from codemods.apply.migration import plan_migration
    from codemods.core.journal import commit

    repo = committed_copy(tmp_path_factory.mktemp("migrated") / "repo")
    options = {"clear_stale_outputs": True, "keep_behaviour": True}
    commit(plan_migration(repo, recipe, None, options=options).context.workspace)
    return repo


def replace_assignment(text: str, target: str, new_source: str) -> str:
    """The module-level ``target = ...`` statement replaced by ``new_source``."""
    lines = text.split("\n")
    for node in ast.parse(text).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == target for t in node.targets):
            return "\n".join([*lines[: node.lineno - 1], new_source, *lines[node.end_lineno :]])
    raise AssertionError(f"no {target} assignment")


# ---------------------------------------------------------------------------------------------
# before: journal and git revisions
# ---------------------------------------------------------------------------------------------


def test_the_journal_and_a_revision_give_the_old_files(recipe, migrated):
    journal = before_files(migrated, recipe, None)
    assert journal is not None and not journal.complete and "apply journal" in journal.source
    old_config = journal.read_text("src/training/config.py")
    assert "def create_sft_config(\n" in old_config
    assert "create_training_config" in (migrated / "src/training/config.py").read_text(encoding="utf-8")
    revision = before_files(migrated, recipe, "HEAD")
    assert revision.complete and revision.read_text("src/training/config.py") == old_config
    assert revision.read_text("analyze_tokens.py") is not None and not (migrated / "analyze_tokens.py").exists()
    with materialised(journal) as copy:
        assert (copy / "analyze_tokens.py").is_file()  # the apply deleted it; before, it was there
        assert (copy / "src/data/dataset.py").read_bytes() == (migrated / "src/data/dataset.py").read_bytes()
        assert "def create_sft_config(\n" in (copy / "src/training/config.py").read_text(encoding="utf-8")


def test_an_unknown_revision_is_refused(recipe, migrated):
    with pytest.raises(BeforeError, match="no such revision"):
        before_files(migrated, recipe, "no-such-revision")


def test_cli_exits_2_for_an_unknown_before_revision(migrated):
    from codemods.cli import app

    result = CliRunner().invoke(app, ["verify", str(migrated), "--no-smoke", "--before", "no-such-revision"])
    assert result.exit_code == 2, result.output
    assert "--before no-such-revision: git knows no such revision" in " ".join(result.output.split())


# ---------------------------------------------------------------------------------------------
# the migrated copy passes; a planted change fails
# ---------------------------------------------------------------------------------------------


def test_a_migrated_copy_passes_sections_one_to_three(recipe, migrated):
    before = before_files(migrated, recipe, None)
    stale = check_stale_names(migrated, recipe)
    health = check_code_health(migrated, recipe, before)
    behaviour = check_config_behaviour(migrated, recipe, before)
    assert stale.passed, stale.detail
    assert health.passed, health.detail
    assert "2 deprecated alias(es) take every old keyword and warn" in health.detail
    assert behaviour.passed, behaviour.detail
    assert behaviour.data["configs"] == 4
    changed = {(row["block"], row["field"]) for row in behaviour.data["changes"]}
    assert ("training_args_v3", "run_name") in changed and all(r["impact"] == "intended" for r in behaviour.data["changes"])


def test_a_plain_apply_shows_the_same_unintended_changes_apply_reported(recipe, tmp_path):
    from codemods.apply.migration import plan_migration
    from codemods.core.journal import commit

    repo = committed_copy(tmp_path / "repo")
    migration = plan_migration(repo, recipe, None, options={"clear_stale_outputs": True})
    reported = {(c.block, c.field) for c in migration.report.unintended_changes}
    commit(migration.context.workspace)
    behaviour = check_config_behaviour(repo, recipe, before_files(repo, recipe, None))
    assert not behaviour.passed
    found = {(row["block"], row["field"]) for row in behaviour.data["changes"] if row["impact"] == "unintended"}
    assert found == reported and ("training_args_v3", "label_names") in found


def test_a_planted_eval_steps_change_fails_config_behaviour(recipe, migrated, tmp_path):
    repo = tmp_path / "planted"
    shutil.copytree(migrated, repo)
    main = repo / MAIN_FILE
    text = main.read_text(encoding="utf-8")
    assert text.count("eval_steps=100,") == 1
    main.write_text(text.replace("eval_steps=100,", "eval_steps=25,"), encoding="utf-8")
    behaviour = check_config_behaviour(repo, recipe, before_files(repo, recipe, "HEAD"))
    assert not behaviour.passed
    assert "training_args_v3: eval_steps 100 -> 25 (the plan gives eval_steps=100 for this variant)" in behaviour.detail


# ---------------------------------------------------------------------------------------------
# a hand refactor, judged with --before
# ---------------------------------------------------------------------------------------------

HAND_CONFIG_MODULE = (
    '"""Training configuration."""\n\nimport warnings\n\nfrom trl import SFTConfig\n\n\n'
    + plan_function("./vlm_outputs")
    + '''

def create_sft_config(**kwargs) -> SFTConfig:
    warnings.warn("use create_training_config", DeprecationWarning, stacklevel=2)
    return create_training_config("v1-all-tokens", **kwargs)


def create_assistant_only_training_config(**kwargs) -> SFTConfig:
    warnings.warn("use create_training_config", DeprecationWarning, stacklevel=2)
    return create_training_config("v2-assistant-only", **kwargs)


def print_training_config(config: SFTConfig) -> None:
    print(config)
'''
)


def hand_refactor(repo: Path) -> None:
    """The five faults of the issue, as a person migrating by hand might make them."""
    (repo / "src/training/config.py").write_text(HAND_CONFIG_MODULE, encoding="utf-8")
    main = repo / MAIN_FILE
    text = main.read_text(encoding="utf-8").replace("training_args_v3", "training_args_v2")
    text = replace_assignment(text, "training_args", 'training_args = create_training_config(variant="v1-all-tokens")')
    # v2 now takes the function's defaults: eval/save 50/300, no label_names, max_length and dataset_kwargs set.
    text = replace_assignment(
        text, "training_args_v2", 'training_args_v2 = create_training_config(variant="v2-assistant-only")'
    )
    text = text.replace("from trl import SFTConfig\n", "from src.training.config import create_training_config\n", 1)
    main.write_text(text, encoding="utf-8")
    script = repo / "scripts/train.py"
    script.write_text(
        script.read_text(encoding="utf-8").replace(
            "from src.training.config import create_sft_config, print_training_config",
            "from src.training.config import create_training_config, print_training_config",
        ),
        encoding="utf-8",
    )


def test_a_hand_refactor_judged_with_before_names_every_fault(recipe, tmp_path):
    repo = committed_copy(tmp_path / "hand")
    start = git(repo, "rev-parse", "HEAD")
    hand_refactor(repo)
    git(repo, "commit", "-qam", "consolidate the configs by hand")
    before = before_files(repo, recipe, start)

    health = check_code_health(repo, recipe, before)
    assert not health.passed
    problems = health.data["errors"] + health.data["alias_errors"]
    assert any(p.startswith("scripts/train.py:") and "undefined name 'create_sft_config'" in p for p in problems), problems
    assert any(
        "create_sft_config() raises TypeError" in p and "output_dir= (create_training_config() takes no output_dir)" in p
        for p in problems
    ), problems

    behaviour = check_config_behaviour(repo, recipe, before)
    assert not behaviour.passed
    unintended = {
        row["field"]: row for row in behaviour.data["changes"] if row["block"] == "training_args_v3" and row["impact"] == "unintended"
    }
    assert (unintended["eval_steps"]["before"], unintended["eval_steps"]["after"]) == ("100", "50")
    assert (unintended["save_steps"]["before"], unintended["save_steps"]["after"]) == ("100", "300")
    assert (unintended["label_names"]["before"], unintended["label_names"]["after"]) == ('["labels"]', "None")
    assert unintended["max_length"]["after"] == "2048"
    assert unintended["dataset_kwargs"]["after"] == '{"skip_prepare_dataset": True}'
    for field in ("eval_steps", "save_steps", "label_names", "max_length", "dataset_kwargs"):
        assert f"training_args_v3: {field} " in behaviour.detail, field


def test_a_subdirectory_root_of_a_larger_repository_works_with_before(recipe, tmp_path):
    outer = tmp_path / "monorepo"
    project = outer / "projects" / "vlm"
    project.parent.mkdir(parents=True)
    shutil.copytree(TARGET_REPO, project, ignore=shutil.ignore_patterns("__pycache__"))
    (outer / "README.md").write_text("other projects live here\n", encoding="utf-8")
    git(outer, "init", "-q")
    git(outer, "add", ".")
    git(outer, "commit", "-qm", "monorepo")
    main = project / MAIN_FILE
    text = main.read_text(encoding="utf-8")
    main.write_text(text.replace("eval_steps=100,", "eval_steps=10,", 1), encoding="utf-8")

    before = before_files(project, recipe, "HEAD")
    assert MAIN_FILE in before.files and "README.md" not in before.files
    behaviour = check_config_behaviour(project, recipe, before)
    assert not behaviour.passed and "eval_steps 100 -> 10" in behaviour.detail
    assert check_code_health(project, recipe, before).data["errors"] == []
