"""Output off a terminal is never wrapped or cropped, whatever COLUMNS or the path length.

CI runs with stdout piped and no COLUMNS; users paste journal paths and read behaviour
tables in logs. These tests run the real CLI under a narrow width and under a long
directory name, and assert on whole lines.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_apply_target_repo import make_repo
from typer.testing import CliRunner

from codemods.cli import app

LONG_NAME = "a-directory-whose-name-is-long-enough-to-push-every-message-past-any-terminal-width-" + "x" * 40


@pytest.fixture(params=["40", None], ids=["COLUMNS=40", "no-COLUMNS"])
def width(request, monkeypatch):
    if request.param is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", request.param)
    return request.param


@pytest.fixture
def long_dir(tmp_path: Path) -> Path:
    directory = tmp_path / LONG_NAME
    directory.mkdir()
    assert len(str(directory)) > 120
    return directory


@pytest.mark.parametrize("command", [["status"], ["apply", "--dry-run"], ["check"], ["undo"], ["verify"]])
def test_error_message_is_one_whole_line(command, width, long_dir):
    missing = long_dir / "missing"
    result = CliRunner().invoke(app, [command[0], str(missing), *command[1:]])
    assert result.exit_code == 2
    assert f"error: {missing} does not exist\n" in result.output


def test_markup_like_text_in_a_path_is_printed_as_is(width, tmp_path):
    missing = tmp_path / "[bold]not-markup[/bold]"
    result = CliRunner().invoke(app, ["status", str(missing)])
    assert f"error: {missing} does not exist\n" in result.output


def _refactor(*args: str, columns: str | None) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "COLUMNS"}
    if columns is not None:
        env["COLUMNS"] = columns
    command = [sys.executable, "-c", "from codemods.cli import app; app()", *args]
    # stdout is a pipe, as in `refactor apply ... | cat` and in CI.
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=Path(__file__).parent.parent)


@pytest.fixture(scope="module")
def migrated(tmp_path_factory) -> tuple[Path, str, str]:
    """One real apply of a target_repo copy under a long path, with its dry-run output before it."""
    root = make_repo(tmp_path_factory.mktemp("width") / LONG_NAME)
    # A variant whose v3 run loaded data in workers: a long field the new function fixes lands in the table.
    main = root / "fine_tuning_vlm_for_object_detection_trl.py"
    text = main.read_text(encoding="utf-8")
    last = text.rindex("dataloader_num_workers=0,")
    main.write_text(text[:last] + "dataloader_num_workers=4," + text[last + 25 :], encoding="utf-8")
    subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qam", "v3 workers"], cwd=root, check=True)
    dry = _refactor("apply", str(root), "--dry-run", "--no-diff", columns="40")
    assert dry.returncode == 0, dry.stderr
    real = _refactor("apply", str(root), "--no-diff", columns="40")
    assert real.returncode == 0, real.stderr
    return root, dry.stdout, real.stdout


def test_journal_path_is_printed_on_one_line(migrated):
    _, _, output = migrated
    journal_lines = [line for line in output.splitlines() if line.startswith("journal: ")]
    assert len(journal_lines) == 1
    journal = Path(journal_lines[0].removeprefix("journal: "))
    assert journal.is_file(), journal_lines[0]
    assert journal.suffix == ".json"


def test_undo_command_is_printed_whole(migrated):
    root, _, output = migrated
    assert f"Undo with: refactor undo {root}\n" in output


def test_behaviour_table_keeps_every_field_name_whole(migrated):
    _, output, _ = migrated
    for field in ("dataset_text_field", "dataloader_num_workers", "label_names", "dataset_kwargs", "max_length"):
        assert any(f" {field} " in line for line in output.splitlines()), field
    table_rows = [line for line in output.splitlines() if line.startswith("│")]
    assert table_rows
    assert not [row for row in table_rows if "…" in row]


def test_table_titles_are_not_wrapped(migrated):
    root, output, _ = migrated
    titles = [line for line in output.splitlines() if line.startswith("Behaviour changes: ")]
    assert len(titles) >= 2
    assert all(" · " in title or title.rstrip().endswith(")") for title in titles)
    assert not [line for line in output.splitlines() if line.strip() == "·"]


def test_status_table_is_at_natural_width(migrated):
    root, _, _ = migrated
    result = _refactor("status", str(root), columns="40")
    assert result.returncode == 0, result.stderr
    assert f" — {root}" in result.stdout
    assert sum("done" in line for line in result.stdout.splitlines()) == 7


def _in_a_terminal(*args: str, columns: int) -> str:
    """Run the CLI in a pseudo-terminal of the given width, as a person sees it."""
    import pty
    import re

    env = {**os.environ, "COLUMNS": str(columns), "TERM": "xterm"}
    command = [sys.executable, "-c", "from codemods.cli import app; app()", *args]
    chunks: list[bytes] = []

    def read(fd: int) -> bytes:
        data = os.read(fd, 65536)
        chunks.append(data)
        return data

    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        pty.spawn(command, read)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode("utf-8", "replace"))


@pytest.fixture
def fresh(migrated) -> Path:
    """A pristine copy beside the migrated one (the module's tests share it)."""
    root, _, _ = migrated
    repo = root.parent / "fresh"
    if not repo.exists():
        make_repo(repo)
    return repo


def test_status_in_a_narrow_terminal_never_splits_a_path(fresh):
    screen = _in_a_terminal("status", str(fresh), columns=80)
    assert "pending" in screen
    for path in ("fine_tuning_vlm_for_object_detection_trl.py", "src/training/__init__.py", "scripts/train.py"):
        assert path in screen, screen


def test_the_dry_run_summary_keeps_its_counts_in_a_narrow_terminal(fresh):
    """The longest label once squeezed the count column to nothing at 60 columns: every number vanished."""
    import re

    screen = _in_a_terminal("apply", str(fresh), "--dry-run", "--no-diff", columns=60)
    rows = {label.strip(): count for label, count in re.findall(r"│ (files changed|files deleted)\s*│\s*(\d*)\s*│", screen)}
    assert rows.get("files changed", "").isdigit() and rows.get("files deleted") == "1", screen[-3000:]


def test_status_in_a_very_narrow_terminal_folds_paths_instead_of_cropping_the_table(fresh):
    """At 60 columns the longest path beside a title does not fit: the table was cropped at its right edge."""
    screen = _in_a_terminal("status", str(fresh), columns=60)
    rows = [line for line in screen.splitlines() if line.startswith("│")]
    assert rows and all(len(line) <= 60 and line.rstrip().endswith("│") for line in rows), screen
    details = "".join(line.split("│")[4].strip() for line in rows)
    for path in ("fine_tuning_vlm_for_object_detection_trl.py", "notebooks/evaluate_v3_model.ipynb"):
        assert path in details, screen


def test_check_statistics_in_a_narrow_terminal_folds_names_instead_of_cutting_them(fresh):
    screen = _in_a_terminal("check", str(fresh), "--statistics", columns=60)
    assert "…" not in screen, screen
    assert all(len(line) <= 60 for line in screen.splitlines()), screen
    assert "stale name(s)" in screen


@pytest.mark.parametrize("command", ["apply", "status", "check", "verify", "undo"])
def test_help_never_cuts_an_option_or_a_word_in_a_narrow_terminal_or_a_pipe(command):
    """rich cut option names (`--allow-dir…`) at 60 columns and long tokens in every pipe (`dataclasses.replace(<c…`)."""
    screen = _in_a_terminal(command, "--help", columns=60)
    piped = _refactor(command, "--help", columns=None).stdout
    assert "…" not in screen and "…" not in piped, screen + piped
    assert "Usage: " in screen and "Usage: " in piped and "Options" in screen
