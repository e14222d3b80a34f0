"""Section "code health": the code compiles, names no undefined name, and every deprecated alias takes its old keywords.

1. Every Python file under ROOT compiles, and so does every notebook code cell (IPython magics
   masked as ``refactor check`` masks them; a cell behind a cell magic such as ``%%bash`` is not
   Python and is left out). Undefined names are found by pyflakes: a file as a module, a
   notebook's code cells as one program in cell order (a name used in a cell before the cell
   that defines it is undefined when the notebook runs top to bottom). Locations are the
   user's: ``path:line`` and ``path.ipynb cell N line:column``, cells numbered from 0 as
   ``refactor check`` numbers them.
2. Each deprecated alias the recipe declares accepts every keyword its old function accepted,
   and warns. The old signature comes from the code before the migration (the apply journal or
   ``--before REV``); without it the aliases are not judged. The judgement is static: a keyword
   is accepted when the alias names it as a parameter, or takes ``**kwargs`` and hands them on
   (``**kwargs`` in a call, or inside the dict it passes) to a function of ROOT that accepts it
   (followed the same way), to the config class (a field the old function set on it), or to
   the builder ``apply``'s aliases call (the config function's parameters, or a config field).
   Its limits: ``kwargs`` consumed in any other way (``kwargs.pop``, a filtered dict) cannot be
   judged and is reported as such, not failed; whether the installed TRL accepts a config field
   is the "stack compatibility" section's question, not this one's.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from pyflakes import checker as pyflakes_checker
from pyflakes import messages as pyflakes_messages

from codemods.core.before_tree import BeforeTree
from codemods.core.config_values import DEPRECATED_BUILDER
from codemods.core.ipython import mask_magics
from codemods.core.occurrences import load_notebook, text_field
from codemods.core.recipe import Recipe
from codemods.core.workspace import Workspace, WorkspaceError
from codemods.verify.behaviour import current_reader
from codemods.verify.built_configs import ConfigReader, ModuleView, parameter_names
from codemods.verify.report import FAILED, PASSED, CheckOutcome

HEALTH = "code health"
_UNDEFINED = (
    pyflakes_messages.UndefinedName,
    pyflakes_messages.UndefinedLocal,
    pyflakes_messages.UndefinedExport,
)
# Names an IPython kernel defines in every notebook.
NOTEBOOK_BUILTINS = ("display", "get_ipython", "In", "Out", "exit", "quit")
# Cell magics whose body is still Python.
PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun", "python", "python3", "debug"}
_SHOWN = 6


# ----------------------------------------------------------------------------- files and cells
def _undefined(tree: ast.AST, name: str, builtins: tuple[str, ...] = ()) -> list[tuple[int, int, str]]:
    found = pyflakes_checker.Checker(tree, filename=name, builtins=set(builtins))
    return [
        (message.lineno, message.col + 1, message.message % message.message_args)
        for message in sorted(found.messages, key=lambda m: (m.lineno, m.col))
        if isinstance(message, _UNDEFINED)
    ]


def python_problems(relative: str, source: bytes) -> list[str]:
    try:
        tree = compile(source, relative, "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)
    except SyntaxError as error:
        return [f"{relative}:{error.lineno}: does not compile: {error.msg}"]
    except ValueError as error:  # a NUL byte
        return [f"{relative}: does not compile: {error}"]
    return [f"{relative}:{line}: {message}" for line, _column, message in _undefined(tree, relative)]


def cell_python(source: str) -> str | None:
    """The cell as Python: magics masked; None for a cell behind a cell magic that is not Python."""
    first = source.lstrip().split("\n", 1)[0]
    if first.startswith("%%") and first[2:].split(" ", 1)[0] not in PYTHON_CELL_MAGICS:
        return None
    return mask_magics(source)


def notebook_problems(relative: str, text: str) -> list[str]:
    try:
        document = load_notebook(text)
    except (ValueError, RecursionError) as error:
        return [f"{relative}: not a readable notebook ({error})"]
    cells = document.get("cells") if isinstance(document, dict) else None
    if not isinstance(cells, list):
        return [f"{relative}: not a notebook (no list of cells)"]
    problems: list[str] = []
    program: list[str] = []
    starts: list[tuple[int, int]] = []  # (first line in the program, cell index)
    line = 1
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell_python(text_field(cell.get("source", ""), ())[0])
        if source is None:
            continue
        try:
            compile(source, f"{relative} cell {index}", "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)
        except (SyntaxError, ValueError) as error:
            where = f"{getattr(error, 'lineno', 0) or 0}:{getattr(error, 'offset', 0) or 0}"
            problems.append(
                f"{relative} cell {index} {where}: does not compile: {getattr(error, 'msg', error)}"
            )
            continue
        starts.append((line, index))
        body = source if source.endswith("\n") else source + "\n"
        program.append(body)
        line += body.count("\n")
    if not program:
        return problems
    tree = ast.parse("".join(program))
    for found_line, column, message in _undefined(tree, relative, NOTEBOOK_BUILTINS):
        first, index = max(start for start in starts if start[0] <= found_line)
        problems.append(f"{relative} cell {index} {found_line - first + 1}:{column}: {message}")
    return problems


def file_problems(root: Path) -> tuple[list[str], int, int]:
    """(problems, Python files checked, notebooks checked)."""
    workspace = Workspace(root)
    problems: list[str] = []
    scripts = workspace.files((".py",))
    notebooks = workspace.files((".ipynb",))
    for relative in scripts:
        try:
            problems += python_problems(relative, workspace.read_bytes(relative))
        except (WorkspaceError, OSError) as error:
            problems.append(f"{relative}: {error}")
    for relative in notebooks:
        try:
            problems += notebook_problems(relative, workspace.read_text(relative))
        except (WorkspaceError, OSError) as error:
            problems.append(f"{relative}: {error}")
    return problems, len(scripts), len(notebooks)


# ----------------------------------------------------------------------------- deprecated aliases
class _Aliases:
    """Judges, without running it, whether an alias takes a keyword (see the module's docstring)."""

    def __init__(self, reader: ConfigReader, config_fields: set[str]):
        self.reader = reader
        self.config_fields = config_fields

    def accepts(
        self, view: ModuleView, function: ast.FunctionDef, keyword: str, depth: int = 0
    ) -> tuple[bool | None, str]:
        """(True, "") | (False, why it raises TypeError) | (None, why it cannot be judged)."""
        if keyword in parameter_names(function) and keyword not in {a.arg for a in function.args.posonlyargs}:
            return True, ""
        kwargs = function.args.kwarg.arg if function.args.kwarg else None
        if kwargs is None:
            return False, f"{function.name}() takes no {keyword}"
        if depth > 8:
            return None, "too many forwards to follow"
        forwards = [
            node for node in ast.walk(function) if isinstance(node, ast.Call) and _forwards(node, kwargs)
        ]
        other_uses = sum(isinstance(n, ast.Name) and n.id == kwargs for n in ast.walk(function)) - len(
            forwards
        )
        if len(forwards) != 1 or other_uses:
            return None, f"{function.name}() uses **{kwargs} in a way that is not followed statically"
        call = forwards[0]
        name = self.reader.callee_name(call.func, view)
        if name == self.reader.config_class:
            return keyword in self.config_fields, f"{name} has no field {keyword}"
        found = self.reader.resolve_function(view, call.func.id) if isinstance(call.func, ast.Name) else None
        if found is None:
            return (
                None,
                f"{function.name}() hands **{kwargs} to {ast.unparse(call.func)}(), which is not defined in ROOT",
            )
        # apply's builder takes the keywords as a dict, forwards what the config function takes, sets the rest.
        if found[1].name == DEPRECATED_BUILDER:
            target = self.reader.resolve_function(found[0], self.reader.config_function or "")
            if target is not None and keyword in parameter_names(target[1]):
                return True, ""
            return (
                keyword in self.config_fields,
                f"{keyword} is neither a parameter of the config function nor a config field",
            )
        if not any(
            k.arg is None and isinstance(k.value, ast.Name) and k.value.id == kwargs for k in call.keywords
        ):
            return (
                None,
                f"{function.name}() hands {kwargs} to {found[1].name}() as a value, which is not followed",
            )
        if keyword in {k.arg for k in call.keywords if k.arg}:
            return (
                False,
                f"{function.name}() passes {keyword} to {found[1].name}() itself (TypeError: multiple values)",
            )
        accepted, why = self.accepts(*found, keyword, depth + 1)
        return accepted, why

    def warns(self, view: ModuleView, function: ast.FunctionDef, depth: int = 0) -> bool:
        for node in ast.walk(function):
            if not isinstance(node, ast.Call):
                continue
            text = ast.unparse(node)
            if ast.unparse(node.func).split(".")[-1] == "warn" and (
                "DeprecationWarning" in text or "FutureWarning" in text
            ):
                return True
            if depth < 3 and isinstance(node.func, ast.Name):
                found = self.reader.resolve_function(view, node.func.id)
                if found is not None and found[1] is not function and self.warns(*found, depth + 1):
                    return True
        return False


def _forwards(call: ast.Call, kwargs: str) -> bool:
    """The call hands ``**kwargs`` on: as ``**kwargs``, as the dict itself, or inside a dict display it passes."""
    if any(k.arg is None and isinstance(k.value, ast.Name) and k.value.id == kwargs for k in call.keywords):
        return True
    if any(isinstance(arg, ast.Name) and arg.id == kwargs for arg in call.args):
        return True
    return any(
        isinstance(arg, ast.Dict)
        and any(
            key is None and isinstance(v, ast.Name) and v.id == kwargs
            for key, v in zip(arg.keys, arg.values, strict=True)
        )
        for arg in call.args
    )


def old_keywords(before: BeforeTree, recipe: Recipe, name: str) -> tuple[list[str], set[str]] | None:
    """(the keywords the old function took, the config fields it set by name), or None when unknown."""
    assert recipe.config_module is not None
    view = ConfigReader(before.read_text, recipe).module(recipe.config_module.path)
    function = view.functions.get(name) if view else None
    if function is None:
        return None
    fields = {
        k.arg for node in ast.walk(function) if isinstance(node, ast.Call) for k in node.keywords if k.arg
    }
    return [
        n for n in parameter_names(function) if n not in {a.arg for a in function.args.posonlyargs}
    ], fields


def alias_problems(root: Path, recipe: Recipe, before: BeforeTree | None) -> tuple[list[str], list[str]]:
    """(problems, notes) of the recipe's deprecated aliases."""
    spec, function = recipe.config_module, recipe.config_function
    if spec is None or function is None or not spec.deprecated or Workspace(root).single_file:
        return [], []
    if before is None:
        return [], [
            'deprecated aliases not judged: their old signatures need a "before" (apply journal or --before)'
        ]
    reader = ConfigReader(current_reader(root), recipe)
    view = reader.module(spec.path)
    problems: list[str] = []
    notes: list[str] = []
    known_fields = {f.name for f in function.fields} | set(function.library_defaults)
    for alias in spec.deprecated:
        old = old_keywords(before, recipe, alias.old)
        if old is None:
            notes.append(f"{alias.old}() was not defined in {spec.path} before; not judged")
            continue
        keywords, fields = old
        found = reader.resolve_function(view, alias.old) if view else None
        if found is None:
            problems.append(
                f"{spec.path} defines no {alias.old}() (the recipe keeps it as a deprecated alias)"
            )
            continue
        judge = _Aliases(reader, known_fields | fields)
        rejected, unknown = [], []
        for keyword in keywords:
            accepted, why = judge.accepts(*found, keyword)
            if accepted is False:
                rejected.append(f"{keyword}= ({why})")
            elif accepted is None:
                unknown.append(why)
        if rejected:
            problems.append(
                f"{alias.old}() raises TypeError for keywords its old function accepted: "
                + ", ".join(rejected)
            )
        if unknown:
            notes.append(f"{alias.old}(): not judged: {unknown[0]}")
        if not judge.warns(*found):
            problems.append(f"{alias.old}() does not warn that it is deprecated (no DeprecationWarning)")
    return problems, notes


# ----------------------------------------------------------------------------- the section
def check_code_health(root: Path, recipe: Recipe, before: BeforeTree | None = None) -> CheckOutcome:
    files, scripts, notebooks = file_problems(root)
    aliases, notes = alias_problems(root, recipe, before)
    data: dict[str, Any] = {
        "python_files": scripts,
        "notebooks": notebooks,
        "errors": files,
        "alias_errors": aliases,
        "notes": notes,
    }
    tail = ("; " + "; ".join(notes)) if notes else ""
    if files or aliases:
        problems = files + aliases
        shown = "; ".join(problems[:_SHOWN]) + ("; …" if len(problems) > _SHOWN else "")
        return CheckOutcome(HEALTH, FAILED, f"{len(problems)} problem(s): {shown}{tail}", data=data)
    judged = len(recipe.config_module.deprecated) if recipe.config_module and before is not None else 0
    detail = f"{scripts} Python file(s) and {notebooks} notebook(s) compile with no undefined names"
    if judged:
        detail += f"; {judged} deprecated alias(es) take every old keyword and warn"
    return CheckOutcome(HEALTH, PASSED, detail + tail, data=data)
