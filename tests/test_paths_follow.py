"""Literal copies of the directories a replaced config now writes elsewhere follow it (or stay, listed, by option)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from codemods.apply.migration import plan_migration
from codemods.core.recipe import load_recipe

TARGET_REPO = Path(__file__).resolve().parent.parent / "target_repo"
OLD_V2 = "qwen2vl-nutrition-detection-lora-assistantonly"
NEW_V2 = "qwen2vl-nutrition-detection-v2-assistant-only"
OLD_V1, NEW_V1 = "qwen2vl-nutrition-detection-lora", "qwen2vl-nutrition-detection-v1-all-tokens"


def copy_target(root: Path) -> Path:
    shutil.copytree(TARGET_REPO, root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def planned(root: Path, **options):
    migration = plan_migration(root, load_recipe(None, root), options=options)
    after = {c.path: c.after.decode("utf-8") for c in migration.changes if c.after is not None}
    return after, migration.report


def test_the_evaluation_notebook_and_the_script_defaults_follow(tmp_path):
    root = copy_target(tmp_path / "repo")
    after, report = planned(root)
    notebook = json.loads(after["notebooks/evaluate_v3_model.ipynb"])
    code = "".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code")
    assert f'"../vlm_outputs/{NEW_V2}"' in code and OLD_V2 not in code
    script = after["scripts/train.py"]
    assert f'default="./vlm_outputs/{NEW_V1}"' in script and 'default="./vlm_outputs/logs-v1-all-tokens"' in script
    followups = [note.message for note in report.notes if "follow-up" in note.message]
    assert any(OLD_V2 in message and NEW_V2 in message for message in followups)
    assert len(followups) >= 4


def test_the_config_functions_own_bases_and_prose_are_left(tmp_path):
    root = copy_target(tmp_path / "repo")
    after, _ = planned(root)
    main = after["fine_tuning_vlm_for_object_detection_trl.py"]
    assert 'base_logging_dir = "./vlm_outputs/logs"' in main
    # Inside a printed paragraph, not a path literal: a person's words about the old run.
    assert f"  - output dir : ./vlm_outputs/{OLD_V2}" in main


def test_paths_inside_follow_and_siblings_do_not(tmp_path):
    root = copy_target(tmp_path / "repo")
    (root / "scripts" / "resume.py").write_text(
        f'CHECKPOINT = "./vlm_outputs/{OLD_V1}/checkpoint-100"\n'
        f'SIBLING = "./vlm_outputs/{OLD_V1}-old"\n'
        f'ELSEWHERE = "/data/runs/vlm_outputs/{OLD_V2}"\n',
        encoding="utf-8",
    )
    after, _ = planned(root)
    assert after["scripts/resume.py"] == (
        f'CHECKPOINT = "./vlm_outputs/{NEW_V1}/checkpoint-100"\n'
        f'SIBLING = "./vlm_outputs/{OLD_V1}-old"\n'
        f'ELSEWHERE = "/data/runs/vlm_outputs/{OLD_V2}"\n'
    )


def test_keep_paths_leaves_them_and_says_so(tmp_path):
    root = copy_target(tmp_path / "repo")
    after, report = planned(root, keep_paths=True)
    assert "notebooks/evaluate_v3_model.ipynb" not in after or OLD_V2 in after["notebooks/evaluate_v3_model.ipynb"]
    assert f'default="./vlm_outputs/{OLD_V1}"' in after.get("scripts/train.py", (root / "scripts/train.py").read_text())
    kept = [note for note in report.notes if "keep_paths" in note.message]
    assert kept and all(note.level.name == "WARNING" for note in kept)


def test_the_cli_flag_keeps_paths(tmp_path):
    import subprocess
    import sys

    root = copy_target(tmp_path / "repo")
    done = subprocess.run(
        [sys.executable, "-m", "codemods.cli", "apply", str(root), "--dry-run", "--keep-paths"],
        capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "still names the old directory" in done.stdout
    assert f"+    parser.add_argument(\"--output-dir\", default=\"./vlm_outputs/{NEW_V1}\")" not in done.stdout
