"""Check 1 of verify, **stale names**: exactly `refactor check`, with its findings told as verify tells them.

Stored notebook outputs and call keywords only warn, as in `check`; each finding is located
relative to ROOT, a notebook's by cell (``eval.ipynb cell 3 2:5 collate_fn_fixed_1``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from codemods.check import CheckError, find_stale
from codemods.core.kinds import KEYWORD, NOTEBOOK_OUTPUT
from codemods.core.recipe import Recipe
from codemods.core.workspace import split_root
from codemods.verify.report import (
    FAILED,
    PASSED,
    STALE,
    CheckOutcome,
    VerificationOutcome,
    VerificationWarning,
)

_SHOWN = 5


def finding_location(finding: Any, root: Path) -> str:
    """``path:line:column old_name``, or ``path.ipynb cell N line:column old_name``, the path relative to ROOT."""
    path = str(finding.path)
    directory = str(split_root(root)[0]).rstrip("/") + "/"
    if path.startswith(directory):
        path = path[len(directory) :]
    if finding.cell is not None:
        return f"{path} cell {finding.cell} {finding.line}:{finding.column} {finding.old_name}"
    return f"{path}:{finding.line}:{finding.column} {finding.old_name}"


def _listed(locations: list[str], total: int) -> str:
    return ", ".join(locations[:_SHOWN]) + (", …" if total > _SHOWN else "")


def check_stale_names(root: Path, recipe: Recipe, outcome: VerificationOutcome | None = None) -> CheckOutcome:
    """`refactor check` with its defaults; stored-output warnings also go to ``outcome.warnings`` when given."""
    try:
        result = find_stale(root, recipe, exclude=(), jobs=None, progress=False)
    except CheckError as error:
        return CheckOutcome(STALE, FAILED, f"cannot scan {root}: {error}")
    failures = list(result.failures)
    warnings = [finding for finding in result.findings if finding.kind == NOTEBOOK_OUTPUT]
    keywords = [finding for finding in result.findings if finding.kind == KEYWORD]
    errors = list(result.errors)
    data = {
        "exit_code": result.exit_code,
        "findings": len(failures),
        "warnings": len(warnings),
        "files_scanned": result.files_scanned,
        "locations": [finding_location(f, root) for f in failures[:50]],
        "warning_locations": [finding_location(f, root) for f in warnings[:50]],
        "errors": errors,
    }
    stored = ""
    if warnings:
        stored = f"; {len(warnings)} in stored notebook outputs (warnings): " + _listed(
            data["warning_locations"], len(warnings)
        )
        if outcome is not None:
            outcome.warnings.append(
                VerificationWarning(
                    STALE,
                    "notebook outputs",
                    f"{len(warnings)} old name(s) in stored notebook outputs, which record past runs: clear "
                    "the outputs or re-run the notebook (" + _listed(data["warning_locations"], len(warnings)) + ")",
                )
            )
    if keywords:  # each names a parameter of what it calls: a library's keeps its name
        stored += f"; {len(keywords)} keyword(s) of calls (warnings): " + _listed(
            [finding_location(f, root) for f in keywords[:_SHOWN]], len(keywords)
        )
    if result.exit_code == 0:
        return CheckOutcome(STALE, PASSED, f"no old names in code or text ({result.files_scanned} file(s)){stored}", data=data)
    parts = []
    if failures:
        parts.append(f"{len(failures)} stale name(s): " + _listed(data["locations"], len(failures)))
    if errors:
        parts.append(f"{len(errors)} file(s) could not be scanned: " + "; ".join(errors[:_SHOWN]))
    return CheckOutcome(STALE, FAILED, "; ".join(parts) + stored, data=data)
