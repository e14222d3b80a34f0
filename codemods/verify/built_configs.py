"""What each training config the code builds holds, read from the source without running it.

``verify`` compares the configs of the code before the migration with the code now, whoever
migrated it (``apply`` or a person). Both sides are read the same way: a module-level
``TARGET = <call>`` of the main file, or a function of the config module called with no
arguments, is followed through

- ``SFTConfig(...)`` (the recipe's config class) - its keywords are the fields;
- a function defined in the repository (in the module or imported from another module of ROOT),
  its parameters bound from the call (``**kwargs`` forwards included) and its simple statements
  (``name = value``) run in order up to its top-level ``return``;
- ``dataclasses.replace(config, ...)`` - the config with those fields set;
- the builder that ``apply``'s deprecated aliases call (``_config_from_deprecated_call``): the
  config function called with the keywords it takes, any other keyword set on the result.

Values are literals, module constants, parameters and f-strings of known parts; anything else
stays :class:`~codemods.core.config_values.Unknown` (its source), which the comparison reports
as unverifiable. Control flow (``if``/``for``) inside a config function is not followed: such a
config is reported as unreadable rather than guessed.
"""

from __future__ import annotations

import ast
import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from codemods.core.bom import without_bom
from codemods.core.config_values import DEPRECATED_BUILDER, Unknown
from codemods.core.recipe import Recipe

Reader = Callable[[str], "str | None"]  # relative path -> the file's text, None where it does not exist
_MAX_DEPTH = 12


class Unreadable(Exception):
    """The config cannot be read statically; the message says why."""


@dataclass
class ModuleView:
    path: str
    tree: ast.Module
    constants: dict[str, object] = field(default_factory=dict)
    functions: dict[str, ast.FunctionDef] = field(default_factory=dict)
    assignments: dict[str, ast.expr] = field(default_factory=dict)
    imported: dict[str, tuple[str, str]] = field(default_factory=dict)  # local name -> (module, name)
    modules: dict[str, str] = field(default_factory=dict)  # local name -> module (``import dataclasses``)


def dotted_path(module: str) -> list[str]:
    base = module.replace(".", "/")
    return [f"{base}.py", f"{base}/__init__.py"]


class ConfigReader:
    """Reads configs from one tree of files (the code before, or the code now)."""

    def __init__(self, read: Reader, recipe: Recipe):
        self.read = read
        self.recipe = recipe
        function = recipe.config_function
        self.config_class = function.config_class_name if function else "SFTConfig"
        self.config_function = function.name if function else None
        self.variant_parameter = function.parameters[0].name if function else "variant"
        self._modules: dict[str, ModuleView | None] = {}

    # ------------------------------------------------------------------ modules
    def module(self, path: str) -> ModuleView | None:
        if path not in self._modules:
            text = self.read(path)
            try:
                tree = ast.parse(without_bom(text)) if text is not None else None
            except (SyntaxError, ValueError):
                tree = None
            self._modules[path] = self._view(path, tree) if tree is not None else None
        return self._modules[path]

    def _view(self, path: str, tree: ast.Module) -> ModuleView:
        view = ModuleView(path, tree)
        package = posixpath.dirname(path).replace("/", ".")
        for stmt in tree.body:
            if isinstance(stmt, ast.FunctionDef):
                view.functions[stmt.name] = stmt
            elif isinstance(stmt, ast.Import):
                for alias in stmt.names:
                    view.modules[alias.asname or alias.name.split(".")[0]] = alias.name
            elif isinstance(stmt, ast.ImportFrom):
                module = stmt.module or ""
                if stmt.level:
                    parts = package.split(".") if package else []
                    parts = parts[: len(parts) - (stmt.level - 1)] if stmt.level > 1 else parts
                    module = ".".join([*parts, module] if module else parts)
                for alias in stmt.names:
                    view.imported[alias.asname or alias.name] = (module, alias.name)
            elif isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                for target in targets:
                    if isinstance(target, ast.Name):
                        view.assignments[target.id] = stmt.value
                        value = self.value(stmt.value, view.constants)
                        if isinstance(value, Unknown):
                            view.constants.pop(target.id, None)
                        else:
                            view.constants[target.id] = value
        return view

    def resolve_function(self, view: ModuleView, name: str) -> tuple[ModuleView, ast.FunctionDef] | None:
        if name in view.functions:
            return view, view.functions[name]
        if name in view.imported:
            module, original = view.imported[name]
            for path in dotted_path(module):
                other = self.module(path)
                if other is not None and other is not view:
                    found = self.resolve_function(other, original)
                    if found:
                        return found
        return None

    # ------------------------------------------------------------------ values
    def value(self, node: ast.expr, env: Mapping[str, object]) -> object:
        """A literal value of the expression, or Unknown(its source)."""
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return env.get(node.id, Unknown(node.id))
        if isinstance(node, ast.JoinedStr):
            parts = []
            for part in node.values:
                if isinstance(part, ast.Constant):
                    parts.append(str(part.value))
                    continue
                inner = self.value(part.value, env) if isinstance(part, ast.FormattedValue) else Unknown("")
                if isinstance(inner, Unknown) or part.format_spec is not None or part.conversion != -1:
                    return Unknown(ast.unparse(node))
                parts.append(str(inner))
            return "".join(parts)
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [self.value(item, env) for item in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.Dict):
            result: dict[Any, object] = {}
            for key, item in zip(node.keys, node.values, strict=True):
                if key is None:
                    merged = self.value(item, env)
                    if not isinstance(merged, dict):
                        return Unknown(ast.unparse(node))
                    result.update(merged)
                    continue
                known_key = self.value(key, env)
                if isinstance(known_key, Unknown):
                    return Unknown(ast.unparse(node))
                result[known_key] = self.value(item, env)
            return result
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            operand = self.value(node.operand, env)
            return (
                -operand
                if isinstance(operand, (int, float)) and not isinstance(operand, bool)
                else Unknown(ast.unparse(node))
            )
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
            left, right = self.value(node.left, env), self.value(node.right, env)
            if not isinstance(left, Unknown) and not isinstance(right, Unknown):
                try:
                    return left + right if isinstance(node.op, ast.Add) else left * right  # type: ignore[operator]
                except TypeError:
                    pass
        return Unknown(ast.unparse(node))

    # ------------------------------------------------------------------ configs
    def assigned_config(self, path: str, target: str) -> dict[str, object]:
        """The config a module-level ``TARGET = ...`` of ``path`` builds."""
        view = self.module(path)
        if view is None:
            raise Unreadable(f"{path} does not exist or does not parse")
        if target not in view.assignments:
            raise Unreadable(f"{path} assigns no {target}")
        return self.config(view.assignments[target], view, dict(view.constants), {}, 0)

    def function_config(self, path: str, name: str) -> dict[str, object]:
        """The config ``name()`` of module ``path`` builds when called with no arguments."""
        view = self.module(path)
        if view is None:
            raise Unreadable(f"{path} does not exist or does not parse")
        found = self.resolve_function(view, name)
        if found is None:
            raise Unreadable(f"{path} defines no {name}()")
        return self.call_function(*found, [], {}, 0)

    def config(
        self, node: ast.expr, view: ModuleView, env: dict[str, object], configs: dict[str, dict], depth: int
    ):
        if depth > _MAX_DEPTH:
            raise Unreadable("the config is built through too many calls to follow")
        if isinstance(node, ast.Name) and node.id in configs:
            return dict(configs[node.id])
        if isinstance(node, ast.IfExp):
            raise Unreadable(f"`{ast.unparse(node)}` chooses the config at run time")
        if not isinstance(node, ast.Call):
            raise Unreadable(f"`{ast.unparse(node)}` is not a call that builds the config")
        callee = self.callee_name(node.func, view)
        args = [self.value(a, env) for a in node.args if not isinstance(a, ast.Starred)]
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise Unreadable(f"`{ast.unparse(node)}` passes *args")
        kwargs: dict[str, object] = {}
        for keyword in node.keywords:
            if keyword.arg is None:
                merged = self.value(keyword.value, env)
                if not isinstance(merged, dict):
                    raise Unreadable(
                        f"`{ast.unparse(node)}` passes **{ast.unparse(keyword.value)}, not known before run time"
                    )
                kwargs.update(merged)
            else:
                kwargs[keyword.arg] = self.value(keyword.value, env)
        if callee == self.config_class:
            return kwargs
        if callee == "dataclasses.replace" and node.args:
            return {**self.config(node.args[0], view, env, configs, depth + 1), **kwargs}
        if isinstance(node.func, ast.Name):
            found = self.resolve_function(view, node.func.id)
            if found is not None:
                if found[1].name == DEPRECATED_BUILDER:
                    return self._deprecated_builder(found[0], args, kwargs, depth)
                return self.call_function(*found, args, kwargs, depth + 1)
        raise Unreadable(f"`{ast.unparse(node.func)}(...)` is not followed (not defined in ROOT)")

    def callee_name(self, func: ast.expr, view: ModuleView) -> str:
        if isinstance(func, ast.Name):
            module, name = view.imported.get(func.id, ("", func.id))
            if name == "replace" and module == "dataclasses":
                return "dataclasses.replace"
            return name
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            module = view.modules.get(func.value.id, func.value.id)
            return f"{module}.{func.attr}" if func.attr != self.config_class else func.attr
        return ast.unparse(func)

    def call_function(
        self, view: ModuleView, function: ast.FunctionDef, args: list, kwargs: dict, depth: int
    ):
        env: dict[str, object] = dict(view.constants)
        env.update(bind(function, args, kwargs, lambda node: self.value(node, view.constants)))
        configs: dict[str, dict] = {}
        for stmt in function.body:
            if isinstance(stmt, ast.Expr):
                continue  # a docstring, a warning
            if isinstance(stmt, ast.Return) and stmt.value is not None:
                return self.config(stmt.value, view, env, configs, depth)
            if (
                isinstance(stmt, ast.Assign)
                and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)
            ):
                name = stmt.targets[0].id
                if isinstance(stmt.value, ast.Call):
                    try:
                        configs[name] = self.config(stmt.value, view, env, configs, depth)
                        continue
                    except Unreadable:
                        pass
                env[name] = self.value(stmt.value, env)
                continue
            raise Unreadable(
                f"{view.path}: {function.name}() does more than assign and return (line {stmt.lineno})"
            )
        raise Unreadable(f"{view.path}: {function.name}() returns no config")

    def _deprecated_builder(
        self, view: ModuleView, args: list, kwargs: dict, depth: int
    ) -> dict[str, object]:
        """What apply's alias builder does: forward what the config function takes, set the rest."""
        if (
            len(args) != 3
            or not isinstance(args[1], str)
            or not isinstance(args[2], dict)
            or not self.config_function
        ):
            raise Unreadable(f"{DEPRECATED_BUILDER}() is called in a way apply never writes")
        found = self.resolve_function(view, self.config_function)
        if found is None:
            raise Unreadable(f"{view.path} defines no {self.config_function}()")
        accepted = set(parameter_names(found[1])) - {self.variant_parameter}
        forwarded = {k: v for k, v in args[2].items() if k in accepted}
        extra = {k: v for k, v in args[2].items() if k not in accepted}
        config = self.call_function(*found, [], {self.variant_parameter: args[1], **forwarded}, depth + 1)
        return {**config, **extra}


def parameter_names(function: ast.FunctionDef) -> list[str]:
    arguments = function.args
    return [a.arg for a in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs)]


def bind(
    function: ast.FunctionDef, args: list, kwargs: Mapping[str, object], default: Callable[[ast.expr], object]
):
    """The function's parameters bound as a call with ``args``/``kwargs`` binds them (defaults evaluated)."""
    arguments = function.args
    positional = [*arguments.posonlyargs, *arguments.args]
    defaults = dict(
        zip(
            [a.arg for a in positional][len(positional) - len(arguments.defaults) :],
            arguments.defaults,
            strict=True,
        )
    )
    defaults.update(
        {a.arg: d for a, d in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True) if d is not None}
    )
    bound: dict[str, object] = {}
    # Extra positional arguments (a TypeError when called) are not followed.
    for parameter, value in zip(positional, args, strict=False):
        bound[parameter.arg] = value
    rest = dict(kwargs)
    for name in parameter_names(function):
        if name in rest:
            bound[name] = rest.pop(name)
        elif name not in bound:
            bound[name] = default(defaults[name]) if name in defaults else Unknown(name)
    if arguments.kwarg is not None:
        bound[arguments.kwarg.arg] = rest
    elif rest:
        raise Unreadable(f"{function.name}() takes no {', '.join(sorted(rest))} (TypeError when called)")
    return bound
