"""What ``refactor check`` reports: findings, the result of a run, and the error that stops one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from codemods.core.kinds import severity


class CheckError(RuntimeError):
    """The check cannot run at all (unreadable root, unusable recipe)."""


@dataclass
class Finding:
    """One old name found where it is not allowed."""

    path: str
    line: int
    column: int
    old_name: str
    kind: str
    suggestion: str
    source_line: str
    cell: int | None = None
    byte_column: int | None = None
    file_line: int | None = None
    file_column: int | None = None

    @property
    def severity(self) -> str:
        """Stored notebook outputs record past runs, not code: they warn without failing the check."""
        return severity(self.kind)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form; the keys and their order are stable."""
        return {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "byte_column": self.byte_column,
            "cell": self.cell,
            "file_line": self.file_line if self.file_line is not None else self.line,
            "file_column": self.file_column if self.file_column is not None else self.column,
            "old_name": self.old_name,
            "kind": self.kind,
            "suggestion": self.suggestion,
            "source_line": self.source_line,
            "severity": self.severity,
        }

    @property
    def location(self) -> str:
        """``path:line:column``, or ``path[cell N]:line:column`` in a notebook."""
        cell = f"[cell {self.cell}]" if self.cell is not None else ""
        return f"{self.path}{cell}:{self.line}:{self.column}"


@dataclass
class CheckResult:
    findings: list[Finding]
    files_scanned: int
    files_parsed: int
    unparsed: list[str]
    errors: list[str]
    # Things worth saying at verbose level: skipped symlinks, why a file did not parse.
    notes: list[str] = field(default_factory=list)
    # Files whose bytes passed the pre-filter (they mention an old name somewhere).
    files_matched: int = 0
    # ROOT as given; finding paths are ROOT joined with the path inside it.
    root: str = "."

    @property
    def failures(self) -> list[Finding]:
        """Findings that fail the check (stored notebook outputs only warn)."""
        return [finding for finding in self.findings if finding.severity == "error"]

    @property
    def exit_code(self) -> int:
        """2 when a file could not be read, else 1 when anything stale was found in code or text, else 0."""
        if self.errors:
            return 2
        return 1 if self.failures else 0
