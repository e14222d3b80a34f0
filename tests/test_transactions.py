"""All files or none, under every failure the disk can produce, under signals and kill -9, and with two writers.

The migration of target_repo is planned once; each fault-injection case replays only
its commit on a fresh copy, with one disk operation made to fail: the k-th of every
operation a commit makes (staged writes, flushes, renames, removals, journal writes).
Afterwards the tree must be byte-identical to before with no temporary file left, and
the next apply and undo must work. Subprocess tests kill `refactor apply` after its
k-th rename (SIGKILL, SIGINT, SIGTERM) and check that the next command recovers.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from codemods.apply.migration import plan_migration
from codemods.core import disk as disk_module
from codemods.core.disk import LockBusy, exclusive_lock
from codemods.core.journal import JournalError, commit, journal_directory, latest_journal, undo
from codemods.core.recipe import load_recipe
from codemods.core.workspace import FileChange, Workspace, WorkspaceError

TARGET_REPO = Path(__file__).resolve().parent.parent / "target_repo"
REPO_ROOT = Path(__file__).resolve().parent.parent


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=cwd, check=True, capture_output=True, text=True,
    ).stdout


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file's bytes and mode under ``root``, the git directory left out."""
    found = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if ".git" in relative.parts or path.is_dir():
            continue
        found[relative.as_posix()] = (path.read_bytes() if not path.is_symlink() else b"->", path.lstat().st_mode)
    return found


def leftovers(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.refactor-tmp"))


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pristine") / "repo"
    shutil.copytree(TARGET_REPO, root, ignore=shutil.ignore_patterns("__pycache__"))
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "before the plan")
    return root


@pytest.fixture(scope="module")
def planned(pristine) -> list[FileChange]:
    return plan_migration(pristine, load_recipe()).changes


def fresh_copy(pristine: Path, destination: Path) -> Path:
    shutil.copytree(pristine, destination, symlinks=True)
    return destination


def staged_workspace(root: Path, changes: list[FileChange]) -> Workspace:
    workspace = Workspace(root)
    for change in changes:
        if change.after is None:
            workspace.delete(change.path)
        else:
            workspace.write_bytes(change.path, change.after)
    return workspace


class RecordingDisk(disk_module.Disk):
    """The real disk, with every operation recorded; ``fail_at`` makes the operation of that index raise."""

    def __init__(self, fail_at: int | None = None, error: int = errno.ENOSPC):
        self.operations: list[str] = []
        self.fail_at, self.error = fail_at, error

    def _step(self, name: str) -> None:
        self.operations.append(name)
        if self.fail_at is not None and len(self.operations) - 1 == self.fail_at:
            raise OSError(self.error, os.strerror(self.error))

    def write_new(self, path, data, mode, kind):
        self._step(f"write {kind}")
        super().write_new(path, data, mode, kind)

    def fsync(self, descriptor):
        self._step("fsync")
        super().fsync(descriptor)

    def fsync_directory(self, directory):
        self._step("fsync directory")
        super().fsync_directory(directory)

    def replace(self, source, target):
        self._step("replace")
        super().replace(source, target)

    def unlink(self, path):
        self._step("unlink")
        super().unlink(path)


def _commit_operations(pristine: Path, planned: list[FileChange], tmp_path: Path, monkeypatch) -> list[str]:
    recording = RecordingDisk()
    monkeypatch.setattr(disk_module, "DISK", recording)
    monkeypatch.setattr("codemods.core.journal.DISK", recording)
    commit(staged_workspace(fresh_copy(pristine, tmp_path / "count"), planned))
    return recording.operations


def test_a_commit_makes_every_kind_of_disk_operation(pristine, planned, tmp_path, monkeypatch):
    operations = _commit_operations(pristine, planned, tmp_path, monkeypatch)
    assert {"write stage", "write journal", "fsync", "fsync directory", "replace", "unlink"} <= set(operations)
    # The journal is on the disk, flushed, before the first file is replaced.
    first_file_replace = operations.index("replace", operations.index("write stage"))
    assert operations.index("write journal") < operations.index("write stage") < first_file_replace


def test_a_failure_at_any_disk_operation_leaves_the_tree_as_it_was(pristine, planned, tmp_path, monkeypatch):
    operations = _commit_operations(pristine, planned, tmp_path, monkeypatch)
    before = snapshot(pristine)
    for index, operation in enumerate(operations):
        root = fresh_copy(pristine, tmp_path / f"fail-{index}")
        failing = RecordingDisk(fail_at=index, error=errno.ENOSPC if index % 2 else errno.EACCES)
        monkeypatch.setattr("codemods.core.journal.DISK", failing)
        with pytest.raises(OSError):
            commit(staged_workspace(root, planned))
        monkeypatch.setattr("codemods.core.journal.DISK", disk_module.Disk())
        where = f"failure at operation {index} ({operation})"
        assert snapshot(root) == before, where
        assert leftovers(root) == [], where
        directory = journal_directory(Workspace(root))
        assert list(directory.glob("*")) == [] if directory.is_dir() else True, where
        assert latest_journal(root) is None, where
        if index % 9 == 0:  # the tree is usable afterwards: apply, then undo, both exact
            result = commit(staged_workspace(root, planned))
            assert result.changes
            undo(root)
            assert snapshot(root) == before, where
        shutil.rmtree(root)


def test_a_failure_during_undo_leaves_the_migration_in_place(pristine, planned, tmp_path, monkeypatch):
    root = fresh_copy(pristine, tmp_path / "migrated")
    before = snapshot(root)
    commit(staged_workspace(root, planned))
    migrated = snapshot(root)
    scratch = fresh_copy(pristine, tmp_path / "scratch")
    commit(staged_workspace(scratch, planned))
    counting = RecordingDisk()
    monkeypatch.setattr("codemods.core.journal.DISK", counting)
    undo(scratch)
    for index in range(0, len(counting.operations), 3):
        monkeypatch.setattr("codemods.core.journal.DISK", RecordingDisk(fail_at=index))
        with pytest.raises(OSError):
            undo(root)
        assert snapshot(root) == migrated, f"undo failing at {index} ({counting.operations[index]})"
        assert leftovers(root) == []
    monkeypatch.setattr("codemods.core.journal.DISK", disk_module.Disk())
    undo(root)
    assert snapshot(root) == before


def test_a_damaged_journal_is_a_clear_error_not_a_traceback(pristine, planned, tmp_path):
    root = fresh_copy(pristine, tmp_path / "repo")
    result = commit(staged_workspace(root, planned))
    result.journal.write_text('{"version": 2, "files": [{"path": "a.py", "before": "%%%', encoding="utf-8")
    with pytest.raises(JournalError, match="damaged"):
        undo(root)
    done = run_refactor("undo", root)
    assert done.returncode == 2
    assert "damaged" in done.stderr and "Traceback" not in done.stderr


def run_refactor(*args: object, env: dict[str, str] | None = None, prelude: str = "") -> subprocess.CompletedProcess:
    code = prelude + "\nfrom codemods.cli import app\napp(prog_name='refactor')\n"
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, cwd=REPO_ROOT,
        env={**os.environ, **(env or {})}, check=False, timeout=300,
    )


# Runs in the child before the CLI: after the K-th rename the process sends itself a signal.
SIGNAL_AFTER_REPLACE = """
import os, signal
_real_replace, _count = os.replace, [0]
def _replace(*args, **kwargs):
    _real_replace(*args, **kwargs)
    _count[0] += 1
    if _count[0] == {k}:
        os.kill(os.getpid(), signal.{signal})
os.replace = _replace
"""


# 14 renames in all: the prepared journal, the 12 files the plan rewrites, the committed journal.
@pytest.mark.parametrize("k", [1, 5, 12, 13, 14])
def test_kill_9_during_apply_then_the_next_command_recovers_the_exact_bytes(pristine, tmp_path, k):
    root = fresh_copy(pristine, tmp_path / "repo")
    before = snapshot(root)
    killed = run_refactor("apply", root, "--no-diff", prelude=SIGNAL_AFTER_REPLACE.format(k=k, signal="SIGKILL"))
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    if latest_journal(root) is not None:  # killed after the commit point: the migration stands, undo works
        assert run_refactor("check", root).returncode == 0
        assert run_refactor("undo", root).returncode == 0
    else:
        assert snapshot(root) != before or k == 1, "the kill came after files were replaced"
        status = run_refactor("status", root)
        assert status.returncode == 0, status.stderr
        assert "recovered" in status.stderr and "Traceback" not in status.stderr
    assert snapshot(root) == before, f"killed after rename {k}"
    assert leftovers(root) == []
    if k == 5:  # and the repository is as usable as before
        again = run_refactor("apply", root, "--no-diff")
        assert again.returncode == 0, again.stderr
        assert run_refactor("undo", root).returncode == 0
        assert snapshot(root) == before


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_ctrl_c_or_sigterm_during_apply_rolls_back(pristine, tmp_path, name):
    root = fresh_copy(pristine, tmp_path / "repo")
    before = snapshot(root)
    done = run_refactor("apply", root, "--no-diff", prelude=SIGNAL_AFTER_REPLACE.format(k=4, signal=name))
    assert done.returncode == 130, done.stderr
    assert "restored" in done.stderr and "Traceback" not in done.stderr
    assert snapshot(root) == before
    assert leftovers(root) == []
    assert latest_journal(root) is None


def test_apply_exits_2_naming_the_lock_while_another_command_writes(pristine, tmp_path):
    root = fresh_copy(pristine, tmp_path / "repo")
    before = snapshot(root)
    with exclusive_lock(journal_directory(Workspace(root)).parent) as lock:
        done = run_refactor("apply", root, "--no-diff")
        with pytest.raises(LockBusy):
            with exclusive_lock(lock.parent):
                pass
    assert done.returncode == 2
    assert str(lock) in done.stderr.replace("\n", "") and "another refactor command" in done.stderr
    assert snapshot(root) == before


def test_two_concurrent_applies_migrate_once(pristine, tmp_path):
    root = fresh_copy(pristine, tmp_path / "repo")
    command = [sys.executable, "-c", "from codemods.cli import app; app(prog_name='refactor')", "apply", str(root), "--no-diff"]
    processes = [subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in processes]
    codes = sorted(code for code, _ in results)
    assert codes in ([0, 0], [0, 2]), results
    journals = [json.loads(p.read_text()) for p in journal_directory(Workspace(root)).glob("*.json")]
    assert [j["label"] for j in journals] == ["apply"], "exactly one apply was written"
    assert leftovers(root) == []
    assert run_refactor("check", root).returncode == 0


@pytest.mark.parametrize("inside", [True, False], ids=["link-inside-root", "link-outside-root"])
def test_apply_refuses_to_write_through_a_symlink(pristine, tmp_path, inside):
    root = fresh_copy(pristine, tmp_path / "repo")
    target = (root / "vendor" / "collators.py") if inside else (tmp_path / "elsewhere" / "collators.py")
    target.parent.mkdir()
    shutil.move(root / "src/data/collators.py", target)
    (root / "src/data/collators.py").symlink_to(target)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "collators live elsewhere")
    before, target_before = snapshot(root), target.read_bytes()
    done = run_refactor("apply", root, "--no-diff")
    assert done.returncode == 2, done.stderr
    message = done.stderr.replace("\n", "")
    assert "src/data/collators.py" in message and ("symbolic link" in message or "outside ROOT" in message), message
    assert snapshot(root) == before and target.read_bytes() == target_before
    assert (root / "src/data/collators.py").is_symlink()


def test_workspace_refuses_a_symlinked_target_when_planning(tmp_path):
    (tmp_path / "real.py").write_text("x = 1\n")
    (tmp_path / "link.py").symlink_to(tmp_path / "real.py")
    with pytest.raises(WorkspaceError, match="symbolic link"):
        Workspace(tmp_path).write_text("link.py", "x = 2\n")


def test_undo_in_a_subdirectory_root_leaves_the_outer_index_as_it_was(tmp_path):
    outer = tmp_path / "monorepo"
    (outer / "other").mkdir(parents=True)
    (outer / "other" / "keep.py").write_text("keep = 1\n")
    shutil.copytree(TARGET_REPO, outer / "vlm", ignore=shutil.ignore_patterns("__pycache__"))
    git(outer, "init", "-q")
    git(outer, "add", "-A")
    git(outer, "commit", "-qm", "monorepo")
    index_before = git(outer, "ls-files", "-s")
    before = snapshot(outer)
    applied = run_refactor("apply", outer / "vlm", "--no-diff")
    assert applied.returncode == 0, applied.stderr
    assert git(outer, "ls-files", "-s") != index_before, "the deleted script left the index, as git rm does"
    undone = run_refactor("undo", outer / "vlm")
    assert undone.returncode == 0, undone.stderr
    assert git(outer, "ls-files", "-s") == index_before
    assert git(outer, "status", "--porcelain") == ""
    assert snapshot(outer) == before


def test_outside_git_read_only_commands_write_nothing_after_an_apply(tmp_path):
    """Outside git the journal and lock live in ROOT/.refactor: a dry run, status or check must not touch them."""
    from typer.testing import CliRunner

    from codemods.cli import app

    root = tmp_path / "no-git"
    shutil.copytree(TARGET_REPO, root, ignore=shutil.ignore_patterns("__pycache__"))
    runner = CliRunner()
    assert runner.invoke(app, ["apply", str(root), "--no-diff", "-q"]).exit_code == 0
    assert (root / ".refactor").is_dir()

    def stamped() -> dict[str, tuple[bytes, int, int]]:
        return {
            path.relative_to(root).as_posix(): (path.read_bytes(), path.stat().st_mode, path.stat().st_mtime_ns)
            for path in sorted(root.rglob("*")) if path.is_file()
        }

    before = stamped()
    for command in (["apply", str(root), "--dry-run"], ["status", str(root)], ["check", str(root)],
                    ["apply", str(root), "--no-diff"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 0, (command, result.output)
        assert stamped() == before, command


@pytest.mark.parametrize("in_git", [True, False])
def test_undo_finds_the_migration_after_the_repository_moved(pristine, tmp_path, in_git):
    """The journal records ROOT's place inside the repository, not the absolute path it had."""
    if in_git:
        root = fresh_copy(pristine, tmp_path / "before-move")
    else:
        root = tmp_path / "before-move"
        shutil.copytree(TARGET_REPO, root, ignore=shutil.ignore_patterns("__pycache__"))
    before = snapshot(root)
    staged = staged_workspace(root, plan_migration(root, load_recipe()).changes)
    commit(staged)
    moved = root.rename(tmp_path / "moved" if in_git else tmp_path / "moved-elsewhere")
    assert latest_journal(moved) is not None
    undo(moved)
    assert {k: v for k, v in snapshot(moved).items() if not k.startswith(".refactor/")} == before


# Runs in the child before the CLI: a Ctrl-C arrives while git's index is brought in line, after the commit.
SIGINT_DURING_GIT = """
import os, signal, subprocess
_real_run = subprocess.run
def _run(command, *args, **kwargs):
    if {words!r} <= set(map(str, command)):
        os.kill(os.getpid(), signal.SIGINT)
    return _real_run(command, *args, **kwargs)
subprocess.run = _run
"""


def test_ctrl_c_after_the_commit_says_the_migration_stands_and_undo_works(pristine, tmp_path):
    """It used to say "every file was restored" while every file stayed migrated."""
    root = fresh_copy(pristine, tmp_path / "repo")
    before = snapshot(root)
    done = run_refactor("apply", root, "--no-diff", prelude=SIGINT_DURING_GIT.format(words={"rm", "--cached"}))
    assert done.returncode == 130, done.stderr
    assert "after the migration was written" in done.stderr and "restored" not in done.stderr, done.stderr
    assert latest_journal(root) is not None and not (root / "analyze_tokens.py").exists()
    assert "D  analyze_tokens.py" in git(root, "status", "--porcelain"), "the deletion is staged all the same"
    assert run_refactor("check", root).returncode == 0
    undone = run_refactor("undo", root, prelude=SIGINT_DURING_GIT.format(words={"update-index", "--cacheinfo"}))
    assert undone.returncode == 130 and "after the undo was written" in undone.stderr, undone.stderr
    assert snapshot(root) == before
    assert "analyze_tokens.py" in git(root, "ls-files"), "the index entry came back before the signal was taken"


def test_undo_refuses_a_file_whose_mode_changed_after_the_migration(pristine, tmp_path):
    root = fresh_copy(pristine, tmp_path / "repo")
    assert run_refactor("apply", root, "--no-diff").returncode == 0
    collators = root / "src" / "data" / "collators.py"
    collators.chmod(0o755)
    refused = run_refactor("undo", root)
    assert refused.returncode == 2 and "src/data/collators.py (mode 755, was 644)" in refused.stderr, refused.stderr
    assert collators.stat().st_mode & 0o777 == 0o755
    assert run_refactor("undo", root, "--force").returncode == 0


def test_a_link_out_of_root_to_code_with_old_names_fails_check_and_is_named_by_apply(pristine, tmp_path):
    """Such a link was skipped without a word: apply exited 0, check and verify passed, the code broke on import."""
    root = fresh_copy(pristine, tmp_path / "repo")
    outside = tmp_path / "elsewhere" / "debug.py"
    outside.parent.mkdir()
    linked = root / "src" / "utils" / "debug.py"
    outside.write_bytes(linked.read_bytes())
    linked.unlink()
    linked.symlink_to(outside)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "linked")
    checked = run_refactor("check", root, "-q")
    assert checked.returncode == 2, checked.stdout + checked.stderr
    assert f"src/utils/debug.py: a symbolic link to {outside}, outside ROOT, which holds old names" in checked.stderr
    planned = run_refactor("apply", root, "--dry-run", "--no-diff")
    assert planned.returncode == 0
    assert "[task links] src/utils/debug.py  a symbolic link to" in planned.stdout, planned.stdout
    verified = run_refactor("verify", root, "--no-smoke")
    assert verified.returncode != 0 and "outside ROOT" in verified.stdout + verified.stderr



def test_a_linked_directory_out_of_root_with_old_names_fails_check_too(pristine, tmp_path):
    root = fresh_copy(pristine, tmp_path / "repo")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "ext.py").write_text("from src.data.collators import collate_fn_fixed_1\n", encoding="utf-8")
    (root / "src" / "extdir").symlink_to(outside)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "linked directory")
    checked = run_refactor("check", root, "-q")
    assert checked.returncode == 2 and f"src/extdir: a symbolic link to {outside}, outside ROOT" in checked.stderr
