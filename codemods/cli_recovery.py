"""Before any command: roll back what a killed `refactor apply` or `undo` left half-written, and say so."""

from __future__ import annotations

from pathlib import Path

import typer

from codemods.consoles import plain, stderr_console
from codemods.core.workspace import WorkspaceError

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


def interrupted(what: str) -> typer.Exit:
    """Say what a signal left (rolled back, or a transaction that stands), for the exit it raises."""
    stderr_console().print(f"[bold red]interrupted[/] {plain(what)}", soft_wrap=True)
    return typer.Exit(EXIT_INTERRUPTED)


def recover_interrupted(root: Path) -> None:
    """Roll back what a killed `refactor apply` or `undo` left half-written, and say so, before anything else."""
    from codemods.core.disk import LockBusy
    from codemods.core.journal import JournalError, recover

    if not root.exists():
        return
    try:
        recovered = recover(root)
    except LockBusy as busy:
        stderr_console().print(f"[yellow]warning:[/] {plain(str(busy))}; what follows may be out of date")
        return
    except (JournalError, WorkspaceError, OSError) as error:
        stderr_console().print(f"[bold red]error:[/] {plain(f'cannot recover an interrupted transaction: {error}')}")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    for done in recovered:
        stderr_console().print(
            f"[yellow]recovered:[/] an interrupted `refactor {plain(done.label)}` was rolled back; "
            f"{len(done.restored)} file(s) restored to their exact previous bytes"
            + (f" ({plain(', '.join(done.restored))})" if done.restored else "")
        )
