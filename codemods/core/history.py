"""Whether a file that is not in ROOT now ever was: deleted by a `refactor apply`, or known to git's history.

`status` tells a task whose target the migration removed ("done") from one whose
target this repository never had ("not applicable"): a repository that never had
the superseded script has nothing of that task to do, but nothing was done either.
"""

from __future__ import annotations

from codemods.core.journal import JournalError, latest_journal, read_record
from codemods.core.workspace import Workspace, _git


def deleted_by_apply(workspace: Workspace, relative: str) -> bool:
    """Whether the last applied (not undone) migration of ROOT deleted this file."""
    try:
        journal = latest_journal(workspace.directory)
        record = read_record(journal) if journal is not None else {"files": []}
    except (JournalError, OSError):
        return False
    return any(entry.get("path") == relative and entry.get("after_sha256") is None for entry in record["files"])


def in_git_history(workspace: Workspace, relative: str) -> bool:
    """Whether any commit of ROOT's git repository holds this path."""
    if workspace.git_root is None:
        return False
    try:
        found = _git(workspace.directory, "log", "-1", "--all", "--format=%H", "--", relative, check=False)
    except OSError:
        return False
    return found.returncode == 0 and bool(found.stdout.strip())


def ever_present(workspace: Workspace, relative: str) -> bool:
    return deleted_by_apply(workspace, relative) or in_git_history(workspace, relative)
