"""Fitting the plan's config function to the installed stack (``apply --fit-stack``).

The plan's ``create_training_config()`` passes fields that the installed config class may no
longer take (TRL 1.16 with transformers 5 dropped ``logging_dir``): as written it raises
``TypeError`` when called. With ``--fit-stack`` the config class is imported and asked which
keywords its constructor accepts (its dataclass fields, else its signature); every field of the
plan it does not accept is left out, and so is a local variable only those fields used. The
function is still written as the plan shows it, each left-out line kept as a comment saying why,
so every line that differs from the plan's text carries a comment. Without the flag nothing
changes: the plan's text byte for byte.

The fitted function replaces the plan's in the run's recipe, so every engine (the behaviour
table, the aliases, the paths that follow) sees what the written code really sets.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Mapping

from codemods.core.config_class import accepted_keywords, import_class, stack_versions, versions_label
from codemods.core.config_values import BehaviourChange, Impact
from codemods.core.recipe import ConfigFunction, Recipe

# The key of ``Context.options`` that `apply --fit-stack` sets; planning replaces it with the fit.
FIT_STACK = "fit_stack"
OPTION = "--fit-stack"


class StackProbeError(RuntimeError):
    """The config class cannot be imported here, so what it accepts is unknown."""


@dataclasses.dataclass(frozen=True)
class StackFit:
    """What ``--fit-stack`` leaves out of the plan's function, and why (``{name: reason}``)."""

    plan: ConfigFunction
    fitted: ConfigFunction
    fields: Mapping[str, str]
    locals: Mapping[str, str]
    label: str  # "trl 1.16.0 / transformers 5.23.0"

    def render(self, text: str) -> str:
        """The plan's rendered function with each left-out line commented, the reason beside it."""
        out = []
        for line in text.split("\n"):
            stripped = line.lstrip()
            indent = line[: len(line) - len(stripped)]
            reason = next((r for n, r in self.fields.items() if indent == " " * 8 and stripped.startswith(f"{n}=")), None)
            if reason is None:
                reason = next(
                    (r for n, r in self.locals.items() if indent == " " * 4 and stripped.startswith(f"{n} = ")), None
                )
            out.append(line if reason is None else f"{indent}# {stripped}  # {reason}")
        return "\n".join(out)


def _names(source: str) -> set[str]:
    try:
        return {node.id for node in ast.walk(ast.parse(source.strip(), mode="eval")) if isinstance(node, ast.Name)}
    except SyntaxError:
        return set()


def fit_function(function: ConfigFunction, accepted: frozenset[str] | None, label: str) -> StackFit:
    """The plan's function without the fields ``accepted`` lacks (None: the class takes any keyword)."""
    class_name = function.config_class_name
    rejected = {} if accepted is None else {
        f.name: f"left out by {OPTION}: {class_name} in {label} does not accept {f.name}"
        for f in function.fields
        if f.name not in accepted
    }
    # The plan's locals are string constants: a local is used by the fields that name it, nothing else.
    unused = {}
    for local in function.locals:
        users = [f.name for f in function.fields if local.name in _names(f.value)]
        if users and all(name in rejected for name in users):
            unused[local.name] = f"left out by {OPTION}: only {', '.join(users)} used it"
    sections = tuple(
        dataclasses.replace(section, fields=tuple(f for f in section.fields if f.name not in rejected))
        for section in function.field_sections
    )
    fitted = dataclasses.replace(
        function,
        field_sections=tuple(s for s in sections if s.fields),
        locals=tuple(local for local in function.locals if local.name not in unused),
        stack_notes={k: v for k, v in function.stack_notes.items() if k not in rejected},
        path_fields=tuple(name for name in function.path_fields if name not in rejected),
        left_out=tuple(rejected),
    )
    return StackFit(function, fitted, rejected, unused, label)


def probe_stack(function: ConfigFunction) -> StackFit:
    """Import the config class here and fit the function to what it accepts."""
    try:
        config_class = import_class(function.config_class)
    except Exception as error:  # noqa: BLE001 - any import failure means the stack is not here
        raise StackProbeError(
            f"{OPTION} needs {function.config_class} importable in this interpreter to ask what it accepts "
            f"({type(error).__name__}: {error}); install the training stack here or leave out {OPTION}"
        ) from None
    return fit_function(function, accepted_keywords(config_class), versions_label(stack_versions()))


def fit_recipe(recipe: Recipe, options: dict[str, object]) -> Recipe:
    """The run's recipe: with ``--fit-stack`` its config function fitted (the fit kept in ``options``)."""
    if not options.get(FIT_STACK) or recipe.config_function is None:
        return recipe
    fit = options[FIT_STACK]
    if not isinstance(fit, StackFit):
        fit = probe_stack(recipe.config_function)
        options[FIT_STACK] = fit
    return dataclasses.replace(recipe, config_function=fit.fitted)


def stack_fit(options: Mapping[str, object]) -> StackFit | None:
    fit = options.get(FIT_STACK)
    return fit if isinstance(fit, StackFit) else None


def fitted_changes(changes: list[BehaviourChange], fit: StackFit | None) -> list[BehaviourChange]:
    """A field left out because the stack lacks it changes because ``--fit-stack`` was asked for: intended."""
    if fit is None:
        return changes
    return [
        dataclasses.replace(
            change,
            impact=Impact.INTENDED,
            reason=f"left out by {OPTION}: {fit.plan.config_class_name} in {fit.label} does not accept {change.field}",
        )
        if change.field in fit.fields
        else change
        for change in changes
    ]


def fit_notes(fit: StackFit) -> list[str]:
    """One line per left-out field for apply's report, with the recipe's note on why."""
    notes = []
    for name in fit.fields:
        why = fit.plan.stack_notes.get(name, "")
        notes.append(
            f"{fit.plan.name}() written without {name}= ({OPTION}): {fit.plan.config_class_name} in {fit.label} "
            f"does not accept it" + (f" ({why.rstrip('.')})" if why else "")
        )
    return notes
