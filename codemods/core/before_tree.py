"""A repository's files as they were before a migration: from a git revision or from the apply journal.

``refactor verify`` compares the code before the migration with the code now (config fields,
deprecated aliases, losses). "Before" is either any git revision the user names (how a hand
refactor is judged) or the last committed apply journal, which records each file's previous
bytes. A git revision gives the complete tree under ROOT; a journal only the files the apply
touched, every other file being as it is now.
"""

from __future__ import annotations

import base64
import subprocess
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from codemods.core.journal import latest_journal, read_record
from codemods.core.workspace import Workspace, _git

_REGULAR_MODES = ("100644", "100755")


class BeforeError(RuntimeError):
    """The "before" state cannot be read (an unknown revision, git missing); the message says what to do."""


@dataclass
class BeforeTree:
    """ROOT's files before the migration, relative to the workspace directory (as the workspace names them).

    ``files`` maps a path to its previous bytes, ``None`` for a file that did not exist then.
    When ``complete`` (a git revision) it is the whole tree under ROOT; otherwise (a journal) it
    holds only the touched files and every other file reads as it is now.
    """

    root: Path
    source: str
    files: dict[str, bytes | None]
    complete: bool
    modes: dict[str, int] = field(default_factory=dict)

    @property
    def workspace(self) -> Workspace:
        return Workspace(self.root)

    def paths(self, suffixes: tuple[str, ...] = (".py",)) -> list[str]:
        """Every file under ROOT that existed before, with one of these suffixes."""
        if self.complete:
            present = {p for p, data in self.files.items() if data is not None}
        else:
            present = set(self.workspace.files(suffixes))
            present |= {p for p, data in self.files.items() if data is not None}
            present -= {p for p, data in self.files.items() if data is None}
        return sorted(p for p in present if p.endswith(suffixes))

    def read_bytes(self, relative: str) -> bytes | None:
        """The file's bytes before the migration, or None where it did not exist."""
        if relative in self.files:
            return self.files[relative]
        if self.complete:
            return None
        workspace = self.workspace
        return workspace.read_bytes(relative) if workspace.exists(relative) else None

    def read_text(self, relative: str) -> str | None:
        data = self.read_bytes(relative)
        return None if data is None else data.decode("utf-8", errors="replace")

    def changed(self) -> list[str]:
        """Paths whose bytes differ between before and now (created, deleted or edited since)."""
        workspace = self.workspace
        names = set(self.files)
        if self.complete:
            names |= set(workspace.files(("",)))
        different = []
        for relative in sorted(names):
            now = workspace.read_bytes(relative) if workspace.exists(relative) else None
            if now != self.files.get(relative):
                different.append(relative)
        return different

    def materialise(self, target: Path) -> Path:
        """Write the before state into the empty directory ``target``; returns ROOT's counterpart there.

        For a journal, files the apply did not touch are copied from the current tree, so the
        copy imports and runs as the repository did before.
        """
        workspace = self.workspace
        target = Path(target)
        if self.complete:
            contents = {p: d for p, d in self.files.items() if d is not None}
        else:
            contents = {p: workspace.read_bytes(p) for p in workspace.files(("",))}
            for relative, data in self.files.items():
                if data is None:
                    contents.pop(relative, None)
                else:
                    contents[relative] = data
        for relative, data in contents.items():
            destination = target / PurePosixPath(relative)
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(data)
            if relative in self.modes:
                destination.chmod(self.modes[relative] & 0o777)
        return target / workspace.single_file if workspace.single_file else target


# ---------------------------------------------------------------------- git
def _git_checked(directory: Path, *args: str) -> str:
    try:
        result = _git(directory, *args, check=False)
    except FileNotFoundError:
        raise BeforeError("--before needs git, which is not installed") from None
    if result.returncode != 0:
        raise BeforeError(result.stderr.strip() or f"git {' '.join(args)} failed")
    return result.stdout


def from_revision(root: Path, revision: str) -> BeforeTree:
    """ROOT's tracked files at ``revision`` (any revision git understands), read with git."""
    workspace = Workspace(root)
    if workspace.git_root is None:
        raise BeforeError(f"--before {revision}: {workspace.directory} is not inside a git repository")
    if revision.startswith("-"):
        raise BeforeError(f"--before {revision}: not a revision")
    try:
        commit = _git_checked(
            workspace.directory,
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            f"{revision}^{{commit}}",
        )
    except BeforeError:
        raise BeforeError(
            f"--before {revision}: git knows no such revision in {workspace.git_root} (give a commit, tag or branch)"
        ) from None
    commit = commit.strip()
    prefix = _git_checked(workspace.directory, "rev-parse", "--show-prefix").strip()
    scope = prefix + (workspace.single_file or "")
    listing = _git_checked(
        workspace.git_root, "ls-tree", "-r", "-z", "--full-tree", commit, "--", scope or "."
    )
    entries: list[tuple[str, str, str]] = []
    for line in listing.split("\0"):
        if not line:
            continue
        meta, path = line.split("\t", 1)
        mode, kind, sha = meta.split()
        if kind == "blob" and mode in _REGULAR_MODES and path.startswith(prefix):
            entries.append((path[len(prefix) :], sha, mode))
    contents = _blobs(workspace.git_root, [sha for _, sha, _ in entries])
    files = {relative: contents[sha] for relative, sha, _ in entries}
    modes = {relative: int(mode, 8) for relative, _, mode in entries}
    return BeforeTree(Path(root).resolve(), f"git revision {revision} ({commit[:12]})", files, True, modes)


def _blobs(repository: Path, shas: list[str]) -> dict[str, bytes]:
    """Every blob's bytes from one ``git cat-file --batch``."""
    unique = list(dict.fromkeys(shas))
    if not unique:
        return {}
    result = subprocess.run(
        ["git", "cat-file", "--batch"],
        cwd=repository,
        input="\n".join(unique).encode() + b"\n",
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        raise BeforeError(result.stderr.decode("utf-8", "replace").strip() or "git cat-file failed")
    out, position, blobs = result.stdout, 0, {}
    for sha in unique:
        header_end = out.index(b"\n", position)
        size = int(out[position:header_end].split()[2])
        blobs[sha] = out[header_end + 1 : header_end + 1 + size]
        position = header_end + 1 + size + 1
    return blobs


# ---------------------------------------------------------------------- journal
def from_journal(root: Path) -> BeforeTree | None:
    """The files the last committed (not undone) apply of ROOT changed, as they were; None without one."""
    journal = latest_journal(root)
    if journal is None:
        return None
    record = read_record(journal)
    workspace = Workspace(root)
    files: dict[str, bytes | None] = {}
    modes: dict[str, int] = {}
    for entry in record["files"]:
        if not workspace.in_scope(entry["path"]):
            continue
        files[entry["path"]] = base64.b64decode(entry["before"]) if entry.get("before") is not None else None
        if entry.get("mode"):
            modes[entry["path"]] = entry["mode"]
    return BeforeTree(Path(root).resolve(), f"the apply journal {journal.name}", files, False, modes)
