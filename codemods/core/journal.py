"""Writing a workspace's pending edits all or none, and undoing them from a journal.

The journal records each file's previous bytes, mode and git index entry, so
that :func:`undo` restores exactly what was there before :func:`commit`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from codemods.core.workspace import JOURNAL_DIR_NAME, FileChange, Workspace, _git


def journal_directory(workspace: Workspace) -> Path:
    """Inside .git/ when ROOT is in a git repository, else a dot-directory beside ROOT's files."""
    if workspace.git_root is not None:
        git_dir = _git(workspace.directory, "rev-parse", "--absolute-git-dir").stdout.strip()
        return Path(git_dir) / "refactor" / "journal"
    return workspace.directory / JOURNAL_DIR_NAME / "journal"


def _index_entry(workspace: Workspace, relative: str) -> str | None:
    if workspace.git_root is None:
        return None
    result = _git(workspace.directory, "ls-files", "-s", "--", relative, check=False)
    line = result.stdout.strip()
    return line or None


@dataclass
class CommitResult:
    journal: Path
    changes: list[FileChange]


def commit(workspace: Workspace, label: str = "apply") -> CommitResult:
    """Write all pending changes or none, and record how to undo them."""
    changes = workspace.changes()
    journal_dir = journal_directory(workspace)
    journal_dir.mkdir(parents=True, exist_ok=True)
    # Nanoseconds keep two migrations in the same second apart and the names in time order.
    journal_path = journal_dir / f"{time.strftime('%Y%m%dT%H%M%S')}-{time.time_ns():020d}-{label}.json"
    entries = []
    for change in changes:
        path = workspace.path(change.path)
        entries.append(
            {
                "path": change.path,
                "before": base64.b64encode(change.before).decode() if change.before is not None else None,
                "after_sha256": hashlib.sha256(change.after).hexdigest() if change.after is not None else None,
                "mode": (path.stat().st_mode & 0o7777) if change.before is not None else None,
                "index": _index_entry(workspace, change.path),
            }
        )
    record = {"version": 1, "directory": str(workspace.directory), "label": label, "complete": False, "files": entries}
    journal_path.write_text(json.dumps(record, indent=1), encoding="utf-8")

    done: list[FileChange] = []
    try:
        staged = [(change, _stage(workspace.path(change.path), change.after)) for change in changes]
        for change, temporary in staged:
            target = workspace.path(change.path)
            if change.after is None:
                target.unlink()
            else:
                os.replace(temporary, target)
            done.append(change)
    except BaseException:
        _rollback(workspace, done)
        for _, temporary in locals().get("staged", []):
            if temporary is not None and temporary.exists():
                temporary.unlink()
        journal_path.unlink(missing_ok=True)
        raise
    _stage_deletions_in_git(workspace, [c for c in changes if c.after is None])
    record["complete"] = True
    journal_path.write_text(json.dumps(record, indent=1), encoding="utf-8")
    return CommitResult(journal_path, changes)


def _stage(target: Path, data: bytes | None) -> Path | None:
    if data is None:
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".refactor-tmp", dir=target.parent)
    with os.fdopen(handle, "wb") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())
    mode = target.stat().st_mode & 0o7777 if target.exists() else 0o644
    os.chmod(name, mode)
    return Path(name)


def _rollback(workspace: Workspace, done: list[FileChange]) -> None:
    for change in reversed(done):
        target = workspace.path(change.path)
        if change.before is None:
            target.unlink(missing_ok=True)
        else:
            target.write_bytes(change.before)


def _stage_deletions_in_git(workspace: Workspace, deletions: list[FileChange]) -> None:
    """`git rm` semantics: a tracked file the plan deletes is removed from the index too."""
    for change in deletions:
        if workspace.git_root is not None and _index_entry(workspace, change.path):
            _git(workspace.directory, "rm", "--cached", "--quiet", "--", change.path, check=False)


class UndoError(RuntimeError):
    pass


def latest_journal(root: Path) -> Path | None:
    workspace = Workspace(root)
    directory = journal_directory(workspace)
    journals = sorted(p for p in directory.glob("*.json")) if directory.is_dir() else []
    for journal in reversed(journals):
        record = json.loads(journal.read_text(encoding="utf-8"))
        # One repository's journal can hold migrations of several roots inside it.
        if record.get("directory") != str(workspace.directory):
            continue
        if record.get("complete") and not record.get("undone"):
            return journal
    return None


def undo(root: Path, force: bool = False) -> list[str]:
    """Restore the files of the latest applied migration under ROOT to their exact previous bytes."""
    journal = latest_journal(root)
    if journal is None:
        raise UndoError(f"nothing to undo under {root}: no applied migration is recorded")
    workspace = Workspace(root)
    record = json.loads(journal.read_text(encoding="utf-8"))
    entries = record["files"]
    edited_since = []
    for entry in entries:
        path = workspace.path(entry["path"])
        current = path.read_bytes() if path.is_file() else None
        current_sha = hashlib.sha256(current).hexdigest() if current is not None else None
        if current_sha != entry["after_sha256"]:
            edited_since.append(entry["path"])
    if edited_since and not force:
        raise UndoError(
            "these files changed after the migration; undo would overwrite that work "
            f"(pass --force to restore anyway): {', '.join(edited_since)}"
        )
    restored = []
    for entry in entries:
        path = workspace.path(entry["path"])
        if entry["before"] is None:
            path.unlink(missing_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(base64.b64decode(entry["before"]))
            os.chmod(path, entry["mode"])
        if entry.get("index"):
            mode, sha, _stage_no, _ = entry["index"].split(maxsplit=3)
            _git(workspace.directory, "update-index", "--add", "--cacheinfo", f"{mode},{sha},{entry['path']}")
        restored.append(entry["path"])
    record["undone"] = True
    journal.write_text(json.dumps(record, indent=1), encoding="utf-8")
    return restored
