"""The one place that writes: all-or-nothing commits, journals, exact undo, git rm semantics."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from codemods.core import disk as disk_module
from codemods.core import workspace as workspace_module
from codemods.core.journal import UndoError, commit, journal_directory, undo
from codemods.core.workspace import Workspace


def tree_digest(root: Path) -> dict[str, tuple[str, int]]:
    """Every file's bytes and mode under root (excluding .git)."""
    digest = {}
    for path in sorted(root.rglob("*")):
        if ".git" in path.relative_to(root).parts or not path.is_file():
            continue
        digest[path.relative_to(root).as_posix()] = (
            hashlib.sha256(path.read_bytes()).hexdigest(),
            path.stat().st_mode & 0o7777,
        )
    return digest


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "a.py").write_text("a = 1\n")
    (tmp_path / "b.py").write_text("b = 'é ✅'\n")
    (tmp_path / "script.py").write_text("print('x')\n")
    os.chmod(tmp_path / "script.py", 0o755)
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "c.py").write_text("c = 3\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "-c", "user.email=t@e", "-c", "user.name=t", "add", ".")
    git(tmp_path, "-c", "user.email=t@e", "-c", "user.name=t", "commit", "-qm", "init")
    return tmp_path


def test_overlay_is_read_back_and_nothing_touches_disk(repo: Path) -> None:
    before = tree_digest(repo)
    ws = Workspace(repo)
    ws.write_text("a.py", "a = 2\n")
    ws.delete("b.py")
    ws.write_text("new/d.py", "d = 4\n")
    assert ws.read_text("a.py") == "a = 2\n"
    assert not ws.exists("b.py")
    assert "new/d.py" in ws.files()
    assert "b.py" not in ws.files()
    assert [c.kind for c in ws.changes()] == ["modified", "deleted", "created"]
    assert tree_digest(repo) == before


def test_writing_back_the_original_text_is_no_change(repo: Path) -> None:
    ws = Workspace(repo)
    ws.write_text("a.py", "a = 1\n")
    assert ws.changes() == []


def test_commit_then_undo_restores_exact_bytes_modes_and_deleted_files(repo: Path) -> None:
    before = tree_digest(repo)
    ws = Workspace(repo)
    ws.write_text("script.py", "print('y')\n")
    ws.delete("b.py")
    ws.write_text("pkg/new.py", "n = 1\n")
    result = commit(ws)
    assert result.journal.parent == journal_directory(ws)
    assert ".git" in result.journal.parts, "the journal lives outside the user's files"
    assert (repo / "script.py").read_text() == "print('y')\n"
    assert (repo / "script.py").stat().st_mode & 0o777 == 0o755, "mode kept on rewrite"
    assert not (repo / "b.py").exists()
    assert "b.py" not in git(repo, "ls-files"), "deletion is staged like git rm"
    restored = undo(repo)
    assert sorted(restored.paths) == ["b.py", "pkg/new.py", "script.py"] and not restored.interrupted_after_commit
    assert tree_digest(repo) == before
    assert "b.py" in git(repo, "ls-files"), "the index entry comes back too"
    assert git(repo, "status", "--porcelain") == ""


@pytest.mark.parametrize("name", ["ü/analyze tokens.py", "данные/x.py", "tab\tname.py"])
def test_undo_restores_the_index_entry_of_a_deleted_file_with_an_unusual_path(repo: Path, name: str) -> None:
    """git quotes such a path in its plain output; the entry must come back as the path itself."""
    (repo / name).parent.mkdir(parents=True, exist_ok=True)
    (repo / name).write_text("x = 1\n")
    git(repo, "add", ".")
    git(repo, "-c", "user.email=t@e", "-c", "user.name=t", "commit", "-qm", "unusual")
    ws = Workspace(repo)
    ws.delete(name)
    commit(ws)
    assert name not in git(repo, "ls-files", "-z").split("\0")
    undo(repo)
    assert name in git(repo, "ls-files", "-z").split("\0")
    assert git(repo, "status", "--porcelain") == ""


def test_failure_midway_leaves_every_file_as_it_was(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = tree_digest(repo)
    ws = Workspace(repo)
    ws.write_text("a.py", "a = 10\n")
    ws.write_text("b.py", "b = 20\n")
    ws.write_text("pkg/c.py", "c = 30\n")
    real_replace = os.replace
    calls = []

    def failing_replace(src, dst):
        calls.append(dst)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(disk_module.os, "replace", failing_replace)
    with pytest.raises(OSError):
        commit(ws)
    assert len(calls) >= 3  # the journal, two files, then the restores of the rollback
    assert tree_digest(repo) == before
    leftovers = [p for p in repo.rglob("*.refactor-tmp")]
    assert leftovers == []


def test_undo_refuses_to_overwrite_later_edits_unless_forced(repo: Path) -> None:
    ws = Workspace(repo)
    ws.write_text("a.py", "a = 2\n")
    commit(ws)
    (repo / "a.py").write_text("a = 3  # edited by hand\n")
    with pytest.raises(UndoError, match="changed after the migration"):
        undo(repo)
    undo(repo, force=True)
    assert (repo / "a.py").read_text() == "a = 1\n"


def test_undo_with_nothing_recorded_says_so(tmp_path: Path) -> None:
    (tmp_path / "x.py").write_text("x = 1\n")
    with pytest.raises(UndoError, match="nothing to undo"):
        undo(tmp_path)


def test_journal_outside_git_goes_to_a_dot_directory(tmp_path: Path) -> None:
    (tmp_path / "x.py").write_text("x = 1\n")
    ws = Workspace(tmp_path)
    ws.write_text("x.py", "x = 2\n")
    result = commit(ws)
    assert result.journal.is_relative_to(tmp_path / ".refactor")
    undo(tmp_path)
    assert (tmp_path / "x.py").read_text() == "x = 1\n"
    assert "x.py" in Workspace(tmp_path).files() and all(".refactor" not in f for f in Workspace(tmp_path).files())


def test_single_file_root_scopes_every_operation(repo: Path) -> None:
    ws = Workspace(repo / "a.py")
    assert ws.files() == ["a.py"]
    with pytest.raises(workspace_module.WorkspaceError, match="outside the migration scope"):
        ws.write_text("b.py", "b = 0\n")


def test_files_honour_gitignore(repo: Path) -> None:
    (repo / ".gitignore").write_text("ignored/\n")
    (repo / "ignored").mkdir()
    (repo / "ignored" / "z.py").write_text("z = 1\n")
    (repo / "untracked.py").write_text("u = 1\n")
    files = Workspace(repo).files()
    assert "untracked.py" in files
    assert "ignored/z.py" not in files


@pytest.mark.parametrize("trust_index", [False, True])
def test_a_tracked_file_in_a_directory_named_like_an_environment_is_listed(repo: Path, trust_index: bool) -> None:
    """``src/env/``, ``build/`` are the user's code when git tracks them; an unignored ``venv/`` is not."""
    for relative in ("src/env/reward.py", "build/steps.py", "wandb/hooks.py"):
        (repo / relative).parent.mkdir(parents=True, exist_ok=True)
        (repo / relative).write_text("x = 1\n")
    git(repo, "add", ".")
    (repo / "venv" / "lib").mkdir(parents=True)
    (repo / "venv" / "lib" / "site.py").write_text("y = 1\n")
    (repo / "build" / "untracked.py").write_text("z = 1\n")
    files = Workspace(repo).files((".py",), trust_index=trust_index)
    assert {"src/env/reward.py", "build/steps.py", "wandb/hooks.py"} <= set(files), files
    assert "venv/lib/site.py" not in files and "build/untracked.py" not in files, files


def test_outside_git_environment_directories_are_not_walked(tmp_path: Path) -> None:
    for relative in ("train.py", "venv/lib/site.py", "build/lib/train.py", "wandb/run-1/files/code/train.py"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("x = 1\n")
    assert Workspace(tmp_path).files((".py",)) == ["train.py"]


def test_dirty_tree_is_reported(repo: Path) -> None:
    assert Workspace(repo).is_dirty() == []
    (repo / "a.py").write_text("a = 5\n")
    assert Workspace(repo).is_dirty() == ["a.py"]


def test_undo_picks_the_migration_of_its_own_root(repo: Path) -> None:
    first = Workspace(repo / "pkg")
    first.write_text("c.py", "c = 33\n")
    commit(first)
    whole = Workspace(repo)
    whole.write_text("a.py", "a = 11\n")
    commit(whole)
    assert undo(repo / "pkg").paths == ["c.py"]
    assert (repo / "pkg" / "c.py").read_text() == "c = 3\n"
    assert (repo / "a.py").read_text() == "a = 11\n", "the other root's migration is left alone"
    assert undo(repo).paths == ["a.py"]


def test_a_file_in_a_declared_encoding_is_read_and_written_in_it(repo: Path) -> None:
    source = "# -*- coding: latin-1 -*-\nLABEL = 'Nährwerte'\n"
    (repo / "latin.py").write_bytes(source.encode("latin-1"))
    ws = Workspace(repo)
    assert ws.read_text("latin.py") == source
    ws.write_text("latin.py", source.replace("LABEL", "TITLE"))
    assert ws.read_bytes("latin.py") == source.replace("LABEL", "TITLE").encode("latin-1")
    with pytest.raises(workspace_module.WorkspaceError, match="declares the encoding iso-8859-1.*convert the file"):
        ws.write_text("latin.py", source + "ARROW = '→'\n")
    (repo / "bad.py").write_bytes(b"LABEL = '\xe4'\n")  # no coding line: not UTF-8, and nothing says otherwise
    with pytest.raises(workspace_module.WorkspaceError, match="not UTF-8"):
        Workspace(repo).read_text("bad.py")
