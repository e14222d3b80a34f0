"""The command line: help texts, exit codes, and the commands that need no codemod output."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from codemods.cli import app

runner = CliRunner()


@pytest.mark.parametrize("command", ["status", "apply", "check", "verify", "undo"])
def test_every_command_explains_itself(command):
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "ROOT" in result.output or "root" in result.output
    assert len(result.output.split()) > 20


def test_top_level_help_lists_the_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("status", "apply", "check", "verify", "undo"):
        assert command in result.output


@pytest.mark.parametrize("command", [["status"], ["apply", "--dry-run"], ["check"], ["undo"]])
def test_missing_root_is_bad_input(command, tmp_path):
    result = runner.invoke(app, [command[0], str(tmp_path / "missing"), *command[1:]])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_bad_recipe_is_bad_input(tmp_path):
    recipe = tmp_path / "bad.toml"
    recipe.write_text("[plan\n")
    result = runner.invoke(app, ["apply", str(tmp_path), "--dry-run", "--recipe", str(recipe)])
    assert result.exit_code == 2
    assert "bad recipe" in result.output


def test_unknown_task_is_bad_input(tmp_path):
    (tmp_path / "x.py").write_text("x = 1\n")
    result = runner.invoke(app, ["apply", str(tmp_path), "--dry-run", "--only", "99"])
    assert result.exit_code == 2
    assert "unknown task '99'" in result.output


def test_undo_without_a_migration_says_so(tmp_path: Path):
    (tmp_path / "x.py").write_text("x = 1\n")
    result = runner.invoke(app, ["undo", str(tmp_path)])
    assert result.exit_code == 2
    assert "nothing to undo" in result.output


def test_status_on_the_bundled_repo_lists_seven_pending_tasks_and_the_paired_notebook():
    root = Path(__file__).resolve().parent.parent / "target_repo"
    result = runner.invoke(app, ["status", str(root)])
    assert result.exit_code == 0, result.output
    assert result.output.count("pending") == 8
    # The notebook apply rewrites beside its script is listed too: status names every file apply changes.
    assert "fine_tuning_vlm_for_object_detection_trl.ipynb" in result.output


def test_status_takes_every_planning_option_of_apply():
    """status is apply's planning pass: an option that changes what apply plans changes what status shows."""
    import typer.main

    command = typer.main.get_command(app)
    options = {
        name: {opt for param in command.commands[name].params for opt in getattr(param, "opts", [])}
        for name in ("apply", "status")
    }
    # What only a write or its display needs: status writes nothing and prints no diff.
    writing = {"--dry-run", "--allow-dirty", "--strict", "--diff", "--only"}
    missing = {opt for opt in options["apply"] - options["status"] if opt.startswith("--")} - writing
    assert missing == set()
