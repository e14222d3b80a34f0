"""Timing side by side, the result row, the table and ``bench-out/results.json``."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TARGET_REPO = Path(__file__).resolve().parent.parent / "target_repo"
ROW_KEYS = ("name", "ours_s", "anchor", "anchor_s", "ratio", "target", "pass")


@dataclass
class Row:
    """One comparison: ``ratio`` is ours / anchor, and the row passes when it is at most ``target``."""

    name: str
    ours_s: float | None
    anchor: str
    anchor_s: float | None
    ratio: float | None
    target: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.ratio is not None and self.ratio <= self.target

    def to_dict(self) -> dict[str, Any]:
        row = {
            "name": self.name,
            "ours_s": _round(self.ours_s),
            "anchor": self.anchor,
            "anchor_s": _round(self.anchor_s),
            "ratio": _round(self.ratio),
            "target": self.target,
            "pass": self.passed,
        }
        row.update(self.extra)
        return row


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def ratio_row(name: str, ours: float, anchor: str, anchor_s: float, target: float, **extra: Any) -> Row:
    ratio = ours / anchor_s if anchor_s > 0 else None
    return Row(name, ours, anchor, anchor_s, ratio, target, extra)


def side_by_side(runs: Sequence[Callable[[], object]], repeat: int) -> tuple[list[float], list[object]]:
    """The median wall time of each run and its last result.

    The runs take turns (A B A B ...), so that background load on a shared machine hits each alike.
    """
    samples: list[list[float]] = [[] for _ in runs]
    results: list[object] = [None] * len(runs)
    for _ in range(max(1, repeat)):
        for index, run in enumerate(runs):
            started = time.perf_counter()
            results[index] = run()
            samples[index].append(time.perf_counter() - started)
    return [statistics.median(times) for times in samples], results


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.email=bench@example.com", "-c", "user.name=bench", *args],
        cwd=root, check=True, capture_output=True, text=True,
    ).stdout


def copy_target_repo(destination: Path, source: Path = TARGET_REPO) -> Path:
    """A committed git copy of target_repo (apply refuses to work on uncommitted files)."""
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns("__pycache__", ".refactor", "wandb"))
    git(destination, "init", "-q")
    (destination / ".git" / "info" / "exclude").write_text("__pycache__/\n")
    git(destination, "add", "-A")
    git(destination, "commit", "-qm", "before the plan")
    return destination


def refactor_command() -> list[str]:
    """The installed console script next to this interpreter, as a user runs it; else the module."""
    script = Path(sys.executable).with_name("refactor")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "codemods.cli"]


def _format(value: float | None, unit: str = "s") -> str:
    return "-" if value is None else f"{value:.3f}{unit}"


def render_table(rows: Sequence[Row]) -> str:
    header = ("row", "ours", "anchor", "anchor time", "ratio", "target", "result")
    lines = [
        (
            row.name,
            _format(row.ours_s),
            row.anchor,
            _format(row.anchor_s),
            "-" if row.ratio is None else f"{row.ratio:.3f}",
            f"<= {row.target:g}",
            "pass" if row.passed else "FAIL",
        )
        for row in rows
    ]
    widths = [max(len(str(line[i])) for line in [header, *lines]) for i in range(len(header))]
    text = [" | ".join(str(cell).ljust(width) for cell, width in zip(header, widths, strict=True))]
    text.append("-+-".join("-" * width for width in widths))
    text += [" | ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)) for line in lines]
    return "\n".join(text)


def write_results(rows: Sequence[Row], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([row.to_dict() for row in rows], indent=2) + "\n", encoding="utf-8")


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
