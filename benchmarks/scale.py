"""Row 6: how apply scales on a repository of the user's shape, in time and in memory.

The tree is target_repo plus generated modules that import and call the old collator names,
so every one of them is a file apply must change. Each measurement runs in its own process,
started by a small wrapper process whose only child it is: the wrapper's
``getrusage(RUSAGE_CHILDREN).ru_maxrss`` is then that run's peak RSS and nothing else's.

``python -m benchmarks.scale run ROOT`` plans the migration and prints the planning time;
``python -m benchmarks.scale measure ROOT`` runs that and adds the peak RSS.
"""

from __future__ import annotations

import json
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.measure import TARGET_REPO, Row, copy_target_repo, git
from benchmarks.tree import generate_module

GIB_KB = 1024 * 1024  # ru_maxrss is in KiB on Linux
LINEAR_TARGET = 1.2
_USES = (
    ("collate_fn_fixed_1", "collator = collate_fn_fixed_1(processor, model)"),
    ("collate_fn_fixed_3", "collator = collate_fn_fixed_3(processor, model)"),
    ("collate_fn_fixed_fixed1", "collator = collate_fn_fixed_fixed1(processor, model)"),
)


def extra_module(rng: random.Random, lines: int) -> str:
    old, use = rng.choice(_USES)
    body = generate_module(rng, lines)
    body[2:2] = [f"from src.data.collators import {old}"]
    body += ["", "", "def build_collator(processor, model):", f"    {use}", "    return collator"]
    return "\n".join(body) + "\n"


def make_user_tree(root: Path, files: int, lines: int = 30, seed: int = 7, source: Path = TARGET_REPO) -> Path:
    """target_repo (or ``source``) topped up with generated modules to ``files`` Python files, committed in git."""
    copy_target_repo(root, source)
    rng = random.Random(seed)
    extra = max(0, files - sum(1 for _ in root.rglob("*.py")))
    for index in range(extra):
        path = root / f"experiments/group_{index // 100:03d}/run_{index:05d}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(extra_module(rng, lines), encoding="utf-8")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "generated experiments", "--allow-empty")
    return root


def make_user_tree_of_lines(root: Path, lines: int, module_lines: int = 60, source: Path = TARGET_REPO) -> Path:
    """target_repo (or ``source``) topped up with generated modules until its Python files hold about ``lines`` lines."""
    base = sum(len(p.read_text(encoding="utf-8").splitlines()) for p in source.rglob("*.py"))
    files = sum(1 for _ in source.rglob("*.py"))
    per_module = len(extra_module(random.Random(0), module_lines).splitlines())
    extra = max(0, -(-(lines - base) // per_module))
    return make_user_tree(root, files + extra, module_lines, source=source)


def measure(root: Path) -> dict[str, float]:
    """One planning run of ROOT in a fresh process: its planning seconds and peak RSS in KiB."""
    wrapper = (
        "import json, resource, subprocess, sys\n"
        "done = subprocess.run([sys.executable, '-m', 'benchmarks.scale', 'run', sys.argv[1]], capture_output=True, text=True)\n"
        "if done.returncode: sys.exit(done.stderr[-2000:])\n"
        "result = json.loads(done.stdout.splitlines()[-1])\n"
        "result['maxrss_kb'] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "print(json.dumps(result))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", wrapper, str(root)], capture_output=True, text=True, check=False,
        cwd=Path(__file__).resolve().parent.parent,
    )
    if done.returncode:
        raise RuntimeError(f"planning {root} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def rows_scale(work: Path, small: int, large: int, repeat: int, source: Path = TARGET_REPO) -> list[Row]:
    """Time of the large tree against ``large / small`` times the small one, and the large tree's peak RSS."""
    trees = [make_user_tree(work / f"user_{n}", n, source=source) for n in (small, large)]
    runs: list[list[dict[str, float]]] = [[], []]
    for _ in range(max(1, repeat)):
        for index, tree in enumerate(trees):  # interleaved, like every other row
            runs[index].append(measure(tree))
    seconds = [sorted(r["seconds"] for r in run)[len(run) // 2] for run in runs]
    peak_kb = max(r["maxrss_kb"] for r in runs[1])
    factor = large / small
    expected = factor * seconds[0]
    shared = {"small_files": small, "large_files": large, "repeat": repeat}
    time_row = Row(
        f"apply on {large} files vs {factor:g}x {small} files", seconds[1], f"{factor:g} x apply on {small} files",
        expected, seconds[1] / expected if expected > 0 else None, LINEAR_TARGET,
        {**shared, "small_s": round(seconds[0], 4)},
    )
    memory_row = Row(
        f"apply on {large} files: peak RSS vs 1 GiB", seconds[1], "1 GiB", None, peak_kb / GIB_KB, 1.0,
        {**shared, "peak_rss_mib": round(peak_kb / 1024, 1), "small_peak_rss_mib": round(max(r["maxrss_kb"] for r in runs[0]) / 1024, 1)},
    )
    return [time_row, memory_row]


def _run(root: Path) -> None:
    from codemods.apply.migration import plan_migration
    from codemods.core.recipe import load_recipe

    recipe = load_recipe(None, root)
    started = time.perf_counter()
    migration = plan_migration(root, recipe)
    seconds = time.perf_counter() - started
    own_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "changes": len(migration.changes), "own_maxrss_kb": own_kb}))


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("run", "measure"):
        sys.stderr.write("usage: python -m benchmarks.scale run|measure ROOT\n")
        return 2
    if argv[0] == "run":
        _run(Path(argv[1]))
    else:
        print(json.dumps(measure(Path(argv[1]))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
