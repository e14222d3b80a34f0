"""Mapping an old config call onto the recipe's config function (for inline blocks and old factories).

Task 3 maps an inline ``SFTConfig(...)`` block, task 6 a call of an old factory
(``create_sft_config(...)``). Both go through :func:`map_call`:

- a keyword that is a parameter of the new function is kept when its value
  differs from the parameter's default or is not a literal (kept as source);
- the recipe's overrides are always passed;
- every config field whose effective value changes becomes a
  :class:`BehaviourChange`: fields derived from the variant (output_dir,
  logging_dir, run_name) are intended, anything else -- a keyword the new
  function cannot represent, a field it now sets -- is unintended, and a value
  only known at run time is unverifiable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import libcst as cst

from codemods.apply.engines.config_function import (
    ConfigFactory,
    Unknown,
    literal_value,
    recipe_factory,
    same_value,
    show,
)
from codemods.apply.session import BehaviourChange
from codemods.core.config_values import field_changes, library_default
from codemods.core.recipe import ConfigFunction

COMMENTED_OUT_KEYWORD = re.compile(r"^#\s*([A-Za-z_][A-Za-z0-9_]*)\s*=")


class UnmappableCall(Exception):
    """A call whose arguments cannot be mapped by keyword (positional or ``**`` arguments)."""


@dataclass(frozen=True)
class Keyword:
    """One ``name=value`` argument: its source, its value if literal, its trailing comment."""

    name: str
    source: str
    value: object
    comment: str | None = None


@dataclass(frozen=True)
class MappedCall:
    arguments: tuple[Keyword, ...]
    changes: tuple[BehaviourChange, ...]
    after: Mapping[str, object]
    # Keywords dropped because the new function cannot take them but SFTConfig's default is the same.
    dropped_as_default: tuple[Keyword, ...]


# ---------------------------------------------------------------------- reading a call
def _trailing_comment(whitespace: cst.BaseParenthesizableWhitespace | cst.MaybeSentinel) -> str | None:
    if isinstance(whitespace, cst.ParenthesizedWhitespace) and whitespace.first_line.comment is not None:
        return whitespace.first_line.comment.value
    return None


def _after_argument(arg: cst.Arg) -> cst.BaseParenthesizableWhitespace | cst.MaybeSentinel:
    """The whitespace after an argument: after its comma, else before the closing parenthesis."""
    return arg.comma.whitespace_after if isinstance(arg.comma, cst.Comma) else arg.whitespace_after_arg


def call_keywords(call: cst.Call, module: cst.Module, names: Mapping[str, object] | None = None) -> list[Keyword]:
    """The call's keyword arguments; positional and ``*``/``**`` arguments raise :class:`UnmappableCall`."""
    keywords = []
    for arg in call.args:
        if arg.star:
            raise UnmappableCall(
                f"the call passes `{arg.star}{module.code_for_node(arg.value)}`; its keys are not known "
                "before run time, so they cannot be mapped onto the new function. Write them out as keywords."
            )
        if arg.keyword is None:
            raise UnmappableCall(
                f"the call passes `{module.code_for_node(arg.value)}` positionally; pass it by keyword so "
                "it can be mapped onto the new function."
            )
        source = module.code_for_node(arg.value)
        value = literal_value(source, names)
        keywords.append(Keyword(arg.keyword.value, source, value, _trailing_comment(_after_argument(arg))))
    return keywords


@dataclass(frozen=True)
class DroppedComments:
    commented_out: tuple[str, ...]
    notes: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.commented_out or self.notes)

    def describe(self) -> str:
        parts = []
        if self.commented_out:
            parts.append("commented-out keywords " + ", ".join(self.commented_out))
        if self.notes:
            parts.append("notes " + " | ".join(self.notes))
        return "; ".join(parts)


class _Comments(cst.CSTVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def visit_Comment(self, node: cst.Comment) -> None:
        self.found.append(node.value)


def _comments_in(node: cst.CSTNode) -> list[str]:
    collector = _Comments()
    node.visit(collector)
    return collector.found


def _classify_group(
    lines: Sequence[cst.EmptyLine], opens_call: bool, followed_by_argument: bool
) -> tuple[list[str], list[str]]:
    """Full-line comments between two arguments: (commented-out keywords, notes).

    A lone comment line that opens a paragraph and sits right above an
    argument is a section heading (the new function has its own headings);
    any other comment text is a note worth reporting.
    """
    commented_out: list[str] = []
    runs: list[tuple[list[str], bool, bool]] = []  # (text, opens a paragraph, followed by a blank line)
    current: list[str] = []
    current_opens = after_blank = opens_call
    for line in lines:
        if line.comment is None:
            if current:
                runs.append((current, current_opens, True))
                current = []
            after_blank = True
            continue
        match = COMMENTED_OUT_KEYWORD.match(line.comment.value)
        if match:
            commented_out.append(match.group(1))
            continue
        if not current:
            current_opens = after_blank
        current.append(line.comment.value)
        after_blank = False
    if current:
        runs.append((current, current_opens, False))
    notes = []
    for text, opens_paragraph, followed_by_blank in runs:
        heading = len(text) == 1 and opens_paragraph and not followed_by_blank and followed_by_argument
        if not heading:
            notes.extend(text)
    return commented_out, notes


def dropped_comments(call: cst.Call, kept: set[str]) -> DroppedComments:
    """Comments of a replaced call that the new call does not carry over."""
    notes: list[str] = []
    groups: list[tuple[Sequence[cst.EmptyLine], bool, bool]] = []
    opening = call.whitespace_before_args
    if isinstance(opening, cst.ParenthesizedWhitespace):
        if opening.first_line.comment is not None:
            notes.append(opening.first_line.comment.value)
        groups.append((opening.empty_lines, True, bool(call.args)))
    for index, arg in enumerate(call.args):
        name = arg.keyword.value if arg.keyword else "?"
        trailing = _after_argument(arg)
        if name not in kept:
            comment = _trailing_comment(trailing)
            if comment:
                notes.append(f"{name}: {comment}")
            notes.extend(f"{name}: {text}" for text in _comments_in(arg.value))
        if isinstance(trailing, cst.ParenthesizedWhitespace):
            groups.append((trailing.empty_lines, False, index + 1 < len(call.args)))
    commented_out: list[str] = []
    for lines, opens_call, followed_by_argument in groups:
        found_keywords, found_notes = _classify_group(lines, opens_call, followed_by_argument)
        commented_out.extend(found_keywords)
        notes.extend(found_notes)
    return DroppedComments(tuple(commented_out), tuple(notes))


# ---------------------------------------------------------------------- mapping
def map_call(
    function: ConfigFunction,
    output_root: str,
    variant: str,
    keywords: Sequence[Keyword],
    before: Mapping[str, object],
    *,
    path: str,
    block: str,
    overrides: Mapping[str, str] | None = None,
    implicit: Mapping[str, object] | None = None,
) -> MappedCall:
    """Map an old call onto the new function and list every field whose value changes.

    ``keywords`` are the old call's arguments; ``before`` is what the old call
    set on the config (fields it did not set fall back to SFTConfig's defaults).
    ``implicit`` holds values an old factory applied without the caller passing
    them (its own defaults): one the new function can take and whose default
    differs is passed explicitly, so the call keeps its behaviour.
    """
    overrides = dict(overrides or {})
    factory: ConfigFactory = recipe_factory(function, output_root)
    variant_parameter = function.parameters[0].name
    given = {kw.name: kw for kw in keywords}

    arguments = [Keyword(variant_parameter, show(variant), variant)]
    for name, default in factory.parameters[1:]:
        original = given.get(name)
        comment = original.comment if original else None
        if name in overrides:
            arguments.append(Keyword(name, overrides[name], literal_value(overrides[name]), comment))
        elif original is not None:
            if isinstance(original.value, Unknown) or not same_value(original.value, default):
                arguments.append(original)
        elif implicit and name in factory.passthrough and name in implicit:
            value = implicit[name]
            if not isinstance(value, Unknown) and not same_value(value, default):
                arguments.append(Keyword(name, show(value), value))
    after = factory.build({kw.name: kw.value for kw in arguments})

    changes = field_changes(function, factory, before, after, path=path, block=block, overrides=overrides)
    dropped_as_default = [
        given[name] for name in before
        if name in given and name not in after and same_value(before[name], library_default(function, name))
    ]
    return MappedCall(tuple(arguments), tuple(changes), after, tuple(dropped_as_default))


# ---------------------------------------------------------------------- writing a call
def render_call(func: str, arguments: Sequence[Keyword], indent: str = "    ") -> str:
    """``func(\\n    name=value,  # comment\\n)`` -- one keyword per line, like the plan."""
    lines = [f"{func}("]
    for arg in arguments:
        text = f"{indent}{arg.name}={arg.source},"
        if arg.comment:
            text += f"  {arg.comment}"
        lines.append(text)
    lines.append(")")
    return "\n".join(lines)


def new_call(func: str, arguments: Sequence[Keyword], indent: str = "    ") -> cst.Call:
    expression = cst.parse_expression(render_call(func, arguments, indent))
    assert isinstance(expression, cst.Call)
    return expression


def argument_indent(call: cst.Call) -> str:
    """The extra indentation of the call's argument lines (four spaces unless the call shows otherwise)."""
    whitespace = call.whitespace_before_args
    if isinstance(whitespace, cst.ParenthesizedWhitespace) and whitespace.last_line.value:
        return whitespace.last_line.value
    return "    "
