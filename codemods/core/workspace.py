"""The one place that reads and writes the user's files.

Codemods never touch the disk: they read through a :class:`Workspace` and record
their edits in its in-memory overlay; :mod:`codemods.core.journal` writes them
all or none and undoes them.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from codemods.core.encoding import UTF8, decode_source

# Directories that do not hold the user's own source: skipped when walking outside git, and for files git does
# not track (an unignored virtual environment); a file git tracks is the user's, wherever it lies.
_SKIPPED_DIRS = {
    ".git", ".hg", ".svn", ".venv", "venv", "env", "__pycache__", "node_modules", "site-packages",
    ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache", "build", "dist", ".refactor", "wandb",
    ".ipynb_checkpoints",
}
JOURNAL_DIR_NAME = ".refactor"
# One entry of `git ls-files --stage`: mode, object name, stage, a tab, then the path.
_STAGE_ENTRY = re.compile(r"(\d{6}) [0-9a-f]{40,64} \d\t")


def _in_skipped_directory(relative: str) -> bool:
    return bool(set(relative.split("/")[:-1]) & _SKIPPED_DIRS)


class WorkspaceError(RuntimeError):
    """A file cannot be read or written as asked."""


@dataclass(frozen=True)
class FileChange:
    path: str
    before: bytes | None
    after: bytes | None

    @property
    def kind(self) -> str:
        if self.before is None:
            return "created"
        if self.after is None:
            return "deleted"
        return "modified"

    def unified_diff(self) -> str:
        before = _decode(self.before or b"").splitlines(keepends=True)
        after = _decode(self.after or b"").splitlines(keepends=True)
        old_name = f"a/{self.path}" if self.before is not None else "/dev/null"
        new_name = f"b/{self.path}" if self.after is not None else "/dev/null"
        lines = difflib.unified_diff(before, after, old_name, new_name)
        return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="surrogateescape")


def _git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=check)


def git_toplevel(path: Path) -> Path | None:
    directory = path if path.is_dir() else path.parent
    try:
        result = _git(directory, "rev-parse", "--show-toplevel", check=False)
    except FileNotFoundError:
        return None
    return Path(result.stdout.strip()) if result.returncode == 0 else None


def split_root(root: Path) -> tuple[Path, str | None]:
    """ROOT as (the directory the migration works in, the one file it is limited to or None)."""
    root = Path(root)
    return (root.parent, root.name) if root.is_file() else (root, None)


class Workspace:
    """A read view of ROOT (a directory or a single file) with pending edits held in memory."""

    def __init__(self, root: Path):
        root = Path(root).resolve()
        if not root.exists():
            raise WorkspaceError(f"{root} does not exist")
        self.directory, self.single_file = split_root(root)
        self.git_root = git_toplevel(self.directory)
        self._overlay: dict[str, bytes | None] = {}
        self._originals: dict[str, bytes | None] = {}
        self._encodings: dict[str, str] = {}  # files read in an encoding their coding line declares
        # Filled by files(): symlinks left out (relative path -> where it points) and
        # directories that could not be listed (relative path -> reason).
        self.skipped_symlinks: dict[str, str] = {}
        self.unlistable: dict[str, str] = {}

    # ------------------------------------------------------------------ reading
    def path(self, relative: str) -> Path:
        return self.directory / PurePosixPath(relative)

    def in_scope(self, relative: str) -> bool:
        return self.single_file is None or relative == self.single_file

    def exists(self, relative: str) -> bool:
        if relative in self._overlay:
            return self._overlay[relative] is not None
        return self.in_scope(relative) and self.path(relative).is_file()

    def read_bytes(self, relative: str) -> bytes:
        if relative in self._overlay:
            data = self._overlay[relative]
            if data is None:
                raise WorkspaceError(f"{relative} is deleted by an earlier step")
            return data
        return self._original(relative) or b""

    def read_text(self, relative: str) -> str:
        data = self.read_bytes(relative)
        try:
            text, encoding = decode_source(relative, data)
        except UnicodeDecodeError as error:
            raise WorkspaceError(f"{relative} is not UTF-8 ({error})") from None
        if encoding != UTF8:
            self._encodings[relative] = encoding  # written back the same way
        return text

    def original_text(self, relative: str) -> str | None:
        """The file's text before any pending edit (None where it did not exist): the user's own coordinates."""
        data = self._original(relative)
        return None if data is None else data.decode("utf-8", errors="replace")

    def _original(self, relative: str) -> bytes | None:
        if relative not in self._originals:
            path = self.path(relative)
            try:
                self._originals[relative] = path.read_bytes() if path.is_file() else None
            except OSError as error:
                raise WorkspaceError(f"cannot read {relative}: {error.strerror}") from None
        return self._originals[relative]

    def files(self, suffixes: tuple[str, ...] = (".py",), *, trust_index: bool = False) -> list[str]:
        """Relative paths of the user's files with these suffixes, honouring .gitignore.

        Symbolic links are never followed: a linked file or directory is left out
        (one inside ROOT is reached through its real path anyway) and recorded in
        ``skipped_symlinks`` with its target. With ``trust_index`` (git only), a
        tracked file is taken as the index describes it, without touching the
        disk: much faster on big trees, but a tracked file deleted from the work
        tree is still listed.
        """
        if self.single_file is not None:
            candidates = [self.single_file] if self.single_file.endswith(suffixes) else []
            live = {p for p in candidates if self.exists(p)}
        elif self.git_root is not None and trust_index:
            tracked, untracked = self._git_entries(suffixes)
            live = set(tracked) | set(self._regular_files(untracked))
        elif self.git_root is not None:
            wanted = [p for p in self._git_files() if p.endswith(suffixes)]
            live = set(self._regular_files(wanted))
        else:
            live = {p for p in self._walk() if p.endswith(suffixes)}
        for relative, data in self._overlay.items():
            if data is None:
                live.discard(relative)
            elif relative.endswith(suffixes):
                live.add(relative)
        return sorted(live)

    def _git_listing(self) -> Iterator[tuple[str, str | None]]:
        """(path, mode) of what one ``git ls-files --stage`` lists: mode None for an untracked file, which is
        left out inside a skipped directory (a conflicted file comes once per stage)."""
        result = _git(self.directory, "ls-files", "-z", "--stage", "--cached", "--others", "--exclude-standard", "--", ".")
        for entry in result.stdout.split("\0"):
            match = _STAGE_ENTRY.match(entry)
            path = entry[match.end() :] if match else entry
            if path and (match is not None or not _in_skipped_directory(path)):
                yield path, match.group(1) if match else None

    def _git_entries(self, suffixes: tuple[str, ...]) -> tuple[list[str], list[str]]:
        """(tracked regular files, untracked files) with these suffixes."""
        tracked: dict[str, None] = {}
        untracked = []
        for path, mode in self._git_listing():
            if mode == "120000" and os.path.isdir(os.path.join(self.directory, path)):  # it may hold code
                self._note_symlink(path, os.path.join(self.directory, path))
            if not path.endswith(suffixes):
                continue
            if mode is None:
                untracked.append(path)
            elif mode in ("100644", "100755"):
                tracked[path] = None
            elif mode == "120000":
                self._note_symlink(path, os.path.join(self.directory, path))
        return list(tracked), untracked

    def _regular_files(self, relatives: list[str]) -> Iterator[str]:
        """The paths that are regular files (not links, not deleted from the work tree)."""
        directory_fd = None
        if os.stat in os.supports_dir_fd and os.stat in os.supports_follow_symlinks:  # resolve ROOT once
            try:
                directory_fd = os.open(self.directory, os.O_RDONLY)
            except OSError:
                directory_fd = None
        try:
            for relative in relatives:
                try:
                    if directory_fd is not None:
                        mode = os.stat(relative, dir_fd=directory_fd, follow_symlinks=False).st_mode
                    else:
                        mode = os.lstat(os.path.join(self.directory, relative)).st_mode
                except OSError:
                    continue  # listed by git but deleted from the working tree
                if stat.S_ISLNK(mode):
                    self._note_symlink(relative, os.path.join(self.directory, relative))
                elif stat.S_ISREG(mode):
                    yield relative
        finally:
            if directory_fd is not None:
                os.close(directory_fd)

    def _note_symlink(self, relative: str, full: str) -> None:
        target = os.path.realpath(full)
        inside = os.path.commonpath([target, os.path.realpath(self.directory)]) == os.path.realpath(self.directory)
        where = "inside ROOT, scanned through its real path" if inside else "outside ROOT, not followed"
        self.skipped_symlinks[relative] = f"symlink to {target} ({where})"

    def _git_files(self) -> list[str]:
        """Every path git lists, each once."""
        return list(dict.fromkeys(path for path, _ in self._git_listing()))

    def _walk(self) -> Iterator[str]:
        """Regular files under the directory, without descending into skipped or linked directories."""
        pending = [""]
        while pending:
            prefix = pending.pop()
            try:
                with os.scandir(os.path.join(self.directory, prefix) if prefix else self.directory) as entries:
                    listed = sorted(entries, key=lambda entry: entry.name)
            except OSError as error:
                self.unlistable[prefix or "."] = error.strerror or str(error)
                continue
            subdirectories = []
            for entry in listed:
                relative = f"{prefix}/{entry.name}" if prefix else entry.name
                try:
                    if entry.is_symlink():
                        self._note_symlink(relative, entry.path)
                    elif entry.is_dir(follow_symlinks=False):
                        if entry.name not in _SKIPPED_DIRS and not entry.name.endswith(".egg-info"):
                            subdirectories.append(relative)
                    elif entry.is_file(follow_symlinks=False):
                        yield relative
                except OSError:
                    continue
            pending.extend(reversed(subdirectories))

    # ------------------------------------------------------------------ editing
    def write_text(self, relative: str, text: str) -> None:
        encoding = self._encodings.get(relative, UTF8)
        try:
            data = text.encode(encoding)
        except UnicodeEncodeError as error:
            raise WorkspaceError(
                f"{relative} declares the encoding {encoding}, which cannot hold the new text "
                f"({text[error.start:error.end]!r}); convert the file to UTF-8 first"
            ) from None
        self.write_bytes(relative, data)

    def write_bytes(self, relative: str, data: bytes) -> None:
        self._check_writable(relative)
        self._original(relative)
        self._overlay[relative] = data

    def delete(self, relative: str) -> None:
        self._check_writable(relative)
        self._original(relative)
        self._overlay[relative] = None

    def _check_writable(self, relative: str) -> None:
        if not self.in_scope(relative):
            raise WorkspaceError(f"{relative} is outside the migration scope ({self.single_file})")
        path = self.path(relative)
        if path.is_symlink():
            # Replacing a link with a file would cut it; writing through it may reach outside ROOT.
            raise WorkspaceError(
                f"{relative} is a symbolic link (to {os.path.realpath(path)}), which refactor does not write "
                "through: replace the link with the file it points to, or keep the file out of ROOT"
            )
        top = os.path.realpath(self.directory)
        if os.path.commonpath([os.path.realpath(path.parent), top]) != top:
            raise WorkspaceError(f"{relative} lies outside ROOT through a linked directory; refactor does not write there")

    def savepoint(self) -> dict[str, bytes | None]:
        """The pending edits as they stand, to tell later which files a step touched or to roll it back."""
        return dict(self._overlay)

    def touched_since(self, savepoint: dict[str, bytes | None]) -> list[str]:
        return sorted(path for path, data in self._overlay.items() if savepoint.get(path, self._originals.get(path)) != data)

    def rollback_to(self, savepoint: dict[str, bytes | None]) -> None:
        self._overlay = dict(savepoint)

    def changes(self) -> list[FileChange]:
        changed = []
        for relative in sorted(self._overlay):
            before, after = self._originals.get(relative), self._overlay[relative]
            if before != after:
                changed.append(FileChange(relative, before, after))
        return changed

    # ------------------------------------------------------------------ git
    def is_dirty(self) -> list[str]:
        """Paths under ROOT with uncommitted changes (empty outside git)."""
        if self.git_root is None:
            return []
        pathspec = self.single_file or "."
        result = _git(self.directory, "status", "--porcelain", "--untracked-files=no", "--", pathspec)
        return [line[3:] for line in result.stdout.splitlines() if line.strip()]

    def staged_otherwise(self, relatives: list[str]) -> list[str]:
        """Those of ``relatives`` whose staged content in git differs from the file (e.g. staged, then undone)."""
        if self.git_root is None or not relatives:
            return []
        result = _git(self.directory, "diff", "--name-only", "--relative", "-z", "--", *relatives, check=False)
        return [path for path in result.stdout.split("\0") if path]

    def tracked(self, relative: str) -> bool:
        if self.git_root is None:
            return False
        result = _git(self.directory, "ls-files", "--error-unmatch", "--", relative, check=False)
        return result.returncode == 0


@contextmanager
def directory_descriptor(directory: str) -> Iterator[int | None]:
    """An open descriptor of ``directory`` for :func:`read_bytes_at`, or None where the OS has no dir_fd."""
    descriptor = None
    if os.open in os.supports_dir_fd:
        try:
            descriptor = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError:
            descriptor = None
    try:
        yield descriptor
    finally:
        if descriptor is not None:
            os.close(descriptor)


def read_bytes_at(directory_fd: int | None, relative: str, directory: str = "") -> bytes:
    """A file's bytes, opened relative to an open directory (or ``directory``), symlinks never followed.

    The fast path for reading many files in one pass (``refactor check``): no
    Path objects, no overlay, one ``open`` per file relative to a directory
    descriptor resolved once. Raises OSError (ELOOP for a symlink).
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    if directory_fd is not None:
        descriptor = os.open(relative, flags, dir_fd=directory_fd)
    else:
        descriptor = os.open(os.path.join(directory, relative), flags)
    try:
        chunks = []
        while True:
            chunk = os.read(descriptor, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(descriptor)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
