"""Golden tests for task 1: deleting analyze_tokens.py (codemods/commands/delete_superseded_script.py)."""

from __future__ import annotations

import subprocess

import pytest

from codemods.apply.session import Refusal
from tests.codemod_harness import run_codemod

MAIN = "fine_tuning_vlm_for_object_detection_trl.py"
MAIN_WITH_FUNCTION = "# %%\ndef analyze_token_distribution(collate_fn, dataset, num_samples=3):\n    return None\n"


def test_deletes_the_script_when_the_main_file_supersedes_it(tmp_path):
    files = {MAIN: MAIN_WITH_FUNCTION, "analyze_tokens.py": "print('tokens')\n"}
    changed, report = run_codemod(tmp_path, "delete_superseded_script", files)
    assert changed == {"analyze_tokens.py": None}
    assert any("superseded by analyze_token_distribution()" in n.message for n in report.notes)


def test_already_gone_is_a_no_op_with_a_message(tmp_path):
    (tmp_path / "analyze_tokens.py").write_text("print('tokens')\n")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "add", "analyze_tokens.py"], cwd=tmp_path, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"], cwd=tmp_path, check=True)
    subprocess.run(["git", "rm", "-q", "analyze_tokens.py"], cwd=tmp_path, check=True)
    changed, report = run_codemod(tmp_path, "delete_superseded_script", {MAIN: MAIN_WITH_FUNCTION})
    assert changed == {}
    assert any("already gone" in n.message for n in report.notes)
    assert not report.not_applicable


def test_a_script_the_repository_never_had_makes_the_task_not_applicable(tmp_path):
    changed, report = run_codemod(tmp_path, "delete_superseded_script", {MAIN: MAIN_WITH_FUNCTION})
    assert changed == {}
    assert report.not_applicable and any("no commit or earlier apply had it" in n.message for n in report.notes)


def test_refuses_when_the_main_file_lacks_the_function(tmp_path):
    files = {MAIN: "x = 1\n", "analyze_tokens.py": "print('tokens')\n"}
    with pytest.raises(Refusal, match="does not define analyze_token_distribution"):
        run_codemod(tmp_path, "delete_superseded_script", files)


def test_refuses_while_something_still_imports_it(tmp_path):
    files = {
        MAIN: MAIN_WITH_FUNCTION,
        "analyze_tokens.py": "def count():\n    return 1\n",
        "scripts/report.py": "from analyze_tokens import count\n",
    }
    with pytest.raises(Refusal, match="still imported by scripts/report.py"):
        run_codemod(tmp_path, "delete_superseded_script", files)


def test_a_mention_in_a_string_is_not_an_import(tmp_path):
    files = {
        MAIN: MAIN_WITH_FUNCTION + 'print("analyze_tokens.py was removed")\n',
        "analyze_tokens.py": "print('tokens')\n",
    }
    changed, _ = run_codemod(tmp_path, "delete_superseded_script", files)
    assert changed == {"analyze_tokens.py": None}


def test_tracked_file_deletion_is_reported_as_staged(tmp_path):
    files = {MAIN: MAIN_WITH_FUNCTION, "analyze_tokens.py": "print('tokens')\n"}
    (tmp_path / "analyze_tokens.py").write_text("print('tokens')\n")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "add", "analyze_tokens.py"], cwd=tmp_path, check=True)
    _, report = run_codemod(tmp_path, "delete_superseded_script", files)
    assert any("(the deletion is staged in git)" in n.message for n in report.notes)


@pytest.mark.parametrize("tracked", [False, True])
def test_the_deletion_names_what_the_script_defined_and_where_a_copy_is(tmp_path, tracked):
    """Code the user added to the script is not superseded by anything: the notice names it."""
    script = "def token_table():\n    pass\n\n\ndef iou_histogram(boxes):\n    return boxes\n\n\nclass Report:\n    pass\n"
    files = {MAIN: MAIN_WITH_FUNCTION, "analyze_tokens.py": script}
    if tracked:
        (tmp_path / "analyze_tokens.py").write_text(script)
        subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
        subprocess.run(["git", "add", "analyze_tokens.py"], cwd=tmp_path, check=True)
    _, report = run_codemod(tmp_path, "delete_superseded_script", files)
    (notice,) = [n.message for n in report.notes if "superseded by" in n.message]
    assert "it defined Report(), iou_histogram(), token_table()" in notice
    assert ("git has no copy of it" in notice) is not tracked
