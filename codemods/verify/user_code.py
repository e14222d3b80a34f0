"""Smoke training, child side: loading the repository's code and adapting its config class.

Only the smoke child (:mod:`codemods.verify.smoke_child`) imports this module: everything here
executes the repository's own code.
"""

from __future__ import annotations
import __future__ as future_features

import ast
import dataclasses
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any


@dataclasses.dataclass
class LoadedCode:
    namespace: dict[str, Any]
    where: str
    notes: list[str] = dataclasses.field(default_factory=list)


def _is_literal_assignment(node: ast.stmt) -> bool:
    if not isinstance(node, ast.Assign) or not all(isinstance(t, ast.Name) for t in node.targets):
        return False
    try:
        ast.literal_eval(node.value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def load_main_definitions(path: Path) -> LoadedCode:
    """Run a notebook-style main file's definitions only.

    Its top-level ``import`` statements, ``def``/``class`` definitions and assignments of literal
    constants are executed, one statement at a time, in a fresh namespace; everything else (the
    cells that load data, build models or train) is skipped. An import that fails is skipped with
    a note (notebook-only packages such as IPython are often missing).
    """
    source = path.read_text(encoding="utf-8-sig")  # a BOM is no character of the program
    tree = ast.parse(source, filename=str(path))
    flags = 0
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            for alias in node.names:
                feature = getattr(future_features, alias.name, None)
                if feature is not None:
                    flags |= feature.compiler_flag
    namespace: dict[str, Any] = {"__name__": f"__refactor_smoke_{path.stem}__", "__file__": str(path)}
    loaded = LoadedCode(namespace, str(path.name))
    wanted = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            continue
        if not (isinstance(node, wanted) or _is_literal_assignment(node)):
            continue
        code = compile(ast.Module(body=[node], type_ignores=[]), str(path), "exec", flags=flags, dont_inherit=True)
        try:
            exec(code, namespace)
        except ImportError as error:
            loaded.notes.append(f"{path.name}:{node.lineno}: skipped an import ({error})")
        except Exception as error:  # a definition that needs a skipped import or cell
            loaded.notes.append(f"{path.name}:{node.lineno}: skipped ({type(error).__name__}: {error})")
    return loaded


def load_source(source: dict[str, Any], directory: Path, cache: dict[str, LoadedCode]) -> LoadedCode:
    key = f"{source['kind']}:{source['path']}"
    if key in cache:
        return cache[key]
    if source["kind"] == "module":
        import importlib

        module = importlib.import_module(source["module"])
        loaded = LoadedCode(vars(module), source["path"])
    else:
        loaded = load_main_definitions(directory / source["path"])
    cache[key] = loaded
    return loaded


_UNEXPECTED_KEYWORD = re.compile(r"unexpected keyword argument '(\w+)'")
_CUDA_ONLY_FLAGS = ("tf32", "bf16")


@dataclasses.dataclass
class Adaptation:
    field: str
    action: str
    error: str
    value: Any


def make_config_adapter(real_class: type, adaptations: list[Adaptation]) -> Callable[..., Any]:
    """A stand-in for the config class that builds the real one, adapting what the stack refuses.

    Each refusal is observed, never assumed: the real constructor runs first with the keywords as
    given; a keyword it does not know (``TypeError``) is dropped, and ``tf32``/``bf16`` are turned
    off when the constructor refuses them on this machine (``ValueError`` without a suitable CUDA
    GPU). Every change is appended to ``adaptations``.
    """

    def adapted(*args: Any, **kwargs: Any) -> Any:
        for _ in range(len(kwargs) + 2):
            try:
                return real_class(*args, **kwargs)
            except TypeError as error:
                match = _UNEXPECTED_KEYWORD.search(str(error))
                if not match or match.group(1) not in kwargs:
                    raise
                name = match.group(1)
                adaptations.append(Adaptation(name, "dropped", f"TypeError: {error}", kwargs.pop(name)))
            except ValueError as error:
                message = str(error)
                flag = next((f for f in _CUDA_ONLY_FLAGS if f in message.lower() and kwargs.get(f)), None)
                if flag is None:
                    raise
                adaptations.append(Adaptation(flag, "set to False", f"ValueError: {message}", kwargs[flag]))
                kwargs[flag] = False
        return real_class(*args, **kwargs)

    adapted.__name__ = real_class.__name__
    adapted.__qualname__ = real_class.__qualname__
    adapted.__wrapped__ = real_class  # type: ignore[attr-defined]
    return adapted


def probe_imports(modules: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
    """Import each module of the repository and list which of its expected names it lacks."""
    import importlib

    results: dict[str, dict[str, Any]] = {}
    for module, names in modules.items():
        try:
            loaded = importlib.import_module(module)
        except BaseException as error:  # noqa: BLE001 - SystemExit in a module is a failed import too
            results[module] = {"error": f"{type(error).__name__}: {error}"}
            continue
        results[module] = {"missing": [n for n in names if not hasattr(loaded, n)]}
    return results


def check_keywords(
    config_class: type, class_path: str, keywords: list[dict[str, Any]], fields: list[str] = ()
) -> dict[str, Any]:
    """The static half of stack compatibility: which of the repository's keywords the class does not accept.

    ``lacking`` lists which of ``fields`` (the plan's) the class does not declare: code that no longer
    sets one of those changes its value because it cannot, which the behaviour section excuses.
    """
    from codemods.core.config_class import accepted_keywords, stack_versions

    accepted = accepted_keywords(config_class)
    rejected = [] if accepted is None else [k["name"] for k in keywords if k["name"] not in accepted]
    return {
        "config_class": class_path,
        "accepted_fields": None if accepted is None else len(accepted),
        "versions": stack_versions(),
        "rejected": list(dict.fromkeys(rejected)),
        "lacking": [] if accepted is None else [name for name in fields if name not in accepted],
        "adaptations": [],
        "built": [],
    }


def build_variant_configs(
    function: Callable[..., Any], variants: list[str], adaptations: list[Adaptation], compat: dict[str, Any]
) -> None:
    """Build every variant's config through the adapter before training, recording what it adapted."""
    observed: dict[tuple[str, str], dict[str, Any]] = {}
    for variant in variants:
        before = len(adaptations)
        try:
            function(variant=variant)
        except Exception as error:  # noqa: BLE001 - the smoke run reports it with its location
            compat.setdefault("build_errors", {})[variant] = f"{type(error).__name__}: {error}"
            continue
        compat["built"].append(variant)
        for adaptation in adaptations[before:]:
            entry = observed.setdefault(
                (adaptation.field, adaptation.action),
                {"field": adaptation.field, "action": adaptation.action, "error": adaptation.error,
                 "value": repr(adaptation.value), "variants": []},
            )
            entry["variants"].append(variant)
    compat["adaptations"] = list(observed.values())
