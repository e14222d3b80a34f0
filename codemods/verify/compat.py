"""Stack compatibility: would the repository's config code build its config on the installed stack?

Two halves. Here, in the calling process, every keyword the config code passes to the config
class is found statically: the calls of ``SFTConfig(...)`` (however it is imported) and the
``dataclasses.replace(<config>, ...)`` calls in the config module and the main file. The smoke
child, running in the interpreter that will train, then checks them against the class's
accepted fields and builds each variant's config through the adapter of
:mod:`codemods.verify.user_code`, which observes what the constructor refuses on this machine
(``tf32=True`` without a CUDA GPU, say). Both happen before any training.

A refusal fails the section, naming the field, the installed TRL/transformers versions and the
fix. ``verify --adapt`` lets the smoke run go on with the adaptation (the field dropped, the flag
turned off); the section is then *adapted* and the whole verification "passed with
adaptations", never plainly passed.
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path
from typing import Any

from codemods.core.bom import without_bom
from codemods.core.config_class import versions_label
from codemods.core.config_values import BehaviourChange, Impact
from codemods.core.recipe import Recipe
from codemods.core.workspace import Workspace, WorkspaceError
from codemods.verify.report import ADAPTED, COMPAT, FAILED, PASSED, SKIPPED, CheckOutcome

FIT_STACK_HINT = "or run `refactor apply --fit-stack`, which writes the config function without it"
_SHOWN_VALUE = 60


@dataclasses.dataclass(frozen=True)
class ConfigKeyword:
    """One keyword the repository's code passes to the config class."""

    name: str
    path: str
    line: int
    value: str  # as written, shortened
    function: str  # the enclosing function, or "<module>"

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


def _class_names(tree: ast.Module, dotted: str) -> tuple[set[str], set[str]]:
    """Names bound to the config class, and names bound to its module (``import trl``)."""
    module, _, name = dotted.rpartition(".")
    classes, modules = {name}, set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == module:
            classes.update(alias.asname or alias.name for alias in node.names if alias.name == name)
        elif isinstance(node, ast.Import):
            modules.update(alias.asname or alias.name for alias in node.names if alias.name == module)
    return classes, modules


def _is_class_call(call: ast.Call, classes: set[str], modules: set[str], class_name: str) -> bool:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id in classes
    return (
        isinstance(func, ast.Attribute)
        and func.attr == class_name
        and isinstance(func.value, ast.Name)
        and func.value.id in modules
    )


def _is_replace_of_config(call: ast.Call, builders: set[str], classes, modules, class_name) -> bool:
    """``dataclasses.replace(<config class or config function call>, field=...)``."""
    func = call.func
    named = (isinstance(func, ast.Name) and func.id == "replace") or (
        isinstance(func, ast.Attribute) and func.attr == "replace" and isinstance(func.value, ast.Name)
        and func.value.id == "dataclasses"
    )
    if not named or not call.args or not isinstance(call.args[0], ast.Call):
        return False
    inner = call.args[0]
    return _is_class_call(inner, classes, modules, class_name) or (
        isinstance(inner.func, ast.Name) and inner.func.id in builders
    )


def _shortened(source: str) -> str:
    text = " ".join(source.split())
    return text if len(text) <= _SHOWN_VALUE else text[: _SHOWN_VALUE - 1] + "…"


def keywords_in_source(source: str, path: str, config_class: str, builders: set[str]) -> list[ConfigKeyword]:
    """Every keyword passed to ``config_class`` (or set on its instance by ``dataclasses.replace``) in ``source``."""
    try:
        tree = ast.parse(without_bom(source), filename=path)
    except SyntaxError:
        return []  # the parse check reports it
    class_name = config_class.rpartition(".")[2]
    classes, modules = _class_names(tree, config_class)
    found: list[ConfigKeyword] = []

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            scope = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            if isinstance(child, ast.Call) and (
                _is_class_call(child, classes, modules, class_name)
                or _is_replace_of_config(child, builders, classes, modules, class_name)
            ):
                for keyword in child.keywords:
                    if keyword.arg is not None:
                        value = ast.get_source_segment(source, keyword.value) or "…"
                        found.append(ConfigKeyword(keyword.arg, path, keyword.lineno, _shortened(value), function))
            visit(child, scope)

    visit(tree, "<module>")
    return found


def config_keywords(root: Path, recipe: Recipe) -> list[ConfigKeyword]:
    """The keywords the config module and the main file pass to the recipe's config class."""
    function = recipe.config_function
    if function is None:
        return []
    workspace = Workspace(root)
    paths = [workspace.single_file] if workspace.single_file else []
    if not paths:
        if recipe.config_module is not None:
            paths.append(recipe.config_module.path)
        paths.append(recipe.main_file)
    builders = {function.name, *(d.old for d in (recipe.config_module.deprecated if recipe.config_module else ()))}
    found: list[ConfigKeyword] = []
    for path in dict.fromkeys(paths):
        try:
            if not workspace.exists(path):
                continue
            source = workspace.read_text(path)
        except (WorkspaceError, OSError, UnicodeDecodeError):
            continue
        found.extend(keywords_in_source(source, path, function.config_class, builders))
    return found


def stack_excused(changes: list[BehaviourChange], lacking: set[str], label: str) -> list[BehaviourChange]:
    """A field the code stopped setting because the installed config class lacks it changes of necessity.

    (``apply --fit-stack`` leaves such a field out; a hand refactor may drop it too.) The row stays in
    the table, intended, saying why; a field the code still sets is judged by stack compatibility.
    """
    return [
        dataclasses.replace(
            change,
            impact=Impact.INTENDED,
            reason=f"the installed config class ({label}) does not accept {change.field}: no code can set it",
        )
        if change.field in lacking and change.impact is Impact.UNINTENDED and change.after == "None"
        else change
        for change in changes
    ]


def lacking_fields(report: dict[str, Any]) -> tuple[set[str], str]:
    """The plan's fields the training interpreter's config class lacks, and its versions, from the child's report."""
    compat = report.get("compat") or {}
    return set(compat.get("lacking", [])), versions_label(compat.get("versions", {}))


# ----------------------------------------------------------------------------- the section


@dataclasses.dataclass
class Finding:
    field: str
    kind: str  # "rejected": not a field of the class; "refused": its value raises on this machine
    places: list[str]
    value: str
    error: str = ""
    variants: list[str] = dataclasses.field(default_factory=list)
    adapted: str = ""  # what the smoke run did with it under --adapt

    def message(self, compat: dict[str, Any], function: str, notes: dict[str, str]) -> str:
        config_class = compat.get("config_class", "the config class")
        label = versions_label(compat.get("versions", {}))
        where = f" ({', '.join(self.places)})" if self.places else ""
        why = notes.get(self.field, "")
        if self.kind == "rejected":
            text = (
                f"{self.field}={self.value}{where} is not a field of {config_class} in {label}: "
                f"{function}() raises TypeError (unexpected keyword argument '{self.field}'). "
                f"Fix: drop {self.field}=… from {function}()"
            )
            return text + (f" ({why.rstrip('.')})" if why else "") + f"; {FIT_STACK_HINT}."
        device = compat.get("device_note", "")
        return (
            f"{self.field}={self.value}{where} is refused by {config_class} in {label} on this machine"
            f"{' (' + device + ')' if device else ''}: {self.error}. Training here would fail. Fix: verify on "
            f"the machine you train on (--python with its interpreter there), or write {self.field}="
            f"torch.cuda.is_available() so the config builds everywhere"
        )


def collect_findings(compat: dict[str, Any], keywords: list[dict[str, Any]]) -> list[Finding]:
    """Static rejections and the adapter's observations, one finding per field."""
    findings: dict[str, Finding] = {}
    places: dict[str, list[str]] = {}
    values: dict[str, str] = {}
    for keyword in keywords:
        places.setdefault(keyword["name"], []).append(f"{keyword['path']}:{keyword['line']}")
        values.setdefault(keyword["name"], keyword["value"])
    for name in compat.get("rejected", []):
        findings[name] = Finding(name, "rejected", places.get(name, []), values.get(name, "…"))
    for adaptation in compat.get("adaptations", []):
        name = adaptation["field"]
        kind = "rejected" if adaptation["action"] == "dropped" else "refused"
        finding = findings.setdefault(
            name, Finding(name, kind, places.get(name, []), values.get(name, repr(adaptation.get("value"))))
        )
        finding.error = finding.error or adaptation.get("error", "")
        finding.adapted = adaptation["action"]
        finding.variants.extend(v for v in adaptation.get("variants", []) if v not in finding.variants)
    return list(findings.values())


def check_compatibility(
    report: dict[str, Any], recipe: Recipe, keywords: list[ConfigKeyword], adapt: bool, smoke: bool = True
) -> CheckOutcome:
    """The section from the child's ``compat`` record (``report["compat"]``); ``smoke``: whether a run trained."""
    compat = report.get("compat")
    function = recipe.config_function.name if recipe.config_function else "the config function"
    if not compat:
        reason = report.get("error") or "the training interpreter did not get to it"
        return CheckOutcome(COMPAT, SKIPPED, f"not checked: {reason}")
    if compat.get("error"):
        return CheckOutcome(COMPAT, FAILED, compat["error"], data=compat)
    notes = dict(recipe.config_function.stack_notes) if recipe.config_function else {}
    as_dicts = [dataclasses.asdict(k) for k in keywords]
    findings = collect_findings(compat, as_dicts)
    messages = [finding.message(compat, function, notes) for finding in findings]
    data = {
        **compat,
        "keywords": as_dicts,
        "findings": [{**dataclasses.asdict(f), "message": m} for f, m in zip(findings, messages, strict=True)],
        "adapt": adapt,
    }
    label = f"{compat.get('config_class')} ({versions_label(compat.get('versions', {}))})"
    if not findings:
        built = compat.get("built", [])
        return CheckOutcome(
            COMPAT,
            PASSED,
            f"{len(keywords)} keyword(s) passed to {label} are accepted"
            + (f"; {function}() builds the config of {', '.join(built)}" if built else ""),
            data=data,
        )
    if adapt and all(f.adapted for f in findings):
        done = ", ".join(f"{f.field} {f.adapted}" for f in findings)
        # Without --smoke nothing trained: the adaptation is what a run would need, not what one did.
        how = f"the smoke run trained with {done}" if smoke else f"a smoke run would train with {done}; none ran"
        return CheckOutcome(COMPAT, ADAPTED, f"adapted with --adapt ({how}): " + " | ".join(messages), data=data)
    tail = "" if adapt else " (`refactor verify --adapt` trains with the adaptation, reported as adapted)"
    return CheckOutcome(COMPAT, FAILED, " | ".join(messages) + tail, data=data)
