"""Section "config behaviour": every training config the code builds, before vs now, judged as `apply` judges it.

The configs are the main file's config blocks the recipe names (``training_args``,
``training_args_v2``: module-level assignments, whatever builds them now) and what each
deprecated factory of the recipe's config module builds when called with no arguments. Both
sides are read statically (:mod:`codemods.verify.built_configs`); "before" is the apply journal
or ``--before REV`` (:mod:`codemods.verify.before`). Each differing field is judged by the same
code as ``apply``'s behaviour table (:func:`codemods.core.config_values.field_changes`): fields
the plan derives from the variant and the plan's overrides are intended when they hold the
plan's value; any other difference is unintended and fails the section.
"""

from __future__ import annotations

import posixpath
from dataclasses import asdict
from pathlib import Path
from typing import Any

from codemods.core.before_tree import BeforeTree
from codemods.core.config_values import (
    BehaviourChange,
    Impact,
    field_changes,
    literal_value,
    recipe_factory,
)
from codemods.core.recipe import Recipe
from codemods.core.workspace import Workspace, WorkspaceError
from codemods.verify.built_configs import ConfigReader, Unreadable
from codemods.verify.compat import lacking_fields, stack_excused
from codemods.verify.report import FAILED, PASSED, SKIPPED, CheckOutcome, VerificationOutcome

BEHAVIOUR = "config behaviour"
NO_BEFORE = (
    'no "before" to compare with: ROOT has no apply journal; pass --before REV (the git revision '
    "before the migration) to judge a hand refactor"
)
_SHOWN = 6


def current_reader(root: Path):
    workspace = Workspace(root)

    def read(relative: str) -> str | None:
        try:
            return workspace.read_text(relative) if workspace.exists(relative) else None
        except WorkspaceError:
            return None

    return read


def _sites(recipe: Recipe, main_file: str, single_file: bool):
    """(path, block label, variant, overrides, how to read it before, how to read it now) per config."""
    for spec in recipe.config_blocks:
        old_first = [t for t in (spec.target, spec.new_target) if t]
        yield (
            main_file,
            spec.target,  # the block as apply's table names it: by its old target
            spec.variant,
            spec.overrides,
            lambda reader, names=old_first: _first_assigned(reader, main_file, names),
            lambda reader, names=old_first[::-1]: _first_assigned(reader, main_file, names),
        )
    if recipe.config_module and not single_file:
        path = recipe.config_module.path
        for alias in recipe.config_module.deprecated:

            def read(reader: ConfigReader, name: str = alias.old) -> dict[str, object]:
                return reader.function_config(path, name)

            yield (path, f"{path} {alias.old}() (deprecated alias)", alias.variant, {}, read, read)


def _first_assigned(reader: ConfigReader, path: str, targets: list[str]) -> dict[str, object]:
    problem = None
    for target in targets:
        try:
            return reader.assigned_config(path, target)
        except Unreadable as error:
            problem = problem or error
    raise problem or Unreadable(f"{path} assigns none of {', '.join(targets)}")


def config_changes(
    root: Path, recipe: Recipe, before: BeforeTree
) -> tuple[list[BehaviourChange], list[str], int]:
    """(every differing field, judged; configs that could not be read; configs compared)."""
    function = recipe.config_function
    assert function is not None
    workspace = Workspace(root)
    main_file = workspace.single_file or recipe.main_file
    old, new = ConfigReader(before.read_text, recipe), ConfigReader(current_reader(root), recipe)
    variant_parameter = function.parameters[0].name
    sites = list(_sites(recipe, main_file, workspace.single_file is not None))
    befores: list[dict[str, object] | None] = []
    unreadable: list[str] = []
    for path, block, _variant, _overrides, read_before, _read_after in sites:
        try:
            befores.append(read_before(old))
        except Unreadable as error:
            befores.append(None)
            if before.read_text(path) is not None:
                unreadable.append(f"{block} before: {error}")
    output_root = _output_root(befores, function.output_root_default)
    changes: list[BehaviourChange] = []
    compared = 0
    for (path, block, variant, overrides, _read_before, read_after), old_fields in zip(
        sites, befores, strict=True
    ):
        if old_fields is None:
            continue
        try:
            new_fields = read_after(new)
        except Unreadable as error:
            unreadable.append(f"{block} now: {error}")
            continue
        compared += 1
        factory = recipe_factory(function, output_root)
        planned = factory.build(
            {variant_parameter: variant, **{k: literal_value(v) for k, v in overrides.items()}}
        )
        changes += field_changes(
            function,
            factory,
            old_fields,
            new_fields,
            path=path,
            block=block,
            overrides=overrides,
            planned=planned,
        )
    return changes, unreadable, compared


def _output_root(befores: list[dict[str, object] | None], default: str) -> str:
    """Where the plan roots its directories: beside the first literal output_dir, as apply places them."""
    for fields in befores:
        output_dir = (fields or {}).get("output_dir")
        if isinstance(output_dir, str) and output_dir:
            return posixpath.dirname(output_dir.rstrip("/")) or "."
    return default.rstrip("/") or "."


def describe(change: BehaviourChange) -> str:
    where = change.block if change.block.startswith(change.path) else f"{change.path} {change.block}"
    return f"{where}: {change.field} {change.before} -> {change.after} ({change.reason})"


def check_config_behaviour(
    root: Path, recipe: Recipe, before: BeforeTree | None, stack: dict[str, Any] | None = None
) -> CheckOutcome:
    """``stack`` is the training child's report: fields its config class lacks may change (see compat)."""
    if recipe.config_function is None:
        return CheckOutcome(BEHAVIOUR, SKIPPED, "the recipe has no config function")
    if before is None:
        return CheckOutcome(BEHAVIOUR, SKIPPED, NO_BEFORE)
    changes, unreadable, compared = config_changes(root, recipe, before)
    if stack is not None:
        changes = stack_excused(changes, *lacking_fields(stack))
    rows = [{**asdict(change), "impact": change.impact.value} for change in changes]
    data = {"before": before.source, "configs": compared, "changes": rows, "unreadable": unreadable}
    unintended = [c for c in changes if c.impact is Impact.UNINTENDED]
    unverifiable = [c for c in changes if c.impact is Impact.UNVERIFIABLE]
    notes = []
    if unverifiable:
        notes.append(
            f"{len(unverifiable)} field(s) only known at run time: "
            + ", ".join(f"{c.field} ({c.block})" for c in unverifiable[:_SHOWN])
        )
    if unreadable:
        notes.append("not compared: " + "; ".join(unreadable[:_SHOWN]))
    tail = ("; " + "; ".join(notes)) if notes else ""
    if unintended:
        listed = "; ".join(describe(c) for c in unintended[:_SHOWN]) + (
            "; …" if len(unintended) > _SHOWN else ""
        )
        return CheckOutcome(
            BEHAVIOUR,
            FAILED,
            f"{len(unintended)} unintended change(s) against {before.source}: {listed}{tail}",
            data=data,
        )
    if not compared:
        return CheckOutcome(
            BEHAVIOUR, SKIPPED, f"no config of the recipe found in {before.source}{tail}", data=data
        )
    intended = len(changes) - len(unverifiable)
    return CheckOutcome(
        BEHAVIOUR,
        PASSED,
        f"{compared} config(s) compared with {before.source}: {intended} intended change(s), none unintended{tail}",
        data=data,
    )


def changes_of(data: dict) -> list[BehaviourChange]:
    """The section's rows back as changes (to render them as apply's tables)."""
    return [BehaviourChange(**{**row, "impact": Impact(row["impact"])}) for row in data.get("changes", [])]


def behaviour_tables(outcome: VerificationOutcome) -> list:
    """apply's behaviour-change tables for the configs this verification compared (none when skipped)."""
    from codemods.behaviour_tables import change_tables

    sections = [check for check in outcome.checks if check.name == BEHAVIOUR]
    return change_tables(changes_of(sections[0].data)) if sections else []


__all__ = [
    "BEHAVIOUR",
    "behaviour_tables",
    "changes_of",
    "check_config_behaviour",
    "config_changes",
    "describe",
]
