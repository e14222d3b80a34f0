"""Rows 1, 2, 3 and 5: apply and status on a copy of target_repo, check on the generated tree.

Each anchor is what the same work costs without us: LibCST's own parse and code generation
of the files apply changes (our floor, since every codemod parses with LibCST), and
``git grep`` for the check.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from benchmarks.measure import Row, ratio_row, refactor_command, side_by_side
from benchmarks.tree import _grep_pattern, _verify_check, _verify_grep, make_tree
from codemods.core.recipe import Recipe

# Reads and round-trips every file given, as apply does; what it prints is only a checksum.
LIBCST_ROUND_TRIP = """
import sys
import libcst
total = 0
for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as handle:
        total += len(libcst.parse_module(handle.read()).code)
print(total)
"""


def changed_python_files(root: Path, recipe: Recipe) -> list[str]:
    """The existing Python files apply would change (what the LibCST anchors round-trip)."""
    from codemods.apply.migration import plan_migration

    changes = plan_migration(root, recipe).changes
    return sorted(c.path for c in changes if c.path.endswith(".py") and c.before is not None)


def libcst_round_trip(root: Path, files: list[str]) -> int:
    import libcst

    total = 0
    for relative in files:
        total += len(libcst.parse_module((root / relative).read_text(encoding="utf-8")).code)
    return total


def _run(command: list[str], ok: tuple[int, ...] = (0,)) -> str:
    done = subprocess.run(command, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
    if done.returncode not in ok:
        raise RuntimeError(f"{' '.join(command[:4])} … exited {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout


def row_apply_cli(copy: Path, files: list[str], repeat: int) -> Row:
    """1. `refactor apply COPY --dry-run --no-diff` against a `python -c` LibCST round trip of the same files."""
    ours = [*refactor_command(), "apply", str(copy), "--dry-run", "--no-diff"]
    anchor = [sys.executable, "-c", LIBCST_ROUND_TRIP, *(str(copy / f) for f in files)]
    (ours_s, anchor_s), _ = side_by_side([lambda: _run(ours), lambda: _run(anchor)], repeat)
    return ratio_row(
        "apply --dry-run (CLI)", ours_s, f"LibCST parse+codegen of {len(files)} files (python -c)", anchor_s, 5.0,
        files=len(files), repeat=repeat,
    )


def rows_planning(copy: Path, recipe: Recipe, files: list[str], repeat: int) -> list[Row]:
    """2. in-process planning against an in-process LibCST round trip; 3. status against that planning.

    The three take turns in one loop, so rows 2 and 3 share the planning samples.
    """
    from codemods.apply.migration import plan_migration, task_states

    (libcst_s, plan_s, status_s), _ = side_by_side(
        [lambda: libcst_round_trip(copy, files), lambda: plan_migration(copy, recipe), lambda: task_states(copy, recipe)],
        repeat,
    )
    return [
        ratio_row(
            "plan_migration (in-process)", plan_s, f"LibCST parse+codegen of {len(files)} files (in-process)", libcst_s,
            3.0, files=len(files), repeat=repeat,
        ),
        ratio_row("status (task_states)", status_s, "apply --dry-run planning (plan_migration)", plan_s, 1.2, repeat=repeat),
    ]


def rows_check(root: Path, recipe: Recipe, files: int, lines: int, seed: int, repeat: int, jobs: int | None) -> list[Row]:
    """5. `refactor check` (CLI and in-process find_stale) against `git grep -wnE` on the generated tree."""
    from codemods.check import find_stale

    plants, total_lines = make_tree(root, files, lines, seed, recipe)
    grep = ["git", "-C", str(root), "grep", "-wnE", _grep_pattern(recipe)]
    cli = [*refactor_command(), "check", str(root), "--format", "json"]
    runs = [
        lambda: _run(grep, ok=(0, 1)),
        lambda: find_stale(root, recipe, jobs=jobs).findings,
        lambda: _run(cli, ok=(1,)),
        lambda: _run([sys.executable, "-c", "import codemods.cli"]),  # a floor: Python starts, the CLI loads
    ]
    for run in runs:  # the page cache and the bytecode cache, warm for every tool alike
        run()
    (grep_s, in_process_s, cli_s, start_s), (grep_out, findings, cli_out, _) = side_by_side(runs, repeat)
    problems = [f"git grep missed {p}" for p in _verify_grep(str(grep_out), plants)]
    problems += [f"find_stale: {p}" for p in _verify_check(findings, plants, root)]
    if len(json.loads(str(cli_out))) != len(findings):  # type: ignore[arg-type]
        problems.append("the CLI's JSON and find_stale() disagree on the number of findings")
    shared = {"files": files, "lines": total_lines, "planted_found": not problems, "problems": problems[:20], "repeat": repeat}
    anchor = f"git grep -wnE ({len(recipe.old_names)} names, {files} files)"
    return [
        ratio_row("check (CLI)", cli_s, anchor, grep_s, 3.0, cli_start_s=round(start_s, 4), **shared),
        ratio_row("check (in-process find_stale)", in_process_s, anchor, grep_s, 3.0, **shared),
    ]
