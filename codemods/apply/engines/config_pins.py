"""Keeping a config's behaviour through the migration (``apply --keep-behaviour``).

:func:`~codemods.apply.engines.config_mapping.map_call` lists every field whose
value differs once an old config call goes through the new function. The plan
means some of those changes (fields derived from the variant, its explicit
overrides); the others are side effects. Keeping behaviour pins each side effect
back to the old value: a parameter of the new function that goes straight to its
field is passed to the call, any other field is set on the result with
``dataclasses.replace(<new call>, field=old value, ...)``, the form old-factory
callers already get for keywords the new function cannot take.

The old value is the old keyword as written (with its comment), else the literal
the old factory set, else the config class's own default as the recipe records it
(``[config_function.library_defaults]``) when the old call left the field alone.
A field with none of these (an unrecorded default, a value only known at run
time) cannot be pinned: its row stays in the table as it was.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import libcst as cst

from codemods.apply.engines.config_discovery import assignment_parts
from codemods.apply.engines.config_function import Unknown, literal_value, recipe_factory, same_value, show
from codemods.apply.engines.config_mapping import Keyword, MappedCall, new_call
from codemods.apply.engines.definitions import parser_config
from codemods.apply.engines.imports import NewImport, add_imports, import_bindings
from codemods.apply.session import BehaviourChange, Context, Impact
from codemods.core import cells
from codemods.core.recipe import ConfigFunction

# The key of ``Context.options`` that `apply --keep-behaviour` sets.
KEEP_BEHAVIOUR = "keep_behaviour"
OPTION = "--keep-behaviour"
DATACLASSES = "dataclasses"


def keeps_behaviour(context: Context) -> bool:
    return bool(context.options.get(KEEP_BEHAVIOUR))


@dataclass(frozen=True)
class Pinned:
    """The new call with every side-effect change pinned back to its old value."""

    arguments: tuple[Keyword, ...]  # the new function's keywords, pinned parameters included
    replaced: tuple[Keyword, ...]  # fields set on its result through dataclasses.replace()
    changes: tuple[BehaviourChange, ...]  # the mapped rows; pinned ones are marked KEPT
    unpinned: tuple[BehaviourChange, ...]  # side effects no old value is known for

    @property
    def pinned(self) -> tuple[str, ...]:
        return tuple(c.field for c in self.changes if c.impact is Impact.KEPT)

    @property
    def call_names(self) -> set[str]:
        """Every keyword the migrated code writes (their comments travel with them)."""
        return {kw.name for kw in (*self.arguments, *self.replaced)}


def _old_keyword(function: ConfigFunction, name: str, given: Mapping[str, Keyword], before: Mapping[str, object]):
    """The old value of a field as a keyword to write, or None when it is not known."""
    if name in before:
        value = before[name]
        written = given.get(name)
        if written is not None and same_value(written.value, value):
            return written  # as the user wrote it, comment included
        return None if isinstance(value, Unknown) else Keyword(name, show(value), value)
    source = function.library_defaults.get(name)
    if source is None:
        return None
    # Says why a keyword the old call never had appears in the new one.
    comment = f"# {function.config_class_name}'s default: the old call did not set it"
    return Keyword(name, source, literal_value(source), comment)


def pin_changes(
    function: ConfigFunction,
    output_root: str,
    mapped: MappedCall,
    keywords: Sequence[Keyword],
    before: Mapping[str, object],
    overrides: Mapping[str, str] | None = None,
    already_kept: Sequence[str] = (),
) -> Pinned:
    """Pin every change the plan does not intend; ``already_kept`` are set by the caller's own replace()."""
    factory = recipe_factory(function, output_root)
    # A field --fit-stack left out cannot be pinned: the installed config class would refuse it.
    planned = set(factory.derived) | set(overrides or {}) | set(function.left_out)
    given = {kw.name: kw for kw in keywords}
    pins: dict[str, Keyword] = {}
    unpinned = []
    for change in mapped.changes:
        if change.impact is Impact.INTENDED or change.field in planned or change.field in already_kept:
            continue
        pin = _old_keyword(function, change.field, given, before)
        if pin is None:
            unpinned.append(change)
        else:
            pins[change.field] = pin
    arguments, replaced = _placed(factory, mapped, pins)
    fn = f"{function.name}()"
    changes = tuple(
        replace(c, after=c.before, impact=Impact.KEPT, reason=f"pinned by {OPTION}; {fn} alone gives {c.after}")
        if c.field in pins
        else c
        for c in mapped.changes
    )
    return Pinned(arguments, replaced, changes, tuple(unpinned))


def _placed(factory, mapped: MappedCall, pins: Mapping[str, Keyword]) -> tuple[tuple[Keyword, ...], tuple[Keyword, ...]]:
    """Pins of parameters that go straight to their field join the call; the rest go to replace()."""
    through = {name for name in pins if name in factory.passthrough}
    arguments = [*mapped.arguments, *(pins[name] for name in through)]
    order = {name: index for index, name in enumerate(factory.parameter_names)}
    arguments.sort(key=lambda kw: order.get(kw.name, len(order)))
    built = factory.build({kw.name: kw.value for kw in arguments})
    # A parameter that other fields are computed from would move them too: then replace() it instead.
    moved = [n for n in dict.fromkeys([*built, *mapped.after]) if n not in through
             and not same_value(built.get(n), mapped.after.get(n))]
    if moved:
        through, arguments = set(), list(mapped.arguments)
    return tuple(arguments), tuple(pin for name, pin in pins.items() if name not in through)


def report_pins(context: Context, task_id: str, path: str, line: int | None, label: str, pinned: Pinned) -> None:
    """Which fields were pinned (the table shows them as kept), and which could not be."""
    if pinned.pinned:
        context.report.info(task_id, f"{label}: kept {', '.join(pinned.pinned)} as before ({OPTION})", path, line)
    for change in pinned.unpinned:
        context.report.warn(
            task_id,
            f"{label}: {OPTION} cannot keep {change.field}, its old value is unknown here ({change.reason}); "
            "it stays in the behaviour table",
            path,
            line,
        )


# ---------------------------------------------------------------------- writing the call
def preserving_replace(call_source: str, kept: Sequence[Keyword], indent: str) -> cst.Call:
    """``dataclasses.replace(<new call>, name=value, ...)``: the new call plus the old values."""
    inner = call_source.replace("\n", "\n" + indent)
    lines = [f"{DATACLASSES}.replace(", f"{indent}{inner},"]
    for kw in kept:
        lines.append(f"{indent}{kw.name}={kw.source}," + (f"  {kw.comment}" if kw.comment else ""))
    lines.append(")")
    expression = cst.parse_expression("\n".join(lines))
    assert isinstance(expression, cst.Call)
    return expression


def pinned_call(function_name: str, pinned: Pinned, indent: str, func: cst.BaseExpression | None = None) -> cst.Call:
    """The new call (through ``func`` when the caller spells it another way), wrapped when fields need replace()."""
    call = new_call(function_name, pinned.arguments, indent)
    if func is not None:
        call = call.with_changes(func=func)
    if not pinned.replaced:
        return call
    return preserving_replace(cst.Module([]).code_for_node(call), pinned.replaced, indent)


# ---------------------------------------------------------------------- the import in a notebook-script

def binds_dataclasses(statements: Sequence[cst.BaseStatement]) -> bool:
    return DATACLASSES in import_bindings(cst.Module(list(statements)), True).get(DATACLASSES, ())


def with_dataclasses_import(module: cst.Module, first: cst.Call) -> cst.Module:
    """The module importing ``dataclasses`` for its replace() calls: in a notebook-script, in the
    cell of the first one (found by identity, as removed imports may have shifted the statements);
    elsewhere with the module's other imports."""
    if not cells.is_jupytext(module):
        return add_imports(module, [NewImport(DATACLASSES)])
    index = next(i for i, stmt in enumerate(module.body) if (assignment_parts(stmt) or ("", None))[1] is first)
    return with_import_in_cell(module, index)


def with_import_in_cell(module: cst.Module, index: int) -> cst.Module:
    """``import dataclasses`` right before ``body[index]``, in its jupytext cell, so the cell runs on its own.

    The cell marker and the comments above a blank line stay above the import (they
    head the cell, like the config-class import the block's cell used to have); a
    comment sitting directly on the statement stays on it.
    """
    body = list(module.body)
    if binds_dataclasses(body[:index]):
        return module
    lines = list(body[index].leading_lines)
    blank = max((i + 1 for i, line in enumerate(lines) if line.comment is None), default=0)
    marker = cells.last_marker_index(lines)
    split = max(blank, marker + 1) if marker is not None else blank
    head, tail = lines[:split], lines[split:]
    if any(line.comment is not None for line in head):
        while head and head[-1].comment is None:
            head.pop()
    statement = cst.parse_statement(f"import {DATACLASSES}\n", config=parser_config(module))
    body[index] = cells.with_leading_lines(body[index], [cst.EmptyLine(), *tail])
    return module.with_changes(body=[*body[:index], cells.with_leading_lines(statement, head), *body[index:]])
