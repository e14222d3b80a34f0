"""Benchmark ``refactor check`` against ``git grep -wE`` on a generated tree.

``python -m benchmarks.bench`` (what ``make bench`` runs) writes a git-initialised
tree of realistic-looking Python files into a temporary directory (10,000 files,
about a million lines, fixed seed), plants a few dozen old names of different
kinds in it, then times, best of N runs each and side by side:

* ``git grep -wnE '<old names>'`` (the baseline a team would otherwise script),
* ``find_stale()`` in-process (the scanner alone),
* ``python -m codemods.cli check TREE --format json`` (what CI runs, interpreter
  start-up and imports included), when the CLI has a ``check`` command.

It checks that every tool found the planted names, prints a table with the
seconds and the ratio to ``git grep``, and states the target (at most 2x).
``--files N`` makes a quicker run; ``--keep`` leaves the tree for inspection.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from codemods.check import find_stale
from codemods.core.recipe import Recipe, load_recipe
from codemods.core.sections import banner_titles

TARGET_RATIO = 2.0

_WORDS = (
    "batch", "sample", "token", "image", "label", "mask", "model", "loss", "step", "epoch", "config",
    "processor", "dataset", "feature", "vision", "prompt", "answer", "metric", "score", "cache", "buffer",
    "layer", "weight", "grad", "schedule", "device", "shard", "window", "anchor", "box", "region", "caption",
)
# Near misses of the plan's old names: they share prefixes, so a pre-filter has to look twice.
_NEAR_MISSES = (
    "collate_fn", "collate_fn_v1", "collate_fn_v2", "collate_fn_fixed_2", "create_training_config",
    "training_args", "training_args_v2", "create_config", "collate_batch",
)
_IMPORTS = (
    "import os", "import sys", "import json", "import math", "import random", "import logging",
    "from pathlib import Path", "from dataclasses import dataclass, field",
    "from typing import Any, Dict, List, Optional, Tuple", "import torch", "import numpy as np",
    "from torch.utils.data import DataLoader, Dataset", "from collections import defaultdict",
)


@dataclass(frozen=True)
class Plant:
    """A planted occurrence: where it is, and what ``refactor check`` must say about it."""

    path: str
    line: int
    column: int
    old_name: str
    kind: str
    reported: bool = True  # False: inside an allowed place, must not be reported
    whole_word: bool = True  # False: part of a longer identifier, which `grep -w` cannot see


def _name(rng: random.Random, parts: int = 2) -> str:
    return "_".join(rng.choice(_WORDS) for _ in range(parts))


def _class_name(rng: random.Random) -> str:
    return "".join(rng.choice(_WORDS).capitalize() for _ in range(2)) + rng.choice(("Builder", "Loader", "Runner"))


def _function(rng: random.Random, indent: str = "") -> list[str]:
    name = _name(rng, rng.choice((2, 3)))
    args = [_name(rng, 1) for _ in range(rng.randint(1, 3))]
    args = list(dict.fromkeys(args))
    first = args[0]
    if indent:
        args = ["self", *args]
    body = indent + "    "
    lines = [f"{indent}def {name}({', '.join(args)}):"]
    lines.append(f'{body}"""{rng.choice(_WORDS).capitalize()} the {rng.choice(_WORDS)} for each {first}.')
    lines.append("")
    lines.append(f"{body}Returns the {rng.choice(_WORDS)} {rng.choice(_WORDS)} used downstream.")
    lines.append(f'{body}"""')
    for _ in range(rng.randint(3, 9)):
        roll = rng.random()
        target = _name(rng, 2)
        if roll < 0.2:
            lines.append(f"{body}# {rng.choice(_WORDS)} {rng.choice(_WORDS)} before the {rng.choice(_WORDS)}")
        elif roll < 0.35:
            lines.append(f'{body}logging.info(f"{rng.choice(_WORDS)}: {{{first}!r}} ({rng.choice(_WORDS)})")')
        elif roll < 0.45:
            lines.append(f"{body}{target} = {rng.choice(_NEAR_MISSES)}({first})")
        elif roll < 0.6:
            lines.append(f"{body}{target} = [{first} for _ in range({rng.randint(1, 64)})]")
        elif roll < 0.75:
            lines.append(f"{body}if {first} is None:")
            lines.append(f"{body}    {first} = {rng.choice(_WORDS)!r}")
        else:
            lines.append(f"{body}{target} = {{'{rng.choice(_WORDS)}': {first}, 'n': {rng.randint(0, 999)}}}")
    lines.append(f"{body}return {first}")
    return lines


def _class(rng: random.Random) -> list[str]:
    lines = [f"class {_class_name(rng)}:", f'    """{rng.choice(_WORDS).capitalize()} utilities for the training loop."""', ""]
    lines += ["    def __init__(self, processor, model):", "        self.processor = processor", "        self.model = model"]
    for _ in range(rng.randint(2, 4)):
        lines.append("")
        lines += _function(rng, indent="    ")
    return lines


def generate_module(rng: random.Random, target_lines: int) -> list[str]:
    lines = [f'"""{rng.choice(_WORDS).capitalize()} utilities for the {rng.choice(_WORDS)} pipeline."""', ""]
    lines += sorted(set(rng.sample(_IMPORTS, rng.randint(3, 6))))
    lines += ["", f"{_name(rng, 2).upper()} = {rng.randint(1, 4096)}", ""]
    while len(lines) < target_lines:
        lines += ["", ""]
        lines += _class(rng) if rng.random() < 0.3 else _function(rng)
    return lines


# Planted occurrences: (kind, lines, the line of the block holding the name, the old name, allowed, whole word).
_PLANTS: tuple[tuple[str, tuple[str, ...], int, str, bool, bool], ...] = (
    ("call", ("collator = collate_fn_fixed_1(processor, model)",), 0, "collate_fn_fixed_1", False, True),
    ("import", ("from src.data.collators import collate_fn_fixed_3",), 0, "collate_fn_fixed_3", False, True),
    ("class definition", ("class collate_fn_fixed_fixed1:", "    pass"), 0, "collate_fn_fixed_fixed1", False, True),
    ("function definition", ("def create_sft_config(**kwargs):", "    return kwargs"), 0, "create_sft_config", False, True),
    ("attribute", ("batch = collators.collate_fn_fixed_3(samples)",), 0, "collate_fn_fixed_3", False, True),
    ("__all__ entry", ('__all__ = ["build", "collate_fn_fixed_1"]',), 0, "collate_fn_fixed_1", False, True),
    ("annotation", ("def build(collator: collate_fn_fixed_3) -> None:", "    return None"), 0, "collate_fn_fixed_3", False, True),
    ("assignment target", ("collate_fn_fixed_1.debug = True",), 0, "collate_fn_fixed_1", False, True),
    ("keyword argument value", ("trainer = Trainer(data_collator=collate_fn_fixed_3)",), 0, "collate_fn_fixed_3", False, True),
    ("positional argument", ("report(collate_fn_fixed_fixed1, dataset)",), 0, "collate_fn_fixed_fixed1", False, True),
    ("string", ('status = "✅ collate_fn_fixed_1 ready"',), 0, "collate_fn_fixed_1", False, True),
    ("f-string", ('print(f"[collate_fn_fixed_3] step {step}")',), 0, "collate_fn_fixed_3", False, True),
    (
        "docstring",
        ("def describe():", '    """Explain why create_assistant_only_training_config exists."""', "    return None"),
        1, "create_assistant_only_training_config", False, True,
    ),
    (
        "doctest",
        ("def example():", '    """Example.', "", "    >>> cfg = create_sft_config(seed=1)", '    """', "    return None"),
        3, "create_sft_config", False, True,
    ),
    ("comment", ("# masking follows collate_fn_fixed_1 exactly",), 0, "collate_fn_fixed_1", False, True),
    ("commented-out code", ("# collator = collate_fn_fixed_3(processor, model)",), 0, "collate_fn_fixed_3", False, True),
    ("name", ('COLLATORS = {"v1": collate_fn_fixed_1}',), 0, "collate_fn_fixed_1", False, True),
    (
        "identifier containing an old name",
        ("def test_collate_fn_fixed_3():", "    return None"),
        0, "collate_fn_fixed_3", False, False,
    ),
    ("call", ("collator = collate_fn_fixed_1(p, m)  # refactor: allow-stale",), 0, "collate_fn_fixed_1", True, True),
)


def _legacy_tail(recipe: Recipe) -> list[str]:
    banner = recipe.legacy.banner.strip("\n").splitlines() if recipe.legacy else []
    return ["", "", *banner, "", "class collate_fn_fixed_fixed1:", '    """Kept for reference."""']


def generate_tree(root: Path, files: int, lines_per_file: int, seed: int, recipe: Recipe) -> list[Plant]:
    """Write the tree; return the planted occurrences (two of each kind, spread over the tree)."""
    rng = random.Random(seed)
    per_dir = 100
    plant_files = set(rng.sample(range(files), min(files, 2 * len(_PLANTS) + 1)))
    plant_queue = [p for p in _PLANTS for _ in range(2)]
    rng.shuffle(plant_queue)
    legacy_file = min(plant_files) if plant_files else None
    plants: list[Plant] = []
    for index in range(files):
        relative = f"pkg_{index // (per_dir * 10):02d}/sub_{(index // per_dir) % 10}/module_{index:05d}.py"
        lines = generate_module(rng, rng.randint(lines_per_file // 2, lines_per_file * 3 // 2))
        if index == legacy_file:
            start = len(lines)
            lines += _legacy_tail(recipe)
            class_line = next(i for i in range(start, len(lines)) if lines[i].startswith("class "))
            plants.append(
                Plant(relative, class_line + 1, len("class ") + 1, "collate_fn_fixed_fixed1", "class definition", False)
            )
        elif index in plant_files and plant_queue:
            kind, block, offset, old, allowed, whole = plant_queue.pop()
            at = len(lines)
            lines += ["", "", *block]
            line = at + 2 + offset
            column = lines[line].index(old) + 1
            if not whole:
                column = re.search(r"[A-Za-z0-9_]*" + re.escape(old), lines[line]).start() + 1
            plants.append(Plant(relative, line + 1, column, old, kind, not allowed, whole))
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return plants


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def make_tree(root: Path, files: int, lines_per_file: int, seed: int, recipe: Recipe) -> tuple[list[Plant], int]:
    plants = generate_tree(root, files, lines_per_file, seed, recipe)
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    total_lines = sum(p.read_bytes().count(b"\n") for p in root.rglob("*.py"))
    return plants, total_lines


def _grep_pattern(recipe: Recipe) -> str:
    return "|".join(sorted(recipe.old_names, key=len, reverse=True))


def _cli_has_check() -> bool:
    probe = subprocess.run(
        [sys.executable, "-m", "codemods.cli", "check", "--help"], capture_output=True, text=True, check=False
    )
    return probe.returncode == 0


def _verify_grep(output: str, plants: list[Plant]) -> list[str]:
    found = set()
    for line in output.splitlines():
        path, number, _ = line.split(":", 2)
        found.add((path, int(number)))
    return [f"{p.path}:{p.line}" for p in plants if p.whole_word and (p.path, p.line) not in found]


def _verify_check(findings, plants: list[Plant], root: Path) -> list[str]:
    got = {(Path(f.path).resolve().relative_to(root).as_posix(), f.line, f.column, f.kind) for f in findings}
    want = {(p.path, p.line, p.column, p.kind) for p in plants if p.reported}
    problems = [f"missed {w}" for w in sorted(want - got)]
    problems += [f"unexpected {g}" for g in sorted(got - want)]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=10_000, help="number of generated Python files (default 10000)")
    parser.add_argument("--lines", type=int, default=85, help="typical lines per file (default 85: ~1M lines)")
    parser.add_argument("--seed", type=int, default=20241214)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per tool, interleaved; the best is kept")
    parser.add_argument("--jobs", type=int, default=None, help="worker processes for find_stale (default: all cores)")
    parser.add_argument("--keep", action="store_true", help="keep the generated tree and print its path")
    args = parser.parse_args(argv)

    recipe = load_recipe()
    assert banner_titles(recipe), "the recipe has no allowed-section banner"
    root = Path(tempfile.mkdtemp(prefix="refactor-bench-")).resolve()
    try:
        start = time.perf_counter()
        plants, total_lines = make_tree(root, args.files, args.lines, args.seed, recipe)
        print(
            f"generated {args.files:,} files, {total_lines:,} lines, {len(plants)} planted old names "
            f"({sum(p.reported for p in plants)} to report) in {time.perf_counter() - start:.1f}s"
        )
        pattern = _grep_pattern(recipe)

        def grep() -> str:
            done = subprocess.run(["git", "grep", "-wnE", pattern], cwd=root, capture_output=True, text=True)
            return done.stdout

        def in_process():
            return find_stale(root, recipe, jobs=args.jobs).findings

        cli = _cli_has_check()

        def subprocess_cli() -> str:
            done = subprocess.run(
                [sys.executable, "-m", "codemods.cli", "check", str(root), "--format", "json"],
                capture_output=True, text=True, check=False,
            )
            if done.returncode != 1:
                raise RuntimeError(f"refactor check exited {done.returncode}: {done.stderr[-2000:]}")
            return done.stdout

        tools: list[tuple[str, Callable[[], object]]] = [
            (f"git grep -wnE ({len(recipe.old_names)} names)", grep),
            ("refactor check, in-process find_stale()", in_process),
        ]
        if cli:
            tools.append(("refactor check, CLI (python -m codemods.cli)", subprocess_cli))
        for _, run in tools:  # warm the page cache and the interpreter's bytecode cache
            run()
        best = {label: float("inf") for label, _ in tools}
        outputs: dict[str, object] = {}
        for _ in range(args.repeat):  # interleaved, so that background load hits every tool alike
            for label, run in tools:
                start = time.perf_counter()
                outputs[label] = run()
                best[label] = min(best[label], time.perf_counter() - start)
        rows = [(label, best[label]) for label, _ in tools]
        grep_time = rows[0][1]
        findings = outputs[tools[1][0]]
        problems: list[str] = []
        problems += [f"git grep missed {p}" for p in _verify_grep(outputs[tools[0][0]], plants)]
        problems += [f"find_stale: {p}" for p in _verify_check(findings, plants, root)]
        if cli:
            if len(json.loads(outputs[tools[2][0]])) != len(findings):
                problems.append("the CLI's JSON and find_stale() disagree on the number of findings")
        print()
        print(f"{'tool':<48} {'seconds':>9} {'x git grep':>11}")
        for label, seconds in rows:
            print(f"{label:<48} {seconds:>9.3f} {seconds / grep_time:>10.2f}x")
        if not cli:
            print("(the CLI has no `check` command yet: timed in-process only)")
        print(f"\ntarget: refactor check within {TARGET_RATIO:.0f}x git grep")
        for label, seconds in rows[1:]:
            ratio = seconds / grep_time
            print(f"  {label}: {ratio:.2f}x ({'met' if ratio <= TARGET_RATIO else 'NOT met'})")
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        print(f"  (best of {args.repeat} interleaved runs; {cores} usable cores; Python {platform.python_version()})")
        if problems:
            print("\nplanted names not found as expected:")
            for problem in problems:
                print(f"  {problem}")
            return 1
        print(f"every planted name was found as expected by each tool ({len(findings)} findings)")
        return 0
    finally:
        if args.keep:
            print(f"tree kept at {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
