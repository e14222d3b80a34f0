"""``git grep -F -l`` started in the background: a cheap pre-filter of the files worth reading."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from pathlib import Path


class GitGrep:
    """``git grep -F -l`` over the work tree (tracked and untracked, .gitignore honoured), started in the background.

    A pre-filter: it only narrows the files that are read (``refactor check``, the
    relabel's search for identifiers); every file it names is read again and checked.
    """

    def __init__(self, process: subprocess.Popen | None, problem: str = ""):
        self.process = process
        self.problem = problem

    @classmethod
    def start(cls, directory: Path, names: Iterable[str], suffixes: tuple[str, ...]) -> GitGrep:
        command = [
            "git", "-c", "grep.fullName=false", "-c", "grep.patternType=fixed", "-c", "core.quotePath=false",
            "grep", "-z", "-l", "-F", "--untracked", "--no-color", "--no-textconv",
        ]
        for name in sorted(names):
            command += ["-e", name]
        command += ["--", *(f"*{suffix}" for suffix in suffixes)]
        try:
            process = subprocess.Popen(
                command, cwd=directory, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
            )
        except OSError as error:
            return cls(None, str(error))
        return cls(process)

    def finish(self) -> set[str] | None:
        """Relative paths of the files that hold one of the words, or None when git could not tell."""
        if self.process is None:
            return None
        out, err = self.process.communicate()
        if self.process.returncode == 1:
            return set()  # no file holds one
        if self.process.returncode != 0:
            message = err.decode("utf-8", "replace").strip().splitlines()
            self.problem = message[-1] if message else f"exit status {self.process.returncode}"
            return None
        return {p for p in out.decode("utf-8", "surrogateescape").split("\0") if p}

    def cancel(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.communicate()
