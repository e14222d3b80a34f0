"""Loss parity: the code before the migration and the migrated code train alike.

Parent side, :func:`before_spec` says where the pre-migration copy of ROOT is and how each
variant's config and collator were built there (the recipe knows: the config function, the
deprecated function it replaced, or the main file's inline ``SFTConfig(...)`` block; the
collator's new name or the old names it had). Child side, :func:`load_before` imports that copy
beside the migrated code without mixing their modules, :func:`build_before_config` builds the
variant's old config, and :func:`compare_losses` holds the two runs' losses side by side: the
same on the CPU, within :data:`CUDA_RELATIVE_TOLERANCE` on a GPU.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from codemods.core.workspace import split_root
from codemods.verify.report import FAILED, PARITY, PASSED, SKIPPED, CheckOutcome
from codemods.verify.smoke_parent import Source, dotted_module

CUDA_RELATIVE_TOLERANCE = 1e-6


# ----------------------------------------------------------------------------- parent side


def _collator_names(recipe, new_name: str) -> list[str]:
    """The collator's name now first, then every name the recipe says it had before."""
    names = [new_name]
    for rename in recipe.renames:
        if rename.new == new_name and rename.old not in names:
            names.append(rename.old)
    if recipe.legacy is not None and recipe.legacy.new == new_name and recipe.legacy.old not in names:
        names.append(recipe.legacy.old)
    return names


def _source_in(directory: Path, single_file: str | None, recipe_path: str | None, main_file: str) -> Source | None:
    if single_file is None and recipe_path and (directory / recipe_path).is_file():
        return Source("module", recipe_path, dotted_module(recipe_path))
    main = single_file or main_file
    return Source("main", main) if (directory / main).is_file() else None


def before_spec(recipe, before_root: Path, description: str) -> dict[str, Any]:
    """What the child needs to train the pre-migration code materialised at ``before_root``."""
    directory, single_file = split_root(Path(before_root))
    config_path = recipe.config_module.path if recipe.config_module else None
    collators_path = recipe.data_package.collators if recipe.data_package else None
    main = single_file or recipe.main_file
    deprecated = {d.variant: d.old for d in recipe.config_module.deprecated} if recipe.config_module else {}
    variants = {}
    for block in recipe.config_blocks:
        builders: list[dict[str, Any]] = []
        if recipe.config_function is not None:
            builders.append({"call": recipe.config_function.name, "kwargs": {"variant": block.variant}})
        if block.variant in deprecated:
            builders.append({"call": deprecated[block.variant], "kwargs": {}})
        builders.append({"block": [t for t in (block.target, block.new_target) if t]})
        variants[block.variant] = {"builders": builders, "collators": _collator_names(recipe, block.collator or "")}
    config_source = _source_in(directory, single_file, config_path, recipe.main_file)
    collator_source = _source_in(directory, single_file, collators_path, recipe.main_file)
    return {
        "description": description,
        "directory": str(directory),
        "main_file": main if (directory / main).is_file() else None,
        "config_source": dataclasses.asdict(config_source) if config_source else None,
        "collator_source": dataclasses.asdict(collator_source) if collator_source else None,
        "variants": variants,
    }


NO_BEFORE = (
    "no code before the migration to compare with: ROOT has no apply journal (refactor apply writes one) "
    "and no --before REV was given"
)


class ParityCopy:
    """The pre-migration copy of ROOT that the smoke child trains beside the migrated code.

    ``spec_options`` go into the child's spec; :meth:`close` removes the copy once the child ended.
    """

    def __init__(self, recipe, before_tree) -> None:
        self._temp: tempfile.TemporaryDirectory | None = None
        if before_tree is None:
            self.spec_options: dict[str, Any] = {"before": None, "before_missing": NO_BEFORE}
            return
        self._temp = tempfile.TemporaryDirectory(prefix="refactor-before-", ignore_cleanup_errors=True)
        before_root = before_tree.materialise(Path(self._temp.name))
        self.spec_options = {"before": before_spec(recipe, before_root, before_tree.source), "before_missing": ""}

    def close(self) -> None:
        if self._temp is not None:
            self._temp.cleanup()
            self._temp = None


def parity_outcome(report: dict[str, Any], smoke: bool) -> CheckOutcome:
    """The loss-parity section from the smoke child's report."""
    if not smoke:
        return CheckOutcome(PARITY, SKIPPED, "not requested (--no-smoke): loss parity trains with the smoke run")
    parity = report.get("parity")
    if not parity:
        reason = report.get("stopped") or report.get("error") or "the smoke run ended before training"
        return CheckOutcome(PARITY, SKIPPED, f"not run: {reason}")
    variants = {}
    for record in report.get("variants", []):
        if record.get("parity"):
            result = record["parity"]
            variants[record["variant"]] = {
                "status": result["status"],
                "detail": result.get("detail", ""),
                "before_config": result.get("before_config"),
                "before_collator": result.get("before_collator"),
                "after_collator": record.get("collator"),
                "losses_before": result.get("losses", []),
                "losses_after": record.get("losses", []),
                "max_relative_difference": result.get("max_relative_difference"),
                "tolerance": result.get("tolerance"),
                "before_share": (result.get("label_masking") or {}).get("share"),
                "after_share": (record.get("label_masking") or {}).get("share"),
            }
    data = {"source": parity.get("source"), "variants": variants}
    status = {"passed": PASSED, "failed": FAILED}.get(parity["status"], SKIPPED)
    detail = parity.get("detail", "")
    if parity.get("source") and status != SKIPPED:
        detail += f" (before: {parity['source']})"
    return CheckOutcome(PARITY, status, detail, data=data)


# ----------------------------------------------------------------------------- child side


def _under(module: Any, directory: str) -> bool:
    location = getattr(module, "__file__", None)
    return isinstance(location, str) and location.startswith(directory.rstrip("/") + "/")


@contextlib.contextmanager
def separate_modules(directory: str, hidden: str) -> Iterator[None]:
    """Import from ``directory`` with the modules loaded from ``hidden`` out of sight, then put them back.

    Both trees hold the same module names (``src.training.config``); objects loaded inside keep
    their own modules' globals after the swap back.
    """
    saved = {name: module for name, module in sys.modules.items() if _under(module, hidden)}
    for name in saved:
        del sys.modules[name]
    removed = [entry for entry in sys.path if entry == hidden]
    sys.path[:] = [entry for entry in sys.path if entry != hidden]
    sys.path.insert(0, directory)
    try:
        yield
    finally:
        sys.path.remove(directory)
        sys.path[:0] = removed
        for name in [n for n, m in sys.modules.items() if _under(m, directory)]:
            del sys.modules[name]
        sys.modules.update(saved)


@dataclasses.dataclass
class BeforeCode:
    configs: Any  # LoadedCode
    collators: Any  # LoadedCode
    main_namespace: dict[str, Any] | None
    main_tree: ast.Module | None
    adaptations: list[Any]


def load_before(before: dict[str, Any], after_directory: str, config_class: type) -> BeforeCode:
    """Import the pre-migration code (config and collator sources, the main file's definitions)."""
    from codemods.verify.user_code import load_source, make_config_adapter

    directory = Path(before["directory"])
    cache: dict[str, Any] = {}
    adaptations: list[Any] = []
    class_name = config_class.__name__
    with separate_modules(str(directory), after_directory):
        configs = load_source(before["config_source"], directory, cache) if before["config_source"] else None
        collators = load_source(before["collator_source"], directory, cache) if before["collator_source"] else None
        main_namespace, main_tree = None, None
        if before["main_file"]:
            # Shared through the cache with a config or collator source that is the main file too.
            main_namespace = load_source({"kind": "main", "path": before["main_file"]}, directory, cache).namespace
            main_path = directory / before["main_file"]
            main_tree = ast.parse(main_path.read_text(encoding="utf-8-sig"), filename=str(main_path))
    adapter = make_config_adapter(config_class, adaptations)
    for loaded in (configs, collators):
        if loaded is None:
            continue
        for value in list(loaded.namespace.values()):
            function_globals = getattr(value, "__globals__", None)
            if isinstance(function_globals, dict) and function_globals.get(class_name) is config_class:
                function_globals[class_name] = adapter
    if main_namespace is not None and main_namespace.get(class_name) is config_class:
        main_namespace[class_name] = adapter
    return BeforeCode(configs, collators, main_namespace, main_tree, adaptations)


def _block_expression(tree: ast.Module, targets: list[str]) -> ast.expr | None:
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            if any(isinstance(t, ast.Name) and t.id in targets for t in node.targets):
                return node.value
    return None


def build_before_config(code: BeforeCode, builders: list[dict[str, Any]], where: str) -> tuple[Any, str]:
    """The variant's config as the pre-migration code built it, and how (``create_sft_config()``, a block)."""
    for builder in builders:
        if "call" in builder:
            function = code.configs.namespace.get(builder["call"]) if code.configs else None
            if callable(function):
                arguments = ", ".join(f"{k}={v!r}" for k, v in builder["kwargs"].items())
                return function(**builder["kwargs"]), f"{builder['call']}({arguments}) in {code.configs.where}"
        elif code.main_tree is not None and code.main_namespace is not None:
            expression = _block_expression(code.main_tree, builder["block"])
            if expression is not None:
                compiled = compile(ast.Expression(body=expression), where, "eval")
                return eval(compiled, code.main_namespace), f"{where}:{expression.lineno} ({builder['block'][0]} = ...)"
    tried = [b["call"] + "()" if "call" in b else " / ".join(b["block"]) + " = ..." for b in builders]
    raise LookupError("the code before the migration builds this variant's config with none of " + ", ".join(tried))


def before_collator(code: BeforeCode, names: list[str]) -> type:
    namespaces = [code.collators.namespace] if code.collators else []
    if code.main_namespace is not None:
        namespaces.append(code.main_namespace)
    for namespace in namespaces:
        for name in names:
            if isinstance(namespace.get(name), type):
                return namespace[name]
    raise LookupError("the code before the migration defines none of " + ", ".join(names))


def compare_losses(after: list[float], before: list[float], device: str) -> dict[str, Any]:
    """Parity of two loss curves: identical on the CPU, within the relative tolerance on CUDA."""
    tolerance = CUDA_RELATIVE_TOLERANCE if device == "cuda" else 0.0
    result: dict[str, Any] = {"tolerance": tolerance, "max_relative_difference": None, "passed": False}
    if not after or len(after) != len(before):
        result["detail"] = f"{len(before)} loss(es) before the migration, {len(after)} after"
        return result
    differences = [abs(a - b) / max(abs(b), 1e-12) for a, b in zip(after, before, strict=True)]
    worst = max(range(len(differences)), key=differences.__getitem__)
    result["max_relative_difference"] = differences[worst]
    result["passed"] = differences[worst] <= tolerance
    allowed = "identical on cpu" if tolerance == 0 else f"allowed {tolerance:g} on cuda"
    result["detail"] = (
        f"{len(after)} losses match ({allowed})"
        if result["passed"]
        else f"step {worst + 1}: loss {before[worst]:.6f} before, {after[worst]:.6f} after "
        f"(relative difference {differences[worst]:.2e}, {allowed})"
    )
    return result


def run_parity(
    state: dict[str, Any],
    code: BeforeCode,
    entry: dict[str, Any],
    after_losses: list[float],
    train: Callable[..., dict[str, Any]],
    describe: Callable[[BaseException], str],
) -> dict[str, Any]:
    """Train one variant with the pre-migration config and collator; compare with the migrated run."""
    before = state["spec"]["before"]
    plan = before["variants"].get(entry["variant"])
    parity: dict[str, Any] = {"status": "failed", "losses": [], "before_config": None, "before_collator": None}
    if plan is None:
        return {**parity, "status": "skipped", "detail": "the recipe names no pre-migration config for this variant"}
    if not after_losses:
        return {**parity, "status": "skipped", "detail": "the migrated code logged no loss to compare with"}
    try:
        config, parity["before_config"] = build_before_config(code, plan["builders"], before["main_file"] or "")
        collator_class = before_collator(code, plan["collators"])
    except Exception as error:
        return {**parity, "detail": f"cannot build the pre-migration run: {describe(error)}"}
    parity["before_collator"] = collator_class.__name__
    try:
        run = train(state, config, collator_class, entry["variant"] + "-before", report=False)
    except Exception as error:
        return {**parity, "detail": f"the code before the migration did not train: {describe(error)}"}
    comparison = compare_losses(after_losses, run["losses"], state["spec"]["resolved_device"])
    parity.update(
        status="passed" if comparison["passed"] else "failed",
        detail=comparison["detail"],
        losses=run["losses"],
        tolerance=comparison["tolerance"],
        max_relative_difference=comparison["max_relative_difference"],
        label_masking=run["label_masking"],
        steps_seconds=run["steps_seconds"],
    )
    return parity
