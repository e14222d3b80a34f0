"""Behaviour-change tables: the one way `apply` and `verify` show config fields before vs after."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from codemods.consoles import visible
from codemods.core.config_values import BehaviourChange, Impact

_IMPACT_STYLE = {
    Impact.INTENDED: "green",
    Impact.UNINTENDED: "bold red",
    Impact.UNVERIFIABLE: "magenta",
    Impact.KEPT: "cyan",
}


def titled(title: str, table: Table) -> Group:
    """A title on its own line: a table title wraps to the table's width, which would split a path."""
    return Group(Text(visible(title, one_line=True), style="italic"), table)


def change_tables(changes: list[BehaviourChange]) -> list[Group]:
    """One table per config block: field, before, after, impact (and why)."""
    blocks: dict[tuple[str, str], list] = {}
    for change in changes:
        blocks.setdefault((change.path, change.block), []).append(change)
    tables = []
    for (path, block), rows in blocks.items():
        title = (
            f"Behaviour changes: {block}"
            if block.startswith(path)
            else f"Behaviour changes: {path} · {block}"
        )
        table = Table(expand=False)
        # Field names are what a reader searches for: never folded or cropped, the details fold instead.
        width = max(len(change.field) for change in rows)
        table.add_column("field", style="bold", no_wrap=True, min_width=width)
        table.add_column("before", overflow="fold")
        table.add_column("after", overflow="fold")
        table.add_column("impact", overflow="fold")
        for change in rows:
            impact = Text(change.impact.value, style=_IMPACT_STYLE[change.impact])
            if change.reason:
                impact.append(f": {visible(change.reason)}", style="dim")
            # Values are source text from the user's files: shown as written, never read as markup.
            table.add_row(
                *(Text(visible(value)) for value in (change.field, change.before, change.after)), impact
            )
        tables.append(titled(title, table))
    return tables
