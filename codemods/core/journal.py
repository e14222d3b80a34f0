"""Writing a workspace's pending edits all or none, even under ``kill -9``, and undoing them.

A commit is a write-ahead transaction, as SQLite's rollback journal is:

1. take the repository's lock (:func:`codemods.core.disk.exclusive_lock`) and roll back
   any transaction a killed process left *prepared*;
2. check that no file changed since it was planned (and that none is a symbolic link);
3. write the journal (every file's previous bytes and mode, the hash of its new bytes,
   the name of its temporary file), flushed to the disk and renamed into place: *prepared*;
4. write every new file's bytes to its temporary file, flushed;
5. rename each temporary file over its file (or remove a deleted one), flush the directories;
6. rewrite the journal as *committed*: from here on the migration has happened.

Any failure or signal before step 6 restores every file from the journal and removes
every temporary file and the journal itself. A process killed before step 6 leaves a
*prepared* journal, which the next command (:func:`recover`) rolls back. :func:`undo`
restores the exact previous bytes through the same kind of transaction.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from codemods.core.disk import DISK, Interrupted, exclusive_lock, signals_deferred, signals_roll_back
from codemods.core.workspace import JOURNAL_DIR_NAME, FileChange, Workspace, WorkspaceError, _git

PREPARED, COMMITTED = "prepared", "committed"
TEMP_SUFFIX = ".refactor-tmp"


class JournalError(RuntimeError):
    """A journal cannot be read, or a transaction cannot be finished; the message says what to do."""


UndoError = JournalError  # what `undo` raises: nothing to undo, edited files, a damaged journal


def journal_directory(workspace: Workspace) -> Path:
    """Inside .git/ when ROOT is in a git repository, else a dot-directory beside ROOT's files."""
    if workspace.git_root is not None:
        git_dir = _git(workspace.directory, "rev-parse", "--absolute-git-dir").stdout.strip()
        return Path(git_dir) / "refactor" / "journal"
    return workspace.directory / JOURNAL_DIR_NAME / "journal"


def _base(workspace: Workspace) -> Path:
    """What a journal's places are relative to: the repository's work tree, or ROOT outside git."""
    return (workspace.git_root or workspace.directory).resolve()


def _place(workspace: Workspace) -> str:
    """ROOT inside its repository, so that a journal still finds its files after the repository moves."""
    return Path(os.path.relpath(workspace.directory.resolve(), _base(workspace))).as_posix()


def _record_directory(record: dict, base: Path) -> Path:
    """Where a journal's files are now: its place inside the repository (the absolute path for older journals)."""
    place = record.get("place")
    return base / place if isinstance(place, str) else Path(record["directory"])


def _sha(data: bytes | None) -> str | None:
    return hashlib.sha256(data).hexdigest() if data is not None else None


def _read_current(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() and not path.is_symlink() else None


def _write_record(path: Path, record: dict) -> None:
    """Replace the journal at ``path`` atomically: a crash leaves the old record or the new one, never half."""
    temporary = path.with_name(path.name + TEMP_SUFFIX)
    temporary.unlink(missing_ok=True)
    try:
        DISK.write_new(temporary, json.dumps(record, indent=1).encode("utf-8"), 0o644, "journal")
        DISK.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    DISK.fsync_directory(path.parent)


def read_record(path: Path) -> dict:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(record, dict) or not isinstance(record.get("files"), list):
            raise ValueError("not a journal record")
        for entry in record["files"]:
            if entry.get("before") is not None:
                base64.b64decode(entry["before"], validate=True)
    except (OSError, ValueError, UnicodeDecodeError, binascii.Error, AttributeError, TypeError) as error:
        raise JournalError(
            f"the journal {path} is damaged ({error}); move it aside to go on "
            "(the files it describes were not changed by this command)"
        ) from None
    return record


def _state(record: dict) -> str:
    if "state" in record:
        return record["state"]
    return COMMITTED if record.get("complete") else PREPARED  # journals of the first format


@dataclass
class CommitResult:
    journal: Path
    changes: list[FileChange]
    # A signal came once every file was written and the journal committed: the change stands, whole.
    interrupted_after_commit: bool = False


def _entries(workspace: Workspace, changes: list[FileChange], token: str, modes: dict[str, int]) -> list[dict]:
    entries = []
    for change in changes:
        path = workspace.path(change.path)
        mode = modes.get(change.path)
        if mode is None:
            mode = path.stat().st_mode & 0o7777 if change.before is not None else 0o644
        entries.append({
            "path": change.path,
            "before": base64.b64encode(change.before).decode() if change.before is not None else None,
            "before_sha256": _sha(change.before),
            "after_sha256": _sha(change.after),
            "mode": mode,
            "temp": f".{path.name}.{token}{TEMP_SUFFIX}" if change.after is not None else None,
            "index": _index_entry(workspace, change.path) if change.after is None else None,
        })
    return entries


def _refuse_unsafe_targets(workspace: Workspace, changes: list[FileChange]) -> None:
    """Nothing is written through a symbolic link, outside ROOT, or over a file edited since it was planned."""
    top = workspace.directory.resolve()
    for change in changes:
        path = workspace.path(change.path)
        if path.is_symlink():
            raise WorkspaceError(
                f"{change.path} is a symbolic link (to {path.resolve()}); refactor does not write through links: "
                "replace it with the file it points to, or leave it out of ROOT; nothing was written"
            )
        if not path.parent.resolve().is_relative_to(top):
            raise WorkspaceError(f"{change.path} lies outside ROOT through a linked directory; nothing was written")
        if _read_current(path) != change.before:
            raise WorkspaceError(
                f"{change.path} changed since the migration was planned (another refactor or an editor); "
                "nothing was written: run the command again"
            )


def commit(
    workspace: Workspace, label: str = "apply", *, modes: dict[str, int] | None = None, undoes: str | None = None,
    after_commit=None,
) -> CommitResult:
    """Write all pending changes or none, and record how to undo them.

    ``after_commit(workspace, changes)`` brings git's index in line once the files are committed (by
    default: a deleted tracked file leaves the index, as with ``git rm``). A signal that arrives from
    the commit on leaves the transaction standing; the result says it was interrupted.
    """
    after_commit = after_commit or _stage_deletions_in_git
    changes = workspace.changes()
    directory = journal_directory(workspace)
    with exclusive_lock(directory.parent):
        _recover_locked(directory, _base(workspace))
        _refuse_unsafe_targets(workspace, changes)
        directory.mkdir(parents=True, exist_ok=True)
        # Nanoseconds keep two transactions in the same second apart and the names in time order.
        token = f"{time.strftime('%Y%m%dT%H%M%S')}-{time.time_ns():020d}"
        journal = directory / f"{token}-{label}.json"
        record = {
            "version": 2, "state": PREPARED, "label": label, "directory": str(workspace.directory),
            "place": _place(workspace),
            "undoes": undoes, "files": _entries(workspace, changes, token, modes or {}),
        }
        committed = False
        try:
            with signals_roll_back():
                _write_record(journal, record)
                _write_files(workspace.directory, record, {c.path: c.after for c in changes})
                record["state"] = COMMITTED
                _write_record(journal, record)
                committed = True
            with signals_deferred():  # git's index follows: a Ctrl-C now must not be told as a rollback
                after_commit(workspace, changes)
        except BaseException as error:
            if committed and isinstance(error, (KeyboardInterrupt, Interrupted)):
                return CommitResult(journal, changes, interrupted_after_commit=True)
            if not committed:
                with signals_deferred():
                    _roll_back(workspace.directory, record)
                    journal.unlink(missing_ok=True)
            raise
    return CommitResult(journal, changes)


def _write_files(directory: Path, record: dict, afters: dict[str, bytes | None]) -> None:
    entries = record["files"]
    for entry in entries:
        if entry["temp"] is not None:
            target = directory / entry["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            DISK.write_new(target.parent / entry["temp"], afters[entry["path"]], entry["mode"], "stage")
    for entry in entries:
        target = directory / entry["path"]
        if entry["temp"] is None:
            DISK.unlink(target)
        else:
            DISK.replace(target.parent / entry["temp"], target)
    for parent in sorted({(directory / entry["path"]).parent for entry in entries}):
        DISK.fsync_directory(parent)


def _roll_back(directory: Path, record: dict) -> list[str]:
    """Put every file of a prepared transaction back as the journal describes it; remove its temporary files."""
    restored = []
    for entry in record["files"]:
        target = directory / entry["path"]
        if entry.get("temp"):
            (target.parent / entry["temp"]).unlink(missing_ok=True)
        before = base64.b64decode(entry["before"]) if entry.get("before") is not None else None
        if _read_current(target) == before:
            continue
        if before is None:
            target.unlink(missing_ok=True)
        else:
            _restore(target, before, entry.get("mode", 0o644))
        restored.append(entry["path"])
    return restored


def _restore(target: Path, data: bytes, mode: int) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.restore{TEMP_SUFFIX}")
    temporary.unlink(missing_ok=True)
    try:
        DISK.write_new(temporary, data, mode, "stage")
        DISK.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


@dataclass
class Recovered:
    journal: Path
    label: str
    restored: list[str]


def _recover_locked(directory: Path, base: Path) -> list[Recovered]:
    recovered = []
    for journal in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        record = read_record(journal)
        if _state(record) != PREPARED:
            continue
        with signals_deferred():
            restored = _roll_back(_record_directory(record, base), record)
            journal.unlink()
        recovered.append(Recovered(journal, record.get("label", "apply"), restored))
    for leftover in directory.glob(f"*{TEMP_SUFFIX}") if directory.is_dir() else []:
        leftover.unlink(missing_ok=True)  # a journal rewrite a crash interrupted
    return recovered


def recover(root: Path) -> list[Recovered]:
    """Roll back what an interrupted transaction in ROOT's repository left behind (nothing when none did)."""
    workspace = Workspace(root)
    directory = journal_directory(workspace)
    if not _left_behind(directory):
        return []  # nothing to roll back: no lock taken, so a read-only command writes nothing, not even the lock
    with exclusive_lock(directory.parent):
        return _recover_locked(directory, _base(workspace))


def _left_behind(directory: Path) -> bool:
    """Whether a transaction may have been cut short here: a journal still prepared, or a half-written rewrite."""
    if not directory.is_dir():
        return False
    if any(directory.glob(f"*{TEMP_SUFFIX}")):
        return True
    return any(_state(read_record(journal)) == PREPARED for journal in directory.glob("*.json"))


def _index_entry(workspace: Workspace, relative: str) -> str | None:
    if workspace.git_root is None:
        return None
    # -z: the path exactly as stored, never quoted (git quotes a non-ASCII path otherwise)
    result = _git(workspace.directory, "ls-files", "-s", "-z", "--full-name", "--", relative, check=False)
    line = result.stdout.split("\0", 1)[0]
    return line or None


def _stage_deletions_in_git(workspace: Workspace, changes: list[FileChange]) -> None:
    """`git rm` semantics: a tracked file the plan deletes is removed from the index too."""
    for change in changes:
        if change.after is None and workspace.git_root is not None and _index_entry(workspace, change.path):
            _git(workspace.directory, "rm", "--cached", "--quiet", "--", change.path, check=False)


# ---------------------------------------------------------------------- undo
def _undone_names(records: dict[Path, dict]) -> set[str]:
    undone = {path.name for path, record in records.items() if record.get("undone")}  # the first format
    return undone | {r["undoes"] for r in records.values() if r.get("undoes") and _state(r) == COMMITTED}


def latest_journal(root: Path) -> Path | None:
    """The journal of the last committed, not yet undone, apply of ROOT."""
    workspace = Workspace(root)
    directory = journal_directory(workspace)
    records = {path: read_record(path) for path in sorted(directory.glob("*.json"))} if directory.is_dir() else {}
    undone = _undone_names(records)
    base, here = _base(workspace), workspace.directory.resolve()
    for journal, record in reversed(records.items()):
        # One repository's journal can hold migrations of several roots inside it.
        if _record_directory(record, base) != here or record.get("label", "apply") == "undo":
            continue
        if _state(record) == COMMITTED and journal.name not in undone:
            return journal
    return None


@dataclass(frozen=True)
class UndoResult:
    paths: list[str]
    interrupted_after_commit: bool = False  # a signal came once the restore was committed: it stands, whole


def undo(root: Path, force: bool = False) -> UndoResult:
    """Restore the files of the latest applied migration under ROOT to their exact previous bytes and modes."""
    recover(root)
    journal = latest_journal(root)
    if journal is None:
        raise JournalError(f"nothing to undo under {root}: no applied migration is recorded")
    workspace = Workspace(root)
    entries = read_record(journal)["files"]
    edits = {entry["path"]: _edit(workspace, entry) for entry in entries}
    edited_since = [path + edit for path, edit in edits.items() if edit is not None]
    if edited_since and not force:
        raise JournalError(
            "these files changed after the migration; undo would overwrite that work "
            f"(pass --force to restore anyway): {', '.join(edited_since)}"
        )
    for entry in entries:
        if entry["before"] is None:
            if workspace.exists(entry["path"]):
                workspace.delete(entry["path"])
        else:
            workspace.write_bytes(entry["path"], base64.b64decode(entry["before"]))
    result = commit(
        workspace, "undo", modes={e["path"]: e["mode"] for e in entries if e.get("mode")}, undoes=journal.name,
        after_commit=lambda workspace, _changes: _restore_index_entries(workspace, entries),
    )
    return UndoResult([entry["path"] for entry in entries], result.interrupted_after_commit)


def _edit(workspace: Workspace, entry: dict) -> str | None:
    """How a file differs from what the migration left (None: not at all); a changed mode is an edit too."""
    path = workspace.path(entry["path"])
    if _sha(_read_current(path)) != entry["after_sha256"]:
        return ""
    if entry["after_sha256"] is not None and entry.get("mode") is not None:
        mode = path.stat().st_mode & 0o7777
        if mode != entry["mode"]:
            return f" (mode {mode:o}, was {entry['mode']:o})"
    return None


def _restore_index_entries(workspace: Workspace, entries: list[dict]) -> None:
    """Put back in git's index what the apply removed from it (its deletions), and nothing else."""
    if workspace.git_root is None:
        return
    for entry in entries:
        if not entry.get("index") or _index_entry(workspace, entry["path"]):
            continue
        meta, full_name = entry["index"].split("\t", 1)
        mode, sha, _stage_number = meta.split()
        _git(workspace.git_root, "update-index", "--add", "--cacheinfo", f"{mode},{sha},{full_name}", check=False)
