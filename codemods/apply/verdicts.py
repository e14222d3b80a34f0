"""What `status` concludes from the tasks' states: its verdict line and its exit code's reasons."""

from __future__ import annotations

from collections import Counter

from codemods.apply.migration import TaskOutcome, TaskState

# How the planning pass records a task that refused to run (see plan_migration's keep_going).
BLOCKED_PREFIX = "blocked: "


def pending_tasks(outcomes: list[TaskOutcome]) -> list[str]:
    """Ids of the tasks that would still change files."""
    return [outcome.task.id for outcome in outcomes if outcome.state is TaskState.PENDING]


def blocked_tasks(outcomes: list[TaskOutcome]) -> list[str]:
    """Ids of the tasks that refuse to run; `apply` would stop at the first of them (exit 2)."""
    return [outcome.task.id for outcome in outcomes if outcome.detail.startswith(BLOCKED_PREFIX)]


def status_verdict(outcomes: list[TaskOutcome]) -> str:
    """``3 of 7 task(s) to apply; 4 applied, 0 inapplicable`` (and how many refuse to run).

    Worded apart from the table's states, so that a count of a state's name in the output counts rows.
    """
    counts = Counter(outcome.state for outcome in outcomes)
    blocked = len(blocked_tasks(outcomes))
    waiting = counts[TaskState.PENDING]
    refusing = f" ({blocked} refuse to run)" if blocked else ""
    head = f"{waiting} of {len(outcomes)} task(s) to apply{refusing}" if waiting else "nothing to apply"
    return f"{head}; {counts[TaskState.DONE]} applied, {counts[TaskState.NOT_APPLICABLE]} inapplicable"
