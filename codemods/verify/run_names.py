"""The W&B run name each trainer of the user's flow will really get, found statically.

transformers' ``WandbCallback`` calls ``wandb.init(name=args.run_name)`` only when no W&B run is
active. A notebook cell that calls ``wandb.init(name=...)`` before the trainer trains therefore
names the run, whatever the config's ``run_name`` says, until ``wandb.finish()`` ends that run.
This module walks the main file and every notebook in execution order (file order; notebook code
cells in order, IPython magics left out) and, for each ``...Trainer(args=...)`` it meets, says
which name W&B will show and whether it differs from the config's ``run_name``.
"""

from __future__ import annotations

import ast
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from codemods.core.bom import without_bom
from codemods.core.ipython import is_ipython_line
from codemods.core.workspace import Workspace, WorkspaceError
from codemods.verify.smoke_parent import expected_run_name

GENERATED = "<a name W&B generates>"
UNKNOWN = "<not known statically>"


@dataclass
class TrainerRun:
    """One trainer of the user's flow and the W&B run name it will log under."""

    file: str
    cell: int | None
    line: int
    trainer: str
    config: str | None
    variant: str | None
    config_run_name: str | None
    wandb_init: str | None  # where the active wandb.init(...) is, if any
    shown: str | None

    @property
    def location(self) -> str:
        return f"{self.file} cell {self.cell} line {self.line}" if self.cell is not None else f"{self.file}:{self.line}"

    @property
    def mismatch(self) -> bool:
        return self.wandb_init is not None and self.config_run_name is not None and self.shown != self.config_run_name

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "location": self.location, "mismatch": self.mismatch}


def _callee(node: ast.Call) -> str:
    function = node.func
    if isinstance(function, ast.Attribute):
        return function.attr
    return function.id if isinstance(function, ast.Name) else ""


def _receiver(node: ast.Call) -> str | None:
    function = node.func
    return function.value.id if isinstance(function, ast.Attribute) and isinstance(function.value, ast.Name) else None


def _keyword(node: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in node.keywords if k.arg == name), None)


def _literal(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


class _Flow:
    """The state a top-to-bottom run of the code would be in: the active W&B run and the configs built."""

    def __init__(self, recipe, file: str):
        self.recipe = recipe
        self.file = file
        self.wandb_names = {"wandb"}
        self.run_handles: set[str] = set()
        self.active: tuple[str, str] | None = None  # (name W&B shows, where wandb.init was called)
        self.configs: dict[str, tuple[str | None, str | None]] = {}  # variable -> (run_name, variant)
        block_variants = {}
        for block in recipe.config_blocks:
            for target in (block.target, block.new_target):
                if target:
                    block_variants[target] = block.variant
        self.block_variants = block_variants
        self.trainers: list[TrainerRun] = []

    def _config_of(self, call: ast.Call) -> tuple[str | None, str | None]:
        """``(run_name, variant)`` of a config-building call, as far as the source says."""
        run_name = _literal(_keyword(call, "run_name"))
        variant = _literal(_keyword(call, "variant"))
        function = self.recipe.config_function
        if function is not None and _callee(call) == function.name and variant is not None and run_name is None:
            run_name = expected_run_name(self.recipe, variant)
        return run_name, variant

    def statement(self, node: ast.stmt, cell: int | None, line_offset: int) -> None:
        for alias in (a for n in ast.walk(node) if isinstance(n, ast.Import) for a in n.names):
            if alias.name == "wandb":
                self.wandb_names.add(alias.asname or "wandb")
        assigned = {}
        for sub in ast.walk(node):
            if isinstance(sub, ast.Assign) and isinstance(sub.value, ast.Call):
                for target in sub.targets:
                    if isinstance(target, ast.Name):
                        assigned[id(sub.value)] = target.id
        calls = sorted((n for n in ast.walk(node) if isinstance(n, ast.Call)), key=lambda n: (n.lineno, n.col_offset))
        for call in calls:
            self._call(call, assigned.get(id(call)), cell, call.lineno + line_offset)

    def _call(self, call: ast.Call, target: str | None, cell: int | None, line: int) -> None:
        name, receiver = _callee(call), _receiver(call)
        where = f"{self.file} cell {cell} line {line}" if cell is not None else f"{self.file}:{line}"
        if name == "init" and receiver in self.wandb_names:
            given = _keyword(call, "name")
            shown = GENERATED if given is None else (_literal(given) or UNKNOWN)
            self.active = (shown, where)
            if target:
                self.run_handles.add(target)
        elif name == "finish" and (receiver in self.wandb_names or receiver in self.run_handles):
            self.active = None
        elif name.endswith("Trainer") and _keyword(call, "args") is not None:
            args = _keyword(call, "args")
            variable = args.id if isinstance(args, ast.Name) else None
            run_name, variant = self.configs.get(variable, (None, None)) if variable else (None, None)
            if isinstance(args, ast.Call):
                run_name, variant = self._config_of(args)
            variant = variant or (self.block_variants.get(variable) if variable else None)
            shown = self.active[0] if self.active else run_name
            self.trainers.append(
                TrainerRun(self.file, cell, line, target or name, variable, variant, run_name,
                           self.active[1] if self.active else None, shown)
            )
        elif target is not None:
            self.configs[target] = self._config_of(call)


def _code_cells(text: str) -> list[tuple[int, str]]:
    try:
        cells = json.loads(text).get("cells", [])
    except (ValueError, AttributeError):
        return []
    found = []
    for index, cell in enumerate(cells):
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else str(source)
            # IPython magics and shell lines are not Python: blank them, keeping the line numbers.
            found.append((index, "\n".join("" if is_ipython_line(line) else line for line in source.split("\n"))))
    return found


def trainer_runs(root: Path, recipe) -> list[TrainerRun]:
    """Every trainer in the main file and the notebooks under ROOT, with the W&B name it will show."""
    workspace = Workspace(Path(root))
    main = workspace.single_file or recipe.main_file
    files = [main] if workspace.exists(main) and main.endswith(".py") else []
    files += [f for f in workspace.files((".ipynb",)) if f not in files]
    runs: list[TrainerRun] = []
    for relative in files:
        try:
            text = without_bom(workspace.read_text(relative))
        except (WorkspaceError, OSError, UnicodeDecodeError):
            continue
        flow = _Flow(recipe, relative)
        pieces = _code_cells(text) if relative.endswith(".ipynb") else [(None, text)]
        for cell, source in pieces:
            try:
                tree = ast.parse(source)
            except (SyntaxError, ValueError):
                continue
            for node in tree.body:
                flow.statement(node, cell, 0)
        runs.extend(flow.trainers)
    return runs


def run_name_warnings(runs: list[TrainerRun]) -> list[dict[str, Any]]:
    """One warning per distinct mismatch (a script and its paired notebook give one, naming both places)."""
    grouped: dict[tuple, list[TrainerRun]] = {}
    for run in runs:
        if run.mismatch:
            grouped.setdefault((run.variant or run.trainer, run.shown, run.config_run_name), []).append(run)
    warnings = []
    for (label, shown, configured), found in grouped.items():
        first = found[0]
        places = ", ".join(run.location for run in found)
        warnings.append(
            {
                "field": "run_name",
                "variants": [first.variant] if first.variant else [],
                "shown": shown,
                "config_run_name": configured,
                "message": (
                    f"W&B will show {label}'s run as {shown!r}, not its config's run_name {configured!r}: "
                    f"wandb.init(name=...) at {first.wandb_init} starts the run before {first.trainer} trains, "
                    f"and the trainer only logs into an active run ({places}). Make the two names agree, or "
                    "leave the name to the config (drop name= or call wandb.finish() before the trainer)."
                ),
            }
        )
    return warnings


def note_run_names(outcome, root: Path, recipe) -> list[TrainerRun]:
    """Add the flow's run names to the smoke section's data (and each trained variant), and warn on mismatches."""
    from codemods.verify.report import SMOKE, VerificationWarning

    runs = trainer_runs(root, recipe)
    shown = {}
    for run in runs:
        if run.variant:
            shown.setdefault(run.variant, run.shown)
    for record in (outcome.training or {}).get("variants", []):
        record["wandb_run_name_in_flow"] = shown.get(record.get("variant"))
    for check in outcome.checks:
        if check.name == SMOKE:
            check.data["run_names"] = [run.to_dict() for run in runs]
    for warning in run_name_warnings(runs):
        outcome.warnings.append(VerificationWarning(SMOKE, "run_name", warning["message"], warning["variants"]))
    return runs
