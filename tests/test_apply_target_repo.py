"""`refactor apply` end to end on copies of the bundled target_repo (issue acceptance)."""

from __future__ import annotations

import ast
import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codemods.apply.migration import TaskState, plan_migration, task_states
from codemods.cli import app
from codemods.core.recipe import load_recipe
from codemods.core.sections import allowed_tail_start

TARGET_REPO = Path(__file__).resolve().parent.parent / "target_repo"
GOLDEN = Path(__file__).resolve().parent / "golden" / "migrated_target_repo"
MAIN = "fine_tuning_vlm_for_object_detection_trl.py"
STALE = re.compile(
    r"(?<![A-Za-z0-9_])(collate_fn_fixed_1|collate_fn_fixed_3|collate_fn_fixed_fixed1|create_sft_config|"
    r"create_assistant_only_training_config|collate_fn_v3|training_args_v3)(?![A-Za-z0-9_])"
)
runner = CliRunner()


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=root, check=True, capture_output=True, text=True,
    ).stdout


def tree_digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def make_repo(root: Path) -> Path:
    """A committed git copy of target_repo, with analyze_tokens.py untracked as in the user's checkout."""
    shutil.copytree(TARGET_REPO, root, ignore=shutil.ignore_patterns("__pycache__"))
    git(root, "init", "-q")
    (root / ".git" / "info" / "exclude").write_text("__pycache__/\n")
    git(root, "add", "-A")
    git(root, "reset", "-q", "--", "analyze_tokens.py")
    git(root, "commit", "-qm", "before the plan")
    return root


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


@pytest.fixture(scope="module")
def migrated(tmp_path_factory) -> Path:
    """One applied migration shared by the tests that only read its result."""
    root = make_repo(tmp_path_factory.mktemp("migrated") / "repo")
    result = apply(root)
    assert result.exit_code == 0, result.output
    return root


def apply(root: Path, *args: str):
    return runner.invoke(app, ["apply", str(root), *args], catch_exceptions=False)


def test_status_reports_all_seven_tasks_pending_on_the_bundled_repo():
    states = task_states(TARGET_REPO, load_recipe())
    # And the paired notebook, which apply rewrites beside its script.
    assert [o.task.id for o in states] == ["1", "2", "3", "4", "5", "6", "7", "notebooks"]
    assert states[-1].paths == ("fine_tuning_vlm_for_object_detection_trl.ipynb",)
    assert all(o.state is TaskState.PENDING for o in states), states


def test_dry_run_writes_nothing_and_shows_the_table(repo: Path):
    before = tree_digest(repo)
    result = apply(repo, "--dry-run")
    assert result.exit_code == 0, result.output
    assert tree_digest(repo) == before
    assert "Behaviour changes" in result.output
    assert "label_names" in result.output
    assert "nothing was written" in result.output


def test_apply_migrates_and_greps_clean_outside_allowed_sections(migrated: Path):
    repo = migrated
    recipe = load_recipe()
    assert not (repo / "analyze_tokens.py").exists()
    for path in [*repo.rglob("*.py"), *repo.rglob("*.md")]:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".py":
            ast.parse(text)
        tail = allowed_tail_start(text, recipe) or len(text.splitlines()) + 1
        for number, line in enumerate(text.splitlines(), 1):
            if number < tail:
                assert not STALE.search(line), f"{path.relative_to(repo)}:{number}: {line}"
    main = (repo / MAIN).read_text(encoding="utf-8")
    module = ast.parse(main)
    function = next(n for n in module.body if isinstance(n, ast.FunctionDef) and n.name == "create_training_config")
    for node in ast.walk(module):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "SFTConfig":
            assert function.lineno <= node.lineno <= function.end_lineno
    assert 'variant="v1-all-tokens"' in main and 'variant="v2-assistant-only"' in main
    assert "class FlashAttentionPatchCollator" in main.split("DRAFT / LEGACY COLLATORS")[1]


def test_v2_behaviour_change_table_lists_what_the_function_cannot_keep(repo: Path):
    migration = plan_migration(repo, load_recipe())
    rows = {
        (c.block, c.field): c for c in migration.report.behaviour_changes if c.path == MAIN
    }
    v2_fields = {field for block, field in rows if block.startswith("training_args_v")}
    for field in ("label_names", "max_length", "dataset_text_field", "dataset_kwargs"):
        assert field in v2_fields, sorted(v2_fields)
    assert "eval_steps" not in v2_fields and "save_steps" not in v2_fields, "recipe overrides keep 100/100"
    unintended = {c.field for c in migration.report.unintended_changes if c.block.startswith("training_args_v")}
    assert {"label_names", "max_length", "dataset_text_field", "dataset_kwargs"} <= unintended


def test_strict_refuses_to_write_unintended_changes(repo: Path):
    before = tree_digest(repo)
    result = apply(repo, "--strict")
    assert result.exit_code == 1
    assert tree_digest(repo) == before
    # Quiet, the verdict is that line (it was once a line of notes that happened to come last).
    quiet = apply(repo, "--strict", "-q")
    assert quiet.exit_code == 1
    assert quiet.stdout.splitlines()[-1] == (
        "Refused (--strict): 8 unintended behaviour change(s); nothing was written."
    ), quiet.stdout


def test_second_apply_changes_nothing_and_status_is_done(repo: Path):
    assert apply(repo).exit_code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "after the plan")
    again = apply(repo)
    assert again.exit_code == 0, again.output
    assert "Nothing to do" in again.output
    states = task_states(repo, load_recipe())
    assert all(o.state is not TaskState.PENDING for o in states), states


def test_half_migrated_repository_is_completed(repo: Path):
    assert apply(repo, "--only", "4").exit_code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "renames only")
    states = {o.task.id: o.state for o in task_states(repo, load_recipe())}
    assert states["4"] is TaskState.DONE and states["3"] is TaskState.PENDING
    assert apply(repo).exit_code == 0
    fully = repo.parent / "fully"
    shutil.copytree(TARGET_REPO, fully, ignore=shutil.ignore_patterns("__pycache__"))
    git(fully, "init", "-q")
    assert apply(fully, "--allow-dirty").exit_code == 0
    assert (repo / MAIN).read_text() == (fully / MAIN).read_text()


def test_undo_restores_the_tree_byte_for_byte(repo: Path):
    before = tree_digest(repo)
    assert apply(repo).exit_code == 0
    assert tree_digest(repo) != before
    result = runner.invoke(app, ["undo", str(repo)])
    assert result.exit_code == 0, result.output
    assert tree_digest(repo) == before


def test_dirty_tree_is_refused_without_allow_dirty(repo: Path):
    (repo / "scripts" / "train.py").write_text("# local edit\n", encoding="utf-8")
    result = apply(repo)
    assert result.exit_code == 2
    assert "uncommitted changes" in result.output


def test_single_file_root_migrates_only_the_main_file(repo: Path):
    before = tree_digest(repo)
    result = apply(repo / MAIN)
    assert result.exit_code == 0, result.output
    after = tree_digest(repo)
    changed = {path for path in after if after.get(path) != before.get(path)}
    assert changed <= {MAIN}
    assert MAIN in changed


def test_migrated_src_imports(migrated: Path):
    repo = migrated
    code = (
        "import warnings; warnings.simplefilter('error', DeprecationWarning)\n"
        "import src.training, src.training.config, src.data, src.data.collators, src.utils\n"
        "from src.data import AllTokensCollator, AssistantOnlyCollator, FlashAttentionPatchCollator\n"
        "from src.training import create_training_config\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_whole_repo_golden(migrated: Path):
    """target_repo -> the expected migrated tree committed under tests/golden."""
    expected = tree_digest(GOLDEN)
    actual = tree_digest(migrated)
    differing = sorted(p for p in set(expected) | set(actual) if expected.get(p) != actual.get(p))
    assert not differing, f"differs from the golden tree: {differing}"
