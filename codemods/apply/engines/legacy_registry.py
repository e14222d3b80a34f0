"""Dict registries that name the legacy class: their entries follow the class to the end of the module.

``COLLATORS = {"v1-flash": LegacyClass, ...}`` after the class would be a
NameError once the class is defined last, so the entry is taken out of the dict
literal and set after the class (``COLLATORS["v1-flash"] = LegacyClass``),
unless module-level code reads the registry on import before the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import libcst as cst

from codemods.apply.engines.legacy_uses import Use, legacy_uses
from codemods.apply.session import Context, Refusal


@dataclass(frozen=True)
class RegistryEntry:
    """A ``key: LegacyClass`` item of a module-level dict literal (``COLLATORS = {...}``).

    Such a dict is built on import, so it cannot name a class defined last; the
    item is taken out and registered right after the class instead.
    """

    statement: int
    registry: str
    element: cst.DictElement = field(compare=False)
    comment: cst.Comment | None = field(default=None, compare=False)  # the item's trailing comment


def registry_entry(body: Sequence[cst.BaseStatement], use: Use) -> RegistryEntry | None:
    """The dict item holding ``use`` as its value, when the statement is ``NAME = {...}``."""
    stmt = body[use.statement]
    if not (
        isinstance(stmt, cst.SimpleStatementLine)
        and len(stmt.body) == 1
        and isinstance(stmt.body[0], cst.Assign)
    ):
        return None
    assign = stmt.body[0]
    if len(assign.targets) != 1 or not isinstance(assign.targets[0].target, cst.Name):
        return None
    if not isinstance(assign.value, cst.Dict):
        return None
    elements = assign.value.elements
    for position, element in enumerate(elements):
        if isinstance(element, cst.DictElement) and element.value is use.node:
            if not isinstance(element.key, (cst.SimpleString, cst.Integer)):
                return None
            # An item's own line ends in its comma's whitespace, the last item's in the closing brace's.
            after = (
                element.comma.whitespace_after
                if position < len(elements) - 1
                else assign.value.rbrace.whitespace_before
            )
            comment = after.first_line.comment if isinstance(after, cst.ParenthesizedWhitespace) else None
            return RegistryEntry(use.statement, assign.targets[0].target.value, element, comment)
    return None


def _dict_without(value: cst.Dict, removed: Sequence[cst.DictElement]) -> cst.Dict:
    """The dict literal without some items; comments on the lines after a removed item are kept."""
    removed_ids = {id(element) for element in removed}
    elements = list(value.elements)
    kept: list[cst.BaseDictElement] = []
    lbrace, rbrace = value.lbrace, value.rbrace
    for position, element in enumerate(elements):
        if id(element) not in removed_ids:
            kept.append(element)
            continue
        if position == len(elements) - 1:
            if kept:
                # The new last item ends the way the removed one did, keeping its own comment.
                own = kept[-1].comma
                kept[-1] = kept[-1].with_changes(comma=element.comma)
                rbrace = rbrace.with_changes(whitespace_before=_joined_space(own, rbrace.whitespace_before))
            continue
        orphans = _comment_lines_after(element)
        if kept:
            kept[-1] = kept[-1].with_changes(comma=_with_more_lines(kept[-1].comma, orphans))
        elif orphans and isinstance(lbrace.whitespace_after, cst.ParenthesizedWhitespace):
            space = lbrace.whitespace_after
            lbrace = lbrace.with_changes(
                whitespace_after=space.with_changes(empty_lines=[*space.empty_lines, *orphans])
            )
    return value.with_changes(elements=kept, lbrace=lbrace, rbrace=rbrace)


def _comment_lines_after(element: cst.DictElement) -> list[cst.EmptyLine]:
    comma = element.comma
    if isinstance(comma, cst.Comma) and isinstance(comma.whitespace_after, cst.ParenthesizedWhitespace):
        return list(comma.whitespace_after.empty_lines)
    return []


def _with_more_lines(comma, lines: Sequence[cst.EmptyLine]):
    if (
        lines
        and isinstance(comma, cst.Comma)
        and isinstance(comma.whitespace_after, cst.ParenthesizedWhitespace)
    ):
        space = comma.whitespace_after
        return comma.with_changes(
            whitespace_after=space.with_changes(empty_lines=[*space.empty_lines, *lines])
        )
    return comma


def _joined_space(own_comma, closing):
    """Whitespace before ``}``: the new last item's comment and lines, then the removed item's lines."""
    own = own_comma.whitespace_after if isinstance(own_comma, cst.Comma) else None
    if isinstance(own, cst.ParenthesizedWhitespace) and isinstance(closing, cst.ParenthesizedWhitespace):
        return closing.with_changes(
            first_line=own.first_line, empty_lines=[*own.empty_lines, *closing.empty_lines]
        )
    return closing


def without_registry_entries(
    stmt: cst.SimpleStatementLine, entries: Sequence[RegistryEntry]
) -> cst.SimpleStatementLine:
    assign = stmt.body[0]
    value = _dict_without(assign.value, [entry.element for entry in entries])
    return stmt.with_changes(body=[assign.with_changes(value=value)])


def registration(module: cst.Module, entry: RegistryEntry) -> cst.SimpleStatementLine:
    """``REGISTRY[key] = Class``, keeping the item's trailing comment."""
    key = module.code_for_node(entry.element.key)
    value = module.code_for_node(entry.element.value)
    stmt = cst.parse_statement(f"{entry.registry}[{key}] = {value}\n")
    if entry.comment is not None:
        stmt = stmt.with_changes(
            trailing_whitespace=cst.TrailingWhitespace(cst.SimpleWhitespace("  "), entry.comment)
        )
    return stmt




def deferred_registry_entries(
    context: Context, module: cst.Module, path: str, task_id: str, index: int, group: list[int]
) -> list[RegistryEntry]:
    """Module-level code after the class that uses it on import would break once the class is last.

    Items of a dict registry are the one such use that can follow the class
    (when nothing reads the registry on import before the end of the module);
    any other use refuses the move.
    """
    legacy = context.recipe.legacy
    entries = []
    for use in legacy_uses(module, (legacy.new, legacy.old)):
        if not use.at_import or use.statement <= index or use.statement in group:
            continue
        entry = registry_entry(module.body, use)
        if entry is None or _read_on_import_after(module, entry):
            raise Refusal(
                task_id,
                f"module-level code uses {use.name} while the module is imported; defining the class at the "
                "end of the module would make that a NameError. Move that use into a function (or below the "
                "legacy section) first, then run the migration again",
                path,
                use.line,
            )
        entries.append(entry)
        context.report.warn(
            task_id,
            f"{entry.registry}[{module.code_for_node(entry.element.key)}] is now set after the legacy class at "
            f"the end of the module (the class is defined last); that key now comes last in {entry.registry}",
            path,
            use.line,
        )
    return entries


def _read_on_import_after(module: cst.Module, entry: RegistryEntry) -> bool:
    return any(
        use.at_import and use.statement > entry.statement for use in legacy_uses(module, (entry.registry,))
    )


