"""Task 5 of the plan: move the legacy collator to the end of the main file as a draft.

The class the recipe's ``[legacy]`` table names (``collate_fn_fixed_fixed1``, or
``FlashAttentionPatchCollator`` once task 4 has renamed it) becomes the last
thing in the module, under the plan's ``DRAFT / LEGACY COLLATORS`` banner, with
the plan's LEGACY text at the top of its docstring and the original explanation
below it. What belongs to the class travels with it: the comment right above it
and the expression statements after it that mention it (the "created" print),
taken from its jupytext cell, or, in a plain module, from the statements that
directly follow it. A cell that moves whole takes its ``# %%`` marker along
(no empty cell stays behind); the markdown cells before it stay where they were.

Task 7 moves the legacy class of ``src/data/collators.py`` with the same code
(:func:`move_legacy_class`).

A class defined last cannot be used by module-level code above it: such a use
would be a NameError at import time, so that file is refused. Uses inside
function bodies run later; they are listed as warnings.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import libcst as cst
from libcst.metadata import FunctionScope, GlobalScope, PositionProvider, ScopeProvider

from codemods.apply.memo import per_tree
from codemods.apply.session import Context, Refusal
from codemods.core.cells import (
    blank_lines,
    cell_bounds,
    comment_lines,
    is_cell_marker,
    is_code_cell_marker,
    is_jupytext,
)
from codemods.core.names import word_pattern
from codemods.core.recipe import Legacy, RenamePolicy, Task
from codemods.core.sections import banner_title

_STRING_PREFIX = re.compile(r"^[rRuU]*")


# ---------------------------------------------------------------------- finding
class MentionFinder(cst.CSTVisitor):
    """Tells whether a statement names the legacy class, in code or in string text."""

    def __init__(self, names: Sequence[str]):
        super().__init__()
        self.names = set(names)
        self.pattern = word_pattern(names)
        self.found = False

    def visit_Name(self, node: cst.Name) -> None:
        if node.value in self.names:
            self.found = True

    def visit_SimpleString(self, node: cst.SimpleString) -> None:
        if self.pattern.search(node.value):
            self.found = True

    def visit_FormattedStringText(self, node: cst.FormattedStringText) -> None:
        if self.pattern.search(node.value):
            self.found = True


def mentions(node: cst.CSTNode, names: Sequence[str]) -> bool:
    finder = MentionFinder(names)
    node.visit(finder)
    return finder.found


@dataclass(frozen=True)
class Use:
    """One read of the legacy class's name in a module."""

    name: str
    line: int
    statement: int  # index of the top-level statement holding it
    at_import: bool  # evaluated while the module is imported (not deferred to a call)
    node: cst.CSTNode = field(compare=False, repr=False)


class LegacyUses(cst.CSTVisitor):
    """Every read of the class's names, and whether it runs at import time or only when called."""

    METADATA_DEPENDENCIES = (ScopeProvider, PositionProvider)

    def __init__(self, names: Sequence[str], postponed_annotations: bool):
        super().__init__()
        self.names = tuple(names)
        self.postponed_annotations = postponed_annotations
        self.uses: list[Use] = []
        self._ends: list[int] = []

    def visit_Module(self, node: cst.Module) -> bool:
        # Top-level statement of a line: the first one ending at or after it (decorators sit above `def`).
        self._ends = [self.get_metadata(PositionProvider, stmt).end.line for stmt in node.body]
        scopes = {scope for scope in self.metadata[ScopeProvider].values() if scope is not None}
        for scope in scopes:
            for name in self.names:
                for access in scope.accesses[name]:
                    line = self.get_metadata(PositionProvider, access.node).start.line
                    statement = bisect.bisect_left(self._ends, line)
                    self.uses.append(Use(name, line, statement, self._runs_at_import(access), access.node))
        self.uses.sort(key=lambda use: use.line)
        return False

    def _runs_at_import(self, access) -> bool:
        if isinstance(access.node, cst.BaseString):  # a string annotation is never evaluated on import
            return False
        if access.is_annotation and self.postponed_annotations:
            return False
        scope = access.scope
        while scope is not None and not isinstance(scope, GlobalScope):
            if isinstance(scope, FunctionScope):  # function and lambda bodies run when called
                return False
            scope = scope.parent
        return True


@per_tree
def legacy_uses(module: cst.Module, names: Sequence[str]) -> list[Use]:
    finder = LegacyUses(names, _has_postponed_annotations(module))
    cst.MetadataWrapper(module, unsafe_skip_copy=True).visit(finder)
    return finder.uses


def _has_postponed_annotations(module: cst.Module) -> bool:
    for stmt in module.body:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.ImportFrom) and isinstance(small.module, cst.Name):
                    if small.module.value == "__future__" and not isinstance(small.names, cst.ImportStar):
                        if any(alias.evaluated_name == "annotations" for alias in small.names):
                            return True
    return False


def find_class(body: Sequence[cst.BaseStatement], names: Sequence[str]) -> int | None:
    """Index of the module-level class with one of these names (the first name wins)."""
    for name in names:
        for index, stmt in enumerate(body):
            if isinstance(stmt, cst.ClassDef) and stmt.name.value == name:
                return index
    return None


def section_start(body: Sequence[cst.BaseStatement], title: str | None) -> int | None:
    """Index of the statement whose leading comments hold the banner's title line."""
    if not title:
        return None
    for index, stmt in enumerate(body):
        if any(
            line.comment and line.comment.value.lstrip("#").strip() == title for line in stmt.leading_lines
        ):
            return index
    return None


# ---------------------------------------------------------------------- rewriting
class RenameWholeWord(cst.CSTTransformer):
    """Old name -> new name inside the moved statements: code, and by policy strings and comments."""

    def __init__(self, old: str, new: str, policy: RenamePolicy):
        super().__init__()
        self.old, self.new = old, new
        self.policy = policy
        self.pattern = word_pattern([old])

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.Name:
        if updated_node.value == self.old:
            return updated_node.with_changes(value=self.new)
        return updated_node

    def leave_SimpleString(self, original_node: cst.SimpleString, updated_node: cst.SimpleString):
        if not self.policy.strings:
            return updated_node
        return updated_node.with_changes(value=self.pattern.sub(self.new, updated_node.value))

    def leave_FormattedStringText(self, original_node, updated_node):
        if not self.policy.strings:
            return updated_node
        return updated_node.with_changes(value=self.pattern.sub(self.new, updated_node.value))

    def leave_Comment(self, original_node: cst.Comment, updated_node: cst.Comment) -> cst.Comment:
        if not self.policy.comments:
            return updated_node
        return updated_node.with_changes(value=self.pattern.sub(self.new, updated_node.value))


def merged_docstring(original: str | None, legacy_text: str, indent: str) -> str:
    """Docstring source: the plan's LEGACY text, a blank line, then the original explanation.

    The original's quotes, prefix and layout (text on the opening line or below
    it, closing quotes on their own line or not) are kept; a one-line string
    becomes triple-quoted.
    """
    legacy_lines = legacy_text.strip("\n").splitlines()
    if original is None:
        body = [f"{indent}{line}" if line.strip() else "" for line in legacy_lines]
        return '"""\n' + "\n".join(body) + f'\n{indent}"""'
    prefix = _STRING_PREFIX.match(original).group(0)
    quoted = original[len(prefix) :]
    quote = quoted[:3] if quoted[:3] in ('"""', "'''") else quoted[0]
    triple = quote[0] * 3
    inner = quoted[len(quote) : -len(quote)]
    raw = "r" in prefix.lower()
    legacy_lines = [_escaped(line, triple, raw) for line in legacy_lines]

    lines = inner.split("\n")
    opens_below = len(lines) > 1 and not lines[0].strip()
    closes_alone = len(lines) == 1 or not lines[-1].strip()
    if opens_below:
        lines = lines[1:]
    else:
        lines[0] = indent + lines[0].lstrip()
    if len(lines) > 1 and not lines[-1].strip():
        lines = lines[:-1]
    explanation = lines if any(line.strip() for line in lines) else []

    legacy_block = [f"{indent}{line}" if line.strip() else "" for line in legacy_lines]
    if not opens_below:
        legacy_block[0] = legacy_block[0].lstrip()
    text_lines = [*legacy_block, "", *explanation] if explanation else legacy_block
    opening = f"{prefix}{triple}" + ("\n" if opens_below else "")
    closing = f"\n{indent}{triple}" if closes_alone else triple
    return opening + "\n".join(text_lines) + closing


def _escaped(line: str, triple: str, raw: bool) -> str:
    if not raw:
        line = line.replace("\\", "\\\\")
    return line.replace(triple, "\\" + triple) if not raw else line


def with_legacy_docstring(cls: cst.ClassDef, legacy_text: str, default_indent: str) -> cst.ClassDef:
    """The class with the plan's LEGACY text leading its docstring (unchanged when already there)."""
    if not legacy_text.strip():
        return cls
    block = cls.body
    if not isinstance(block, cst.IndentedBlock):  # `class X: pass` on one line
        block = cst.IndentedBlock(body=[cst.SimpleStatementLine(body=list(block.body))])
    indent = block.indent if block.indent is not None else default_indent
    first = block.body[0] if block.body else None
    docstring = _docstring_node(first)
    if docstring is not None:
        if legacy_text.strip().splitlines()[0].strip() in docstring.value:
            return cls.with_changes(body=block)
        new_value = merged_docstring(docstring.value, legacy_text, indent)
        new_first = first.with_changes(
            body=[first.body[0].with_changes(value=docstring.with_changes(value=new_value))]
        )
        return cls.with_changes(body=block.with_changes(body=[new_first, *block.body[1:]]))
    statement = cst.SimpleStatementLine(
        body=[cst.Expr(cst.SimpleString(merged_docstring(None, legacy_text, indent)))]
    )
    return cls.with_changes(body=block.with_changes(body=[statement, *block.body]))


def _docstring_node(stmt: cst.BaseStatement | None) -> cst.SimpleString | None:
    if (
        isinstance(stmt, cst.SimpleStatementLine)
        and len(stmt.body) == 1
        and isinstance(stmt.body[0], cst.Expr)
    ):
        value = stmt.body[0].value
        if isinstance(value, cst.SimpleString):
            return value
    return None


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


# ---------------------------------------------------------------------- registries
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
            leading_lines=self._section_head(before_section, own, jupytext, section_exists, moved_marker)
        )
        followers = [body[position] for position in group[1:]]
        if followers and not (followers[0].leading_lines and _is_blank(followers[0].leading_lines[0])):
            # It followed other code of the cell; right below the class it needs a blank line.
            followers[0] = followers[0].with_changes(
                leading_lines=[cst.EmptyLine(), *followers[0].leading_lines]
            )
        moved = [cls, *followers, *self._registrations(module, registry_entries)]
        # Without task 4 (`--only 5`) the moved code still says the old name; what stays is task 4's.
        renamer = RenameWholeWord(self.legacy.old, self.legacy.new, self.policy)
        moved = [stmt.visit(renamer) for stmt in moved]
        moved[0] = with_legacy_docstring(moved[0], self.legacy.docstring, module.default_indent)
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
        self, before, own, jupytext: bool, section_exists: bool, marker: cst.EmptyLine | None
    ) -> list[cst.EmptyLine]:
        """Leading lines of the moved class: old footer, cell marker, banner, its own comment."""
        head = [*before, *blank_lines(_blank_lines_above_section(before, jupytext))]
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
    if not context.workspace.exists(path):
        context.not_applicable(task_id, f"{path} does not exist")
        return False
    module = context.parse(path)
    names = (legacy.new, legacy.old)
    index = find_class(module.body, names)
    if index is None:
        context.not_applicable(task_id, f"{path} defines no class {legacy.old} or {legacy.new}")
        return False
    section = section_start(module.body, banner_title(legacy.banner))
    if section is not None and index >= section:
        return _complete_in_place(context, module, index, path, task_id)

    mover = LegacyMove(legacy, context.recipe.rename_policy)
    group = mover.statements_that_go_along(module.body, index, is_jupytext(module))
    entries = deferred_registry_entries(context, module, path, task_id, index, group)
    new_module, followers = mover.apply(module, index, section is not None, entries)
    try:
        cst.parse_module(new_module.code)
    except cst.ParserSyntaxError as error:  # pragma: no cover - a bug here, never the user's code
        raise Refusal(task_id, f"moving the legacy class would not parse: {error.message}", path) from None
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


def _complete_in_place(context: Context, module: cst.Module, index: int, path: str, task_id: str) -> bool:
    """The class is already in the legacy section: only a missing LEGACY docstring is added."""
    cls = module.body[index]
    documented = with_legacy_docstring(cls, context.recipe.legacy.docstring, module.default_indent)
    new_module = module.with_changes(body=[*module.body[:index], documented, *module.body[index + 1 :]])
    changed = context.write_module(path, new_module)
    state = "; added the LEGACY docstring" if changed else ""
    context.report.info(task_id, f"{cls.name.value} is already in the legacy section{state}", path)
    _warn_about_callers(context, new_module, path, task_id)
    return changed


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
                f"still uses the old name {use.name}; the class is now {class_name} (task 4 renames uses)"
            )
        context.report.warn(task_id, message, path, use.line)


def move_legacy(context: Context, task: Task) -> None:
    legacy = context.recipe.legacy
    if legacy is None:
        context.not_applicable(task.id, "the recipe names no legacy class")
        return
    move_legacy_class(context, context.main_file, task.id)
