"""Move the recipe's legacy class to the end of the module as a documented draft.

The class the recipe's ``[legacy]`` table names (by its old name, or its new
name once the renames have run) becomes the last
thing in the module, under the recipe's legacy banner, with the recipe's LEGACY text at the top of its docstring and the original explanation
below it. What belongs to the class travels with it: the comment right above it
and the expression statements after it that mention it (the "created" print),
taken from its jupytext cell, or, in a plain module, from the statements that
directly follow it. A cell that moves whole takes its ``# %%`` marker along
(no empty cell stays behind); the markdown cells before it stay where they were.

The data package's legacy class moves with the same code (:func:`move_legacy_class`).

A class defined last cannot be used by module-level code above it: such a use
would be a NameError at import time, so that file is refused. Uses inside
function bodies run later; they are listed as warnings. Nor may anything after
the class bind its name again (a second class of that name, an assignment, an
import): once the class is last, the module would end up with the other object.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass

import libcst as cst

from codemods.apply.engines.bindings import resolve
from codemods.apply.engines.legacy_docstring import RenameWholeWord, with_legacy_docstring
from codemods.apply.engines.legacy_registry import (
    RegistryEntry,
    deferred_registry_entries,
    registration,
    without_registry_entries,
)
from codemods.apply.engines.legacy_uses import (
    find_class,
    legacy_uses,
    mentions,
    section_start,
)
from codemods.apply.engines.lines import LINE_BREAK, first_lines
from codemods.apply.memo import module_code
from codemods.apply.session import Context, Refusal
from codemods.core.cells import (
    blank_lines,
    cell_bounds,
    comment_lines,
    is_cell_marker,
    is_code_cell_marker,
    is_jupytext,
)
from codemods.core.recipe import Legacy, RenamePolicy, Task
from codemods.core.sections import banner_title

# As PositionProvider counts lines: \r\n, a lone \r and \n each end one.


# ---------------------------------------------------------------------- comment lines
def _is_blank(line: cst.EmptyLine) -> bool:
    return line.comment is None


def _without_leading_blanks(lines: Sequence[cst.EmptyLine]) -> list[cst.EmptyLine]:
    lines = list(lines)
    while lines and _is_blank(lines[0]):
        lines.pop(0)
    return lines


def _without_trailing_blanks(lines: Sequence[cst.EmptyLine]) -> list[cst.EmptyLine]:
    lines = list(lines)
    while lines and _is_blank(lines[-1]):
        lines.pop()
    return lines


def _split_leading_lines(lines: Sequence[cst.EmptyLine], jupytext: bool):
    """(lines that stay, the class's own code-cell marker or None, the class's own comment).

    In a jupytext script the class's cell starts at its ``# %%`` marker; what is
    above it (blank lines, markdown cells) belongs to earlier cells. Otherwise
    the class owns the comments above it after the first blank line; comments
    right under the previous statement, before any blank line, stay with it.
    """
    if jupytext:
        for index in range(len(lines) - 1, -1, -1):
            if is_code_cell_marker(lines[index]):
                return list(lines[:index]), lines[index], list(lines[index + 1 :])
    first_blank = next((i for i, line in enumerate(lines) if _is_blank(line)), None)
    start = 0 if first_blank is None else first_blank
    first_comment = next((i for i in range(start, len(lines)) if not _is_blank(lines[i])), len(lines))
    return list(lines[:first_comment]), None, list(lines[first_comment:])


def _handed_over(carried: Sequence[cst.EmptyLine], lines: Sequence[cst.EmptyLine], after_marker: bool):
    """``carried`` put in front of a statement's own leading lines without stacking blank lines."""
    lines = list(lines)
    if after_marker:
        lines = _without_leading_blanks(lines)  # jupytext writes code right below its marker
    elif lines and _is_blank(lines[0]):
        carried = _without_trailing_blanks(carried)
    return [*carried, *lines]


# ---------------------------------------------------------------------- the move
@dataclass(frozen=True)
class LegacyMove:
    """Moves one class (and what goes along) to a banner-headed section at the end of a module."""

    legacy: Legacy
    policy: RenamePolicy

    @property
    def names(self) -> tuple[str, str]:
        return (self.legacy.new, self.legacy.old)

    def statements_that_go_along(
        self, body: Sequence[cst.BaseStatement], index: int, jupytext: bool
    ) -> list[int]:
        """The class, then the expression statements of its cell (plain module: right after it) naming it."""
        end = cell_bounds(body, index)[1] if jupytext else len(body)
        group = [index]
        for position in range(index + 1, end):
            stmt = body[position]
            if _is_expression_statement(stmt) and mentions(stmt, self.names):
                group.append(position)
            elif not jupytext:
                break
        return group

    def apply(
        self,
        module: cst.Module,
        index: int,
        section_exists: bool,
        registry_entries: Sequence[RegistryEntry] = (),
    ) -> tuple[cst.Module, int]:
        """The module with the class moved to the end; also how many statements went along."""
        jupytext = is_jupytext(module)
        body = list(module.body)
        for position in sorted({entry.statement for entry in registry_entries}):
            entries = [entry for entry in registry_entries if entry.statement == position]
            body[position] = without_registry_entries(body[position], entries)
        # The first statement's cell marker can sit in the module header: treat it as leading lines.
        body[0] = body[0].with_changes(leading_lines=[*module.header, *body[0].leading_lines])
        group = self.statements_that_go_along(body, index, jupytext)
        earlier, marker, own = _split_leading_lines(body[index].leading_lines, jupytext)
        cell_start, cell_end = cell_bounds(body, index) if jupytext else (index, index + 1)
        cell_emptied = marker is not None and set(range(cell_start, cell_end)) <= set(group)
        carried = earlier if marker is None or cell_emptied else [*earlier, marker]

        kept: list[cst.BaseStatement] = []
        for position, stmt in enumerate(body):
            if position in group:
                continue
            if carried and position > index:
                after_marker = marker is not None and not cell_emptied
                stmt = stmt.with_changes(
                    leading_lines=_handed_over(carried, stmt.leading_lines, after_marker)
                )
                carried = []
            kept.append(stmt)
        if index == 0 and kept and not carried:
            # The new first statement opens the file: no blank lines above it.
            kept[0] = kept[0].with_changes(leading_lines=_without_leading_blanks(kept[0].leading_lines))
        before_section = _without_trailing_blanks([*carried, *module.footer])

        # A cell that moves whole keeps its marker (and the Colab id in it): it is the same notebook cell.
        moved_marker = marker if cell_emptied else None
        cls = body[index].with_changes(
            leading_lines=self._section_head(before_section, own, jupytext, section_exists, moved_marker, bool(kept))
        )
        followers = [body[position] for position in group[1:]]
        if followers and not (followers[0].leading_lines and _is_blank(followers[0].leading_lines[0])):
            # It followed other code of the cell; right below the class it needs a blank line.
            followers[0] = followers[0].with_changes(
                leading_lines=[cst.EmptyLine(), *followers[0].leading_lines]
            )
        moved = [cls, *followers, *self._registrations(module, registry_entries)]
        # Run without the renames (`--only` the move) the moved code keeps the old name; the rest is the renames' job.
        renamer = RenameWholeWord(self.legacy.old, self.legacy.new, self.policy)
        moved = [stmt.visit(renamer) for stmt in moved]
        moved[0] = with_legacy_docstring(moved[0], self.legacy.docstring, module)
        new_module = module.with_changes(header=[], body=[*kept, *moved], footer=[])
        return new_module, len(followers)

    def _registrations(self, module: cst.Module, entries: Sequence[RegistryEntry]):
        statements = [registration(module, entry) for entry in entries]
        if statements:
            why = cst.Comment(
                f"# Registered here, not in {entries[0].registry} above: this class is defined last."
            )
            head = [*blank_lines(2), cst.EmptyLine(comment=why)]
            statements[0] = statements[0].with_changes(leading_lines=head)
        return statements

    def _section_head(
        self, before, own, jupytext: bool, section_exists: bool, marker: cst.EmptyLine | None, below_code: bool
    ) -> list[cst.EmptyLine]:
        """Leading lines of the moved class: old footer, cell marker, banner, its own comment.

        Nothing above (the class was all the module held): the section opens the file, without blank lines.
        """
        blanks = _blank_lines_above_section(before, jupytext) if below_code or before else 0
        head = [*before, *blank_lines(blanks)]
        if jupytext:
            head.append(marker or cst.EmptyLine(comment=cst.Comment("# %%")))
        if not section_exists:
            head.extend(comment_lines(self.legacy.banner))
            head.append(cst.EmptyLine())
        return [*head, *_without_leading_blanks(own)]


def _blank_lines_above_section(before: Sequence[cst.EmptyLine], jupytext: bool) -> int:
    """Two, as PEP 8 and jupytext want above a class; one after a markdown cell, as jupytext writes it."""
    markers = [line for line in before if is_cell_marker(line)]
    return 1 if jupytext and markers and not is_code_cell_marker(markers[-1]) else 2


def _is_expression_statement(stmt: cst.BaseStatement) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and all(
        isinstance(small, cst.Expr) for small in stmt.body
    )


# ---------------------------------------------------------------------- entry points
def move_legacy_class(context: Context, path: str, task_id: str) -> bool:
    """Move the recipe's legacy class in ``path`` to the end of the module; True when the file changed."""
    legacy = context.recipe.legacy
    if legacy is None:
        context.not_applicable(task_id, "the recipe names no legacy class")
        return False
    module = context.parse_present(path, task_id)
    if module is None:
        return False
    names = (legacy.new, legacy.old)
    index = find_class(module.body, names)
    if index is None:
        context.not_applicable(task_id, f"{path} defines no class {legacy.old} or {legacy.new}")
        return False
    section = _legacy_section(module, banner_title(legacy.banner))
    if section is not None and index >= section:
        return _complete_in_place(context, module, index, path, task_id)

    _refuse_later_bindings(module, index, legacy, path, task_id)
    mover = LegacyMove(legacy, context.recipe.rename_policy)
    group = mover.statements_that_go_along(module.body, index, is_jupytext(module))
    entries = deferred_registry_entries(context, module, path, task_id, index, group)
    new_module, followers = mover.apply(module, index, section is not None, entries)
    try:  # the interpreter's own parser: a guard as strict as LibCST's at a tenth of its cost
        compile(module_code(new_module), path, "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    except SyntaxError as error:  # pragma: no cover - a bug here, never the user's code
        raise Refusal(task_id, f"moving the legacy class would not parse: {error.msg}", path) from None
    changed = context.write_module(path, new_module)
    if changed:
        along = f" with {followers} statement(s) of its cell" if followers else ""
        context.report.info(
            task_id,
            f"moved {legacy.new} (was {legacy.old}) to the end of the module, under the legacy banner{along}",
            path,
        )
    _warn_about_callers(context, new_module, path, task_id)
    return changed


def _legacy_section(module: cst.Module, title: str | None) -> int | None:
    """Index of the first statement under the legacy banner.

    The banner is normally the leading comment of that statement. Comment lines indented deeper
    below it (the class's own comment, as the user wrote it) make LibCST hand the whole run of
    comments, banner included, to the indented block above: then the banner is found by its line.
    """
    section = section_start(module.body, title, module.header)
    if section is not None or not title:
        return section
    code = module_code(module)
    if title not in code:
        return None
    banner = next(
        (
            number
            for number, line in enumerate(LINE_BREAK.split(code), 1)
            if line.lstrip().startswith("#") and line.lstrip().lstrip("#").strip() == title
        ),
        None,
    )
    if banner is None:
        return None
    starts = first_lines(module, module.body)
    return next((i for i, statement in enumerate(module.body) if starts[statement] > banner), None)


def _refuse_later_bindings(module: cst.Module, index: int, legacy: Legacy, path: str, task_id: str) -> None:
    """Refuse when code after the class binds one of its names at module level again."""
    if index + 1 >= len(module.body):
        return
    definitions = resolve(module, (legacy.new, legacy.old)).definitions
    if len(definitions) < 2:
        return
    following = module.body[index + 1]
    lines = first_lines(module, [*definitions, module.body[index], following])
    later = sorted((lines[name], name.value) for name in definitions if lines[name] >= lines[following])
    if later:
        line, name = later[0]
        spelled = name if name == legacy.old else f"{name} (the legacy class {legacy.old})"
        raise Refusal(
            task_id,
            f"{spelled} is bound again here, after its class (line {lines[module.body[index]]}); moving the class "
            "to the end of the module would change which of the two the name ends up with. Remove or rename "
            "one of them, then run again",
            path,
            line,
        )


def _complete_in_place(context: Context, module: cst.Module, index: int, path: str, task_id: str) -> bool:
    """The class is already in the legacy section: only a missing LEGACY docstring is added."""
    cls = module.body[index]
    documented = with_legacy_docstring(cls, context.recipe.legacy.docstring, module)
    new_module = module.with_changes(body=[*module.body[:index], documented, *module.body[index + 1 :]])
    changed = context.write_module(path, new_module)
    state = "; added the LEGACY docstring" if changed else ""
    context.report.info(task_id, f"{cls.name.value} is already in the legacy section{state}", path)
    _warn_about_callers(context, new_module, path, task_id)
    return changed


def _warn_about_callers(context: Context, module: cst.Module, path: str, task_id: str) -> None:
    """List the uses outside the legacy section: the plan keeps that class for reference only."""
    legacy = context.recipe.legacy
    index = find_class(module.body, (legacy.new, legacy.old))
    if index is None:
        return
    class_name = module.body[index].name.value
    for use in legacy_uses(module, (legacy.new, legacy.old)):
        string_annotation = isinstance(use.node, cst.BaseString)
        if use.statement >= index or string_annotation:
            continue
        if use.name == class_name:
            message = f"uses the legacy collator {class_name}, kept for reference only in the legacy section"
        else:
            message = (
                f"still uses the old name {use.name}; the class is now {class_name} (the recipe's renames update its uses)"
            )
        context.report.warn(task_id, message, path, use.line)


def move_legacy(context: Context, task: Task) -> None:
    legacy = context.recipe.legacy
    if legacy is None:
        context.not_applicable(task.id, "the recipe names no legacy class")
        return
    move_legacy_class(context, context.main_file, task.id)
