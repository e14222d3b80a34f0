"""What `refactor verify` found: the outcome model, its JSON form and its rich rendering.

The JSON keys are part of the report format (:data:`REPORT_FORMAT`); CI jobs read them.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codemods.core.config_class import stack_versions

REPORT_FORMAT = "vlm-refactor.verify/1"
PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"
# A check that passed only because `verify --adapt` let the run go on with an adaptation.
ADAPTED = "adapted"
PASSED_WITH_ADAPTATIONS = "passed with adaptations"
STALE, PARSE, IMPORTS, SMOKE = "stale names", "files parse", "package imports", "smoke training"
COMPAT = "stack compatibility"
PARITY = "loss parity"
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
    """Something that passed but deserves the user's attention (an adjustment, stale stored outputs)."""

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
    # Said before a check ran the repository's own code, so that a report always shows it happened.
    notices: list[str] = field(default_factory=list)
    notices_shown: int = 0  # how many of ``notices`` were already printed while verify ran
    # Where the report, its loss plot and the kept W&B offline runs are (filled by write_report).
    artifacts: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True when no check failed and none was adapted (skipped checks do not fail verification)."""
        return self.result == PASSED

    @property
    def result(self) -> str:
        """``passed``, ``passed with adaptations`` (only under ``--adapt``) or ``failed``."""
        if any(check.status == FAILED for check in self.checks):
            return FAILED
        if any(check.status == ADAPTED for check in self.checks):
            return PASSED_WITH_ADAPTATIONS
        return PASSED

    @property
    def exit_code(self) -> int:
        """0 passed, or passed with adaptations (reachable only with --adapt); 1 failed."""
        return 1 if self.result == FAILED else 0

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
            "outcome": self.result,
            "smoke": self.smoke,
            "device": self.device,
            "steps": self.steps,
            "versions": self.versions,
            "notices": self.notices,
            "checks": [check.to_dict() for check in self.checks],
            "warnings": [warning.to_dict() for warning in self.warnings],
            "training": self.training,
            "device_name": (self.training or {}).get("device_name"),
            "timings": time_split(self),
            "artifacts": self.artifacts,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str) + "\n"


def time_split(outcome: VerificationOutcome) -> dict[str, Any]:
    """Seconds spent: each check, and inside the training process imports, CUDA start, each variant, parity."""
    training = outcome.training or {}
    inside = training.get("timings") or {}
    return {
        "checks": {check.name: round(check.duration, 3) for check in outcome.checks},
        "training_process": training.get("wall_seconds"),
        "imports": inside.get("imports", training.get("import_seconds")),
        "cuda_start": inside.get("cuda_start"),
        "user_code": inside.get("user_code"),
        "kit": inside.get("kit"),
        "variants": inside.get("variants", {}),
        # Each variant's setup (model, collator, trainer), W&B start and training steps.
        "variant_parts": {r["variant"]: r["timings"] for r in training.get("variants", []) if r.get("timings")},
        "parity": inside.get("parity"),
        "parity_variants": inside.get("parity_variants", {}),
    }


def default_report_path(root: Path) -> Path:
    """``<journal's directory>/verify/<UTC time>/report.json``: inside ``.git/refactor/`` in a git
    repository, else ``.refactor/`` beside ROOT's files (where apply keeps its journal too)."""
    from codemods.core.journal import journal_directory
    from codemods.core.workspace import Workspace

    base = journal_directory(Workspace(Path(root))).parent / "verify"
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    directory, suffix = base / stamp, 1
    while directory.exists():
        suffix += 1
        directory = base / f"{stamp}-{suffix}"
    return directory / "report.json"


def report_path_problem(path: Path) -> str | None:
    """Why the report cannot be written at ``path`` (checked before a verification that takes minutes), or None."""
    path = Path(path)
    if path.is_dir():
        return f"--report {path} is a directory; give the path of a .json file"
    if path.exists() and not os.access(path, os.W_OK):
        return f"--report {path} is not writable"
    existing = next((parent for parent in path.parents if parent.exists()), None)
    if existing is not None and not existing.is_dir():
        return f"--report {path}: {existing} is not a directory"
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        return f"--report {path}: cannot create files in {existing}"
    return None


def write_report(outcome: VerificationOutcome, path: Path) -> dict[str, Any]:
    """Write the JSON report at ``path`` and the loss plot beside it (``.png``); returns ``outcome.artifacts``."""
    from codemods.verify.loss_plot import save_loss_plot

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    training = outcome.training or {}
    runs = [r["wandb_run_dir"] for r in training.get("variants", []) if r.get("wandb_run_dir")]
    outcome.artifacts = {"report": str(path), "plot": None, "figure": None, "wandb_runs": runs}
    try:
        device = ", ".join(filter(None, (training.get("device"), training.get("device_name"))))
        figure = save_loss_plot(training.get("variants", []), path.with_suffix(".png"), device)
    except Exception as error:  # the JSON report is written whatever the plot does
        outcome.artifacts["plot_error"] = f"{type(error).__name__}: {error}"
        figure = None
    if figure is not None:
        outcome.artifacts.update(plot=figure.pop("path"), figure=figure)
    path.write_text(outcome.to_json(), encoding="utf-8")
    return outcome.artifacts


def render_artifacts(artifacts: dict[str, Any], console) -> None:
    """Say where the report, the plot and the W&B offline runs are (``artifacts`` from :func:`write_report`)."""
    from codemods.consoles import plain

    if not artifacts:
        return
    console.print(f"report: {plain(artifacts['report'])}", soft_wrap=True)
    if artifacts.get("plot"):
        console.print(f"loss plot: {plain(artifacts['plot'])}", soft_wrap=True)
    for run in artifacts.get("wandb_runs", []):
        console.print(f"W&B offline run: {plain(run)}  (upload with: wandb sync {plain(shlex.quote(str(run)))})", soft_wrap=True)


def installed_versions() -> dict[str, str]:
    return {"python": platform.python_version(), **stack_versions(_VERSIONED)}


def format_loss(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else "-"


_STATUS_STYLE = {PASSED: "green", FAILED: "bold red", SKIPPED: "dim", ADAPTED: "yellow"}


def _training_table(records: list[dict[str, Any]]):
    from rich.table import Table
    from rich.text import Text

    from codemods.consoles import visible

    training = Table()
    columns = ("variant", "collator", "steps", "first loss", "last loss", "labels kept", "trainable", "W&B run", "as before",
               "time")
    for column in columns:
        training.add_column(column, overflow="fold")
    for record in records:
        style = "green" if record.get("passed") else "bold red"
        share = (record.get("label_masking") or {}).get("share")
        run_name = visible(record.get("wandb_run_name"))
        in_flow = record.get("wandb_run_name_in_flow")
        if in_flow and in_flow != record.get("wandb_run_name"):
            run_name += f" (your flow: {visible(in_flow)})"
        parity = record.get("parity") or {}
        training.add_row(
            Text(visible(record.get("variant")), style=style),
            Text(visible(record.get("collator"))),
            str(record.get("steps")),
            format_loss(record.get("first_loss")),
            format_loss(record.get("last_loss")),
            f"{share:.1%}" if isinstance(share, (int, float)) else "-",
            f"{record.get('trainable_params', 0):,}",
            Text(run_name),
            Text(parity.get("status", "-"), style=_STATUS_STYLE.get(parity.get("status"), "")),
            f"{record.get('wall_seconds', 0):.1f} s",
        )
    return training


def render_verification(outcome: VerificationOutcome, console, details: Iterable[Any] = ()) -> None:
    """Print the outcome with rich: notices, the checks, the trained variants, the warnings, ``details``
    (renderables such as the behaviour tables), and the verdict last."""
    from rich.table import Table
    from rich.text import Text

    from codemods.consoles import plain, visible

    console.print(Text(f"Verification — {visible(outcome.root, one_line=True)}", style="italic"))
    for notice in outcome.notices[outcome.notices_shown :]:
        console.print(f"[yellow]note:[/] {plain(notice)}")
    table = Table()
    table.add_column("check", no_wrap=True)
    table.add_column("result", no_wrap=True)
    table.add_column("detail", overflow="fold")
    table.add_column("time", justify="right")
    for check in outcome.checks:
        table.add_row(
            check.name,
            Text(check.status, style=_STATUS_STYLE.get(check.status, "")),
            # Details quote the repository's errors: shown as written, never read as markup.
            Text(visible(check.detail)),
            f"{check.duration:.1f} s",
        )
    console.print(table)

    training = outcome.training or {}
    records = training.get("variants") or []
    if records:
        console.print(Text("Smoke training", style="italic"))
        console.print(_training_table(records))
        split = time_split(outcome)
        if split["imports"] is not None:
            device = ", ".join(plain(v) for v in (training.get("device"), training.get("device_name")) if v)
            console.print(
                f"[dim]training process on {device}: imports {split['imports']:.1f} s, CUDA start "
                f"{split['cuda_start'] or 0:.1f} s, variants {sum(split['variants'].values()):.1f} s, "
                f"loss parity {split['parity'] or 0:.1f} s[/]"
            )

    for warning in outcome.warnings:
        scope = f" ({', '.join(warning.variants)})" if warning.variants else ""
        console.print(f"[yellow]warning[/] [bold]{plain(warning.field)}[/]{plain(scope)}: {plain(warning.message)}")
    for note in training.get("notes") or []:
        console.print(f"[dim]note: {plain(note)}[/]")
    for detail in details:
        console.print(detail)
    if outcome.passed:
        console.print("[green]Verified:[/] every check passed.")
    elif outcome.result == PASSED_WITH_ADAPTATIONS:
        adapted = [c.name for c in outcome.checks if c.status == ADAPTED]
        how = "it trained only as adapted with --adapt" if outcome.smoke else "it would train only as adapted (no run)"
        console.print(
            f"[yellow]Passed with adaptations[/] ({', '.join(adapted)}): the code as written would not run on this "
            f"stack; {how}. Fix the fields named above."
        )
    else:
        failed = [c.name for c in outcome.checks if c.status == FAILED]
        console.print(f"[bold red]Verification failed:[/] {', '.join(failed)}.")
