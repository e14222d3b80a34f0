"""The generated tree `refactor check` is timed on: realistic-looking modules with planted old names.

A fixed seed makes the tree the same on every run: 10,000 files of about 85 lines by default
(about a million lines), with a few dozen old names planted in every kind a finding can have,
some of them in allowed places. :func:`verify_grep` and :func:`_verify_check` tell whether a
tool found exactly what was planted.
"""

from __future__ import annotations

import random
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from codemods.core.recipe import Recipe

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
    (
        "attribute",
        ("from src.data import collators", "batch = collators.collate_fn_fixed_3(samples)"),
        1, "collate_fn_fixed_3", False, True,
    ),
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
