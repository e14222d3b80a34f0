"""`refactor verify`: prove that a migrated repository is sound.

Four checks, each a named result with a duration:

1. **stale names** - exactly `refactor check`: the same scan, findings and exit logic (stored
   notebook outputs and call keywords only warn; see :mod:`codemods.verify.stale`).
2. **code health** - every Python file and notebook code cell compiles and names no undefined
   name; every deprecated alias takes its old keywords (see :mod:`codemods.verify.health`).
   Then **config behaviour**: every training config before vs now, judged as apply judges it
   (see :mod:`codemods.verify.behaviour`).
3. **package imports** - the recipe's migrated modules import (in the training interpreter) and
   define the config function and the exported collators.
4. **stack compatibility** - every keyword the config code passes is accepted by the installed
   config class, and every variant's config builds on this machine (see :mod:`codemods.verify.compat`).
5. **smoke training** (optional) - every variant trains a few LoRA steps on the tiny offline
   Qwen2-VL kit with the user's own config function and collator, and its W&B run carries the
   run name the plan gives it (see :mod:`codemods.verify.smoke_parent`).

Checks 3 to 5 execute the repository's own code, all in one child process (this tool's
interpreter, or the user's with ``--python``), started before the static checks run; a notice
says so before it starts.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from codemods.core.recipe import Recipe
from codemods.verify.before import before_files
from codemods.verify.behaviour import BEHAVIOUR, check_config_behaviour
from codemods.verify.compat import check_compatibility, config_keywords
from codemods.verify.health import HEALTH, check_code_health
from codemods.verify.interpreter import Interpreter
from codemods.verify.loss_plot import import_plotting
from codemods.verify.parity import ParityCopy, parity_outcome
from codemods.verify.report import (
    COMPAT,
    FAILED,
    IMPORTS,
    PASSED,
    SKIPPED,
    SMOKE,
    STALE,
    CheckOutcome,
    VerificationOutcome,
    VerificationWarning,
    format_loss,
    installed_versions,
)
from codemods.verify.run_names import note_run_names
from codemods.verify.smoke_parent import (
    DEFAULT_TIMEOUT_S,
    ChildRun,
    SmokeSetupError,
    build_spec,
    dotted_module,
    imports_only_spec,
    run_smoke,
)
from codemods.verify.stale import check_stale_names

RUNS_USER_CODE = (
    "verify will now run the repository's own code: it imports its modules in a separate "
    "Python process{smoke}. Run verify only on code you trust."
)


def _timed(name: str, function: Callable[[], CheckOutcome]) -> CheckOutcome:
    started = time.perf_counter()
    try:
        outcome = function()
    except Exception as error:  # a check never crashes verification
        outcome = CheckOutcome(name, FAILED, f"the check itself failed: {type(error).__name__}: {error}")
    outcome.duration = time.perf_counter() - started
    return outcome


# ----------------------------------------------------------------------------- 3. package imports

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


def modules_to_import(root: Path, recipe: Recipe) -> dict[str, list[str]]:
    """``{module: names}`` the smoke child imports and looks up (the modules that exist)."""
    if root.is_file():
        return {}
    required, optional, paths = _expected_names(recipe, root)
    return {
        m: names + [n for n in optional.get(m, []) if n not in names]
        for m, names in required.items()
        if (root / paths[m]).is_file()
    }


def check_package_imports(root: Path, recipe: Recipe, report: dict[str, Any]) -> CheckOutcome:
    """Judge the imports the smoke child made (``report["imports"]``) in the interpreter that trains."""
    if root.is_file():
        return CheckOutcome(IMPORTS, SKIPPED, "ROOT is a single file: there is no package to import")
    required, optional, paths = _expected_names(recipe, root)
    if not required:
        return CheckOutcome(IMPORTS, SKIPPED, "the recipe names no migrated module")
    absent = [m for m in required if not (root / paths[m]).is_file()]
    results: dict[str, Any] = report.get("imports") or {}
    if len(absent) < len(required) and "imports" not in report:
        tail = [line for line in report.get("output_tail", []) if line.strip()][-1:]
        reason = report.get("error") or "the training process ended before importing it"
        return CheckOutcome(IMPORTS, FAILED, "the package was not imported: " + " | ".join([reason, *tail]))
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


def default_progress(event: dict[str, Any]) -> None:
    """One line per variant on stderr (stdout stays free for the report)."""
    from codemods.consoles import visible

    if event.get("event") == "runs-user-code":
        line = f"note: {event.get('message', '')}"
    elif event.get("event") == "setup":
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
    sys.stderr.write(visible(line) + "\n")
    sys.stderr.flush()


def check_smoke(
    root: Path,
    recipe: Recipe,
    device: str,
    steps: int,
    outcome: VerificationOutcome | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    adapt: bool = False,
    interpreter: Interpreter | None = None,
) -> CheckOutcome:
    """Train every variant in a child process; fills ``outcome.training`` and its warnings when given."""
    if device not in {"auto", "cpu", "cuda"}:
        return CheckOutcome(SMOKE, FAILED, f"unknown device {device!r} (use auto, cpu or cuda)")
    if steps < 1:
        return CheckOutcome(SMOKE, FAILED, f"steps must be at least 1 (got {steps})")
    keywords = tuple(dataclasses.asdict(k) for k in config_keywords(root, recipe))
    try:
        spec = build_spec(root, recipe, device, steps, adapt=adapt, keywords=keywords)
    except SmokeSetupError as error:
        return CheckOutcome(SMOKE, FAILED, str(error))
    report = run_smoke(spec, progress=progress, timeout=timeout, interpreter=interpreter)
    return smoke_outcome(report, outcome or VerificationOutcome(str(root), recipe.name, True, device, steps))


def smoke_outcome(report: dict[str, Any], outcome: VerificationOutcome) -> CheckOutcome:
    """The smoke section from the child's report; ``outcome.training`` and its warnings are filled in."""
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
    if report.get("stopped") and not report.get("error"):
        return CheckOutcome(SMOKE, SKIPPED, f"not run: {report['stopped']}", data=data)
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
        f"{r['variant']} ({r['steps']} steps, loss {format_loss(r['first_loss'])}->{format_loss(r['last_loss'])}, "
        f"run {r['wandb_run_name']})"
        for r in records
    )
    return CheckOutcome(SMOKE, PASSED, f"{len(records)} variant(s) trained on {report.get('device')}: {summary}", data=data)


# ----------------------------------------------------------------------------- entry points


def _announce(outcome: VerificationOutcome, smoke: bool, progress: Callable[[dict[str, Any]], None] | None) -> None:
    message = RUNS_USER_CODE.format(smoke=" and trains with its config function and collators" if smoke else "")
    outcome.notices.append(message)
    if progress is not None:
        progress({"event": "runs-user-code", "message": message})
        outcome.notices_shown = len(outcome.notices)  # said before running: the rendered report need not repeat it


def start_training_child(
    root: Path, recipe: Recipe, smoke: bool, device: str, steps: int, adapt: bool, keywords, interpreter, progress, timeout,
    extra: dict[str, Any] | None = None,
) -> tuple[ChildRun, str | None]:
    """Start the one child that imports the package, checks the stack and (``smoke``) trains.

    Returns it with the reason the smoke run cannot be set up, if any (the child then only imports).
    """
    imports = modules_to_import(root, recipe)
    options = {"train": smoke, "adapt": adapt, "imports": imports, "keywords": tuple(dataclasses.asdict(k) for k in keywords)}
    options.update(extra or {})
    setup_error = None
    try:
        spec = build_spec(root, recipe, device if smoke else "auto", steps, **options)
    except SmokeSetupError as error:
        setup_error, spec = str(error), imports_only_spec(root, imports)
    return ChildRun(spec, interpreter, progress, timeout), setup_error


def run_verification(
    root: Path,
    recipe: Recipe,
    smoke: bool = True,
    device: str = "auto",
    steps: int = 5,
    progress: Callable[[dict[str, Any]], None] | None = default_progress,
    timeout: float = DEFAULT_TIMEOUT_S,
    adapt: bool = False,
    interpreter: Interpreter | None = None,
    before_rev: str | None = None,
    report_path: Path | None = None,
) -> VerificationOutcome:
    """Run every check on ROOT (a directory or a single main file) and collect the outcome.

    "Before" is ROOT at ``before_rev``, else as its last apply journal recorded it (else none);
    with ``report_path`` the W&B offline runs are kept beside that report.
    """
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
        outcome.checks.append(CheckOutcome(HEALTH, FAILED, f"{root} does not exist"))
        return outcome
    if interpreter is not None and not interpreter.own:
        outcome.versions.update(interpreter.versions, python=interpreter.python, interpreter=interpreter.executable)
    keywords = config_keywords(root, recipe)
    _announce(outcome, smoke, progress)
    # One child imports torch once for the imports, the stack check and the training; it starts
    # now and works while the static checks run here.
    before = before_files(root, recipe, before_rev)
    parity_copy = ParityCopy(recipe, before if smoke else None)
    extra = {**parity_copy.spec_options, "artifacts": str(Path(report_path).resolve().parent) if report_path else None}
    child, setup_error = start_training_child(
        root, recipe, smoke, device, steps, adapt, keywords, interpreter, progress, timeout, extra
    )
    outcome.checks.append(_timed(STALE, lambda: check_stale_names(root, recipe, outcome)))
    outcome.checks.append(_timed(HEALTH, lambda: check_code_health(root, recipe, before)))
    if smoke:  # the report's plot needs matplotlib, which imports while the child trains
        threading.Thread(target=import_plotting, name="import-plotting", daemon=True).start()
    report = child.result()
    # After the child: a field its config class lacks is excused (see compat.stack_excused).
    outcome.checks.append(_timed(BEHAVIOUR, lambda: check_config_behaviour(root, recipe, before, report)))
    parity_copy.close()
    outcome.checks.append(_timed(IMPORTS, lambda: check_package_imports(root, recipe, report)))
    outcome.checks.append(_timed(COMPAT, lambda: check_compatibility(report, recipe, keywords, adapt, smoke)))
    if smoke and setup_error:
        outcome.checks.append(CheckOutcome(SMOKE, FAILED, setup_error))
    elif smoke:
        outcome.checks.append(_timed(SMOKE, lambda: smoke_outcome(report, outcome)))
        outcome.checks[-1].duration = report.get("wall_seconds", 0.0)
    else:
        outcome.checks.append(CheckOutcome(SMOKE, SKIPPED, "not requested (--no-smoke)"))
    outcome.checks.append(parity_outcome(report, smoke and not setup_error))
    note_run_names(outcome, root, recipe)
    return outcome
