"""How ``--help`` reads: usage lines, flag columns and paragraphs as people expect them.

typer (0.29) writes a required argument as ``{root}`` in the usage line, gives every
flag a ``<bool>`` type column, and keeps each line break of a docstring after its first
paragraph, so help text breaks mid-sentence wherever the source line ended.
:func:`install` makes usage show ``ROOT`` (or ``PATH...``) as click and ruff do, leaves
the type column of a flag empty, and joins each paragraph of every command's
docstring into one line that rich wraps to the terminal. Its help tables fold what
does not fit in a narrow terminal, or in rich's 80 columns off a terminal, where they cut it.
"""

from __future__ import annotations

import inspect
from typing import Any

APP_HELP = (
    "Carry out a written refactoring plan on a VLM training repository.\n\n"
    "The plan is a recipe (the bundled one is 'Clean Up & Consolidate Training Configs'): "
    "`status` shows which of its tasks are pending, `apply --dry-run` shows every change "
    "as a diff plus a table of config behaviour changes, `apply` writes all files or none, "
    "`undo` restores them, `check` guards against stale names in CI, and `verify` proves "
    "the migrated code still trains."
)


def paragraphs(text: str) -> str:
    """``text`` with each paragraph on one line; blank lines still separate paragraphs."""
    blocks = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(" ".join(line.strip() for line in block.splitlines()) for block in blocks)


def install(app: Any) -> bool:
    """Apply the conventions to ``app``'s commands and to typer's help rendering; False where typer differs."""
    for command in app.registered_commands:
        if command.help is None and command.callback is not None and command.callback.__doc__:
            command.help = paragraphs(command.callback.__doc__)
    try:
        from typer.core import TyperArgument, TyperOption
    except ImportError:
        return False
    if getattr(TyperArgument, "_conventional_usage", False):
        return True
    if not hasattr(TyperArgument, "_usage_display_name") or not hasattr(TyperOption, "display_type_rich"):
        return False

    def usage_name(self: Any) -> str:
        name = self.metavar if self.metavar is not None else self.name.upper()
        if not self.required:
            name = f"[{name}]"
        return name + ("..." if self.nargs != 1 else "")

    def element_type(original: Any) -> Any:
        # A repeatable option or a PATH... argument takes one value at a time: <path>, not <list[Path]>.
        def display(self: Any, ctx: Any) -> str | None:
            shown = original(self, ctx)
            if isinstance(shown, str) and shown.startswith("<list[") and shown.endswith("]>"):
                shown = "<" + shown[len("<list[") : -len("]>")].lower() + ">"
            return shown

        return display

    option_type = element_type(TyperOption.display_type_rich)

    def display_type_rich(self: Any, ctx: Any) -> str | None:
        return None if self.is_flag and self.metavar is None else option_type(self, ctx)

    TyperArgument._usage_display_name = usage_name
    TyperOption.display_type_rich = display_type_rich
    _fold_help_tables()
    if hasattr(TyperArgument, "display_type_rich"):
        TyperArgument.display_type_rich = element_type(TyperArgument.display_type_rich)
    TyperArgument._conventional_usage = True
    return True


def _fold_help_tables() -> None:
    """Help tables fold what does not fit (an option name, a long token) instead of cutting it with "…"."""
    import typer.rich_utils as rich_utils
    from rich.table import Table

    class FoldingTable(Table):
        def add_row(self, *args: Any, **kwargs: Any) -> None:
            super().add_row(*args, **kwargs)  # which makes the columns a row needs
            for column in self.columns:
                column.overflow = "fold"

    if getattr(rich_utils, "Table", None) is Table:
        rich_utils.Table = FoldingTable
    make_text = getattr(rich_utils, "_make_rich_text", None)
    if make_text is not None and not getattr(make_text, "_folds", False):

        def folding_text(*args: Any, **kwargs: Any) -> Any:
            text = make_text(*args, **kwargs)
            if hasattr(text, "overflow"):
                text.overflow = "fold"
            return text

        folding_text._folds = True  # type: ignore[attr-defined]
        rich_utils._make_rich_text = folding_text
