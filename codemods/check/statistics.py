"""``refactor check --statistics``: how many findings there are of each old name and kind, like ``ruff --statistics``.

Text is one line per (old name, kind), most frequent first: the count, the old
name, the kind and the suggested new name. JSON is a list of objects with the
keys ``count``, ``old_name``, ``kind``, ``suggestion`` and ``severity``, in that
order and in the same order as the text.
"""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.table import Table
from rich.text import Text

from codemods.check.findings import CheckResult
from codemods.check.formats import _json
from codemods.consoles import visible


def statistics(result: CheckResult) -> list[dict[str, object]]:
    """One entry per (old name, kind, suggestion), most frequent first, then by name and kind."""
    counts = Counter((f.old_name, f.kind, f.suggestion, f.severity) for f in result.findings)
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [
        {"count": count, "old_name": old, "kind": kind, "suggestion": suggestion, "severity": severity}
        for (old, kind, suggestion, severity), count in ordered
    ]


def render_statistics_json(result: CheckResult) -> str:
    return _json(statistics(result))


def render_statistics_text(result: CheckResult, console: Console) -> None:
    rows = statistics(result)
    if rows:
        table = Table(box=None, show_header=False, pad_edge=False)
        # A narrow terminal folds names rather than cutting them: the name is what the reader needs.
        table.add_column(justify="right", style="bold", no_wrap=True)
        table.add_column(style="red", overflow="fold")
        table.add_column(style="dim")
        table.add_column(no_wrap=True)
        table.add_column(style="green", overflow="fold")
        for row in rows:
            kind = str(row["kind"]) + (" (warning)" if row["severity"] != "error" else "")
            table.add_row(str(row["count"]), Text(visible(row["old_name"])), Text(visible(kind)), "→",
                          Text(visible(row["suggestion"])))
        console.print(table)
    failures, files = len(result.failures), len({f.path for f in result.failures})
    if failures:
        console.print(f"[bold red]✗ {failures} stale name(s)[/] in {files} file(s) ({result.files_scanned} checked)")
    elif result.errors:
        console.print(f"[bold red]✗ the check could not read every file[/] ({result.files_scanned} checked)")
    else:
        console.print(f"[bold green]✓ no stale names in code or text[/] ({result.files_scanned} checked)")
