"""``make bench``: time our commands side by side with what the same work costs without us.

Every row compares one of our operations (``ours``) with an anchor timed in the same run,
turn about (the median of ``--repeat`` runs each), and passes when ours / anchor is at most
the row's target:

1. ``refactor apply COPY --dry-run --no-diff`` (CLI) vs LibCST parse+codegen of the files it changes
   (``python -c``), target 5;
2. in-process planning (``plan_migration``) vs in-process LibCST parse+codegen of those files, target 3;
3. ``status`` (``task_states``) vs that planning, target 1.2;
4. our rename task vs rope's ``Rename`` of the three collator classes on target_repo topped up
   with generated modules that use them (7,400 Python lines, the size of the user's repository),
   target 0.05 (20x faster), with the identifiers each side changes compared;
5. ``refactor check`` (CLI and in-process ``find_stale``) vs ``git grep -wnE`` on a generated
   10,000-file tree, target 3;
6. apply on 10,000 vs 1,000 files of the user's shape (time against 10x, target 1.2) and its peak
   RSS against 1 GiB;
7. a whole ``refactor verify`` (smoke training and loss parity included) against a 60 s budget on
   this machine, with the report's time split (imports, CUDA start, each variant, parity).

It prints a table and writes ``bench-out/results.json``. Targets that are not met are reported as
``pass: false``; a row whose tools crash is reported with its ``error`` (and ``pass: false``).
The exit status is 0 unless a tool failed to run or found the wrong names.
``--quick`` uses smaller trees and one repetition.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.measure import Row, copy_target_repo, render_table, usable_cores, write_results
from benchmarks.tree import _PLANTS, Plant, _verify_check, _verify_grep, generate_tree, make_tree
from codemods.core.recipe import load_recipe

# The check wing's tests build the generated tree through this module.
__all__ = ["_PLANTS", "Plant", "_verify_check", "_verify_grep", "generate_tree", "main", "make_tree"]

ALL_ROWS = (1, 2, 3, 4, 5, 6, 7)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller trees and one repetition")
    parser.add_argument("--repeat", type=int, default=None, help="runs per side, turn about; the median counts (default 3)")
    parser.add_argument("--rows", default=",".join(map(str, ALL_ROWS)), help="which rows, e.g. 1,4 (default: all)")
    parser.add_argument("--files", type=int, default=None, help="files in the check tree (default 10000; quick 1000)")
    parser.add_argument("--lines", type=int, default=85, help="typical lines per file of the check tree")
    parser.add_argument("--scale", default=None, help="SMALL,LARGE file counts of row 6 (default 1000,10000; quick 30,300)")
    parser.add_argument("--rope-lines", type=int, default=None,
                        help="Python lines of row 4's repository: target_repo plus generated modules (default 7400)")
    parser.add_argument("--seed", type=int, default=20241214)
    parser.add_argument("--jobs", type=int, default=None, help="worker processes for find_stale (default: all cores)")
    parser.add_argument("--out", type=Path, default=Path("bench-out/results.json"))
    parser.add_argument("--keep", action="store_true", help="keep the generated trees and print where")
    return parser


def _guarded(rows: list[Row], placeholders: list[tuple[str, str, float]], run: Callable[[], list[Row]]) -> None:
    """Add the rows ``run`` makes; if it raises, failed rows that carry the error, so the other rows still count."""
    try:
        rows += run()
    except Exception as error:  # one broken tool must not hide the other rows
        message = f"{type(error).__name__}: {error}"[-2000:]
        rows += [Row(name, None, anchor, None, None, target, {"error": message}) for name, anchor, target in placeholders]


def run_rows(work: Path, wanted: set[int], args: argparse.Namespace) -> list[Row]:
    from benchmarks.rope_row import TARGET, row_rename_vs_rope
    from benchmarks.rows import changed_python_files, row_apply_cli, rows_check, rows_planning
    from benchmarks.scale import LINEAR_TARGET, make_user_tree_of_lines, rows_scale

    recipe = load_recipe()
    repeat = args.repeat or (1 if args.quick else 3)
    rows: list[Row] = []

    def note(text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)

    def apply_rows() -> list[Row]:
        copy = copy_target_repo(work / "apply")
        note("planning once to find the files apply changes (also warms the caches)")
        files = changed_python_files(copy, recipe)
        made = []
        if 1 in wanted:
            note("row 1: apply --dry-run CLI vs LibCST in a subprocess")
            made.append(row_apply_cli(copy, files, repeat))
        if wanted & {2, 3}:
            note("rows 2-3: planning vs LibCST, status vs planning")
            planning = rows_planning(copy, recipe, files, repeat)
            made += [row for number, row in zip((2, 3), planning, strict=True) if number in wanted]
        return made

    if wanted & {1, 2, 3}:
        placeholders = [
            ("apply --dry-run (CLI)", "LibCST parse+codegen (python -c)", 5.0),
            ("plan_migration (in-process)", "LibCST parse+codegen (in-process)", 3.0),
            ("status (task_states)", "apply --dry-run planning (plan_migration)", 1.2),
        ]
        _guarded(rows, [p for n, p in zip((1, 2, 3), placeholders, strict=True) if n in wanted], apply_rows)
    if 4 in wanted:
        rope_lines = args.rope_lines or (0 if args.quick else 7400)
        note(f"row 4: rename vs rope on a repository of about {rope_lines} Python lines (target_repo at least)")
        _guarded(
            rows, [("rename 3 collators (task 4)", "rope Rename", TARGET)],
            lambda: [row_rename_vs_rope(make_user_tree_of_lines(work / "rope", rope_lines), recipe, repeat)],
        )
    if 5 in wanted:
        files = args.files or (1000 if args.quick else 10_000)
        note(f"row 5: check vs git grep on {files} generated files")
        tree = work / "check"
        tree.mkdir()
        anchor = f"git grep -wnE ({files} files)"
        _guarded(
            rows, [("check (CLI)", anchor, 3.0), ("check (in-process find_stale)", anchor, 3.0)],
            lambda: rows_check(tree, recipe, files, args.lines, args.seed, repeat, args.jobs),
        )
    if 6 in wanted:
        small, large = (int(n) for n in (args.scale or ("30,300" if args.quick else "1000,10000")).split(","))
        note(f"row 6: apply on {small} and {large} files of the user's shape")
        _guarded(
            rows,
            [
                (f"apply on {large} files vs {large / small:g}x {small} files", f"{large / small:g} x apply on {small}",
                 LINEAR_TARGET),
                (f"apply on {large} files: peak RSS vs 1 GiB", "1 GiB", 1.0),
            ],
            lambda: rows_scale(work, small, large, repeat),
        )
    if 7 in wanted:
        from benchmarks.verify_row import CPU_BUDGET_S, row_verify

        note("row 7: a whole verify (smoke training, loss parity) against its budget")
        _guarded(rows, [("verify, whole (CLI)", f"budget {CPU_BUDGET_S:g} s", 1.0)], lambda: [row_verify(work)])
    return rows


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    wanted = {int(n) for n in args.rows.split(",") if n.strip()}
    work = Path(tempfile.mkdtemp(prefix="refactor-bench-")).resolve()
    try:
        rows = run_rows(work, wanted, args)
    finally:
        if args.keep:
            print(f"trees kept at {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    write_results(rows, args.out)
    print(render_table(rows))
    print(
        f"\n{sum(r.passed for r in rows)} of {len(rows)} targets met; median of "
        f"{args.repeat or (1 if args.quick else 3)} run(s) each, turn about; {usable_cores()} usable cores; "
        f"Python {platform.python_version()}; rows written to {args.out}"
    )
    problems = [p for r in rows for p in r.extra.get("problems", [])]
    errors = [f"{r.name}: {r.extra['error']}" for r in rows if "error" in r.extra]
    for row in rows:
        if row.extra.get("same_identifiers") is False:
            print(f"{row.name}: rope and ours changed different identifiers: "
                  + json.dumps(row.extra.get("identifier_differences")))
        if "libcst_parse_s" in row.extra:
            extra = row.extra
            print(f"{row.name}: the target means at most {extra['target_s']:.3f} s; parsing the "
                  f"{extra['files_holding_names']} files that hold the names takes {extra['libcst_parse_s']:.3f} s "
                  f"with LibCST, {extra['ast_parse_s']:.3f} s with CPython's ast")
        if "cli_start_s" in row.extra and row.anchor_s:
            print(f"{row.name}: the target means at most {row.anchor_s * row.target:.3f} s; starting Python and "
                  f"importing the CLI alone takes {row.extra['cli_start_s']:.3f} s")
    for error in errors:
        print(f"could not measure {error}")
    if problems:
        print("planted names not found as expected:\n  " + "\n  ".join(dict.fromkeys(problems)))
    return 1 if problems or errors else 0


if __name__ == "__main__":
    sys.exit(main())
