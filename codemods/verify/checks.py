"""`refactor verify`: prove that a migrated repository is sound.

Four checks, each a named result with a duration:

1. **stale names** - :func:`codemods.check.scan.find_stale` finds no retired name.
2. **files parse** - every Python file of ROOT compiles.
3. **package imports** - the recipe's migrated modules import (in a separate interpreter) and
   define the config function and the exported collators.
4. **smoke training** (optional) - every variant trains a few LoRA steps on the tiny offline
   Qwen2-VL kit with the user's own config function and collator, and its W&B run carries the
   run name the plan gives it (see :mod:`codemods.verify.smoke`).
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from codemods.core.recipe import Recipe
from codemods.verify.smoke import DEFAULT_TIMEOUT_S, SmokeSetupError, build_spec, dotted_module, run_smoke

REPORT_FORMAT = "vlm-refactor.verify/1"
PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"
STALE, PARSE, IMPORTS, SMOKE = "stale names", "files parse", "package imports", "smoke training"
IMPORT_TIMEOUT_S = 600
_SHOWN = 5
_VERSIONED = ("torch", "transformers", "trl", "peft", "datasets", "wandb", "vlm-refactor")


@dataclass
class CheckOutcome:
    """One named check."""

    name: str
    status: str
    detail: str
    duration: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    @property
    def skipped(self) -> bool:
        return self.status == SKIPPED

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "passed": self.passed,
            "detail": self.detail,
            "duration_s": round(self.duration, 3),
            "data": self.data,
        }


@dataclass
class VerificationWarning:
    """Something that passed only after an adjustment the user should make in their code."""

    check: str
    field: str
    message: str
    variants: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "field": self.field, "variants": self.variants, "message": self.message}


@dataclass
class VerificationOutcome:
    root: str
    recipe: str
    smoke: bool
    device: str
    steps: int
    checks: list[CheckOutcome] = field(default_factory=list)
    warnings: list[VerificationWarning] = field(default_factory=list)
    training: dict[str, Any] | None = None
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True when no check failed (skipped checks do not fail verification)."""
        return all(check.status != FAILED for check in self.checks)

    def check(self, name: str) -> CheckOutcome:
        for outcome in self.checks:
            if outcome.name == name:
                return outcome
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": REPORT_FORMAT,
            "root": self.root,
            "recipe": self.recipe,
            "passed": self.passed,
            "smoke": self.smoke,
            "device": self.device,
            "steps": self.steps,
            "versions": self.versions,
            "checks": [check.to_dict() for check in self.checks],
            "warnings": [warning.to_dict() for warning in self.warnings],
            "training": self.training,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str) + "\n"


def installed_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in _VERSIONED:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def _timed(name: str, function: Callable[[], CheckOutcome]) -> CheckOutcome:
    started = time.perf_counter()
    try:
        outcome = function()
    except Exception as error:  # a check never crashes verification
        outcome = CheckOutcome(name, FAILED, f"the check itself failed: {type(error).__name__}: {error}")
    outcome.duration = time.perf_counter() - started
    return outcome


# ----------------------------------------------------------------------------- 1. stale names


def _finding_location(finding: Any, root: Path) -> str:
    """``path:line:column old_name`` with the path relative to ROOT's directory."""
    location = getattr(finding, "location", None)
    if location is None:
        path, line = getattr(finding, "path", "?"), getattr(finding, "line", None)
        location = f"{path}:{line}" if line is not None else str(path)
    directory = str(root.parent if root.is_file() else root).rstrip("/") + "/"
    if location.startswith(directory):
        location = location[len(directory) :]
    name = getattr(finding, "old_name", None)
    return f"{location} {name}" if name else location


def check_stale_names(root: Path, recipe: Recipe) -> CheckOutcome:
    try:
        from codemods.check.scan import CheckError, find_stale
    except ImportError as error:
        return CheckOutcome(STALE, FAILED, f"the stale-name scanner is unavailable ({error})")
    try:
        result = find_stale(root, recipe)
    except CheckError as error:
        return CheckOutcome(STALE, FAILED, f"cannot scan {root}: {error}")
    findings = list(result.findings)
    errors = list(getattr(result, "errors", []) or [])
    data = {
        "findings": len(findings),
        "files_scanned": getattr(result, "files_scanned", None),
        "locations": [_finding_location(f, root) for f in findings[:50]],
        "errors": errors,
    }
    if not findings and not errors:
        return CheckOutcome(STALE, PASSED, f"no old names in {data['files_scanned']} file(s)", data=data)
    parts = []
    if findings:
        shown = ", ".join(data["locations"][:_SHOWN]) + (", …" if len(findings) > _SHOWN else "")
        parts.append(f"{len(findings)} stale name(s): {shown}")
    if errors:
        parts.append(f"{len(errors)} file(s) could not be scanned: " + "; ".join(errors[:_SHOWN]))
    return CheckOutcome(STALE, FAILED, "; ".join(parts), data=data)


# ----------------------------------------------------------------------------- 2. files parse


def check_files_parse(root: Path) -> CheckOutcome:
    from codemods.core.workspace import Workspace

    workspace = Workspace(root)
    files = workspace.files()
    problems = []
    for relative in files:
        try:
            source = workspace.read_bytes(relative)
            compile(source, relative, "exec", dont_inherit=True)
        except SyntaxError as error:
            problems.append(f"{relative}:{error.lineno}: {error.msg}")
        except (ValueError, OSError) as error:
            problems.append(f"{relative}: {error}")
    data = {"files": len(files), "errors": problems}
    if problems:
        shown = "; ".join(problems[:_SHOWN]) + ("; …" if len(problems) > _SHOWN else "")
        return CheckOutcome(PARSE, FAILED, f"{len(problems)} of {len(files)} file(s) do not compile: {shown}", data=data)
    return CheckOutcome(PARSE, PASSED, f"{len(files)} Python file(s) compile", data=data)


# ----------------------------------------------------------------------------- 3. package imports

_IMPORT_PROBE = r"""
import importlib, json, sys
sys.path.insert(0, sys.argv[1])
results = {}
for module, names in json.loads(sys.argv[2]).items():
    try:
        loaded = importlib.import_module(module)
    except BaseException as error:
        results[module] = {"error": f"{type(error).__name__}: {error}"}
        continue
    results[module] = {"missing": [n for n in names if not hasattr(loaded, n)]}
print("@@imports " + json.dumps(results))
"""


def _expected_names(recipe: Recipe, directory: Path) -> tuple[dict[str, list[str]], dict[str, list[str]], dict[str, str]]:
    """``{module: names it must define}``, ``{module: names it should define}`` and ``{module: path}``."""
    required: dict[str, list[str]] = {}
    optional: dict[str, list[str]] = {}
    paths: dict[str, str] = {}

    def want(bucket: dict[str, list[str]], path: str, names: list[str]) -> None:
        module = dotted_module(path)
        paths[module] = path
        required.setdefault(module, [])
        entry = bucket.setdefault(module, [])
        entry.extend(n for n in names if n not in entry)

    function = [recipe.config_function.name] if recipe.config_function else []
    if recipe.config_module:
        want(required, recipe.config_module.path, function)
        init = recipe.config_module.package_init
        if init and (directory / init).is_file():
            want(optional, init, function)
    if recipe.data_package:
        exports = list(recipe.data_package.exports)
        collators = exports + [b.collator for b in recipe.config_blocks if b.collator and b.collator not in exports]
        want(required, recipe.data_package.collators, collators)
        init = recipe.data_package.package_init
        if init and (directory / init).is_file():
            want(required, init, exports)
    return required, optional, paths


def check_package_imports(root: Path, recipe: Recipe) -> CheckOutcome:
    if root.is_file():
        return CheckOutcome(IMPORTS, SKIPPED, "ROOT is a single file: there is no package to import")
    required, optional, paths = _expected_names(recipe, root)
    if not required:
        return CheckOutcome(IMPORTS, SKIPPED, "the recipe names no migrated module")
    absent = [m for m in required if not (root / paths[m]).is_file()]
    probe = {
        m: names + [n for n in optional.get(m, []) if n not in names] for m, names in required.items() if m not in absent
    }
    results: dict[str, Any] = {}
    if probe:
        try:
            completed = subprocess.run(
                [sys.executable, "-c", _IMPORT_PROBE, str(root), json.dumps(probe)],
                cwd=root,
                capture_output=True,
                text=True,
                timeout=IMPORT_TIMEOUT_S,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            return CheckOutcome(IMPORTS, FAILED, f"importing the package took longer than {IMPORT_TIMEOUT_S} s")
        marker = [line for line in completed.stdout.splitlines() if line.startswith("@@imports ")]
        if not marker:
            tail = (completed.stderr or completed.stdout).strip().splitlines()[-3:]
            return CheckOutcome(IMPORTS, FAILED, "the import probe crashed: " + " | ".join(tail))
        results = json.loads(marker[-1][len("@@imports ") :])
    problems = [f"{paths[m]} does not exist" for m in absent]
    notes = []
    for module, result in results.items():
        path = paths[module]
        if "error" in result:
            problems.append(f"import {module} ({path}) failed: {result['error']}")
            continue
        missing = [n for n in result["missing"] if n in required[module]]
        if missing:
            problems.append(f"{path} defines no {', '.join(missing)}")
        unexported = [n for n in result["missing"] if n not in required[module]]
        if unexported:
            notes.append(f"{module} does not re-export {', '.join(unexported)}")
    data = {"modules": required, "optional": optional, "notes": notes, "errors": problems}
    if problems:
        return CheckOutcome(IMPORTS, FAILED, "; ".join(problems), data=data)
    checked = sum(len(names) for names in required.values())
    detail = f"{len(required)} module(s) import; {checked} expected name(s) defined"
    if notes:
        detail += " (" + "; ".join(notes) + ")"
    return CheckOutcome(IMPORTS, PASSED, detail, data=data)


# ----------------------------------------------------------------------------- 4. smoke training


def _format_loss(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else "-"


def default_progress(event: dict[str, Any]) -> None:
    """One line per variant on stderr (stdout stays free for the report)."""
    if event.get("event") == "setup":
        line = f"smoke: imports {event.get('import_seconds', 0):.1f} s, training on {event.get('device')}"
    elif event.get("event") == "variant-done":
        record = event.get("record", {})
        mark = "ok" if record.get("passed") else "FAILED"
        line = (
            f"smoke [{event.get('index', 0) + 1}/{event.get('total', 0)}] {record.get('variant')}: {mark} - "
            f"{record.get('detail', '')} ({record.get('wall_seconds', 0):.1f} s)"
        )
    else:
        return
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def check_smoke(
    root: Path,
    recipe: Recipe,
    device: str,
    steps: int,
    outcome: VerificationOutcome | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> CheckOutcome:
    """Train every variant in a child process; fills ``outcome.training`` and its warnings when given."""
    if device not in {"auto", "cpu", "cuda"}:
        return CheckOutcome(SMOKE, FAILED, f"unknown device {device!r} (use auto, cpu or cuda)")
    if steps < 1:
        return CheckOutcome(SMOKE, FAILED, f"steps must be at least 1 (got {steps})")
    try:
        spec = build_spec(root, recipe, device, steps)
    except SmokeSetupError as error:
        return CheckOutcome(SMOKE, FAILED, str(error))
    report = run_smoke(spec, progress=progress, timeout=timeout)
    if outcome is None:
        outcome = VerificationOutcome(str(root), recipe.name, True, device, steps)
    outcome.training = report
    for warning in report.get("warnings", []):
        outcome.warnings.append(
            VerificationWarning(SMOKE, warning.get("field", ""), warning.get("message", ""), warning.get("variants", []))
        )
    records = report.get("variants", [])
    data = {
        "device": report.get("device"),
        "import_seconds": report.get("import_seconds"),
        "wall_seconds": report.get("wall_seconds"),
        "variants": {r["variant"]: r.get("passed", False) for r in records},
    }
    if report.get("error"):
        detail = report["error"]
        tail = [line for line in report.get("output_tail", []) if line.strip()]
        if tail and not report.get("completed") and "exited with status" in detail:
            detail += ": " + tail[-1].strip()
        return CheckOutcome(SMOKE, FAILED, detail, data=data)
    failed = [r for r in records if not r.get("passed")]
    if failed:
        detail = "; ".join(f"{r['variant']}: {r.get('detail', '')}" for r in failed)
        return CheckOutcome(SMOKE, FAILED, detail, data=data)
    summary = ", ".join(
        f"{r['variant']} ({r['steps']} steps, loss {_format_loss(r['first_loss'])}->{_format_loss(r['last_loss'])}, "
        f"run {r['wandb_run_name']})"
        for r in records
    )
    return CheckOutcome(SMOKE, PASSED, f"{len(records)} variant(s) trained on {report.get('device')}: {summary}", data=data)


# ----------------------------------------------------------------------------- entry points


def run_verification(
    root: Path,
    recipe: Recipe,
    smoke: bool = True,
    device: str = "auto",
    steps: int = 5,
    progress: Callable[[dict[str, Any]], None] | None = default_progress,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> VerificationOutcome:
    """Run every check on ROOT (a directory or a single main file) and collect the outcome."""
    root = Path(root).resolve()
    outcome = VerificationOutcome(
        root=str(root),
        recipe=f"{recipe.name} ({recipe.source})" if recipe.source else recipe.name,
        smoke=smoke,
        device=device,
        steps=steps,
        versions=installed_versions(),
    )
    if not root.exists():
        outcome.checks.append(CheckOutcome(PARSE, FAILED, f"{root} does not exist"))
        return outcome
    outcome.checks.append(_timed(STALE, lambda: check_stale_names(root, recipe)))
    outcome.checks.append(_timed(PARSE, lambda: check_files_parse(root)))
    outcome.checks.append(_timed(IMPORTS, lambda: check_package_imports(root, recipe)))
    if smoke:
        outcome.checks.append(
            _timed(SMOKE, lambda: check_smoke(root, recipe, device, steps, outcome, progress, timeout))
        )
    else:
        outcome.checks.append(CheckOutcome(SMOKE, SKIPPED, "not requested (--no-smoke)"))
    return outcome


_STATUS_STYLE = {PASSED: "green", FAILED: "bold red", SKIPPED: "dim"}


def render_verification(outcome: VerificationOutcome, console) -> None:
    """Print the outcome with rich: the checks, the trained variants, then the warnings."""
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    console.print(Text(f"Verification — {outcome.root}", style="italic"))
    table = Table()
    table.add_column("check", no_wrap=True)
    table.add_column("result", no_wrap=True)
    table.add_column("detail", overflow="fold")
    table.add_column("time", justify="right")
    for check in outcome.checks:
        table.add_row(
            check.name,
            Text(check.status, style=_STATUS_STYLE.get(check.status, "")),
            check.detail,
            f"{check.duration:.1f} s",
        )
    console.print(table)

    records = (outcome.training or {}).get("variants") or []
    if records:
        console.print(Text("Smoke training", style="italic"))
        training = Table()
        for column in ("variant", "collator", "device", "steps", "first loss", "last loss", "trainable", "W&B run", "time"):
            training.add_column(column, overflow="fold")
        for record in records:
            style = "green" if record.get("passed") else "bold red"
            training.add_row(
                Text(str(record.get("variant")), style=style),
                str(record.get("collator")),
                str(record.get("device")),
                str(record.get("steps")),
                _format_loss(record.get("first_loss")),
                _format_loss(record.get("last_loss")),
                f"{record.get('trainable_params', 0):,}",
                str(record.get("wandb_run_name")),
                f"{record.get('wall_seconds', 0):.1f} s",
            )
        console.print(training)
        imports = (outcome.training or {}).get("import_seconds")
        if imports is not None:
            console.print(f"[dim]imports {imports:.1f} s in the training process[/]")

    for warning in outcome.warnings:
        scope = f" ({', '.join(warning.variants)})" if warning.variants else ""
        console.print(f"[yellow]warning[/] [bold]{escape(warning.field)}[/]{escape(scope)}: {escape(warning.message)}")
    notes = (outcome.training or {}).get("notes") or []
    for note in notes:
        console.print(f"[dim]note: {escape(note)}[/]")
    if outcome.passed:
        console.print("[green]Verified:[/] every check passed.")
    else:
        failed = [c.name for c in outcome.checks if c.status == FAILED]
        console.print(f"[bold red]Verification failed:[/] {', '.join(failed)}.")
